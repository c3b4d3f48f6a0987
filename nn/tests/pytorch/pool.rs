//! Pooling against PyTorch (`fixtures/make_pool_fixtures.py`, its output committed next
//! to it): outputs, indices (exactly) and the input gradient of `sum(out * w)` in f64 for
//! max, average, adaptive pooling and max unpooling, with strides, padding, dilation,
//! `ceil_mode`, both `count_include_pad`, `divisor_override`, unbatched and
//! non-contiguous inputs and ties; a direct loop of PyTorch's CPU kernels over random
//! hyper-parameters; −∞ windows; the layers; and every bad input as an error.

use lamina_autograd::value_and_grad;
use lamina_nn::functional::{
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d,
    max_pool1d, max_pool1d_with_indices, max_pool2d, max_pool2d_with_indices, max_unpool2d,
};
use lamina_nn::{AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d, Module};
use lamina_tensor::{DType, Result, Tensor};
use serde_json::Value;

use super::{assert_f64 as assert_close, dev, fixture_input as input, json, tensor};

fn usize_of(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

/// An argument of the case: an int, or for 2-D a `[H, W]` list.
fn one(args: &Value, key: &str, default: usize) -> usize {
    args.get(key).map_or(default, usize_of)
}

fn pair(args: &Value, key: &str, default: [usize; 2]) -> [usize; 2] {
    args.get(key).map_or(default, |v| {
        let v = v.as_array().unwrap();
        [usize_of(&v[0]), usize_of(&v[1])]
    })
}

fn flag(args: &Value, key: &str, default: bool) -> bool {
    args.get(key).map_or(default, |v| v.as_bool().unwrap())
}

/// Runs the case's op on `x`: the output and, where the op gives them, the indices.
fn run(case: &Value, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
    let a = &case["args"];
    let op = case["op"].as_str().unwrap();
    let stride2 = || a.get("stride").map(|_| pair(a, "stride", [0, 0]));
    let stride1 = || a.get("stride").map(usize_of);
    match op {
        "max_pool2d" => {
            let args = (
                pair(a, "kernel_size", [0, 0]),
                stride2(),
                pair(a, "padding", [0, 0]),
                pair(a, "dilation", [1, 1]),
                flag(a, "ceil_mode", false),
            );
            let (v, i) = max_pool2d_with_indices(x, args.0, args.1, args.2, args.3, args.4)?;
            let plain = max_pool2d(x, args.0, args.1, args.2, args.3, args.4)?;
            assert_eq!(plain.to_vec::<f64>()?, v.to_vec::<f64>()?);
            Ok((v, Some(i)))
        }
        "max_pool1d" => {
            let args = (
                one(a, "kernel_size", 0),
                stride1(),
                one(a, "padding", 0),
                one(a, "dilation", 1),
                flag(a, "ceil_mode", false),
            );
            let (v, i) = max_pool1d_with_indices(x, args.0, args.1, args.2, args.3, args.4)?;
            let plain = max_pool1d(x, args.0, args.1, args.2, args.3, args.4)?;
            assert_eq!(plain.to_vec::<f64>()?, v.to_vec::<f64>()?);
            Ok((v, Some(i)))
        }
        "avg_pool2d" => Ok((
            avg_pool2d(
                x,
                pair(a, "kernel_size", [0, 0]),
                stride2(),
                pair(a, "padding", [0, 0]),
                flag(a, "ceil_mode", false),
                flag(a, "count_include_pad", true),
                a.get("divisor_override").map(usize_of),
            )?,
            None,
        )),
        "avg_pool1d" => Ok((
            avg_pool1d(
                x,
                one(a, "kernel_size", 0),
                stride1(),
                one(a, "padding", 0),
                flag(a, "ceil_mode", false),
                flag(a, "count_include_pad", true),
            )?,
            None,
        )),
        "adaptive_avg_pool2d" => Ok((
            adaptive_avg_pool2d(x, pair(a, "output_size", [0, 0]))?,
            None,
        )),
        "adaptive_avg_pool1d" => Ok((adaptive_avg_pool1d(x, one(a, "output_size", 0))?, None)),
        "adaptive_max_pool2d" => {
            let (v, i) = adaptive_max_pool2d(x, pair(a, "output_size", [0, 0]))?;
            Ok((v, Some(i)))
        }
        "max_unpool2d" => {
            let out_size = a.get("output_size").map(|_| pair(a, "output_size", [0, 0]));
            let y = max_unpool2d(
                x,
                &tensor(&case["unpool_indices"]),
                pair(a, "kernel_size", [0, 0]),
                stride2(),
                pair(a, "padding", [0, 0]),
                out_size,
            )?;
            Ok((y, None))
        }
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn matches_pytorch_outputs_indices_and_gradients() {
    let fx = json("pool.json");
    let cases = fx["cases"].as_array().unwrap();
    let mut ops = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        ops.push(case["op"].as_str().unwrap());
        let x = input(case);
        let lw = tensor(&case["w"]);
        let mut got = None;
        let (_, grads) = value_and_grad(&[&x], || {
            let (y, i) = run(case, &x)?;
            let loss = (&y * &lw)?.sum_all();
            got = Some((y, i));
            loss
        })
        .unwrap();
        let (y, i) = got.unwrap();
        assert_close(&format!("{name}: output"), &y, &case["output"]);
        match (&i, case["indices"].is_null()) {
            (Some(i), false) => {
                let want = tensor(&case["indices"]);
                assert_eq!(i.dtype(), DType::I64, "{name}: indices dtype");
                assert_eq!(i.dims(), want.dims(), "{name}: indices shape");
                assert_eq!(
                    i.to_vec::<i64>().unwrap(),
                    want.to_vec::<i64>().unwrap(),
                    "{name}: indices"
                );
            }
            (None, true) => {}
            (Some(_), true) | (None, false) => panic!("{name}: indices from only one side"),
        }
        // Where max pooling windows overlap, unpooling writes one position twice: PyTorch
        // gives every write the gradient, Lamina the last write only (the derivative of
        // what the forward computes, which `gradients` checks by finite differences).
        if case["repeated_indices"].as_bool() != Some(true) {
            assert_close(
                &format!("{name}: grad input"),
                grads.get(&x).unwrap(),
                &case["grad_input"],
            );
        }
    }
    for op in [
        "max_pool1d",
        "max_pool2d",
        "avg_pool1d",
        "avg_pool2d",
        "adaptive_avg_pool1d",
        "adaptive_avg_pool2d",
        "adaptive_max_pool2d",
        "max_unpool2d",
    ] {
        assert!(ops.contains(&op), "no fixture case for {op}");
    }
    assert!(cases.len() >= 40);
}

/// A tiny deterministic generator for the hyper-parameter sweep.
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

/// PyTorch's output size (`pooling_output_shape`).
fn out_size(len: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> usize {
    let room = (len + 2 * p) as i64 - (d * (k - 1) + 1) as i64;
    let s = s as i64;
    let mut o = if ceil { (room + s - 1) / s } else { room / s } + 1;
    if ceil && (o - 1) * s >= (len + p) as i64 {
        o -= 1;
    }
    o as usize
}

/// A direct transcription of PyTorch's CPU max_pool2d and avg_pool2d loops for one
/// plane: (max values, max indices, averages).
#[allow(clippy::too_many_arguments)]
fn reference(
    x: &[f64],
    [h, w]: [usize; 2],
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    ceil: bool,
    include_pad: bool,
) -> (Vec<f64>, Vec<i64>, Vec<f64>) {
    let oh = out_size(h, k[0], s[0], p[0], d[0], ceil);
    let ow = out_size(w, k[1], s[1], p[1], d[1], ceil);
    let (mut mv, mut mi, mut av) = (vec![], vec![], vec![]);
    let (h, w) = (h as i64, w as i64);
    let [kh, kw, sh, sw, ph, pw, dh, dw] =
        [k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]].map(|v| v as i64);
    for i in 0..oh as i64 {
        for j in 0..ow as i64 {
            // max_pool2d: the window's first position at or after 0 along each dim (its
            // index even when that is past the input), then the in-bounds elements.
            let (mut y0, mut z0) = (i * sh - ph, j * sw - pw);
            while y0 < 0 {
                y0 += dh;
            }
            while z0 < 0 {
                z0 += dw;
            }
            let (y1, z1) = (
                (i * sh - ph + (kh - 1) * dh + 1).min(h),
                (j * sw - pw + (kw - 1) * dw + 1).min(w),
            );
            let (mut best, mut at) = (f64::NEG_INFINITY, y0 * w + z0);
            for y in (y0..y1).step_by(dh as usize) {
                for z in (z0..z1).step_by(dw as usize) {
                    let v = x[(y * w + z) as usize];
                    if v > best {
                        best = v;
                        at = y * w + z;
                    }
                }
            }
            mv.push(best);
            mi.push(at);
            // avg_pool2d (no dilation).
            let (y0, z0) = (i * sh - ph, j * sw - pw);
            let (y1, z1) = ((y0 + kh).min(h + ph), (z0 + kw).min(w + pw));
            let pool = (y1 - y0) * (z1 - z0);
            let (y0, z0, y1, z1) = (y0.max(0), z0.max(0), y1.min(h), z1.min(w));
            let mut sum = 0.0;
            for y in y0..y1 {
                for z in z0..z1 {
                    sum += x[(y * w + z) as usize];
                }
            }
            let div = if include_pad {
                pool
            } else {
                (y1 - y0) * (z1 - z0)
            };
            av.push(sum / div as f64);
        }
    }
    (mv, mi, av)
}

#[test]
fn matches_a_direct_loop_over_random_hyper_parameters() {
    let mut rng = Lcg(7);
    for case in 0..300 {
        let k = [1 + rng.below(4), 1 + rng.below(4)];
        let d = [1 + rng.below(2), 1 + rng.below(3)];
        let s = [1 + rng.below(3), 1 + rng.below(3)];
        let p = [rng.below(k[0] / 2 + 1), rng.below(k[1] / 2 + 1)];
        let ceil = rng.below(2) == 1;
        let include_pad = rng.below(2) == 1;
        let span = |i: usize| d[i] * (k[i] - 1) + 1;
        let hw = [
            span(0).saturating_sub(2 * p[0]).max(1) + rng.below(5),
            span(1).saturating_sub(2 * p[1]).max(1) + rng.below(5),
        ];
        let what = format!("case {case}: input {hw:?}, kernel {k:?}, stride {s:?}, padding {p:?}, dilation {d:?}, ceil {ceil}");
        let x = Tensor::randn(case, [2, 1, hw[0], hw[1]], DType::F64, &dev()).unwrap();
        let xs = x.to_vec::<f64>().unwrap();
        let (v, i) = max_pool2d_with_indices(&x, k, Some(s), p, d, ceil).unwrap();
        let a = avg_pool2d(&x, k, Some(s), p, ceil, include_pad, None).unwrap();
        let plane = hw[0] * hw[1];
        let (mut mv, mut mi, mut av) = (vec![], vec![], vec![]);
        for n in 0..2 {
            let x1 = &xs[n * plane..(n + 1) * plane];
            let (a1, b1, _) = reference(x1, hw, k, s, p, d, ceil, include_pad);
            let (_, _, c1) = reference(x1, hw, k, s, p, [1, 1], ceil, include_pad);
            mv.extend(a1);
            mi.extend(b1);
            av.extend(c1);
        }
        assert_eq!(v.to_vec::<f64>().unwrap(), mv, "{what}: max values");
        assert_eq!(i.to_vec::<i64>().unwrap(), mi, "{what}: max indices");
        for (g, w) in a.to_vec::<f64>().unwrap().iter().zip(&av) {
            assert!(
                (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
                "{what}: avg {g} vs {w}"
            );
        }
        assert_eq!(a.elem_count(), av.len(), "{what}: avg size");
    }
}

#[test]
fn windows_of_minus_infinity_point_into_the_input() {
    // PyTorch reports (and sends the gradient to) the window's first element inside the
    // input when nothing beats −∞, never a padding position.
    let inf = f64::INFINITY;
    let x = Tensor::from_vec(
        vec![-inf, -inf, 1.0, -inf, -inf, 2.0, 0.5, 3.0, -1.0],
        [1, 1, 3, 3],
        &dev(),
    )
    .unwrap();
    let mut idx = None;
    let (_, grads) = value_and_grad(&[&x], || {
        let (y, i) = max_pool2d_with_indices(&x, [2, 2], Some([1, 1]), [1, 1], [1, 1], false)?;
        idx = Some(i);
        y.sum_all()
    })
    .unwrap();
    assert_eq!(
        idx.unwrap().to_vec::<i64>().unwrap(),
        [0, 0, 2, 2, 0, 0, 5, 5, 6, 7, 7, 5, 6, 7, 7, 8]
    );
    // PyTorch's gradient of the sum: one per window at its index.
    assert_eq!(
        grads.get(&x).unwrap().to_vec::<f64>().unwrap(),
        [4.0, 0.0, 2.0, 0.0, 0.0, 3.0, 2.0, 4.0, 1.0]
    );
}

#[test]
fn layers_match_the_functions_and_name_their_sizes() {
    let x = Tensor::randn(3, [2, 3, 9, 8], DType::F64, &dev()).unwrap();
    let same =
        |a: Tensor, b: Tensor| assert_eq!(a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
    let m = MaxPool2d::new([3, 2])
        .with_stride([2, 1])
        .with_padding([1, 1])
        .with_dilation([1, 2])
        .with_ceil_mode(true);
    assert_eq!(
        m.name(),
        "MaxPool2d(kernel [3, 2], stride [2, 1], padding [1, 1], dilation [1, 2], ceil_mode)"
    );
    same(
        m.forward(&x).unwrap(),
        max_pool2d(&x, [3, 2], Some([2, 1]), [1, 1], [1, 2], true).unwrap(),
    );
    let m = AvgPool2d::new([2, 3])
        .with_stride([1, 2])
        .with_padding([1, 1])
        .with_ceil_mode(true)
        .with_count_include_pad(false)
        .with_divisor_override(Some(4));
    assert_eq!(
        m.name(),
        "AvgPool2d(kernel [2, 3], stride [1, 2], padding [1, 1], ceil_mode, count_include_pad false, divisor_override 4)"
    );
    same(
        m.forward(&x).unwrap(),
        avg_pool2d(&x, [2, 3], Some([1, 2]), [1, 1], true, false, Some(4)).unwrap(),
    );
    let m = AdaptiveAvgPool2d::new([4, 3]);
    assert_eq!(m.name(), "AdaptiveAvgPool2d(output [4, 3])");
    same(
        m.forward(&x).unwrap(),
        adaptive_avg_pool2d(&x, [4, 3]).unwrap(),
    );
    assert_eq!(m.num_parameters(), 0);

    let x1 = Tensor::randn(4, [2, 3, 11], DType::F64, &dev()).unwrap();
    let m = MaxPool1d::new(3).with_dilation(2).with_ceil_mode(true);
    assert_eq!(
        m.name(),
        "MaxPool1d(kernel 3, stride 3, dilation 2, ceil_mode)"
    );
    same(
        m.forward(&x1).unwrap(),
        max_pool1d(&x1, 3, None, 0, 2, true).unwrap(),
    );
    let m = AvgPool1d::new(4).with_stride(2).with_padding(2);
    assert_eq!(m.name(), "AvgPool1d(kernel 4, stride 2, padding 2)");
    same(
        m.forward(&x1).unwrap(),
        avg_pool1d(&x1, 4, Some(2), 2, false, true).unwrap(),
    );
    assert_eq!(
        MaxPool2d::new([2, 2]).name(),
        "MaxPool2d(kernel [2, 2], stride [2, 2])"
    );
}

#[test]
fn bad_input_is_an_error_naming_the_op_and_the_problem() {
    let x = Tensor::randn(1, [1, 2, 5, 5], DType::F64, &dev()).unwrap();
    let err = |r: Result<Tensor>| r.unwrap_err().to_string();
    let err2 = |r: Result<(Tensor, Tensor)>| r.unwrap_err().to_string();
    let has = |e: &str, parts: &[&str]| {
        for p in parts {
            assert!(e.contains(p), "{e:?} lacks {p:?}");
        }
    };
    // Wrong rank.
    let e = err(max_pool2d(
        &x.flatten(0, 1).unwrap().flatten(0, 1).unwrap(),
        [2, 2],
        None,
        [0, 0],
        [1, 1],
        false,
    ));
    has(&e, &["max_pool2d", "[10, 5]", "rank 4", "[N, C, H, W]"]);
    let e = err(avg_pool1d(&x, 2, None, 0, false, true));
    has(&e, &["avg_pool1d", "[1, 2, 5, 5]", "rank 3", "[N, C, L]"]);
    let e = err(adaptive_avg_pool2d(&x.unsqueeze(0).unwrap(), [2, 2]));
    has(&e, &["adaptive_avg_pool2d", "[1, 1, 2, 5, 5]"]);
    // Integer input.
    let xi = Tensor::zeros([1, 1, 4, 4], DType::I64, &dev()).unwrap();
    has(
        &err(max_pool2d(&xi, [2, 2], None, [0, 0], [1, 1], false)),
        &["max_pool2d", "i64"],
    );
    // Kernel, stride, dilation 0.
    let e = err(max_pool2d(&x, [0, 2], None, [0, 0], [1, 1], false));
    has(&e, &["max_pool2d", "kernel [0, 2]", "at least 1"]);
    let e = err2(max_pool1d_with_indices(
        &x.select(0, 0).unwrap(),
        0,
        Some(1),
        0,
        1,
        false,
    ));
    has(&e, &["max_pool1d_with_indices", "kernel [0]"]);
    let e = err(avg_pool2d(
        &x,
        [2, 2],
        Some([1, 0]),
        [0, 0],
        false,
        true,
        None,
    ));
    has(&e, &["avg_pool2d", "stride [1, 0]", "at least 1"]);
    let e = err(max_pool1d(
        &x.select(0, 0).unwrap(),
        2,
        Some(0),
        0,
        1,
        false,
    ));
    has(&e, &["max_pool1d", "stride [0]"]);
    let e = err(max_pool2d(&x, [2, 2], None, [0, 0], [1, 0], false));
    has(&e, &["max_pool2d", "dilation [1, 0]", "at least 1"]);
    // Padding over half the kernel (PyTorch checks the undilated kernel).
    let e = err(max_pool2d(&x, [3, 3], Some([1, 1]), [2, 1], [2, 2], false));
    has(
        &e,
        &[
            "max_pool2d",
            "padding [2, 1]",
            "kernel [3, 3]",
            "half the kernel",
        ],
    );
    let e = err(avg_pool1d(
        &x.select(0, 0).unwrap(),
        2,
        None,
        2,
        false,
        true,
    ));
    has(&e, &["avg_pool1d", "padding [2]", "half the kernel"]);
    // An empty output.
    let e = err(max_pool2d(&x, [3, 6], None, [0, 0], [1, 1], false));
    has(
        &e,
        &[
            "max_pool2d",
            "[1, 2, 5, 5]",
            "output size would be [1, 0]",
            "too small",
        ],
    );
    let e = err(avg_pool2d(&x, [2, 2], None, [0, 0], false, true, Some(0)));
    has(&e, &["avg_pool2d", "divisor_override"]);
    let e = err(adaptive_avg_pool2d(&x, [0, 2]));
    has(
        &e,
        &["adaptive_avg_pool2d", "output_size [0, 2]", "at least 1"],
    );
    let e = err(adaptive_avg_pool1d(&x.select(0, 0).unwrap(), 0));
    has(&e, &["adaptive_avg_pool1d", "output_size [0]"]);
    let e = err2(adaptive_max_pool2d(&x, [2, 0]));
    has(&e, &["adaptive_max_pool2d", "output_size [2, 0]"]);
    // An empty input plane.
    let e = err(adaptive_avg_pool2d(
        &Tensor::zeros([1, 2, 0, 3], DType::F64, &dev()).unwrap(),
        [1, 1],
    ));
    has(&e, &["adaptive_avg_pool2d", "[1, 2, 0, 3]", "empty"]);

    // Unpooling: indices of the wrong shape or dtype, out of range, a bad output size.
    let (y, i) = max_pool2d_with_indices(&x, [2, 2], None, [0, 0], [1, 1], false).unwrap();
    let e = err(max_unpool2d(
        &y,
        &i.narrow(3, 0, 1).unwrap(),
        [2, 2],
        None,
        [0, 0],
        None,
    ));
    has(
        &e,
        &[
            "max_unpool2d",
            "input [1, 2, 2, 2]",
            "indices [1, 2, 2, 1]",
            "shape",
        ],
    );
    let e = err(max_unpool2d(
        &y,
        &i.to_dtype(DType::F64).unwrap(),
        [2, 2],
        None,
        [0, 0],
        None,
    ));
    has(&e, &["max_unpool2d", "I64"]);
    let e = err(max_unpool2d(
        &y,
        &i.add_scalar(30.0).unwrap(),
        [2, 2],
        None,
        [0, 0],
        None,
    ));
    has(&e, &["max_unpool2d", "invalid max index", "4 x 4"]);
    let e = err(max_unpool2d(
        &y,
        &i.sub_scalar(10.0).unwrap(),
        [2, 2],
        None,
        [0, 0],
        None,
    ));
    has(&e, &["max_unpool2d", "invalid max index -"]);
    let e = err(max_unpool2d(&y, &i, [2, 2], None, [0, 0], Some([6, 4])));
    has(
        &e,
        &["max_unpool2d", "output_size [6, 4]", "between 2 and 6"],
    );
    let e = err(max_unpool2d(&y, &i, [2, 0], None, [0, 0], None));
    has(&e, &["max_unpool2d", "kernel [2, 0]"]);
    let e = err(max_unpool2d(
        &y.flatten(0, 1).unwrap().flatten(0, 1).unwrap(),
        &i,
        [2, 2],
        None,
        [0, 0],
        None,
    ));
    has(&e, &["max_unpool2d", "rank 4"]);
    // Unpooling takes [5, 5] back with output_size, and [4, 4] by default.
    assert_eq!(
        max_unpool2d(&y, &i, [2, 2], None, [0, 0], Some([5, 5]))
            .unwrap()
            .dims(),
        &[1, 2, 5, 5]
    );
}
