//! int8 quantisation against independent references: PyTorch's observers and
//! `quantize_per_tensor` / `quantize_per_channel` on committed fixtures
//! (`fixtures/make_quant_fixtures.py`), the int8 layers against f64 arithmetic on the
//! dequantised values, batch-norm folding against the model's own evaluation forward,
//! calibration and conversion of a small CNN, the safetensors round trip, and bad input.

use std::path::PathBuf;

use lamina::nn::{
    BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, Relu, Sequential,
};
use lamina::prelude::*;
use lamina::quant::{
    quantize_dynamic, quantize_per_channel, Calibrator, Observed, Observer, QConv2d, QLinear,
    QParams, QWeight, QuantizedModel,
};

fn fixture() -> serde_json::Value {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/quant.json"
    ));
    serde_json::from_str(&std::fs::read_to_string(p).expect("quant.json")).expect("json")
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ints(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn qparams_and_integers_match_pytorch() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let x = floats(&c["x"]);
        let want_q = ints(&c["q"]);
        let want_dq = floats(&c["dequantized"]);
        match c["kind"].as_str().unwrap() {
            "per_tensor_affine_quint8" => {
                let mut obs = Observed::new(Observer::MinMax);
                obs.observe(&x);
                let q = obs.qparams().unwrap();
                assert_eq!(q.scale, c["scale"].as_f64().unwrap() as f32, "{name} scale");
                assert_eq!(
                    q.zero_point as i64,
                    c["zero_point"].as_i64().unwrap(),
                    "{name} zp"
                );
                let got: Vec<i64> = x.iter().map(|&v| q.quantize(v) as i64).collect();
                assert_eq!(got, want_q, "{name} q");
                let dq: Vec<f32> = got.iter().map(|&v| q.dequantize(v as u8)).collect();
                assert_eq!(dq, want_dq, "{name} dequantized");
            }
            "per_channel_symmetric_qint8" => {
                let shape = ints(&c["shape"]);
                let rows = shape[0] as usize;
                let (q, scales) = quantize_per_channel(&x, rows, x.len() / rows);
                assert_eq!(scales, floats(&c["scales"]), "{name} scales");
                assert!(ints(&c["zero_points"]).iter().all(|&z| z == 0));
                let got: Vec<i64> = q.iter().map(|&v| v as i64).collect();
                assert_eq!(got, want_q, "{name} q");
                let per = x.len() / rows;
                let dq: Vec<f32> = q
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| v as f32 * scales[i / per])
                    .collect();
                assert_eq!(dq, want_dq, "{name} dequantized");
            }
            other => panic!("unknown case kind {other}"),
        }
    }
}

#[test]
fn percentile_observer_clips_outliers() {
    // 1000 values in [-1, 1] and two outliers: the 99th percentiles ignore them.
    let mut v: Vec<f32> = (0..1000).map(|i| (i as f32 / 999.0) * 2.0 - 1.0).collect();
    v.extend([50.0, -40.0]);
    let mut obs = Observed::new(Observer::Percentile(99.0));
    obs.observe(&v);
    let mut sorted = v.clone();
    sorted.sort_by(f32::total_cmp);
    let at = |q: f64| sorted[((q / 100.0) * (sorted.len() - 1) as f64).round() as usize];
    assert_eq!(
        obs.qparams().unwrap(),
        QParams::from_range(at(1.0), at(99.0))
    );
    let mut mm = Observed::new(Observer::MinMax);
    mm.observe(&v);
    assert_eq!(mm.qparams().unwrap(), QParams::from_range(-40.0, 50.0));
    assert!(Observed::new(Observer::MinMax).qparams().is_none());
}

