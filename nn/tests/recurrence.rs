//! The whole-sequence recurrent ops (`lamina_nn::{lstm_sequence, gru_sequence,
//! rnn_sequence}`) against their definitions, step by step: values against scalar code (LSTM)
//! or the step-by-step composite (GRU, RNN), gradients of every input against central
//! finite differences and against the tape's gradients of the step-by-step composite, and
//! second derivatives against finite differences of the first; in f32, the fused path of an
//! `Lstm` layer against the same layer run step by step on `LstmCell`. (The layers' PyTorch
//! fixtures, `tests/pytorch/rnn.rs`, run through these ops too.)

use lamina_autograd::{gradcheck, GradcheckConfig, Tape};
use lamina_nn::{gru_sequence, lstm_sequence, rnn_sequence, Lstm, LstmCell, Module};
use lamina_tensor::{DType, Device, Result, Tensor};
use proptest::prelude::*;

fn dev() -> Device {
    lamina_backend_cpu::device()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `xp [L, N, 4H]`, `w_hh [4H, H]`, `h0`, `c0 [N, H]`, seeded, f64.
fn inputs(l: usize, n: usize, h: usize, seed: u64) -> [Tensor; 4] {
    let d = dev();
    let r = |s: u64, shape: Vec<usize>, scale: f64| {
        Tensor::randn(seed * 10 + s, shape, DType::F64, &d)
            .unwrap()
            .mul_scalar(scale)
            .unwrap()
    };
    [
        r(1, vec![l, n, 4 * h], 1.0),
        r(2, vec![4 * h, h], 0.5),
        r(3, vec![n, h], 1.0),
        r(4, vec![n, h], 1.0),
    ]
}

/// The recurrence written out in scalars: `[L][N][2H]`.
fn reference(t: &[Tensor; 4]) -> Vec<Vec<Vec<f64>>> {
    let xp = t[0].to_vec3::<f64>().unwrap();
    let w = t[1].to_vec2::<f64>().unwrap();
    let mut h = t[2].to_vec2::<f64>().unwrap();
    let mut c = t[3].to_vec2::<f64>().unwrap();
    let hid = h[0].len();
    let mut out = Vec::new();
    for x in &xp {
        let mut step = Vec::new();
        for r in 0..h.len() {
            let gate =
                |k: usize| -> f64 { x[r][k] + (0..hid).map(|j| h[r][j] * w[k][j]).sum::<f64>() };
            let mut row = vec![0.0; 2 * hid];
            for j in 0..hid {
                let (i, f) = (sigmoid(gate(j)), sigmoid(gate(hid + j)));
                let (g, o) = (gate(2 * hid + j).tanh(), sigmoid(gate(3 * hid + j)));
                let cn = f * c[r][j] + i * g;
                row[hid + j] = cn;
                row[j] = o * cn.tanh();
            }
            step.push(row);
        }
        for r in 0..h.len() {
            h[r] = step[r][..hid].to_vec();
            c[r] = step[r][hid..].to_vec();
        }
        out.push(step);
    }
    out
}

/// The same recurrence as recorded tensor ops, one cell per step.
fn composite(t: &[Tensor]) -> Result<Tensor> {
    let (xp, w, mut h, mut c) = (&t[0], &t[1], t[2].clone(), t[3].clone());
    let hid = h.dims()[1];
    let mut states = Vec::new();
    for s in 0..xp.dims()[0] {
        let hc = (xp.select(0, s)? + h.matmul(&w.t()?)?)?.lstm_cell(&c)?;
        h = hc.narrow(1, 0, hid)?;
        c = hc.narrow(1, hid, hid)?;
        states.push(hc);
    }
    Tensor::stack(&states.iter().collect::<Vec<_>>(), 0)
}

/// A scalar that weighs every output element differently, so no gradient can hide.
fn weighted(y: &Tensor) -> Result<Tensor> {
    let w = Tensor::arange(1.0, (y.elem_count() + 1) as f64, 1.0, y.dtype(), y.device())?
        .reshape(y.shape().clone())?
        .mul_scalar(0.01)?;
    (y * &w)?.sin()?.sum_all()
}

fn grads(f: impl Fn(&[Tensor]) -> Result<Tensor>, t: &[Tensor]) -> Vec<Vec<f64>> {
    let tape = Tape::new();
    for x in t {
        tape.watch(x);
    }
    let g = tape.backward(&weighted(&f(t).unwrap()).unwrap()).unwrap();
    t.iter()
        .map(|x| g.get(x).unwrap().to_f64_vec().unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn values_match_the_scalar_recurrence(l in 1..=4usize, n in 1..=3usize, h in 1..=4usize, seed in 0..100u64) {
        let t = inputs(l, n, h, seed);
        let got = lstm_sequence(&t[0], &t[1], &t[2], &t[3]).unwrap().to_vec3::<f64>().unwrap();
        let want = reference(&t);
        for (a, b) in got.iter().flatten().flatten().zip(want.iter().flatten().flatten()) {
            prop_assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_the_composite(l in 1..=4usize, n in 1..=2usize, h in 1..=3usize, seed in 0..100u64) {
        let t = inputs(l, n, h, seed).to_vec();
        let op = |v: &[Tensor]| lstm_sequence(&v[0], &v[1], &v[2], &v[3]);
        let report = gradcheck(|v| weighted(&op(v)?), &t, &GradcheckConfig::default()).unwrap();
        prop_assert!(report.passed(), "{report}");
        for (a, b) in grads(op, &t).iter().zip(&grads(composite, &t)) {
            for (x, y) in a.iter().zip(b) {
                prop_assert!((x - y).abs() < 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
}

#[test]
fn a_batch_split_over_threads_gives_the_composites_values_and_gradients() {
    // 24 rows: split over the pool's threads (8 rows at least each) when it has several.
    let t = inputs(5, 24, 3, 11).to_vec();
    let op = |v: &[Tensor]| lstm_sequence(&v[0], &v[1], &v[2], &v[3]);
    let (a, b) = (op(&t).unwrap(), composite(&t).unwrap());
    let (a, b) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
    for (a, b) in grads(op, &t).iter().zip(&grads(composite, &t)) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }
}

#[test]
fn second_derivatives_match_finite_differences() {
    // The gradient of the weighted output with respect to all four inputs, itself
    // differentiated: the backward's recorded ops (the cell's composite backward) checked.
    let t = inputs(3, 2, 2, 7).to_vec();
    let first = |v: &[Tensor]| -> Result<Tensor> {
        let tape = Tape::new();
        for x in v {
            tape.watch(x);
        }
        let y = weighted(&lstm_sequence(&v[0], &v[1], &v[2], &v[3])?)?;
        // gradcheck's tape records this inner backward.
        let g = tape.backward(&y)?;
        let mut s = Tensor::zeros([], DType::F64, &dev())?;
        for x in v {
            s = (s + weighted(g.get(x).expect("watched"))?)?;
        }
        Ok(s)
    };
    let report = gradcheck(first, &t, &GradcheckConfig::default()).unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn the_fused_layer_equals_the_cell_stepped_in_f32() {
    // An Lstm layer (fused path: no projection, no lengths) against LstmCell with the same
    // weights stepped by hand, both directions, outputs and every parameter gradient.
    let d = dev();
    let lstm = Lstm::builder(5, 8)
        .bidirectional(true)
        .batch_first(true)
        .seed(3)
        .build(&d)
        .unwrap();
    let x = Tensor::randn(9, [4, 6, 5], DType::F32, &d).unwrap();
    let tape = Tape::new();
    for p in lstm.parameters() {
        tape.watch(p);
    }
    let (y, (hn, cn)) = lstm.forward_with(&x, None).unwrap();
    let loss = ((weighted(&y).unwrap() + weighted(&hn).unwrap()).unwrap() + weighted(&cn).unwrap())
        .unwrap();
    let g = tape.backward(&loss).unwrap();
    let fused: Vec<Vec<f32>> = lstm
        .parameters()
        .iter()
        .map(|p| {
            g.get(p)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec::<f32>()
                .unwrap()
        })
        .collect();

    let mut cells = Vec::new();
    for suffix in ["l0", "l0_reverse"] {
        let mut cell = LstmCell::new(5, 8, &d).unwrap();
        let named = lstm.named_parameters();
        cell.visit_mut("", &mut |name, p| {
            let theirs = format!("{name}_{suffix}");
            let v = &named.iter().find(|(k, _)| *k == theirs).unwrap().1;
            p.assign(v).unwrap();
        });
        cells.push(cell);
    }
    let tape = Tape::new();
    for cell in &cells {
        for p in cell.parameters() {
            tape.watch(p);
        }
    }
    let mut outs = Vec::new();
    let (mut hs, mut cs) = (Vec::new(), Vec::new());
    for (dir, cell) in cells.iter().enumerate() {
        let (mut h, mut c) = (
            Tensor::zeros([4, 8], DType::F32, &d).unwrap(),
            Tensor::zeros([4, 8], DType::F32, &d).unwrap(),
        );
        let mut out = vec![None; 6];
        let order: Vec<usize> = if dir == 0 {
            (0..6).collect()
        } else {
            (0..6).rev().collect()
        };
        for t in order {
            let (h2, c2) = cell
                .forward_with(&x.select(1, t).unwrap(), Some((&h, &c)))
                .unwrap();
            out[t] = Some(h2.clone());
            (h, c) = (h2, c2);
        }
        let out: Vec<Tensor> = out.into_iter().map(Option::unwrap).collect();
        outs.push(Tensor::stack(&out.iter().collect::<Vec<_>>(), 1).unwrap());
        hs.push(h);
        cs.push(c);
    }
    let y2 = Tensor::cat(&[&outs[0], &outs[1]], -1).unwrap();
    let hn2 = Tensor::stack(&[&hs[0], &hs[1]], 0).unwrap();
    let cn2 = Tensor::stack(&[&cs[0], &cs[1]], 0).unwrap();
    let loss2 = ((weighted(&y2).unwrap() + weighted(&hn2).unwrap()).unwrap()
        + weighted(&cn2).unwrap())
    .unwrap();
    let g2 = tape.backward(&loss2).unwrap();
    let close = |a: &Tensor, b: &Tensor| {
        let (a, b) = (
            a.flatten_all().unwrap().to_vec::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec::<f32>().unwrap(),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    };
    close(&y, &y2);
    close(&hn, &hn2);
    close(&cn, &cn2);
    let fused: Vec<(String, Vec<f32>)> = lstm
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .zip(fused)
        .collect();
    for (cell, suffix) in cells.iter().zip(["l0", "l0_reverse"]) {
        let names = cell.named_parameters();
        for ((name, _), p) in names.iter().zip(cell.parameters()) {
            let theirs = format!("{name}_{suffix}");
            let want = &fused.iter().find(|(k, _)| *k == theirs).unwrap().1;
            let got = g2
                .get(p)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            for (x, y) in want.iter().zip(&got) {
                assert!(
                    (x - y).abs() < 1e-4 * (1.0 + y.abs()),
                    "{theirs}: {x} vs {y}"
                );
            }
        }
    }
}

#[test]
fn bad_shapes_are_errors_naming_the_op_and_shapes() {
    let [xp, w, h0, c0] = inputs(3, 2, 4, 0);
    let e = lstm_sequence(&xp, &w.t().unwrap(), &h0, &c0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lstm_sequence") && e.contains("[4, 16]"), "{e}");
    let empty = Tensor::zeros([0, 2, 16], DType::F64, &dev()).unwrap();
    assert!(lstm_sequence(&empty, &w, &h0, &c0).is_err());
    let e = lstm_sequence(&xp, &w, &h0, &c0.to_dtype(DType::F32).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("lstm_sequence"), "{e}");
}

/// `xp [L, N, 3H]`, `w_hh [3H, H]`, `h0 [N, H]`, `b_hh [3H]`, seeded, f64.
fn gru_inputs(l: usize, n: usize, h: usize, seed: u64) -> Vec<Tensor> {
    let d = dev();
    let r = |s: u64, shape: Vec<usize>, scale: f64| {
        Tensor::randn(seed * 10 + s, shape, DType::F64, &d)
            .unwrap()
            .mul_scalar(scale)
            .unwrap()
    };
    vec![
        r(1, vec![l, n, 3 * h], 1.0),
        r(2, vec![3 * h, h], 0.5),
        r(3, vec![n, h], 1.0),
        r(4, vec![3 * h], 0.5),
    ]
}

/// PyTorch's GRU step written out in recorded ops: `[L, N, H]`.
fn gru_composite(t: &[Tensor]) -> Result<Tensor> {
    let (xp, w, mut h) = (&t[0], &t[1], t[2].clone());
    let hid = h.dims()[1];
    let mut states = Vec::new();
    for s in 0..xp.dims()[0] {
        let mut hp = h.matmul(&w.t()?)?;
        if let Some(b) = t.get(3) {
            hp = (hp + b)?;
        }
        let x = xp.select(0, s)?;
        let r = (x.narrow(1, 0, hid)? + hp.narrow(1, 0, hid)?)?.sigmoid()?;
        let z = (x.narrow(1, hid, hid)? + hp.narrow(1, hid, hid)?)?.sigmoid()?;
        let n = (x.narrow(1, 2 * hid, hid)? + (&r * hp.narrow(1, 2 * hid, hid)?)?)?.tanh()?;
        h = (((1.0 - &z)? * &n)? + (&z * &h)?)?;
        states.push(h.clone());
    }
    Tensor::stack(&states.iter().collect::<Vec<_>>(), 0)
}

fn gru_op(t: &[Tensor]) -> Result<Tensor> {
    gru_sequence(&t[0], &t[1], t.get(3), &t[2])
}

/// The Elman step written out: `[L, N, H]`.
fn rnn_composite(t: &[Tensor], relu: bool) -> Result<Tensor> {
    let (xp, w, mut h) = (&t[0], &t[1], t[2].clone());
    let mut states = Vec::new();
    for s in 0..xp.dims()[0] {
        let a = (xp.select(0, s)? + h.matmul(&w.t()?)?)?;
        h = if relu { a.relu()? } else { a.tanh()? };
        states.push(h.clone());
    }
    Tensor::stack(&states.iter().collect::<Vec<_>>(), 0)
}

/// Values and gradients of `op` equal those of `reference` (1e-12), and `op` passes
/// gradcheck.
fn agrees(
    op: impl Fn(&[Tensor]) -> Result<Tensor> + Copy,
    reference: impl Fn(&[Tensor]) -> Result<Tensor> + Copy,
    t: &[Tensor],
) {
    let (a, b) = (op(t).unwrap(), reference(t).unwrap());
    assert_eq!(a.dims(), b.dims());
    for (x, y) in a.to_f64_vec().unwrap().iter().zip(b.to_f64_vec().unwrap()) {
        assert!((x - y).abs() < 1e-12, "value {x} vs {y}");
    }
    for (a, b) in grads(op, t).iter().zip(&grads(reference, t)) {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() < 1e-12 * (1.0 + y.abs()),
                "gradient {x} vs {y}"
            );
        }
    }
    let report = gradcheck(|v| weighted(&op(v)?), t, &GradcheckConfig::default()).unwrap();
    assert!(report.passed(), "{report}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn gru_matches_its_composite(l in 1..=4usize, n in 1..=3usize, h in 1..=3usize, bias: bool, seed in 0..100u64) {
        let mut t = gru_inputs(l, n, h, seed);
        if !bias {
            t.pop();
        }
        agrees(gru_op, gru_composite, &t);
    }

    #[test]
    fn rnn_matches_its_composite(l in 1..=4usize, n in 1..=3usize, h in 1..=3usize, relu: bool, seed in 0..100u64) {
        let mut t = gru_inputs(l, n, h, seed);
        // [L, N, H] projections and an [H, H] weight: the first third of the GRU's.
        t[0] = t[0].narrow(2, 0, h).unwrap().contiguous().unwrap();
        t[1] = t[1].narrow(0, 0, h).unwrap().contiguous().unwrap();
        t.truncate(3);
        if relu {
            agrees(|v| rnn_sequence(&v[0], &v[1], &v[2], true), |v| rnn_composite(v, true), &t);
        } else {
            agrees(|v| rnn_sequence(&v[0], &v[1], &v[2], false), |v| rnn_composite(v, false), &t);
        }
    }
}

#[test]
fn gru_and_rnn_split_over_threads_and_differentiate_twice() {
    // 24 rows (split over the pool's threads when it has several).
    let t = gru_inputs(4, 24, 3, 5);
    agrees(gru_op, gru_composite, &t);
    let mut r = t.clone();
    r[0] = r[0].narrow(2, 0, 3).unwrap().contiguous().unwrap();
    r[1] = r[1].narrow(0, 0, 3).unwrap().contiguous().unwrap();
    r.truncate(3);
    agrees(
        |v| rnn_sequence(&v[0], &v[1], &v[2], false),
        |v| rnn_composite(v, false),
        &r,
    );
    // Second derivatives through each backward's recorded ops.
    let second = |op: fn(&[Tensor]) -> Result<Tensor>, t: Vec<Tensor>| {
        let first = move |v: &[Tensor]| -> Result<Tensor> {
            let tape = Tape::new();
            for x in v {
                tape.watch(x);
            }
            let g = tape.backward(&weighted(&op(v)?)?)?;
            let mut s = Tensor::zeros([], DType::F64, &dev())?;
            for x in v {
                s = (s + weighted(g.get(x).expect("watched"))?)?;
            }
            Ok(s)
        };
        let report = gradcheck(first, &t, &GradcheckConfig::default()).unwrap();
        assert!(report.passed(), "{report}");
    };
    second(gru_op, gru_inputs(3, 2, 2, 9));
    let mut small = gru_inputs(3, 2, 2, 9);
    small[0] = small[0].narrow(2, 0, 2).unwrap().contiguous().unwrap();
    small[1] = small[1].narrow(0, 0, 2).unwrap().contiguous().unwrap();
    small.truncate(3);
    second(|v| rnn_sequence(&v[0], &v[1], &v[2], false), small);
}

#[test]
fn gru_and_rnn_shape_errors_name_the_op() {
    let t = gru_inputs(2, 2, 3, 0);
    let e = gru_sequence(&t[0], &t[1], Some(&t[3].narrow(0, 0, 4).unwrap()), &t[2])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gru_sequence") && e.contains("b_hh has shape [4]"),
        "{e}"
    );
    let e = rnn_sequence(&t[0], &t[1], &t[2], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rnn_sequence") && e.contains("[2, 2, 9]"), "{e}");
}

#[test]
fn the_f32_kernel_matches_the_f64_composite() {
    // f32 runs the backend's whole-sequence kernel (the CPU's panel product and fused cell
    // rows); f64 the composite. Shapes: one row; rows in a ragged block; hidden sizes off
    // the panel width; and a sequence large enough to split its 37 rows over the threads
    // (uneven chunks, each ending in a partial row block).
    for &(l, n, h, seed) in &[(3, 1, 5, 1), (4, 11, 19, 2), (2, 9, 33, 3), (12, 37, 40, 4)] {
        let t64 = inputs(l, n, h, seed).to_vec();
        let t32: Vec<Tensor> = t64
            .iter()
            .map(|x| x.to_dtype(DType::F32).unwrap())
            .collect();
        let op = |v: &[Tensor]| lstm_sequence(&v[0], &v[1], &v[2], &v[3]);
        // f64 from the f32 values, so both sides start from the same inputs.
        let back: Vec<Tensor> = t32
            .iter()
            .map(|x| x.to_dtype(DType::F64).unwrap())
            .collect();
        let (a, b) = (op(&t32).unwrap(), composite(&back).unwrap());
        for (x, y) in a.to_f64_vec().unwrap().iter().zip(&b.to_f64_vec().unwrap()) {
            assert!(
                (x - y).abs() < 1e-4 * (1.0 + y.abs()),
                "L{l} N{n} H{h}: {x} vs {y}"
            );
        }
        let (ga, gb) = (grads(op, &t32), grads(composite, &back));
        for (k, (a, b)) in ga.iter().zip(&gb).enumerate() {
            let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (x - y).abs() < 2e-4 * scale,
                    "L{l} N{n} H{h} input {k}: {x} vs {y}"
                );
            }
        }
    }
}
