//! Lamina's benchmark harness: `cargo run --release -p lamina-examples --bin bench -- W0 W1 W5
//! [--quick] [--device cpu|cuda|cuda:N]`. Implements the workloads of `bench/README.md` and
//! prints one JSON line per measurement, in the format of `bench/torch_workloads.py`, its
//! PyTorch counterpart; `bench/compare.py` runs the two side by side. On a CUDA device
//! (a build with `--features cuda`) W1, W3 and W5 run, with the GPU's sizes (sgemm at
//! n = 1024, 4096, 8192; the MLP step at batch 128 and 4096), every clock reading after
//! the device's queued work.

use std::hint::black_box;
use std::process::ExitCode;

use lamina::autograd::Tape;
use lamina::prelude::*;
// The harness works at the tensor level: its functions return tensor errors.
use lamina::tensor::Result;
use lamina_examples::bench::{
    emit, labels, measure, measure_on, per_time, rate, uniform, Policy, W3,
};
use lamina_examples::realdata::DeviceChoice;
use lamina_examples::seed::{accuracy, keras_adam, train, SeedTask};

fn w0(dev: &Device, quick: bool) -> Result<()> {
    let a = Tensor::from_vec(uniform(12, 16, -1.0, 1.0), [16], dev)?;
    let b = Tensor::from_vec(uniform(13, 16, -1.0, 1.0), [16], dev)?;
    let p = Policy {
        warmup: 1000,
        samples: 15,
        min_sample_s: 0.05,
    }
    .quick(quick);
    let mut err = None;
    let (s, i) = measure(p, || match a.add(&b) {
        Ok(c) => {
            black_box(c);
        }
        Err(e) => err = Some(e),
    });
    if let Some(e) = err.take() {
        return Err(e);
    }
    per_time("W0", "add16", "us/op", &s, i, 1e6);

    // The same op while a tape records it (the "with tape" column of the op overhead): the
    // tape is renewed every 1000 ops so its list stays bounded.
    let mut tape = Tape::new();
    tape.watch(&a);
    let mut count = 0usize;
    let (s, i) = measure(p, || {
        count += 1;
        if count.is_multiple_of(1000) {
            tape = Tape::new();
            tape.watch(&a);
        }
        match a.add(&b) {
            Ok(c) => {
                black_box(c);
            }
            Err(e) => err = Some(e),
        }
    });
    drop(tape);
    if let Some(e) = err.take() {
        return Err(e);
    }
    per_time("W0", "add16 (with tape)", "us/op", &s, i, 1e6);

    // Forward + backward of sum(a * b), a trainable leaf; a fresh tape (and fresh
    // gradients) every iteration.
    let (s, i) = measure(p, || {
        let tape = Tape::new();
        tape.watch(&a);
        let r = (&a * &b)
            .and_then(|p| p.sum_all())
            .and_then(|y| tape.backward(&y));
        match r {
            Ok(g) => {
                black_box(g);
            }
            Err(e) => err = Some(e),
        }
    });
    if let Some(e) = err.take() {
        return Err(e);
    }
    per_time("W0", "mul-sum-backward16", "us/iter", &s, i, 1e6);
    Ok(())
}

/// Whether `dev` is a GPU (the workloads' GPU sizes).
fn gpu(dev: &Device) -> bool {
    dev.name().starts_with("cuda")
}

fn w1(dev: &Device, quick: bool) -> Result<()> {
    let sizes: &[usize] = if gpu(dev) {
        &[1024, 4096, 8192]
    } else {
        &[256, 512, 1024, 2048]
    };
    for &n in sizes {
        let a = Tensor::from_vec(uniform(1, n * n, -1.0, 1.0), [n, n], dev)?;
        let b = Tensor::from_vec(uniform(2, n * n, -1.0, 1.0), [n, n], dev)?;
        let samples = if n >= 2048 { 9 } else { 15 };
        let p = Policy {
            warmup: 3,
            samples,
            min_sample_s: 0.05,
        }
        .quick(quick);
        let (s, i) = measure(p, || {
            black_box(a.matmul(&b).ok());
        });
        rate(
            "W1",
            &format!("n={n}"),
            "GFLOP/s",
            &s,
            i,
            2.0 * (n as f64).powi(3) / 1e9,
        );
    }
    Ok(())
}

