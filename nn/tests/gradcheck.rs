//! Gradients of every layer and loss against central finite differences in f64
//! (`lamina_autograd::gradcheck`), plus one closed-form check of a layer's parameter
//! gradients through `value_and_grad`. Pooling is checked op by op and over a sweep of
//! random shapes and hyper-parameters, and so are interpolation, `unfold` and `fold`.

use lamina_autograd::{gradcheck, value_and_grad, GradcheckConfig};
use lamina_nn::functional::{
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d, fold,
    interpolate, max_pool1d, max_pool2d, max_pool2d_with_indices, max_unpool2d, unfold,
};
use lamina_nn::{
    binary_cross_entropy, binary_cross_entropy_with_logits, dropout, huber_loss, kl_div, l1_loss,
    mse_loss, smooth_l1_loss, CrossEntropyLoss, Flatten, Gelu, InterpolateMode, KlReduction,
    LeakyRelu, Linear, LogSoftmax, Module, NllLoss, Reduction, Relu, Sequential, Sigmoid, Silu,
    Softmax, Tanh,
};
use lamina_tensor::{DType, Device, Result, Tensor};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

fn randn(seed: u64, shape: &[usize]) -> Tensor {
    Tensor::randn(seed, shape.to_vec(), DType::F64, &dev()).unwrap()
}

fn uniform(seed: u64, lo: f64, hi: f64, shape: &[usize]) -> Tensor {
    Tensor::rand_uniform(seed, lo, hi, shape.to_vec(), DType::F64, &dev()).unwrap()
}

fn labels(v: &[i64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), [v.len()], &dev()).unwrap()
}

/// Runs gradcheck and fails with its report.
fn check(name: &str, f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    let report = gradcheck(f, inputs, &GradcheckConfig::default()).unwrap();
    assert!(report.passed(), "{name}:\n{report}");
}

const REDUCTIONS: [Reduction; 3] = [Reduction::None, Reduction::Sum, Reduction::Mean];

#[test]
fn linear() {
    let inputs = [randn(1, &[4, 3]), randn(2, &[5, 3]), randn(3, &[5])];
    check(
        "linear",
        |t| Linear::from_weights(t[1].clone(), Some(t[2].clone()))?.forward(&t[0]),
        &inputs,
    );
    // Batched input, no bias.
    check(
        "linear 3-d",
        |t| Linear::from_weights(t[1].clone(), None)?.forward(&t[0]),
        &[randn(4, &[2, 3, 3]), randn(5, &[2, 3])],
    );
}

#[test]
fn sequential_mlp() {
    let mlp = |t: &[Tensor]| -> Result<Tensor> {
        Sequential::new()
            .add(Linear::from_weights(t[1].clone(), Some(t[2].clone()))?)
            .add(Tanh)
            .add(Linear::from_weights(t[3].clone(), Some(t[4].clone()))?)
            .add(Gelu::default())
            .forward(&t[0])
    };
    let inputs = [
        randn(1, &[3, 4]),
        randn(2, &[5, 4]),
        randn(3, &[5]),
        randn(4, &[2, 5]),
        randn(5, &[2]),
    ];
    check("mlp", mlp, &inputs);
}

#[test]
fn activations() {
    // Away from ReLU's kink at 0: magnitudes in [0.1, 2].
    let sign = uniform(9, -1.0, 1.0, &[3, 4]).sign().unwrap();
    let x = (uniform(10, 0.1, 2.0, &[3, 4]) * sign).unwrap();
    let modules: Vec<(&str, Box<dyn Module>)> = vec![
        ("relu", Box::new(Relu)),
        (
            "leaky_relu",
            Box::new(LeakyRelu {
                negative_slope: 0.2,
            }),
        ),
        ("sigmoid", Box::new(Sigmoid)),
        ("tanh", Box::new(Tanh)),
        ("gelu", Box::new(Gelu::default())),
        ("gelu_tanh", Box::new(Gelu { approximate: true })),
        ("silu", Box::new(Silu)),
        ("softmax", Box::new(Softmax { dim: 1 })),
        ("softmax dim 0", Box::new(Softmax { dim: 0 })),
        ("log_softmax", Box::new(LogSoftmax { dim: -1 })),
        (
            "flatten",
            Box::new(Flatten {
                start_dim: 0,
                end_dim: -1,
            }),
        ),
    ];
    for (name, m) in &modules {
        check(name, |t| m.forward(&t[0]), std::slice::from_ref(&x));
    }
}