/// A deterministic value stream in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let z = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn qlinear_equals_f64_arithmetic_on_the_dequantised_values() -> lamina::Result<()> {
    let dev = Device::cpu();
    let (m, k, n) = (7, 37, 11);
    let x = values(m * k, 1)
        .iter()
        .map(|v| v * 3.0 + 0.5)
        .collect::<Vec<_>>();
    let w = values(n * k, 2).iter().map(|v| v * 0.3).collect::<Vec<_>>();
    let b = values(n, 3);
    let xt = Tensor::from_vec(x.clone(), [m, k], &dev)?;
    for (input, relu) in [(Some(QParams::from_range(-2.0, 3.0)), false), (None, true)] {
        let layer = QLinear {
            weight: QWeight::quantize(&w, n, k),
            bias: Some(b.clone()),
            input,
            relu,
        };
        let y = layer.forward(&xt)?.to_vec::<f32>()?;
        let qa = input.unwrap_or_else(|| {
            let (lo, hi) = x
                .iter()
                .fold((0f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
            QParams::from_range(lo, hi)
        });
        let (qw, sw) = quantize_per_channel(&w, n, k);
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for kk in 0..k {
                    let a = qa.dequantize(qa.quantize(x[i * k + kk])) as f64;
                    s += a * qw[j * k + kk] as f64 * sw[j] as f64;
                }
                let mut want = s + b[j] as f64;
                if relu {
                    want = want.max(0.0);
                }
                let got = y[i * n + j] as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{i},{j}: {got} vs {want}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn qconv_equals_the_float_convolution_of_the_dequantised_values() -> lamina::Result<()> {
    let dev = Device::cpu();
    let (n, c, h, w, oc) = (2, 3, 9, 8, 4);
    let x = values(n * c * h * w, 4);
    let wt = values(oc * c * 9, 5)
        .iter()
        .map(|v| v * 0.4)
        .collect::<Vec<_>>();
    let b = values(oc, 6);
    let qa = QParams::from_range(-1.0, 1.0);
    for (stride, padding, dilation) in [([1, 1], [1, 1], [1, 1]), ([2, 1], [0, 2], [1, 2])] {
        let layer = QConv2d {
            weight: QWeight::quantize(&wt, oc, c * 9),
            bias: Some(b.clone()),
            in_channels: c,
            kernel: [3, 3],
            stride,
            padding,
            dilation,
            input: Some(qa),
            relu: false,
        };
        let xt = Tensor::from_vec(x.clone(), [n, c, h, w], &dev)?;
        let got = layer.forward(&xt)?;
        // The reference: Lamina's f32 convolution of the dequantised input and weight.
        let xd: Vec<f32> = x.iter().map(|&v| qa.dequantize(qa.quantize(v))).collect();
        let (qw, sw) = quantize_per_channel(&wt, oc, c * 9);
        let wd: Vec<f32> = qw
            .iter()
            .enumerate()
            .map(|(i, &q)| q as f32 * sw[i / (c * 9)])
            .collect();
        let mut conv = Conv2d::builder(c, oc, [3, 3])
            .stride(stride)
            .padding(padding)
            .dilation(dilation)
            .build(&dev)?;
        conv.weight = Tensor::from_vec(wd, [oc, c, 3, 3], &dev)?;
        conv.bias = Some(Tensor::from_vec(b.clone(), [oc], &dev)?);
        let want = conv.forward(&Tensor::from_vec(xd, [n, c, h, w], &dev)?)?;
        assert_eq!(got.dims(), want.dims());
        for (g, e) in got.to_vec::<f32>()?.iter().zip(want.to_vec::<f32>()?) {
            assert!((g - e).abs() <= 1e-5 * e.abs().max(1.0), "{g} vs {e}");
        }
    }
    Ok(())
}

/// conv-BN-ReLU-pool, conv-BN-ReLU-pool, flatten, dropout, linear-ReLU, linear.
fn small_cnn(dev: &Device) -> lamina::Result<Sequential> {
    Ok(Sequential::new()
        .add(Conv2d::builder(1, 4, 3).padding(1).seed(1).build(dev)?)
        .add(BatchNorm2d::new(4, dev)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Conv2d::builder(4, 6, 3).padding(1).seed(2).build(dev)?)
        .add(BatchNorm2d::new(6, dev)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten::default())
        .add(Dropout::new(0.25)?)
        .add(Linear::builder(6 * 4 * 4, 16).seed(3).build(dev)?)
        .add(Relu)
        .add(Linear::builder(16, 5).seed(4).build(dev)?))
}

#[test]
fn calibrated_cnn_folds_batch_norm_and_tracks_the_float_model() -> lamina::Result<()> {
    let dev = Device::cpu();
    let mut model = small_cnn(&dev)?;
    // Some training-mode batches give the batch norms non-trivial running statistics.
    let batches: Vec<Tensor> = (0..4)
        .map(|s| Tensor::from_vec(values(8 * 16 * 16, 10 + s), [8, 1, 16, 16], &dev))
        .collect::<Result<_, _>>()?;
    model.set_training(true);
    for x in &batches {
        model.forward(&x.affine(2.0, 0.3)?)?;
    }
    model.set_training(false);
    let mut cal = Calibrator::new(&model, Observer::MinMax)?;
    for x in &batches {
        let folded = cal.observe(x)?;
        let eval = model.forward(x)?;
        for (a, b) in folded.to_vec::<f32>()?.iter().zip(eval.to_vec::<f32>()?) {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "folded {a} vs model {b}"
            );
        }
    }
    let q = cal.convert()?;
    assert_eq!(
        q.describe(),
        [
            "QConv2d+ReLU",
            "MaxPool2d",
            "QConv2d+ReLU",
            "MaxPool2d",
            "Flatten",
            "QLinear+ReLU",
            "QLinear"
        ]
    );
    let (x, f32_out) = (&batches[0], model.forward(&batches[0])?);
    let int8 = q.forward(x)?.to_vec::<f32>()?;
    let f = f32_out.to_vec::<f32>()?;
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let diff: Vec<f32> = int8.iter().zip(&f).map(|(a, b)| a - b).collect();
    let rel = norm(&diff) / norm(&f);
    assert!(
        rel < 0.05,
        "int8 output differs from f32 by {rel} (relative)"
    );

    // Round trip through a file: the same outputs bit for bit, and a file about 4x smaller
    // per weight than f32 would be.
    let dir = std::env::temp_dir().join(format!("lamina-quant-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("int8.safetensors");
    q.save_safetensors(&path)?;
    let back = QuantizedModel::load_safetensors(&path)?;
    assert_eq!(back.forward(x)?.to_vec::<f32>()?, int8);
    assert_eq!(back.describe(), q.describe());

    // Dynamic: only the linear layers in int8.
    let d = quantize_dynamic(&model)?;
    assert_eq!(
        d.describe(),
        [
            "Conv2d+ReLU",
            "MaxPool2d",
            "Conv2d+ReLU",
            "MaxPool2d",
            "Flatten",
            "QLinear+ReLU (dynamic)",
            "QLinear (dynamic)"
        ]
    );
    let dy = d.forward(x)?.to_vec::<f32>()?;
    let diff: Vec<f32> = dy.iter().zip(&f).map(|(a, b)| a - b).collect();
    assert!(norm(&diff) / norm(&f) < 0.05);
    d.save_safetensors(&path)?;
    assert_eq!(
        QuantizedModel::load_safetensors(&path)?
            .forward(x)?
            .to_vec::<f32>()?,
        dy
    );

    // A corrupt or foreign file is an error naming it, never a panic.
    std::fs::write(&path, b"not a safetensors file")?;
    let e = QuantizedModel::load_safetensors(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("int8.safetensors"), "{e}");
    model.save_safetensors(&path)?;
    let e = QuantizedModel::load_safetensors(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a Lamina int8 model"), "{e}");
    let e = QuantizedModel::load_safetensors(dir.join("missing.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.safetensors"), "{e}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn dynamic_int8_lstm_tracks_the_float_lstm() -> lamina::Result<()> {
    use lamina::nn::Lstm;
    use lamina::quant::QLstm;
    let dev = Device::cpu();
    for batch_first in [false, true] {
        let lstm = Lstm::builder(12, 24)
            .num_layers(2)
            .batch_first(batch_first)
            .seed(7)
            .build(&dev)?;
        let x = Tensor::from_vec(values(9 * 3 * 12, 30), [9, 3, 12], &dev)?;
        let (want, (wh, wc)) = lstm.forward_with(&x, None)?;
        let q = QLstm::from_lstm(&lstm)?;
        let (got, (gh, gc)) = q.forward(&x)?;
        assert_eq!(got.dims(), want.dims());
        for (name, g, w) in [
            ("output", &got, &want),
            ("h_n", &gh, &wh),
            ("c_n", &gc, &wc),
        ] {
            assert_eq!(g.dims(), w.dims(), "{name}");
            let (g, w) = (g.to_vec::<f32>()?, w.to_vec::<f32>()?);
            let worst = g
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let scale = w.iter().map(|v| v.abs()).fold(0f32, f32::max);
            // 8-bit weights and activations: errors of a percent of the range.
            assert!(
                worst <= 0.02 * scale.max(0.1),
                "{name}: {worst} against {scale}"
            );
        }
    }
    let bi = Lstm::builder(4, 8).bidirectional(true).build(&dev)?;
    assert!(QLstm::from_lstm(&bi).is_err());
    Ok(())
}

#[test]
fn bad_input_is_a_clear_error() -> lamina::Result<()> {
    let dev = Device::cpu();
    let layer = QLinear {
        weight: QWeight::quantize(&values(6, 1), 2, 3),
        bias: None,
        input: None,
        relu: false,
    };
    let e = layer
        .forward(&Tensor::from_vec(
            vec![1.0f32, f32::NAN, 0.0],
            [1, 3],
            &dev,
        )?)
        .unwrap_err();
    assert!(e.to_string().contains("not finite"), "{e}");
    let e = layer
        .forward(&Tensor::zeros([2, 4], DType::F32, &dev)?)
        .unwrap_err();
    assert!(e.to_string().contains("3 features"), "{e}");
    // A layer the quantiser does not know is named.
    let model = Sequential::new().add(lamina::nn::Tanh);
    let e = Calibrator::new(&model, Observer::MinMax)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Tanh"), "{e}");
    // A batch norm after the ReLU does not commute with it: no folding across.
    let model = Sequential::new()
        .add(Conv2d::builder(1, 2, 3).seed(1).build(&dev)?)
        .add(Relu)
        .add(BatchNorm2d::new(2, &dev)?);
    let e = Calibrator::new(&model, Observer::MinMax)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("BatchNorm2d(2) (not directly after a Conv2d)"),
        "{e}"
    );
    // Converting before calibrating.
    let model = Sequential::new().add(Linear::builder(3, 2).seed(1).build(&dev)?);
    let e = Calibrator::new(&model, Observer::MinMax)?
        .convert()
        .unwrap_err()
        .to_string();
    assert!(e.contains("calibration"), "{e}");
    Ok(())
}