fn w5(dev: &Device, quick: bool) -> Result<()> {
    let n = 16 * 1024 * 1024;
    let p = Policy {
        warmup: 2,
        samples: 15,
        min_sample_s: 0.1,
    }
    .quick(quick);
    let x = Tensor::from_vec(uniform(7, n, -1.0, 1.0), [n], dev)?;
    // The copy is the ceiling the other cases are read against (the memory's bandwidth).
    let (s, i) = measure(p, || {
        black_box(x.copy().ok());
    });
    rate("W5", "copy 16M", "GB/s", &s, i, 8.0 * n as f64 / 1e9);
    let (s, i) = measure(p, || {
        black_box(x.affine(0.5, -0.25).and_then(|t| t.relu()).ok());
    });
    rate("W5", "relu(a*x+b) 16M", "GB/s", &s, i, 8.0 * n as f64 / 1e9);
    let (s, i) = measure(p, || {
        black_box(x.sum_all().ok());
    });
    rate("W5", "sum 16M", "GB/s", &s, i, 4.0 * n as f64 / 1e9);
    drop(x);
    let (r, c) = (4096usize, 1024usize);
    let m = Tensor::from_vec(uniform(8, r * c, -4.0, 4.0), [r, c], dev)?;
    let dy = Tensor::from_vec(uniform(9, r * c, -1.0, 1.0), [r, c], dev)?;
    let (s, i) = measure(p, || {
        black_box(m.softmax(1).ok());
    });
    rate(
        "W5",
        "softmax 4096x1024",
        "GB/s",
        &s,
        i,
        8.0 * (r * c) as f64 / 1e9,
    );
    let y = m.softmax(1)?;
    let (s, i) = measure(p, || {
        black_box(y.softmax_backward(&dy, 1, false).ok());
    });
    rate(
        "W5",
        "softmax-bwd 4096x1024",
        "GB/s",
        &s,
        i,
        12.0 * (r * c) as f64 / 1e9,
    );
    Ok(())
}

/// W2: the seed MLP, 1000 epochs (50 with --quick), 3 repeats from the same fresh
/// initialisation; data, model and permutations are made before the clock starts.
fn w2(dev: &Device, quick: bool) -> Result<()> {
    let epochs = if quick { 50 } else { 1000 };
    let task = SeedTask::new(42, epochs, dev)?;
    let (mut secs, mut accs, mut losses) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..if quick { 1 } else { 3 } {
        let mut model = task.model(dev)?;
        let mut opt = keras_adam(1e-3)?;
        let t0 = std::time::Instant::now();
        let l = train(&task, &mut model, &mut opt, epochs)?;
        secs.push(t0.elapsed().as_secs_f64());
        accs.push(accuracy(&model, &task.x, &task.y)?);
        losses.push(l.last().copied().unwrap_or(f32::NAN));
    }
    let scaled: Vec<f64> = secs.iter().map(|s| s * 1000.0 / epochs as f64).collect();
    let mut sorted = secs.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let us_per_step = sorted[sorted.len() / 2] * 1e6 / (epochs * 10) as f64;
    emit(
        "W2",
        &format!("epochs={epochs}"),
        "s/1000ep",
        &scaled,
        1,
        &[
            (
                "accuracy",
                serde_json::json!((accs[0] * 1000.0).round() / 1000.0),
            ),
            (
                "final_batch_loss",
                serde_json::json!((losses[0] as f64 * 1e5).round() / 1e5),
            ),
            (
                "us_per_step",
                serde_json::json!((us_per_step * 100.0).round() / 100.0),
            ),
            ("adam_eps", serde_json::json!(1e-7)),
        ],
    );
    Ok(())
}

/// W3: the MNIST-shaped MLP training step, 784-256-128-10, batch 128 (and 4096 on a GPU),
/// cross-entropy, SGD lr 0.01 momentum 0.9, one fixed batch reused every step.
fn w3(dev: &Device, quick: bool) -> Result<()> {
    let batches: &[usize] = if gpu(dev) { &[128, 4096] } else { &[128] };
    for &bs in batches {
        w3_batch(dev, bs, quick)?;
    }
    Ok(())
}

fn w3_batch(dev: &Device, bs: usize, quick: bool) -> Result<()> {
    let mut w3 = W3::new(bs, dev)?;
    let mut step = || w3.step();
    let first = step()?;
    let p = Policy {
        warmup: 5,
        samples: 10,
        min_sample_s: 0.3,
    }
    .quick(quick);
    let mut last = first;
    let (s, i) = measure(p, || last = step().expect("W3 step"));
    rate("W3", &format!("bs={bs}"), "steps/s", &s, i, 1.0);
    // The loss on a fixed batch must fall: a broken backward would show here.
    if last.is_nan() || last >= first {
        return Err(lamina::tensor::Error::Invalid {
            op: "bench W3",
            msg: format!("loss did not fall: first {first}, last {last}"),
        });
    }
    Ok(())
}