#[test]
fn dropout_with_a_fixed_mask() {
    // The functional form with a fixed seed draws the same mask on every evaluation.
    check(
        "dropout",
        |t| dropout(&t[0], 0.4, 17, true),
        &[randn(1, &[6, 5])],
    );
}

#[test]
fn regression_losses() {
    let (x, y) = (randn(1, &[3, 4]), randn(2, &[3, 4]));
    for r in REDUCTIONS {
        check(
            "mse",
            |t| mse_loss(&t[0], &t[1], r),
            &[x.clone(), y.clone()],
        );
        check("l1", |t| l1_loss(&t[0], &t[1], r), &[x.clone(), y.clone()]);
        check(
            "huber",
            |t| huber_loss(&t[0], &t[1], 0.8, r),
            &[x.clone(), y.clone()],
        );
        check(
            "smooth_l1",
            |t| smooth_l1_loss(&t[0], &t[1], 0.6, r),
            &[x.clone(), y.clone()],
        );
    }
}

#[test]
fn binary_losses() {
    let p = uniform(1, 0.05, 0.95, &[3, 4]);
    let y = uniform(2, 0.0, 1.0, &[3, 4]);
    let w = uniform(3, 0.5, 2.0, &[4]);
    let z = (randn(4, &[3, 4]) * 3.0).unwrap();
    let pw = uniform(5, 0.5, 3.0, &[4]);
    for r in REDUCTIONS {
        check(
            "bce",
            |t| binary_cross_entropy(&t[0], &t[1], Some(&t[2]), r),
            &[p.clone(), y.clone(), w.clone()],
        );
        check(
            "bce_with_logits",
            |t| binary_cross_entropy_with_logits(&t[0], &t[1], None, None, r),
            &[z.clone(), y.clone()],
        );
        check(
            "bce_with_logits weighted",
            |t| binary_cross_entropy_with_logits(&t[0], &t[1], Some(&t[2]), Some(&t[3]), r),
            &[z.clone(), y.clone(), w.clone(), pw.clone()],
        );
    }
    // At z = 0 exactly, where max(z, 0) and |z| have kinks that must cancel.
    let zero = Tensor::zeros([2, 2], DType::F64, &dev()).unwrap();
    check(
        "bce_with_logits at 0",
        |t| binary_cross_entropy_with_logits(&t[0], &t[1], None, None, Reduction::Sum),
        &[zero, uniform(6, 0.0, 1.0, &[2, 2])],
    );
}

#[test]
fn class_losses() {
    let x = randn(1, &[4, 5]);
    let w = uniform(2, 0.5, 2.0, &[5]);
    let y = labels(&[1, 4, -100, 0]);
    for r in REDUCTIONS {
        // Gradients with respect to the logits and the class weights.
        check(
            "cross_entropy",
            |t| {
                CrossEntropyLoss::new()
                    .with_weight(t[1].clone())
                    .with_label_smoothing(0.2)
                    .with_reduction(r)
                    .forward(&t[0], &y)
            },
            &[x.clone(), w.clone()],
        );
        let logp = x.log_softmax(1).unwrap();
        check(
            "nll",
            |t| {
                NllLoss::new()
                    .with_weight(t[1].clone())
                    .with_reduction(r)
                    .forward(&t[0], &y)
            },
            &[logp, w.clone()],
        );
        // Probability targets: gradients for logits and targets.
        let probs = uniform(3, 0.0, 1.0, &[4, 5]);
        check(
            "cross_entropy soft",
            |t| {
                CrossEntropyLoss::new()
                    .with_label_smoothing(0.1)
                    .with_reduction(r)
                    .forward(&t[0], &t[1])
            },
            &[x.clone(), probs],
        );
    }
    // Spatial input [N, C, L].
    let xs = randn(4, &[2, 3, 2]);
    let ys = Tensor::from_vec(vec![0i64, 2, 1, 1], [2, 2], &dev()).unwrap();
    check(
        "cross_entropy spatial",
        |t| {
            CrossEntropyLoss::new()
                .with_label_smoothing(0.3)
                .forward(&t[0], &ys)
        },
        &[xs],
    );
}

