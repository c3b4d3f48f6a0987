//! Interpolation and sliding blocks against PyTorch (`fixtures/make_interp_fixtures.py`,
//! its output committed next to it): outputs and the input gradient of `sum(out * w)` in
//! f64 for `interpolate` (nearest, nearest-exact, linear, bilinear with both
//! `align_corners`; sizes and scale factors, up, down and mixed, non-integer factors,
//! non-contiguous inputs), `unfold` and `fold` (strides, padding, dilation, non-square
//! kernels, unbatched and non-contiguous inputs); the layers; and bad input as errors.

use lamina_autograd::value_and_grad;
use lamina_nn::functional::{fold, interpolate, unfold};
use lamina_nn::{Fold, InterpolateMode, Module, Unfold, Upsample};
use lamina_tensor::{DType, Result, Tensor};
use serde_json::Value;

use super::{assert_f64 as assert_close, dev, fixture_input as input, json, tensor};

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn pair(args: &Value, key: &str, default: [usize; 2]) -> [usize; 2] {
    args.get(key).map_or(default, |v| {
        let v = usizes(v);
        [v[0], v[1]]
    })
}

fn mode(name: &str) -> InterpolateMode {
    match name {
        "nearest" => InterpolateMode::Nearest,
        "nearest-exact" => InterpolateMode::NearestExact,
        "linear" => InterpolateMode::Linear,
        "bilinear" => InterpolateMode::Bilinear,
        other => panic!("unknown mode {other}"),
    }
}

fn run(case: &Value, x: &Tensor) -> Result<Tensor> {
    let a = &case["args"];
    let (k, d, p, s) = (
        pair(a, "kernel_size", [0, 0]),
        pair(a, "dilation", [1, 1]),
        pair(a, "padding", [0, 0]),
        pair(a, "stride", [1, 1]),
    );
    match case["op"].as_str().unwrap() {
        "interpolate" => {
            let size = a.get("size").map(usizes);
            let scale: Option<Vec<f64>> = a.get("scale_factor").map(|v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_f64().unwrap())
                    .collect()
            });
            interpolate(
                x,
                size.as_deref(),
                scale.as_deref(),
                mode(a["mode"].as_str().unwrap()),
                a.get("align_corners").map(|v| v.as_bool().unwrap()),
            )
        }
        "unfold" => unfold(x, k, d, p, s),
        "fold" => fold(x, pair(a, "output_size", [0, 0]), k, d, p, s),
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn matches_pytorch_outputs_and_gradients() {
    let fx = json("interp.json");
    let cases = fx["cases"].as_array().unwrap();
    let mut seen = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = input(case);
        let lw = tensor(&case["w"]);
        let mut got = None;
        let (_, grads) = value_and_grad(&[&x], || {
            let y = run(case, &x)?;
            let loss = (&y * &lw)?.sum_all();
            got = Some(y);
            loss
        })
        .unwrap();
        assert_close(&format!("{name}: output"), &got.unwrap(), &case["output"]);
        // Null where PyTorch's backward is not the transpose of its forward (1-D nearest
        // with its shortcuts, see the fixture script); the gradcheck covers those.
        if !case["grad_input"].is_null() {
            assert_close(
                &format!("{name}: grad input"),
                grads.get(&x).unwrap(),
                &case["grad_input"],
            );
        }
        let a = &case["args"];
        seen.push(match a.get("mode") {
            Some(m) => format!(
                "{} {}",
                m.as_str().unwrap(),
                a.get("align_corners").and_then(Value::as_bool) == Some(true)
            ),
            None => case["op"].as_str().unwrap().to_string(),
        });
    }
    for want in [
        "nearest false",
        "nearest-exact false",
        "linear false",
        "linear true",
        "bilinear false",
        "bilinear true",
        "unfold",
        "fold",
    ] {
        assert!(seen.iter().any(|s| s == want), "no fixture case for {want}");
    }
    assert!(cases.len() >= 50);
}

#[test]
fn fold_is_the_adjoint_of_unfold() {
    // <unfold(x), c> = <x, fold(c)> for any x and c: fold is unfold's transpose.
    let (k, d, p, s) = ([3, 2], [1, 2], [2, 1], [2, 3]);
    let x = Tensor::randn(1, [2, 3, 7, 8], DType::F64, &dev()).unwrap();
    let cols = unfold(&x, k, d, p, s).unwrap();
    let c = Tensor::randn(2, cols.dims().to_vec(), DType::F64, &dev()).unwrap();
    let lhs = (&cols * &c)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let back = fold(&c, [7, 8], k, d, p, s).unwrap();
    let rhs = (&x * &back)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(
        (lhs - rhs).abs() < 1e-12 * (1.0 + lhs.abs()),
        "{lhs} vs {rhs}"
    );
}