/// W4: LeNet-5 training step on one fixed batch of 64 (plain SGD, lr 0.01).
fn w4(dev: &Device, quick: bool) -> Result<()> {
    use lamina::nn::{
        cross_entropy, Conv2d, Flatten, Linear, MaxPool2d, Module, Reduction, Relu, Sequential,
    };
    use lamina::optim::{Optimizer, Sgd, SgdConfig};
    let bs = 64;
    let x = Tensor::from_vec(uniform(5, bs * 784, 0.0, 1.0), [bs, 1, 28, 28], dev)?;
    let y = Tensor::from_vec(labels(6, bs, 10), [bs], dev)?;
    let mut model = Sequential::new()
        .add(Conv2d::builder(1, 6, 5).padding(2).seed(1).build(dev)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Conv2d::builder(6, 16, 5).seed(2).build(dev)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten::default())
        .add(Linear::builder(400, 120).seed(3).build(dev)?)
        .add(Relu)
        .add(Linear::builder(120, 84).seed(4).build(dev)?)
        .add(Relu)
        .add(Linear::builder(84, 10).seed(5).build(dev)?);
    let mut opt = Sgd::new(SgdConfig {
        lr: 0.01,
        ..SgdConfig::default()
    })?;
    let mut step = || -> Result<f32> {
        let tape = Tape::new();
        for p in model.parameters() {
            tape.watch(p);
        }
        let loss = cross_entropy(&model.forward(&x)?, &y, Reduction::Mean)?;
        let grads = tape.backward(&loss)?;
        opt.step(&mut model.parameters_mut(), &grads)?;
        loss.to_scalar::<f32>()
    };
    let first = step()?;
    let p = Policy {
        warmup: 3,
        samples: 10,
        min_sample_s: 0.3,
    }
    .quick(quick);
    let mut last = first;
    let (s, i) = measure(p, || last = step().expect("W4 step"));
    rate("W4", "LeNet-5 bs=64", "steps/s", &s, i, 1.0);
    #[cfg(feature = "cpu")]
    {
        // The step's workspace (activations, im2col buffers, gradients) on top of what lives
        // between steps (model, batch).
        use lamina::backend_cpu::alloc;
        let held = alloc::live_bytes();
        alloc::reset_peak_live_bytes();
        last = step()?;
        let peak = alloc::peak_live_bytes();
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        eprintln!(
            "W4: one step's peak tensor storage {:.2} MiB: {:.2} MiB held between steps, {:.2} MiB of workspace",
            mib(peak),
            mib(held),
            mib(peak.saturating_sub(held))
        );
    }
    if last.is_nan() || last >= first {
        return Err(lamina::tensor::Error::Invalid {
            op: "bench W4",
            msg: format!("loss did not fall: first {first}, last {last}"),
        });
    }
    Ok(())
}

/// W4's second case: one conv2d forward and backward (input and weight gradients) at a
/// ResNet-like shape, `[32, 64, 56, 56]`, 64 -> 64 channels, 3x3, padding 1, no bias.
/// GFLOP/s counts the three GEMM-sized products, `3 * 2 * N * Cout * H * W * Cin * 9`, so
/// it compares with W1's sgemm rate.
fn w4_conv(dev: &Device, quick: bool) -> Result<()> {
    use lamina::nn::functional::conv2d;
    let (n, c, hw) = (32, 64, 56);
    let x = Tensor::from_vec(uniform(7, n * c * hw * hw, -1.0, 1.0), [n, c, hw, hw], dev)?;
    let w = Tensor::from_vec(uniform(8, c * c * 9, -0.05, 0.05), [c, c, 3, 3], dev)?;
    let dy = Tensor::from_vec(uniform(9, n * c * hw * hw, -1.0, 1.0), [n, c, hw, hw], dev)?;
    let step = || -> Result<()> {
        let tape = Tape::new();
        tape.watch(&x);
        tape.watch(&w);
        let y = conv2d(&x, &w, None, 1, 1, 1, 1)?;
        let grads = tape.backward_with(&y, dy.clone())?;
        black_box((grads.get(&x).is_some(), grads.get(&w).is_some()));
        Ok(())
    };
    step()?;
    let p = Policy {
        warmup: 2,
        samples: 5,
        min_sample_s: 0.3,
    }
    .quick(quick);
    let (s, i) = measure(p, || step().expect("W4 conv step"));
    let flops = 3.0 * 2.0 * (n * c * hw * hw * c * 9) as f64;
    rate(
        "W4",
        "conv2d 32x64x56x56 3x3 fwd+bwd",
        "GFLOP/s",
        &s,
        i,
        flops / 1e9,
    );
    Ok(())
}