#[test]
fn kl_divergence() {
    let logq = randn(1, &[3, 4]).log_softmax(1).unwrap();
    let p = randn(2, &[3, 4]).softmax(1).unwrap();
    let logp = randn(3, &[3, 4]).log_softmax(1).unwrap();
    for r in [
        KlReduction::None,
        KlReduction::Sum,
        KlReduction::Mean,
        KlReduction::BatchMean,
    ] {
        check(
            "kl",
            |t| kl_div(&t[0], &t[1], r, false),
            &[logq.clone(), p.clone()],
        );
        check(
            "kl log_target",
            |t| kl_div(&t[0], &t[1], r, true),
            &[logq.clone(), logp.clone()],
        );
    }
}

#[test]
fn linear_parameter_gradients_closed_form() {
    // L = sum((x Wᵀ + b - y)²): dL/dW = 2 rᵀ x, dL/db = 2 Σ_n r_n, with r = x Wᵀ + b - y.
    let fc = Linear::from_weights(randn(1, &[2, 3]), Some(randn(2, &[2]))).unwrap();
    let x = randn(3, &[4, 3]);
    let y = randn(4, &[4, 2]);
    let params = fc.parameters();
    let (_, grads) =
        value_and_grad(&params, || mse_loss(&fc.forward(&x)?, &y, Reduction::Sum)).unwrap();
    let (xv, yv) = (x.to_vec::<f64>().unwrap(), y.to_vec::<f64>().unwrap());
    let wv = fc.weight.to_vec::<f64>().unwrap();
    let bv = fc.bias.as_ref().unwrap().to_vec::<f64>().unwrap();
    let mut gw = [0.0; 6];
    let mut gb = [0.0; 2];
    for n in 0..4 {
        for o in 0..2 {
            let pred: f64 = (0..3).map(|i| xv[n * 3 + i] * wv[o * 3 + i]).sum::<f64>() + bv[o];
            let r = pred - yv[n * 2 + o];
            gb[o] += 2.0 * r;
            for i in 0..3 {
                gw[o * 3 + i] += 2.0 * r * xv[n * 3 + i];
            }
        }
    }
    let got_w = grads.get(&fc.weight).unwrap().to_vec::<f64>().unwrap();
    let got_b = grads
        .get(fc.bias.as_ref().unwrap())
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    for (g, w) in got_w.iter().zip(gw).chain(got_b.iter().zip(gb)) {
        assert!((g - w).abs() < 1e-12 * (1.0 + w.abs()), "got {g}, want {w}");
    }
}

#[test]
fn pooling() {
    // Random normal values: no two elements of a window within the step of each other.
    let x = randn(1, &[2, 3, 7, 8]);
    check(
        "max_pool2d",
        |t| max_pool2d(&t[0], [3, 2], Some([2, 3]), [1, 1], [1, 2], true),
        std::slice::from_ref(&x),
    );
    check(
        "max_pool2d_with_indices, unbatched",
        |t| Ok(max_pool2d_with_indices(&t[0], [2, 3], Some([1, 2]), [1, 0], [2, 1], false)?.0),
        &[randn(2, &[3, 6, 5])],
    );
    check(
        "max_pool2d of a transposed input",
        |t| max_pool2d(&t[0].transpose(2, 3)?, [2, 2], None, [1, 0], [1, 1], true),
        &[randn(3, &[1, 2, 5, 6])],
    );
    check(
        "max_pool1d",
        |t| max_pool1d(&t[0], 3, Some(2), 1, 2, true),
        &[randn(4, &[2, 2, 11])],
    );
    for (include_pad, divisor) in [(true, None), (false, None), (true, Some(5))] {
        check(
            "avg_pool2d",
            |t| {
                avg_pool2d(
                    &t[0],
                    [3, 2],
                    Some([2, 1]),
                    [1, 1],
                    true,
                    include_pad,
                    divisor,
                )
            },
            std::slice::from_ref(&x),
        );
        check(
            "avg_pool1d",
            |t| avg_pool1d(&t[0], 4, Some(3), 2, true, include_pad),
            &[randn(5, &[2, 3, 10])],
        );
    }
    check(
        "adaptive_avg_pool2d",
        |t| adaptive_avg_pool2d(&t[0], [3, 5]),
        std::slice::from_ref(&x),
    );
    check(
        "adaptive_avg_pool1d",
        |t| adaptive_avg_pool1d(&t[0], 4),
        &[randn(6, &[3, 11])],
    );
    check(
        "adaptive_max_pool2d",
        |t| Ok(adaptive_max_pool2d(&t[0], [3, 5])?.0),
        std::slice::from_ref(&x),
    );
    // Unpooling with the indices of a max pool; overlapping windows repeat indices, where
    // the last write is what the output holds.
    for (k, s) in [([2, 2], [2, 2]), ([3, 3], [1, 2])] {
        let (v, i) = max_pool2d_with_indices(&x, k, Some(s), [1, 1], [1, 1], false).unwrap();
        check(
            "max_unpool2d",
            |t| max_unpool2d(&t[0], &i, k, Some(s), [1, 1], Some([7, 8])),
            &[v.detach()],
        );
    }
}

