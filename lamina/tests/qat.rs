//! Quantisation-aware training against independent references: the fake-quantisation ops
//! and their straight-through gradients against PyTorch's on committed fixtures
//! (`fixtures/make_qat_fixtures.py`) and against a naive mask; the moving-average observer
//! against PyTorch's and its closed form; QAT of an MLP and of a small CNN with batch norm
//! on scikit-learn's digits, converted to int8 and compared with the fake-quantised model
//! and the f32 one; the ranges `convert` uses; checkpoints of the observers; bad input.

use std::path::PathBuf;
use std::sync::Arc;

use lamina::autograd::Tape;
use lamina::data::tabular::{read_csv, CsvOptions};
use lamina::data::{DataLoader, LoaderConfig, TensorDataset};
use lamina::nn::{
    cross_entropy, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Module, Reduction, Relu,
    Sequential,
};
use lamina::optim::{Adam, AdamConfig};
use lamina::prelude::*;
use lamina::quant::{
    fake_quantize_per_channel, fake_quantize_per_tensor, Calibrator, MovingAverageMinMax, Observer,
    QParams, QatModel,
};
use lamina::train::{FitConfig, Trainer};

fn fixture() -> serde_json::Value {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/qat.json"
    ));
    serde_json::from_str(&std::fs::read_to_string(p).expect("qat.json")).expect("json")
}

fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    f64s(v).into_iter().map(|x| x as f32).collect()
}

fn ints(v: &serde_json::Value) -> Vec<i32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() as i32)
        .collect()
}

/// `(y, dx)` of `op` at `x` for the upstream gradient `dy`, both read as f64.
fn value_and_vjp(
    x: &Tensor,
    dy: &Tensor,
    op: impl Fn(&Tensor) -> lamina::tensor::Result<Tensor>,
) -> lamina::Result<(Vec<f64>, Vec<f64>)> {
    let tape = Tape::new();
    tape.watch(x);
    let y = op(x)?;
    let grads = tape.backward_with(&y, dy.clone())?;
    let dx = grads.get(x).expect("x has a gradient").to_f64_vec()?;
    Ok((y.to_f64_vec()?, dx))
}

#[test]
fn fake_quantize_matches_pytorch_values_and_gradients() -> lamina::Result<()> {
    let dev = Device::cpu();
    let f = fixture();
    let cases = f["fake_quantize"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let shape: Vec<usize> = ints(&c["shape"]).iter().map(|&d| d as usize).collect();
        let (x, dy) = match c["dtype"].as_str().unwrap() {
            "float32" => (
                Tensor::from_vec(f32s(&c["x"]), shape.as_slice(), &dev)?,
                Tensor::from_vec(f32s(&c["dy"]), shape.as_slice(), &dev)?,
            ),
            "float64" => (
                Tensor::from_vec(f64s(&c["x"]), shape.as_slice(), &dev)?,
                Tensor::from_vec(f64s(&c["dy"]), shape.as_slice(), &dev)?,
            ),
            other => panic!("{name}: dtype {other}"),
        };
        let (qmin, qmax) = (
            c["quant_min"].as_i64().unwrap() as i32,
            c["quant_max"].as_i64().unwrap() as i32,
        );
        let (y, dx) = match c["kind"].as_str().unwrap() {
            "per_tensor" => {
                let scale = c["scale"].as_f64().unwrap() as f32;
                let zp = c["zero_point"].as_i64().unwrap() as i32;
                value_and_vjp(&x, &dy, |x| {
                    fake_quantize_per_tensor(x, scale, zp, qmin, qmax)
                })?
            }
            "per_channel" => {
                let (scales, zps) = (f32s(&c["scales"]), ints(&c["zero_points"]));
                let axis = c["axis"].as_u64().unwrap() as usize;
                value_and_vjp(&x, &dy, |x| {
                    fake_quantize_per_channel(x, &scales, &zps, axis, qmin, qmax)
                })?
            }
            other => panic!("{name}: kind {other}"),
        };
        // Bit for bit: the same f32 (or f64) arithmetic in the same order.
        assert_eq!(y, f64s(&c["y"]), "{name}: values");
        assert_eq!(dx, f64s(&c["dx"]), "{name}: x.grad");
        let masked = dx.iter().filter(|&&g| g == 0.0).count();
        assert!(masked > 0 && masked < dx.len(), "{name}: {masked} masked");
    }
    Ok(())
}