/// W6: one LSTM layer (PyTorch's gate layout, biases), batch-first input
/// `[32, 32, 64]`, hidden 128, zero initial state; loss = mean of the last hidden state;
/// a step is the forward over the 32 time steps and the backward to every parameter.
fn w6(dev: &Device, quick: bool) -> Result<()> {
    use lamina::nn::{Lstm, Module};
    let (batch, seq, input, hidden) = (32, 32, 64, 128);
    let x = Tensor::from_vec(
        uniform(10, batch * seq * input, -1.0, 1.0),
        [batch, seq, input],
        dev,
    )?;
    let lstm = Lstm::builder(input, hidden)
        .batch_first(true)
        .seed(1)
        .build(dev)?;
    let step = || -> Result<f32> {
        let tape = Tape::new();
        for p in lstm.parameters() {
            tape.watch(p);
        }
        let (_, (h, _)) = lstm.forward_with(&x, None)?;
        let loss = h.mean_all()?;
        let grads = tape.backward(&loss)?;
        black_box(&grads);
        loss.to_scalar::<f32>()
    };
    step()?;
    let p = Policy {
        warmup: 3,
        samples: 10,
        min_sample_s: 0.3,
    }
    .quick(quick);
    let (s, i) = measure(p, || {
        black_box(step().expect("W6 step"));
    });
    rate("W6", "LSTM bs=32 seq=32 h=128", "steps/s", &s, i, 1.0);
    Ok(())
}

/// W7: a pre-LN transformer block (d_model 128, 4 heads, FFN 512, exact GELU), input
/// `[16, 64, 128]`, causal attention, no dropout; loss = mean of the outputs; a step is
/// the forward and the backward to every parameter. Two cases: attention through
/// `scaled_dot_product_attention`, and written out (scores, mask, softmax, product).
fn w7(dev: &Device, quick: bool) -> Result<()> {
    use lamina::nn::attention::causal_mask;
    use lamina::nn::functional::{gelu, scaled_dot_product_attention};
    use lamina::nn::{LayerNorm, Linear, Module};
    let (b, t, d, heads, ff) = (16, 64, 128, 4, 512);
    let hd = d / heads;
    let x = Tensor::from_vec(uniform(11, b * t * d, -1.0, 1.0), [b, t, d], dev)?;
    let ln1 = LayerNorm::new(&[d], dev)?;
    let ln2 = LayerNorm::new(&[d], dev)?;
    let qkv = Linear::builder(d, 3 * d).seed(1).build(dev)?;
    let wo = Linear::builder(d, d).seed(2).build(dev)?;
    let w1 = Linear::builder(d, ff).seed(3).build(dev)?;
    let w2 = Linear::builder(ff, d).seed(4).build(dev)?;
    let mask = causal_mask(t, t, dev)?;
    let params: Vec<&Tensor> = [&ln1 as &dyn Module, &ln2, &qkv, &wo, &w1, &w2]
        .into_iter()
        .flat_map(|m| m.parameters())
        .collect();
    let step = |written_out: bool| -> Result<f32> {
        let tape = Tape::new();
        for p in &params {
            tape.watch(p);
        }
        // [b, t, 3d] -> q, k, v as [b, heads, t, hd].
        let a = qkv
            .forward(&ln1.forward(&x)?)?
            .reshape([b, t, 3, heads, hd])?
            .permute([2, 0, 3, 1, 4])?;
        let (q, k, v) = (a.select(0, 0)?, a.select(0, 1)?, a.select(0, 2)?);
        let att = if written_out {
            let scores = q
                .matmul(&k.transpose(-2, -1)?)?
                .mul_scalar(1.0 / (hd as f64).sqrt())?;
            let scores = scores.masked_fill(&mask.logical_not()?, f64::NEG_INFINITY)?;
            scores.softmax(-1)?.matmul(&v)?
        } else {
            scaled_dot_product_attention(&q, &k, &v, None, 0.0, true, None, 0, false)?
        };
        let merged = att.permute([0, 2, 1, 3])?.reshape([b, t, d])?;
        let x1 = (&x + &wo.forward(&merged)?)?;
        let ffn = w2.forward(&gelu(&w1.forward(&ln2.forward(&x1)?)?, false)?)?;
        let loss = (&x1 + &ffn)?.mean_all()?;
        let grads = tape.backward(&loss)?;
        black_box(&grads);
        loss.to_scalar::<f32>()
    };
    for (written_out, case) in [
        (false, "pre-LN block bs=16 seq=64 d=128 (sdpa)"),
        (true, "pre-LN block bs=16 seq=64 d=128 (written out)"),
    ] {
        step(written_out)?;
        let p = Policy {
            warmup: 3,
            samples: 10,
            min_sample_s: 0.3,
        }
        .quick(quick);
        let (s, i) = measure(p, || {
            black_box(step(written_out).expect("W7 step"));
        });
        rate("W7", case, "steps/s", &s, i, 1.0);
    }
    Ok(())
}

