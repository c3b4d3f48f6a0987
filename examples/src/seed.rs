//! The seed task of `bench/README.md` (W2) and of the `seed_classifier` example:
//! 100 points uniform in [0, 1)², label 1 when x0 + x1 >= 0.5; a Dense(2→3, ReLU) →
//! Dense(3→1, sigmoid) network with Keras's Glorot-uniform kernels and zero biases;
//! binary cross-entropy; Adam with Keras's defaults (lr 1e-3, betas 0.9/0.999, eps 1e-7);
//! batches of 10, reshuffled every epoch by the workload's Fisher–Yates stream.
//!
//! The loss is computed from the logit (`binary_cross_entropy_with_logits`, stable when
//! the sigmoid rounds to 1), which is the same function as sigmoid + BCE.

use lamina::autograd::Tape;
use lamina::nn::{binary_cross_entropy_with_logits, Linear, Module, Reduction, Relu, Sequential};
use lamina::optim::{Adam, AdamConfig, Optimizer};
use lamina::prelude::*;
// Tensor-level code: its functions return tensor errors (the benchmark harness calls them).
use lamina::tensor::rng;
use lamina::tensor::Result;

use crate::bench::uniform;

/// Everything a run needs, made before the clock starts.
pub struct SeedTask {
    /// Inputs `[n, 2]` and labels `[n, 1]` (f32 0/1).
    pub x: Tensor,
    pub y: Tensor,
    /// Per-epoch permutations, `[epochs, n]` (I64).
    pub perms: Tensor,
    /// Keras-layout kernels `[2, 3]` and `[3, 1]`.
    pub k1: Vec<f32>,
    pub k2: Vec<f32>,
    pub batch: usize,
}

/// `n` points and labels from generator stream `seed`.
pub fn points(seed: u64, n: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
    let xs = uniform(seed, 2 * n, 0.0, 1.0);
    let ys: Vec<f32> = xs
        .chunks(2)
        .map(|p| if p[0] + p[1] >= 0.5 { 1.0 } else { 0.0 })
        .collect();
    Ok((
        Tensor::from_vec(xs, [n, 2], dev)?,
        Tensor::from_vec(ys, [n, 1], dev)?,
    ))
}

/// Keras `glorot_uniform` kernel `[fan_in, fan_out]` from stream `seed`, limit in f32.
pub fn glorot(seed: u64, fan_in: usize, fan_out: usize) -> Vec<f32> {
    let lim = (6.0f32 / (fan_in + fan_out) as f32).sqrt();
    uniform(seed, fan_in * fan_out, -lim, lim)
}

/// Fisher–Yates permutations of `0..n`, one per epoch, consuming one stream in order.
pub fn permutations(seed: u64, n: usize, epochs: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n * epochs);
    let mut k = 0u64;
    for _ in 0..epochs {
        let mut p: Vec<i64> = (0..n as i64).collect();
        for i in (1..n).rev() {
            let j = (rng::draw(seed, k) % (i as u64 + 1)) as usize;
            k += 1;
            p.swap(i, j);
        }
        out.extend(p);
    }
    out
}

impl SeedTask {
    /// The W2 task: data stream 42, kernels 43 and 44, permutations 45. Other seeds shift
    /// every stream (`seed`, `seed + 1`, `seed + 2`, `seed + 3`).
    pub fn new(seed: u64, epochs: usize, dev: &Device) -> Result<SeedTask> {
        let n = 100;
        let (x, y) = points(seed, n, dev)?;
        let perms = Tensor::from_vec(permutations(seed + 3, n, epochs), [epochs, n], dev)?;
        Ok(SeedTask {
            x,
            y,
            perms,
            k1: glorot(seed + 1, 2, 3),
            k2: glorot(seed + 2, 3, 1),
            batch: 10,
        })
    }

    /// The network with the task's initial weights (PyTorch layout: weight = kernelᵀ).
    pub fn model(&self, dev: &Device) -> Result<Sequential> {
        let w1 = Tensor::from_vec(self.k1.clone(), [2, 3], dev)?
            .t()?
            .contiguous()?;
        let w2 = Tensor::from_vec(self.k2.clone(), [3, 1], dev)?
            .t()?
            .contiguous()?;
        let l1 = Linear::from_weights(w1, Some(Tensor::zeros([3], DType::F32, dev)?))?;
        let l2 = Linear::from_weights(w2, Some(Tensor::zeros([1], DType::F32, dev)?))?;
        Ok(Sequential::new().add(l1).add(Relu).add(l2))
    }
}

/// Adam with Keras's defaults and learning rate `lr`.
pub fn keras_adam(lr: f64) -> Result<Adam> {
    Adam::new(AdamConfig {
        lr,
        eps: 1e-7,
        ..AdamConfig::default()
    })
}

/// Trains for `epochs` epochs over the task's permutations; returns the loss of the last
/// batch of each epoch (read back once per epoch, as the workload does).
pub fn train(
    task: &SeedTask,
    model: &mut Sequential,
    opt: &mut impl Optimizer,
    epochs: usize,
) -> Result<Vec<f32>> {
    let n = task.x.dims()[0];
    let mut losses = Vec::with_capacity(epochs);
    for e in 0..epochs {
        let perm = task.perms.select(0, e)?;
        let mut last = None;
        for b in 0..n / task.batch {
            let idx = perm.narrow(0, b * task.batch, task.batch)?;
            let (xb, yb) = (task.x.index_select(0, &idx)?, task.y.index_select(0, &idx)?);
            let tape = Tape::new();
            for p in model.parameters() {
                tape.watch(p);
            }
            let logits = model.forward(&xb)?;
            let loss = binary_cross_entropy_with_logits(&logits, &yb, None, None, Reduction::Mean)?;
            let grads = tape.backward(&loss)?;
            opt.step(&mut model.parameters_mut(), &grads)?;
            last = Some(loss);
        }
        if let Some(l) = last {
            losses.push(l.to_scalar::<f32>()?);
        }
    }
    Ok(losses)
}

/// Predicted probabilities `sigmoid(model(x))`, `[n, 1]`.
pub fn predict(model: &Sequential, x: &Tensor) -> Result<Tensor> {
    lamina::autograd::no_grad(|| model.forward(x)?.sigmoid())
}

/// Fraction of samples whose thresholded prediction (`p >= 0.5`) matches the label.
pub fn accuracy(model: &Sequential, x: &Tensor, y: &Tensor) -> Result<f64> {
    let p = predict(model, x)?;
    let hits = p.ge_scalar(0.5)?.to_dtype(DType::F32)?.eq(y)?;
    hits.to_dtype(DType::F64)?.mean_all()?.to_scalar::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_check_values() -> Result<()> {
        let dev = Device::cpu();
        let t = SeedTask::new(42, 2, &dev)?;
        let k1 = [
            0.499_914_65f32,
            0.247_069_95,
            -0.147_423_09,
            0.724_234_46,
            -1.091_702,
            -0.882_410_76,
        ];
        for (a, b) in t.k1.iter().zip(k1) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let k2 = [1.179_488_3f32, 0.162_370_92, -0.271_912_93];
        for (a, b) in t.k2.iter().zip(k2) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let p = t.perms.to_vec::<i64>()?;
        assert_eq!(&p[..10], &[62, 1, 56, 10, 68, 33, 2, 37, 65, 49]);
        assert_eq!(&p[100..105], &[21, 87, 78, 75, 34]);
        let positives = t.y.sum_all()?.to_scalar::<f32>()?;
        assert_eq!(positives, 88.0);
        Ok(())
    }
}
