//! The LSTM cell primitive (`Tensor::lstm_cell`): values against the definition, gradients
//! (the CPU's fused backward) and second derivatives (the recorded composite) against finite
//! differences, on the kernels and on a backend without them; and the sweep's in-place
//! accumulation of many slices' gradients (a recurrent layer's time steps).

mod common;

use common::{cases, check, composite_dev, dev, grads_of, tc, weighted_square};
use lamina_autograd::Tape;
use lamina_tensor::{DType, Device, Result, Tensor};
use proptest::prelude::*;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn inputs(n: usize, h: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
    Ok((
        Tensor::randn(1, [n, 4 * h], DType::F64, dev)?,
        Tensor::randn(2, [n, h], DType::F64, dev)?,
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 4))]

    #[test]
    fn values_match_the_definition(n in 1..=3usize, h in 1..=5usize) {
        for dev in [dev(), composite_dev()] {
            let (a, c) = tc(inputs(n, h, &dev))?;
            let out = tc(tc(a.lstm_cell(&c))?.to_vec2::<f64>())?;
            let (a, c) = (tc(a.to_vec2::<f64>())?, tc(c.to_vec2::<f64>())?);
            for r in 0..n {
                for j in 0..h {
                    let (i, f) = (sigmoid(a[r][j]), sigmoid(a[r][h + j]));
                    let (g, o) = (a[r][2 * h + j].tanh(), sigmoid(a[r][3 * h + j]));
                    let cn = f * c[r][j] + i * g;
                    prop_assert!((out[r][h + j] - cn).abs() < 1e-12);
                    prop_assert!((out[r][j] - o * cn.tanh()).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn gradients(n in 1..=3usize, h in 1..=4usize) {
        for dev in [dev(), composite_dev()] {
            let (a, c) = tc(inputs(n, h, &dev))?;
            check(|t| weighted_square(&t[0].lstm_cell(&t[1])?), vec![a, c])?;
        }
    }

    #[test]
    fn gradients_of_gradients(n in 1..=2usize, h in 1..=3usize) {
        let (a, c) = tc(inputs(n, h, &dev()))?;
        check(|t| grads_of(t, |v| weighted_square(&v[0].lstm_cell(&v[1])?)), vec![a, c])?;
    }
}

#[test]
fn kernel_and_composite_agree_in_f32() {
    let run = |dev: &Device| -> Result<Vec<Vec<f32>>> {
        let a = Tensor::randn(5, [32, 512], DType::F32, dev)?.mul_scalar(2.0)?;
        let c = Tensor::randn(6, [32, 128], DType::F32, dev)?;
        let tape = Tape::new();
        tape.watch(&a);
        tape.watch(&c);
        let y = a.lstm_cell(&c)?;
        let g = tape.backward(&weighted_square(&y)?)?;
        [
            y,
            g.get(&a).expect("watched").clone(),
            g.get(&c).expect("watched").clone(),
        ]
        .iter()
        .map(|t| t.flatten_all()?.to_vec::<f32>())
        .collect()
    };
    let (k, c) = (run(&dev()).unwrap(), run(&composite_dev()).unwrap());
    for (a, b) in k.iter().zip(&c) {
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "kernel and composite differ by {worst}");
    }
}

#[test]
fn bad_shapes_are_errors_naming_the_op() {
    let d = dev();
    let a = Tensor::zeros([2, 7], DType::F64, &d).unwrap();
    let c = Tensor::zeros([2, 2], DType::F64, &d).unwrap();
    let e = a.lstm_cell(&c).unwrap_err().to_string();
    assert!(
        e.contains("lstm_cell") && e.contains("[2, 7]") && e.contains("[N, 4H]"),
        "{e}"
    );
}

#[test]
fn many_slices_of_one_tensor_accumulate_their_gradients() {
    // x [6, 3]: loss = Σ_t (t + 1) · sum(x[t]²) + sum(x), the sum recorded last so that
    // the sweep meets its broadcast gradient (elements sharing memory) first and the slices
    // then add into it in place: d/dx[t] = 1 + 2 (t + 1) x[t].
    let d = dev();
    let x = Tensor::randn(3, [6, 3], DType::F64, &d).unwrap();
    let tape = Tape::new();
    tape.watch(&x);
    let mut loss = Tensor::zeros([], DType::F64, &d).unwrap();
    for t in 0..6 {
        let s = x.select(0, t).unwrap().square().unwrap().sum_all().unwrap();
        loss = (loss + s.mul_scalar((t + 1) as f64).unwrap()).unwrap();
    }
    let loss = (loss + x.sum_all().unwrap()).unwrap();
    let g = tape.backward(&loss).unwrap();
    let got = g.get(&x).unwrap().to_vec2::<f64>().unwrap();
    let xv = x.to_vec2::<f64>().unwrap();
    for t in 0..6 {
        for j in 0..3 {
            let want = 1.0 + 2.0 * (t + 1) as f64 * xv[t][j];
            assert!(
                (got[t][j] - want).abs() < 1e-12,
                "[{t}][{j}]: {} vs {want}",
                got[t][j]
            );
        }
    }
    // The input is untouched by the in-place accumulation.
    assert_eq!(x.to_vec2::<f64>().unwrap(), xv);
}
