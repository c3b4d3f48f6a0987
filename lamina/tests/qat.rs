//! Quantisation-aware training's building blocks against independent references: the
//! fake-quantisation ops and their straight-through gradients against PyTorch's on
//! committed fixtures (`fixtures/make_qat_fixtures.py`) and against a naive mask; the
//! moving-average observer against PyTorch's and its closed form; bad input.

use std::path::PathBuf;

use lamina::autograd::Tape;
use lamina::prelude::*;
use lamina::quant::{
    fake_quantize_per_channel, fake_quantize_per_tensor, MovingAverageMinMax, QParams,
};

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