/// A tiny deterministic generator for the sweep below.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn pooling_over_random_shapes_and_hyper_parameters() {
    let mut rng = Lcg(11);
    for case in 0..24 {
        let k = [1 + rng.below(3), 1 + rng.below(3)];
        let d = [1 + rng.below(2), 1 + rng.below(2)];
        let s = [1 + rng.below(3), 1 + rng.below(3)];
        let p = [rng.below(k[0] / 2 + 1), rng.below(k[1] / 2 + 1)];
        let ceil = rng.below(2) == 1;
        let include_pad = rng.below(2) == 1;
        let span = |i: usize| d[i] * (k[i] - 1) + 1;
        let h = span(0).max(k[0]) + rng.below(4);
        let w = span(1).max(k[1]) + rng.below(4);
        let shape = [1 + rng.below(2), 1 + rng.below(2), h, w];
        let x = randn(100 + case, &shape);
        let what = format!(
            "case {case}: input {shape:?}, kernel {k:?}, stride {s:?}, padding {p:?}, dilation {d:?}, ceil {ceil}"
        );
        check(
            &format!("max_pool2d {what}"),
            |t| max_pool2d(&t[0], k, Some(s), p, d, ceil),
            std::slice::from_ref(&x),
        );
        check(
            &format!("avg_pool2d {what}, count_include_pad {include_pad}"),
            |t| avg_pool2d(&t[0], k, Some(s), p, ceil, include_pad, None),
            std::slice::from_ref(&x),
        );
        let out = [1 + rng.below(h + 2), 1 + rng.below(w + 2)];
        check(
            &format!("adaptive_avg_pool2d {shape:?} -> {out:?}"),
            |t| adaptive_avg_pool2d(&t[0], out),
            std::slice::from_ref(&x),
        );
        check(
            &format!("adaptive_max_pool2d {shape:?} -> {out:?}"),
            |t| Ok(adaptive_max_pool2d(&t[0], out)?.0),
            std::slice::from_ref(&x),
        );
    }
}

#[test]
fn interpolation_and_sliding_blocks() {
    let x = randn(1, &[2, 3, 4, 5]);
    for align in [false, true] {
        check(
            &format!("bilinear up, align_corners {align}"),
            |t| {
                interpolate(
                    &t[0],
                    Some(&[7, 8]),
                    None,
                    InterpolateMode::Bilinear,
                    Some(align),
                )
            },
            std::slice::from_ref(&x),
        );
        check(
            &format!("bilinear down by 0.6, align_corners {align}"),
            |t| {
                interpolate(
                    &t[0],
                    None,
                    Some(&[0.6]),
                    InterpolateMode::Bilinear,
                    Some(align),
                )
            },
            std::slice::from_ref(&x),
        );
        check(
            &format!("linear, align_corners {align}"),
            |t| {
                interpolate(
                    &t[0],
                    Some(&[9]),
                    None,
                    InterpolateMode::Linear,
                    Some(align),
                )
            },
            &[randn(2, &[2, 2, 6])],
        );
    }
    for mode in [InterpolateMode::Nearest, InterpolateMode::NearestExact] {
        check(
            &format!("{mode} by 1.5 x 0.5"),
            |t| interpolate(&t[0], None, Some(&[1.5, 0.5]), mode, None),
            std::slice::from_ref(&x),
        );
    }
    check(
        "bilinear of a transposed input",
        |t| {
            interpolate(
                &t[0].transpose(2, 3)?,
                Some(&[3, 7]),
                None,
                InterpolateMode::Bilinear,
                None,
            )
        },
        std::slice::from_ref(&x),
    );
    check(
        "unfold",
        |t| unfold(&t[0], [2, 3], [2, 1], [1, 2], [2, 1]),
        std::slice::from_ref(&x),
    );
    check(
        "unfold unbatched",
        |t| unfold(&t[0], 2, 1, 0, 1),
        &[randn(3, &[2, 3, 4])],
    );
    check(
        "fold",
        |t| fold(&t[0], [5, 6], [2, 3], [1, 2], [1, 1], [2, 1]),
        &[randn(4, &[2, 2 * 6, 3 * 4])],
    );
}