#[test]
fn linear_modes_keep_a_linear_ramp_and_float32_works() {
    // align_corners = true maps the ends onto each other: a ramp stays a ramp.
    let x = Tensor::arange(0.0, 4.0, 1.0, DType::F32, &dev())
        .unwrap()
        .reshape([1, 1, 1, 4])
        .unwrap()
        .broadcast_to([1, 1, 3, 4])
        .unwrap();
    let y = interpolate(
        &x,
        Some(&[5, 7]),
        None,
        InterpolateMode::Bilinear,
        Some(true),
    )
    .unwrap();
    assert_eq!(y.dtype(), DType::F32);
    assert_eq!(
        y.to_vec::<f32>().unwrap()[..7],
        [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    );
    // The same size is a copy in every mode without a scale factor.
    for m in [InterpolateMode::Nearest, InterpolateMode::NearestExact] {
        let same = interpolate(&x, Some(&[3, 4]), None, m, None).unwrap();
        assert_eq!(same.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    }
    let same = interpolate(&x, Some(&[3]), None, InterpolateMode::Bilinear, None).unwrap();
    assert_eq!(same.dims(), &[1, 1, 3, 3]);
}

#[test]
fn layers() {
    let x = Tensor::randn(3, [2, 3, 4, 5], DType::F64, &dev()).unwrap();
    let up = Upsample::with_scale_factor(&[1.5, 2.0])
        .with_mode(InterpolateMode::Bilinear)
        .with_align_corners(false);
    assert_eq!(
        up.name(),
        "Upsample(scale_factor [1.5, 2], mode bilinear, align_corners false)"
    );
    assert!(up.parameters().is_empty());
    let want = interpolate(
        &x,
        None,
        Some(&[1.5, 2.0]),
        InterpolateMode::Bilinear,
        Some(false),
    )
    .unwrap();
    let got = up.forward(&x).unwrap();
    assert_eq!(got.dims(), &[2, 3, 6, 10]);
    assert_eq!(got.to_vec::<f64>().unwrap(), want.to_vec::<f64>().unwrap());
    let up = Upsample::with_size(&[7]);
    assert_eq!(up.name(), "Upsample(size 7, mode nearest)");
    assert_eq!(up.forward(&x).unwrap().dims(), &[2, 3, 7, 7]);
    // The nearest mode takes no align_corners, as in PyTorch.
    assert!(Upsample::with_size(&[7])
        .with_align_corners(true)
        .forward(&x)
        .is_err());

    let unf = Unfold::new(2).with_padding(1).with_stride([1, 2]);
    assert_eq!(
        unf.name(),
        "Unfold(kernel_size [2, 2], padding [1, 1], stride [1, 2])"
    );
    let cols = unf.forward(&x).unwrap();
    assert_eq!(cols.dims(), &[2, 12, 5 * 3]);
    let f = Fold::new([4, 5], 2).with_padding(1).with_stride([1, 2]);
    assert_eq!(
        f.name(),
        "Fold(output_size [4, 5], kernel_size [2, 2], padding [1, 1], stride [1, 2])"
    );
    let back = f.forward(&cols).unwrap();
    let direct = fold(&cols, [4, 5], 2, 1, 1, [1, 2]).unwrap();
    assert_eq!(
        back.to_vec::<f64>().unwrap(),
        direct.to_vec::<f64>().unwrap()
    );
    assert!(unf.parameters().is_empty() && f.parameters().is_empty());
}

#[test]
fn bad_input_is_an_error_naming_the_op_and_the_problem() {
    let x = Tensor::randn(1, [1, 2, 5, 5], DType::F64, &dev()).unwrap();
    let err = |r: Result<Tensor>| r.unwrap_err().to_string();
    let has = |e: &str, parts: &[&str]| {
        for p in parts {
            assert!(e.contains(p), "{e:?} lacks {p:?}");
        }
    };
    use InterpolateMode::{Bilinear, Linear, Nearest};
    // interpolate: size and scale_factor, exactly one.
    let e = err(interpolate(&x, Some(&[3]), Some(&[2.0]), Nearest, None));
    has(
        &e,
        &["interpolate", "either size or scale_factor, not both"],
    );
    let e = err(interpolate(&x, None, None, Nearest, None));
    has(&e, &["interpolate", "size or scale_factor"]);
    // Wrong rank, and a mode for the other rank.
    let e = err(interpolate(
        &x.flatten(0, 2).unwrap(),
        Some(&[3]),
        None,
        Nearest,
        None,
    ));
    has(&e, &["interpolate", "[10, 5]", "rank 3", "rank 4"]);
    let x5 = x.unsqueeze(0).unwrap();
    let e = err(interpolate(&x5, Some(&[3]), None, Nearest, None));
    has(&e, &["interpolate", "[1, 1, 2, 5, 5]", "rank 3", "rank 4"]);
    let e = err(interpolate(&x, Some(&[3]), None, Linear, None));
    has(&e, &["interpolate", "[1, 2, 5, 5]", "linear", "rank-3"]);
    let e = err(interpolate(
        &x.select(0, 0).unwrap(),
        Some(&[3]),
        None,
        Bilinear,
        None,
    ));
    has(&e, &["interpolate", "bilinear", "rank-4"]);
    // One entry per spatial dim (or one for all).
    let e = err(interpolate(&x, Some(&[3, 4, 5]), None, Nearest, None));
    has(&e, &["interpolate", "size", "1 or 2 entries", "got 3"]);
    let e = err(interpolate(
        &x,
        None,
        Some(&[2.0, 2.0, 2.0]),
        Bilinear,
        None,
    ));
    has(&e, &["interpolate", "scale_factor", "1 or 2 entries"]);
    // Bad factors and empty outputs.
    let e = err(interpolate(&x, None, Some(&[-2.0]), Nearest, None));
    has(&e, &["interpolate", "finite and positive", "-2"]);
    let e = err(interpolate(&x, None, Some(&[f64::NAN]), Nearest, None));
    has(&e, &["interpolate", "finite and positive"]);
    let e = err(interpolate(&x, None, Some(&[0.1]), Nearest, None));
    has(&e, &["interpolate", "[0, 0]", "at least 1"]);
    let e = err(interpolate(&x, Some(&[4, 0]), None, Bilinear, None));
    has(&e, &["interpolate", "[4, 0]", "at least 1"]);
    let e = err(interpolate(&x, None, Some(&[1e300]), Nearest, None));
    has(&e, &["interpolate", "too large"]);
    // align_corners with a nearest mode.
    let e = err(interpolate(&x, Some(&[3]), None, Nearest, Some(false)));
    has(&e, &["interpolate", "align_corners", "nearest"]);
    // Integer input.
    let xi = Tensor::zeros([1, 1, 4, 4], DType::I64, &dev()).unwrap();
    has(
        &err(interpolate(&xi, Some(&[2]), None, Nearest, None)),
        &["interpolate", "i64"],
    );

    // unfold: wrong rank, kernel larger than the padded input, zero sizes.
    let e = err(unfold(&x.flatten(0, 2).unwrap(), 2, 1, 0, 1));
    has(&e, &["unfold", "[10, 5]", "rank 4", "rank 3"]);
    let e = err(unfold(&x, [3, 6], 1, 0, 1));
    has(
        &e,
        &[
            "unfold",
            "kernel_size [3, 6]",
            "larger than the padded plane",
            "dim 1",
        ],
    );
    let e = err(unfold(&x, 3, 4, 1, 1));
    has(&e, &["unfold", "spanning 9", "padded plane (7)"]);
    let e = err(unfold(&x, [0, 2], 1, 0, 1));
    has(&e, &["unfold", "kernel_size [0, 2]", "at least 1"]);
    let e = err(unfold(&x, 2, 1, 0, [1, 0]));
    has(&e, &["unfold", "stride [1, 0]", "at least 1"]);
    let e = err(unfold(&x, 2, 1, usize::MAX, 1));
    has(&e, &["unfold", "overflows", "dim 0"]);
    let e = err(unfold(&x, 2, 0, 0, 1));
    has(&e, &["unfold", "dilation [0, 0]"]);
    has(&err(unfold(&xi, 2, 1, 0, 1)), &["unfold", "i64"]);
    let empty = Tensor::zeros([1, 0, 4, 4], DType::F64, &dev()).unwrap();
    has(
        &err(unfold(&empty, 2, 1, 0, 1)),
        &["unfold", "[1, 0, 4, 4]", "empty"],
    );

    // fold: wrong rank, rows not divisible by the kernel, L not matching the blocks.
    let cols = Tensor::randn(2, [2, 12, 20], DType::F64, &dev()).unwrap();
    assert_eq!(
        fold(&cols, [5, 6], 2, 1, 0, 1).unwrap().dims(),
        &[2, 3, 5, 6]
    );
    let e = err(fold(&x, [5, 6], 2, 1, 0, 1));
    has(&e, &["fold", "[1, 2, 5, 5]", "rank 3", "rank 2"]);
    let e = err(fold(&cols, [5, 6], [2, 5], 1, 0, 1));
    has(
        &e,
        &[
            "fold",
            "[2, 12, 20]",
            "kernel_size [2, 5]",
            "divisible",
            "10",
        ],
    );
    let e = err(fold(&cols, [5, 7], 2, 1, 0, 1));
    has(
        &e,
        &[
            "fold",
            "[2, 12, 20]",
            "output_size [5, 7]",
            "number of blocks, 4 x 6 = 24",
        ],
    );
    let e = err(fold(&cols.select(0, 0).unwrap(), [5, 6], 2, 1, 0, 2));
    has(&e, &["fold", "[12, 20]", "dim 1 (20)", "2 x 3 = 6"]);
    let e = err(fold(&cols, [1, 6], 2, 1, 0, 1));
    has(&e, &["fold", "larger than the padded plane", "dim 0"]);
}