/// The naive reference: `q = zp + round_half_even(x / s)` in f64 (exact here: `s` is a
/// power of two), the value `(clamp(q) − zp) · s` and the mask `qmin ≤ q ≤ qmax`.
fn naive(x: f64, s: f64, zp: i32, qmin: i32, qmax: i32) -> (f64, f64) {
    let q = zp as f64 + (x / s).round_ties_even();
    let inside = q >= qmin as f64 && q <= qmax as f64;
    let y = (q.clamp(qmin as f64, qmax as f64) - zp as f64) * s;
    (y, if inside { 1.0 } else { 0.0 })
}

#[test]
fn the_gradient_is_the_straight_through_mask() -> lamina::Result<()> {
    let dev = Device::cpu();
    // A grid in steps of a quarter of the scale: exact ties, both bounds, and beyond.
    let (s, zp, qmin, qmax) = (0.125f64, 5, 0, 20);
    let xs: Vec<f32> = (-40..=130).map(|i| (i as f64 * s / 4.0) as f32).collect();
    let gs: Vec<f32> = (0..xs.len()).map(|i| 1.0 + (i % 7) as f32 * 0.5).collect();
    let x = Tensor::from_vec(xs.clone(), [xs.len()], &dev)?;
    let g = Tensor::from_vec(gs.clone(), [xs.len()], &dev)?;
    let (y, dx) = value_and_vjp(&x, &g, |x| {
        fake_quantize_per_tensor(x, s as f32, zp, qmin, qmax)
    })?;
    let mut inside = 0;
    for (i, &v) in xs.iter().enumerate() {
        let (want_y, mask) = naive(v as f64, s, zp, qmin, qmax);
        assert_eq!(y[i], want_y, "value at x = {v}");
        assert_eq!(dx[i], gs[i] as f64 * mask, "gradient at x = {v}");
        inside += mask as usize;
    }
    // q = 5 + round(i / 4) runs from −5 to 38: values masked below 0 and above 20.
    assert!(inside > 50 && inside < xs.len() - 20, "{inside}");

    // Per channel along a middle axis, each channel its own scale and zero point.
    let dims = [2, 3, 9];
    let scales = [0.25f32, 0.5, 0.0625];
    let zps = [0, 3, 7];
    let n: usize = dims.iter().product();
    let xs: Vec<f32> = (0..n).map(|i| (i as f32 - 25.0) * 0.3125).collect();
    let gs: Vec<f32> = (0..n).map(|i| (i % 5) as f32 - 2.5).collect();
    let x = Tensor::from_vec(xs.clone(), dims, &dev)?;
    let g = Tensor::from_vec(gs.clone(), dims, &dev)?;
    let (y, dx) = value_and_vjp(&x, &g, |x| {
        fake_quantize_per_channel(x, &scales, &zps, 1, 0, 15)
    })?;
    for i in 0..n {
        let c = (i / 9) % 3;
        let (want_y, mask) = naive(xs[i] as f64, scales[c] as f64, zps[c], 0, 15);
        assert_eq!(y[i], want_y, "value {i}");
        assert_eq!(dx[i], gs[i] as f64 * mask, "gradient {i}");
    }
    Ok(())
}