const USAGE: &str = "usage: bench W0 [W1 W5 ...] [--quick] [--device cpu|cuda[:N]]";

/// W8: a 1024 → 1024 linear layer on a batch of 1024 (`x = uniform(20, ..., -1, 1)`,
/// `W = uniform(21, ..., -0.05, 0.05)`, `b = uniform(22, 1024, -0.1, 0.1)`), f32 and int8
/// (weights per channel; dynamic: each batch quantised by its range; static: the input
/// range [-1, 1] fixed), f32 in and out; GOP/s = 2·1024³ / seconds.
fn w8(dev: &Device, quick: bool) -> Result<()> {
    use lamina::nn::{Linear, Module};
    use lamina::quant::{QLinear, QParams, QWeight};
    let (m, k, n) = (1024usize, 1024usize, 1024usize);
    let x = Tensor::from_vec(uniform(20, m * k, -1.0, 1.0), [m, k], dev)?;
    let w = uniform(21, n * k, -0.05, 0.05);
    let b = uniform(22, n, -0.1, 0.1);
    let mut f32_layer = Linear::builder(k, n).build(dev)?;
    f32_layer.weight = Tensor::from_vec(w.clone(), [n, k], dev)?;
    f32_layer.bias = Some(Tensor::from_vec(b.clone(), [n], dev)?);
    let int8 = |input| QLinear {
        weight: QWeight::quantize(&w, n, k),
        bias: Some(b.clone()),
        input,
        relu: false,
    };
    let (dynamic, fixed) = (int8(None), int8(Some(QParams::from_range(-1.0, 1.0))));
    let p = Policy {
        warmup: 3,
        samples: 15,
        min_sample_s: 0.05,
    }
    .quick(quick);
    let ops = 2.0 * (m * n * k) as f64 / 1e9;
    let (s, i) = measure(p, || {
        black_box(f32_layer.forward(&x).ok());
    });
    rate("W8", "linear f32 1024", "GOP/s", &s, i, ops);
    let (s, i) = measure(p, || {
        black_box(dynamic.forward(&x).ok());
    });
    rate("W8", "linear int8 dynamic 1024", "GOP/s", &s, i, ops);
    let (s, i) = measure(p, || {
        black_box(fixed.forward(&x).ok());
    });
    rate("W8", "linear int8 static 1024", "GOP/s", &s, i, ops);
    Ok(())
}

fn main() -> ExitCode {
    let (mut quick, mut workloads) = (false, Vec::new());
    let mut choice = match DeviceChoice::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--device" => match args.next().map(|v| v.parse::<DeviceChoice>()) {
                Some(Ok(c)) => choice = c,
                Some(Err(e)) => {
                    eprintln!("bench: --device: {e}");
                    return ExitCode::from(2);
                }
                None => {
                    eprintln!("bench: --device needs a value\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            flag if flag.starts_with("--") => {
                eprintln!("bench: unknown flag {flag}\n{USAGE}");
                return ExitCode::from(2);
            }
            w => workloads.push(w.to_uppercase()),
        }
    }
    if workloads.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let dev = match choice.open() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    measure_on(dev);
    if gpu(&dev) {
        if let Some(w) = workloads
            .iter()
            .find(|w| !["W1", "W3", "W5"].contains(&w.as_str()))
        {
            eprintln!("bench: {w} runs on the CPU only (W1, W3 and W5 run on a GPU)");
            return ExitCode::from(2);
        }
    }
    for w in &workloads {
        let r = match w.as_str() {
            "W0" => w0(&dev, quick),
            "W1" => w1(&dev, quick),
            "W2" => w2(&dev, quick),
            "W3" => w3(&dev, quick),
            "W4" => w4(&dev, quick).and_then(|()| w4_conv(&dev, quick)),
            "W5" => w5(&dev, quick),
            "W6" => w6(&dev, quick),
            "W7" => w7(&dev, quick),
            "W8" => w8(&dev, quick),
            other => {
                eprintln!("bench: workload {other} is not implemented yet (W0 to W8 are)");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = r {
            eprintln!("bench {w}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