#[test]
fn interpolation_over_random_shapes_and_sizes() {
    let mut rng = Lcg(23);
    for case in 0..24 {
        let shape = [
            1 + rng.below(2),
            1 + rng.below(2),
            1 + rng.below(5),
            1 + rng.below(5),
        ];
        let [_, _, h, w] = shape;
        let x = randn(200 + case, &shape);
        // A size, or factors in [0.3, 3) that leave no dim empty.
        let size = [1 + rng.below(8), 1 + rng.below(8)];
        let factor = |rng: &mut Lcg, len: usize| loop {
            let f = 0.3 + rng.below(271) as f64 / 100.0;
            if len as f64 * f >= 1.0 {
                break f;
            }
        };
        let factors = [factor(&mut rng, h), factor(&mut rng, w)];
        let by_factor = rng.below(2) == 1;
        let align = rng.below(2) == 1;
        let (size, factors) = if by_factor {
            (None, Some(&factors[..]))
        } else {
            (Some(&size[..]), None)
        };
        let what = format!("case {case}: input {shape:?}, size {size:?}, scale_factor {factors:?}");
        check(
            &format!("bilinear {what}, align_corners {align}"),
            |t| interpolate(&t[0], size, factors, InterpolateMode::Bilinear, Some(align)),
            std::slice::from_ref(&x),
        );
        for mode in [InterpolateMode::Nearest, InterpolateMode::NearestExact] {
            check(
                &format!("{mode} {what}"),
                |t| interpolate(&t[0], size, factors, mode, None),
                std::slice::from_ref(&x),
            );
        }
        // The same along the last dim as 1-D input.
        let x1 = x.flatten(2, 3).unwrap();
        let (size1, factors1) = (size.map(|s| &s[1..]), factors.map(|f| &f[1..]));
        for (mode, align) in [
            (InterpolateMode::Linear, Some(align)),
            (InterpolateMode::Nearest, None),
        ] {
            check(
                &format!("{mode} 1-d {what}, align_corners {align:?}"),
                |t| interpolate(&t[0], size1, factors1, mode, align),
                std::slice::from_ref(&x1),
            );
        }
    }
}

#[test]
fn unfold_and_fold_over_random_shapes_and_hyper_parameters() {
    let mut rng = Lcg(31);
    for case in 0..24 {
        let k = [1 + rng.below(3), 1 + rng.below(3)];
        let d = [1 + rng.below(2), 1 + rng.below(2)];
        let p = [rng.below(3), rng.below(3)];
        let s = [1 + rng.below(3), 1 + rng.below(3)];
        // The smallest plane the dilated kernel fits once padded, plus a little.
        let span = |i: usize| d[i] * (k[i] - 1) + 1;
        let h = span(0).saturating_sub(2 * p[0]).max(1) + rng.below(4);
        let w = span(1).saturating_sub(2 * p[1]).max(1) + rng.below(4);
        let shape = [1 + rng.below(2), 1 + rng.below(2), h, w];
        let what = format!(
            "case {case}: input {shape:?}, kernel {k:?}, dilation {d:?}, padding {p:?}, stride {s:?}"
        );
        let x = randn(300 + case, &shape);
        check(
            &format!("unfold {what}"),
            |t| unfold(&t[0], k, d, p, s),
            std::slice::from_ref(&x),
        );
        let blocks = unfold(&x, k, d, p, s).unwrap().dims().to_vec();
        check(
            &format!("fold {what}"),
            |t| fold(&t[0], [h, w], k, d, p, s),
            &[randn(400 + case, &blocks)],
        );
    }
}