#[test]
fn moving_average_observer_matches_pytorch_and_its_closed_form() -> lamina::Result<()> {
    let dev = Device::cpu();
    let f = fixture();
    let m = &f["moving_average"];
    let c = m["averaging_constant"].as_f64().unwrap();
    let batches: Vec<Vec<f32>> = m["batches"].as_array().unwrap().iter().map(f32s).collect();
    let steps = m["steps"].as_array().unwrap();
    let outputs = m["fake_quantize_outputs"].as_array().unwrap();
    let mut obs = MovingAverageMinMax::new();
    assert_eq!(obs.averaging_constant() as f64, c as f32 as f64);
    assert_eq!(obs.range(), None);
    let ext = |b: &[f32]| -> (f64, f64) {
        let lo = b.iter().fold(f32::INFINITY, |a, &v| a.min(v)) as f64;
        let hi = b.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64;
        (lo, hi)
    };
    for (n, (b, step)) in batches.iter().zip(steps).enumerate() {
        obs.observe(b);
        let (lo, hi) = obs.range().unwrap();
        // PyTorch's buffers, bit for bit.
        assert_eq!(
            lo,
            step["min_val"].as_f64().unwrap() as f32,
            "batch {n} min"
        );
        assert_eq!(
            hi,
            step["max_val"].as_f64().unwrap() as f32,
            "batch {n} max"
        );
        let q = obs.qparams().unwrap();
        assert_eq!(q.scale, step["scale"].as_f64().unwrap() as f32, "batch {n}");
        assert_eq!(q.zero_point as i64, step["zero_point"].as_i64().unwrap());
        // The closed form in f64: the first batch's extremes weighted (1 − c)^n, batch k's
        // c (1 − c)^(n − k).
        let (mut want_lo, mut want_hi) = ext(&batches[0]);
        want_lo *= (1.0 - c).powi(n as i32);
        want_hi *= (1.0 - c).powi(n as i32);
        for (k, bk) in batches.iter().enumerate().take(n + 1).skip(1) {
            let w = c * (1.0 - c).powi((n - k) as i32);
            want_lo += w * ext(bk).0;
            want_hi += w * ext(bk).1;
        }
        assert!(
            (lo as f64 - want_lo).abs() <= 1e-5 * want_lo.abs().max(1.0),
            "batch {n}: min {lo} vs closed form {want_lo}"
        );
        assert!(
            (hi as f64 - want_hi).abs() <= 1e-5 * want_hi.abs().max(1.0),
            "batch {n}: max {hi} vs closed form {want_hi}"
        );
    }

    // PyTorch's FakeQuantize module: observe the batch, then fake-quantise it with the
    // averaged range. A QAT model's input point does the same in training mode.
    let mut obs = MovingAverageMinMax::new();
    for (n, (b, want)) in batches.iter().zip(outputs).enumerate() {
        obs.observe(b);
        let q = obs.qparams().unwrap();
        let x = Tensor::from_vec(b.clone(), [b.len()], &dev)?;
        let y = fake_quantize_per_tensor(&x, q.scale, q.zero_point, 0, 255)?;
        assert_eq!(y.to_vec::<f32>()?, f32s(want), "batch {n}");
    }

    // In a QatModel: training forwards move the range, evaluation and frozen ones do not.
    let lin = Linear::builder(1, 1).seed(3).build(&dev)?;
    let mut qat = QatModel::prepare(Sequential::new().add(lin))?;
    let column = |b: &[f32]| Tensor::from_vec(b.to_vec(), [b.len(), 1], &dev);
    for b in &batches[..4] {
        qat.forward(&column(b)?)?;
    }
    let after4 = qat.input_ranges()[0].unwrap();
    assert_eq!(after4.0, steps[3]["min_val"].as_f64().unwrap() as f32);
    assert_eq!(after4.1, steps[3]["max_val"].as_f64().unwrap() as f32);
    qat.eval();
    qat.forward(&column(&batches[4])?)?;
    assert_eq!(qat.input_ranges()[0], Some(after4));
    qat.train();
    qat.freeze_observers();
    qat.forward(&column(&batches[4])?)?;
    assert_eq!(qat.input_ranges()[0], Some(after4));
    qat.unfreeze_observers();
    qat.forward(&column(&batches[4])?)?;
    assert_eq!(
        qat.input_ranges()[0].unwrap().0,
        steps[4]["min_val"].as_f64().unwrap() as f32
    );
    Ok(())
}

/// scikit-learn's digits (8x8, 1,797 rows), pixels / 16: every fourth row is held out.
fn digits(dev: &Device) -> lamina::Result<((Tensor, Tensor), (Tensor, Tensor))> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../datasets/sklearn/digits.csv"
    );
    let table = read_csv(path, &CsvOptions::default())?;
    let (train, test): (Vec<usize>, Vec<usize>) = (0..table.rows).partition(|i| i % 4 != 0);
    let split = |rows: &[usize]| -> lamina::Result<(Tensor, Tensor)> {
        let t = table.select_rows(rows)?;
        let x = t.features_tensor(DType::F32, dev)?.div_scalar(16.0)?;
        Ok((x, t.class_labels_tensor(dev)?))
    };
    Ok((split(&train)?, split(&test)?))
}

