//! The convolutions against PyTorch (`fixtures/make_conv_fixtures.py`, its output
//! committed next to it): outputs and the input, weight and bias gradients of
//! `sum(out * w)` in f64, with stride, padding (sizes, "same", "valid"), dilation,
//! groups, output_padding, channels-last inputs; gradients against
//! central finite differences (`gradcheck`), including a strided input; and the shape
//! errors.

use lamina_autograd::{gradcheck, value_and_grad, GradcheckConfig};
use lamina_nn::functional::{conv1d, conv2d, conv_transpose1d, conv_transpose2d};
use lamina_nn::Padding;
use lamina_tensor::{DType, Result, Tensor};
use serde_json::Value;

use super::{dev, json, tensor};

fn fixtures() -> Value {
    json("conv.json")
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// Convolutions compare at 1e-10, tighter than the other fixtures.
fn assert_close(what: &str, got: &Tensor, want: &Value) {
    super::assert_close(what, got, want, 1e-10);
}

/// Runs the case's op on `x`, `w`, `b` with its arguments.
fn run(case: &Value, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (s, d) = (usizes(&case["stride"]), usizes(&case["dilation"]));
    let groups = case["groups"].as_u64().unwrap() as usize;
    // A channels-last view of the same values (strides H W C, 1, W C, C), as PyTorch's
    // `memory_format=torch.channels_last`.
    let x = if case["channels_last"].as_bool().unwrap() {
        x.permute([0, 2, 3, 1])?
            .contiguous()?
            .permute([0, 3, 1, 2])?
    } else {
        x.clone()
    };
    let x = &x;
    let p = &case["padding"];
    let pad1 = || -> Padding<1> {
        match p.as_str() {
            Some(name) => Padding::try_from(name).unwrap(),
            None => usizes(p)[0].into(),
        }
    };
    let pad2 = || -> Padding<2> {
        match p.as_str() {
            Some(name) => Padding::try_from(name).unwrap(),
            None => {
                let p = usizes(p);
                [p[0], p[1]].into()
            }
        }
    };
    match case["op"].as_str().unwrap() {
        "conv1d" => conv1d(x, w, b, s[0], pad1(), d[0], groups),
        "conv2d" => conv2d(x, w, b, [s[0], s[1]], pad2(), [d[0], d[1]], groups),
        "conv_transpose1d" => {
            let (p, op) = (usizes(p), usizes(&case["output_padding"]));
            conv_transpose1d(x, w, b, s[0], p[0], op[0], groups, d[0])
        }
        "conv_transpose2d" => {
            let (p, op) = (usizes(p), usizes(&case["output_padding"]));
            conv_transpose2d(
                x,
                w,
                b,
                [s[0], s[1]],
                [p[0], p[1]],
                [op[0], op[1]],
                groups,
                [d[0], d[1]],
            )
        }
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn matches_pytorch_outputs_and_gradients() {
    let fx = fixtures();
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = tensor(&case["input"]);
        let w = tensor(&case["weight"]);
        let b = (!case["bias"].is_null()).then(|| tensor(&case["bias"]));
        let lw = tensor(&case["w"]);
        let mut params = vec![&x, &w];
        params.extend(b.as_ref());
        let mut out = None;
        let (_, grads) = value_and_grad(&params, || {
            let y = run(case, &x, &w, b.as_ref())?;
            out = Some(y.clone());
            (&y * &lw)?.sum_all()
        })
        .unwrap();
        assert_close(&format!("{name}: output"), &out.unwrap(), &case["output"]);
        assert_close(
            &format!("{name}: grad input"),
            grads.get(&x).unwrap(),
            &case["grad_input"],
        );
        assert_close(
            &format!("{name}: grad weight"),
            grads.get(&w).unwrap(),
            &case["grad_weight"],
        );
        if let Some(b) = &b {
            assert_close(
                &format!("{name}: grad bias"),
                grads.get(b).unwrap(),
                &case["grad_bias"],
            );
        }
    }
}

fn randn(seed: u64, shape: &[usize]) -> Tensor {
    Tensor::randn(seed, shape.to_vec(), DType::F64, &dev()).unwrap()
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    let report = gradcheck(f, inputs, &GradcheckConfig::default()).unwrap();
    assert!(report.passed(), "{name}:\n{report}");
}

#[test]
fn gradients_match_finite_differences() {
    // Every option at once, 2-D: stride (2, 1), padding (1, 2), dilation (2, 1), 2 groups.
    check(
        "conv2d",
        |t| conv2d(&t[0], &t[1], Some(&t[2]), [2, 1], [1, 2], [2, 1], 2),
        &[
            randn(1, &[2, 4, 6, 5]),
            randn(2, &[4, 2, 2, 3]),
            randn(3, &[4]),
        ],
    );
    // A transposed (strided) input: [N, C, W, H] viewed as [N, C, H, W].
    check(
        "conv2d of a transposed input",
        |t| {
            conv2d(
                &t[0].transpose(2, 3)?,
                &t[1],
                None,
                [1, 2],
                [0, 1],
                [1, 1],
                1,
            )
        },
        &[randn(4, &[1, 2, 5, 4]), randn(5, &[3, 2, 2, 2])],
    );
    check(
        "conv1d",
        |t| conv1d(&t[0], &t[1], Some(&t[2]), 2, 1, 2, 3),
        &[randn(6, &[2, 3, 9]), randn(7, &[6, 1, 3]), randn(8, &[6])],
    );
}

#[test]
fn shape_errors_name_conv_and_the_rule() {
    let x = randn(1, &[1, 4, 5, 5]);
    let w = randn(2, &[6, 2, 3, 3]);
    let err = |r: Result<Tensor>| r.unwrap_err().to_string();
    let e = err(conv2d(&x, &w, None, [1, 1], [0, 0], [1, 1], 3));
    assert!(e.contains("conv2d") && e.contains("divide"), "{e}");
    let e = err(conv2d(&x, &w, None, [1, 1], [0, 0], [1, 1], 1));
    assert!(
        e.contains("conv2d") && e.contains("[6, 2, 3, 3]") && e.contains("C_in / groups"),
        "{e}"
    );
    let e = err(conv2d(
        &x,
        &randn(3, &[6, 4, 7, 3]),
        None,
        [1, 1],
        [0, 0],
        [1, 1],
        1,
    ));
    assert!(e.contains("conv2d") && e.contains("fit"), "{e}");
    let e = err(conv2d(&x, &w, None, [0, 1], [0, 0], [1, 1], 2));
    assert!(e.contains("at least 1"), "{e}");
    let e = err(conv2d(
        &x,
        &w,
        Some(&randn(4, &[5])),
        [1, 1],
        [0, 0],
        [1, 1],
        2,
    ));
    assert!(e.contains("bias") && e.contains("[5]"), "{e}");
    let e = err(conv2d(&randn(5, &[5, 5]), &w, None, 1, 0, 1, 2));
    assert!(e.contains("conv2d") && e.contains("rank 4"), "{e}");
    // An unbatched [C, H, W] input is a batch of one, as in PyTorch.
    let x3 = randn(5, &[4, 5, 5]);
    let y3 = conv2d(&x3, &w, None, 1, 0, 1, 2).unwrap();
    let y4 = conv2d(&x3.unsqueeze(0).unwrap(), &w, None, 1, 0, 1, 2).unwrap();
    assert_eq!(y3.dims(), &[6, 3, 3]);
    assert_eq!(
        y3.to_vec::<f64>().unwrap(),
        y4.squeeze(0).unwrap().to_vec::<f64>().unwrap()
    );
    let e = err(conv1d(&randn(6, &[1, 4, 5]), &w, None, 1, 0, 1, 2));
    assert!(e.contains("conv1d") && e.contains("rank 3"), "{e}");
}