fn fit(
    model: &mut dyn Module,
    (x, y): &(Tensor, Tensor),
    epochs: usize,
    lr: f64,
) -> lamina::Result<()> {
    let loader = DataLoader::new(
        Arc::new(TensorDataset::new(x.clone(), y.clone())?),
        LoaderConfig {
            batch_size: 32,
            shuffle: true,
            seed: Some(1),
            ..Default::default()
        },
    )?;
    let mut opt = Adam::new(AdamConfig {
        lr,
        ..Default::default()
    })?;
    let config = FitConfig {
        epochs,
        verbose: false,
        progress: false,
        ..Default::default()
    };
    Trainer::new(config).fit(model, &mut opt, &loader, None, |out, y| {
        cross_entropy(out, y, Reduction::Mean)
    })?;
    Ok(())
}

fn argmax(logits: &Tensor) -> lamina::Result<Vec<i64>> {
    Ok(logits.argmax(-1, false)?.to_vec::<i64>()?)
}

fn accuracy(pred: &[i64], y: &Tensor) -> lamina::Result<f64> {
    let y = y.to_vec::<i64>()?;
    Ok(pred.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64)
}

fn agreement(a: &[i64], b: &[i64]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// The largest difference between two outputs, relative to the largest magnitude.
fn max_rel_diff(a: &Tensor, b: &Tensor) -> lamina::Result<f64> {
    let (a, b) = (a.to_f64_vec()?, b.to_f64_vec()?);
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    Ok(worst / scale)
}

#[test]
fn qat_mlp_on_digits_converts_to_the_model_it_trained() -> lamina::Result<()> {
    let dev = Device::cpu();
    let (train, (xt, yt)) = digits(&dev)?;
    let mut model = Sequential::new()
        .add(Linear::builder(64, 64).seed(11).build(&dev)?)
        .add(Relu)
        .add(Linear::builder(64, 10).seed(12).build(&dev)?);
    fit(&mut model, &train, 10, 3e-3)?;
    model.eval();
    let f32_acc = accuracy(&argmax(&model.forward(&xt)?)?, &yt)?;

    // Fine-tune with QAT (PyTorch's usual recipe: a trained float model, a lower rate),
    // the observers frozen for the last epoch.
    let mut qat = QatModel::prepare(model)?;
    let names: Vec<String> = qat.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    fit(&mut qat, &train, 3, 1e-3)?;
    qat.freeze_observers();
    fit(&mut qat, &train, 4, 1e-3)?;
    qat.eval();
    let fake = qat.forward(&xt)?;
    let int8 = qat.convert()?;
    assert_eq!(int8.describe(), ["QLinear+ReLU", "QLinear"]);
    let q = int8.forward(&xt)?;
    let (fake_pred, int8_pred) = (argmax(&fake)?, argmax(&q)?);
    let (fake_acc, int8_acc) = (accuracy(&fake_pred, &yt)?, accuracy(&int8_pred, &yt)?);
    let agree = agreement(&fake_pred, &int8_pred);
    let diff = max_rel_diff(&q, &fake)?;
    eprintln!(
        "digits MLP: f32 {f32_acc:.4}, QAT fake-quant {fake_acc:.4}, int8 {int8_acc:.4}, \
         argmax agreement {agree:.4}, max relative logit difference {diff:.2e}"
    );
    // The int8 model computes what the fake-quantised one did: the same integers, exact
    // i32 sums instead of f32 ones.
    assert!(agree >= 0.98, "int8 and fake-quant argmax agree on {agree}");
    assert!(diff < 1e-3, "int8 vs fake-quant logits: {diff}");
    // Quantisation costs at most 2 points of accuracy against the f32 model (chance: 0.10).
    assert!(f32_acc >= 0.9, "f32 accuracy {f32_acc}");
    assert!(
        int8_acc >= f32_acc - 0.02,
        "int8 {int8_acc} vs f32 {f32_acc}"
    );

    // convert takes the ranges QAT observed, not the ones a batch would give.
    let ranges = qat.input_qparams();
    assert!(ranges.iter().all(Option::is_some));
    assert_eq!(int8.input_qparams(), ranges);
    // On inputs spanning a tenth of the training range, the int8 model still quantises
    // with the training ranges, on the fake-quantised model's coarse grid: it matches
    // that model, and a model calibrated on these inputs alone (finer scales) does not.
    let narrow = xt.mul_scalar(0.1)?;
    let fake_narrow = qat.forward(&narrow)?;
    let same = max_rel_diff(&int8.forward(&narrow)?, &fake_narrow)?;
    let mut cal = Calibrator::new(qat.model(), Observer::MinMax)?;
    cal.observe(&narrow)?;
    let own = cal.convert()?;
    assert_ne!(own.input_qparams(), ranges);
    let differs = max_rel_diff(&own.forward(&narrow)?, &fake_narrow)?;
    eprintln!("a tenth of the range: int8 with QAT ranges {same:.2e}, with its own {differs:.2e}");
    assert!(same < 1e-4, "int8 vs fake-quant on narrow inputs: {same}");
    assert!(
        differs > 1e-2,
        "own-range calibration differs by only {differs}"
    );
    Ok(())
}

#[test]
fn qat_cnn_with_batch_norm_converts_to_its_folded_int8_model() -> lamina::Result<()> {
    let dev = Device::cpu();
    let ((x, y), (xt, yt)) = digits(&dev)?;
    let image = |x: &Tensor| x.reshape([x.dims()[0], 1, 8, 8]);
    let train = (image(&x)?, y);
    let xt = image(&xt)?;
    let model = Sequential::new()
        .add(Conv2d::builder(1, 8, 3).padding(1).seed(21).build(&dev)?)
        .add(BatchNorm2d::new(8, &dev)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten::default())
        .add(Linear::builder(8 * 4 * 4, 10).seed(22).build(&dev)?);
    // QAT from scratch: batch statistics in training, running ones folded at the end.
    let mut qat = QatModel::prepare(model)?;
    fit(&mut qat, &train, 4, 3e-3)?;
    qat.eval();
    let fake = qat.forward(&xt)?;
    let int8 = qat.convert()?;
    assert_eq!(
        int8.describe(),
        ["QConv2d+ReLU", "MaxPool2d", "Flatten", "QLinear"]
    );
    let q = int8.forward(&xt)?;
    let (fake_pred, int8_pred) = (argmax(&fake)?, argmax(&q)?);
    let agree = agreement(&fake_pred, &int8_pred);
    let diff = max_rel_diff(&q, &fake)?;
    let (fake_acc, int8_acc) = (accuracy(&fake_pred, &yt)?, accuracy(&int8_pred, &yt)?);
    eprintln!(
        "digits CNN (conv-BN-ReLU): QAT fake-quant {fake_acc:.4}, int8 {int8_acc:.4}, \
         argmax agreement {agree:.4}, max relative logit difference {diff:.2e}"
    );
    assert!(agree >= 0.98, "{agree}");
    assert!(diff < 1e-3, "int8 vs fake-quant logits: {diff}");
    assert!(int8_acc >= 0.9, "int8 CNN accuracy {int8_acc}");
    // In evaluation the QAT model is the folded convolution on fake-quantised weights:
    // without the quantisation it is the float model's evaluation forward.
    let float = qat.into_inner();
    let unquantised = max_rel_diff(&fake, &float.forward(&xt)?)?;
    eprintln!("digits CNN: fake-quant vs f32 evaluation logits {unquantised:.2e}");
    assert!(unquantised < 0.05, "{unquantised}");
    Ok(())
}

#[test]
fn observer_ranges_are_buffers_that_checkpoints_restore() -> lamina::Result<()> {
    let dev = Device::cpu();
    let model = || -> lamina::Result<Sequential> {
        Ok(Sequential::new()
            .add(Linear::builder(3, 4).seed(1).build(&dev)?)
            .add(Relu)
            .add(Linear::builder(4, 2).seed(2).build(&dev)?))
    };
    let qat = QatModel::prepare(model()?)?;
    qat.forward(&Tensor::from_vec(
        vec![-1.0f32, 0.5, 2.0, 0.0, 3.0, -0.25],
        [2, 3],
        &dev,
    )?)?;
    let names: Vec<String> = qat.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "0.input_observer.min_val",
            "0.input_observer.max_val",
            "2.input_observer.min_val",
            "2.input_observer.max_val"
        ]
    );
    let dir = std::env::temp_dir().join(format!("lamina-qat-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("qat.safetensors");
    qat.save_safetensors(&path)?;
    let mut back = QatModel::prepare(model()?)?;
    assert_eq!(back.input_ranges(), [None, None]);
    back.load_safetensors(&path)?;
    assert_eq!(back.input_ranges()[0], Some((-1.0, 3.0)));
    assert_eq!(back.input_ranges(), qat.input_ranges());
    assert_eq!(back.input_qparams(), qat.input_qparams());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn bad_input_is_a_clear_error() -> lamina::Result<()> {
    let dev = Device::cpu();
    let err = |r: lamina::tensor::Result<Tensor>| r.unwrap_err().to_string();
    let x = Tensor::from_vec(vec![0.5f32, -1.0, 2.0, 0.0], [2, 2], &dev)?;
    let e = err(fake_quantize_per_tensor(&x, 0.1, 300, 0, 255));
    assert!(e.contains("zero point 300"), "{e}");
    let e = err(fake_quantize_per_tensor(&x, 0.0, 0, 0, 255));
    assert!(e.contains("scale 0"), "{e}");
    let e = err(fake_quantize_per_tensor(&x, 0.1, 0, 10, 5));
    assert!(e.contains("quant_min 10"), "{e}");
    let e = err(fake_quantize_per_channel(
        &x, &[0.1; 3], &[0; 3], 0, -128, 127,
    ));
    assert!(e.contains("3 scales") && e.contains("2 channels"), "{e}");
    let e = err(fake_quantize_per_channel(&x, &[0.1], &[0], 2, -128, 127));
    assert!(e.contains("axis 2"), "{e}");
    let ints = Tensor::from_vec(vec![1i64, 2], [2], &dev)?;
    let e = err(fake_quantize_per_tensor(&ints, 0.1, 0, 0, 255));
    assert!(e.contains("fake_quantize_per_tensor"), "{e}");

    // A layer QAT cannot quantise is named.
    let e = QatModel::prepare(
        Sequential::new()
            .add(Linear::builder(2, 2).seed(1).build(&dev)?)
            .add(lamina::nn::Tanh),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Tanh"), "{e}");
    let grouped = Conv2d::builder(2, 2, 3).groups(2).seed(1).build(&dev)?;
    let e = QatModel::prepare(Sequential::new().add(grouped))
        .unwrap_err()
        .to_string();
    assert!(e.contains("Conv2d") && e.contains("groups 2"), "{e}");
    // A batch norm after the ReLU cannot be folded into the convolution.
    let e = QatModel::prepare(
        Sequential::new()
            .add(Conv2d::builder(1, 2, 3).seed(1).build(&dev)?)
            .add(Relu)
            .add(BatchNorm2d::new(2, &dev)?),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("BatchNorm2d(2)") && e.contains("directly after"),
        "{e}"
    );

    // Evaluating or converting before any training batch has no range to use.
    let mut qat =
        QatModel::prepare(Sequential::new().add(Linear::builder(2, 2).seed(1).build(&dev)?))?;
    let e = qat.convert().unwrap_err().to_string();
    assert!(e.contains("no input range observed"), "{e}");
    qat.eval();
    let e = qat.forward(&x).unwrap_err().to_string();
    assert!(
        e.contains("no input range observed") && e.contains("layer 0"),
        "{e}"
    );
    Ok(())
}

#[test]
fn qparams_of_the_observer_are_the_static_rule() {
    // The activation parameters QAT converts with are MinMaxObserver's over the average.
    let mut obs = MovingAverageMinMax::with_averaging_constant(1.0);
    obs.observe(&[0.5, 2.0]);
    obs.observe(&[-1.0, 3.0, f32::NAN]);
    assert_eq!(obs.range(), Some((-1.0, 3.0)));
    assert_eq!(obs.qparams(), Some(QParams::from_range(-1.0, 3.0)));
    obs.observe(&[f32::NAN]);
    assert_eq!(obs.range(), Some((-1.0, 3.0)));
}
