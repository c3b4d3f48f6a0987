//! Gradient property tests of the element-wise ops, against finite differences in f64.
//!
//! The unary and binary checks iterate over the op tables (`UnaryOp::samples()`,
//! `BinaryOp::samples()`): a new table row is checked without touching this file. Each op
//! (with each sampled parameter) runs as its own proptest of `LAMINA_GRAD_CASES` cases
//! (default 128) over random shapes (rank 0–4, size-1 dims, broadcast operands) in every
//! layout the strategies make (transposed, narrowed, permuted, expanded), and the test
//! reports every failing op, not just the first. Inputs come from the row's test domain
//! narrowed to where finite differences are accurate ([`grad_range`]), kept away from
//! the row's kinks; binary operands are kept away from the two places a table op's
//! gradient jumps, ties (`maximum`, `minimum`) and integer quotients (`div_floor`,
//! `remainder`, `fmod`, ...), for every op alike. Ops whose gradient is zero (`floor`,
//! `sign`, `div_floor`) are checked too: zero against the finite differences.
//!
//! Also here: `where_`, `masked_fill`, the scalar operators, hand-derived values, and the
//! exact gradients at the points where PyTorch picks a one-sided value (relu at 0, clamp
//! at its bounds, hardswish at ±3, ...), each checked against PyTorch 2.15.

mod common;

use common::{cases, check, dev, for_each_op, tc};
use lamina_autograd::strategies::{
    broadcast_pair, broadcast_tensors, tensor, tensor_away_from, tensor_of, TensorSpec,
};
use lamina_tensor::{BinaryOp, DType, Result, Tensor, TestDomain, UnaryOp};
use proptest::prelude::*;

/// How far inputs stay from a kink: far beyond the finite-difference step (1e-6).
const KINK_GAP: f64 = 1e-3;
/// How far inputs of a `NonZero` domain stay from 0 (`1 / x` and `a / b` stay moderate).
const NONZERO_GAP: f64 = 0.25;
/// How far binary operands stay from a tie and their quotient from an integer.
const JUMP_GAP: f64 = 1e-3;

/// Where the gradient checks draw inputs of a test domain: the domain within [-3, 3]
/// (moderate values, accurate finite differences), or the whole range when less than 0.5
/// of it lies there; plus, for `NonZero`, the distance to keep from 0.
fn grad_range(d: TestDomain) -> (f64, f64, Option<f64>) {
    match d {
        TestDomain::Any => (-3.0, 3.0, None),
        TestDomain::Positive => (0.1, 3.0, None),
        TestDomain::NonZero => (-3.0, 3.0, Some(NONZERO_GAP)),
        TestDomain::Range(lo, hi) => {
            let (l, h) = (lo.max(-3.0), hi.min(3.0));
            if h - l >= 0.5 {
                (l, h, None)
            } else {
                (lo, hi, None)
            }
        }
    }
}

/// Moves every value within `gap` of 0 out to `±gap`.
fn away_from_zero(mut t: TensorSpec, gap: Option<f64>) -> TensorSpec {
    if let Some(gap) = gap {
        for v in &mut t.values {
            if v.abs() < gap {
                *v = if *v >= 0.0 { gap } else { -gap };
            }
        }
    }
    t
}

/// The input of a unary op's check: from its domain, away from its kinks.
fn unary_input(op: &UnaryOp) -> impl Strategy<Value = TensorSpec> {
    let (lo, hi, zero_gap) = grad_range(op.test_domain());
    tensor_away_from(lo, hi, op.kinks(), KINK_GAP).prop_map(move |t| away_from_zero(t, zero_gap))
}

/// The operands of a binary op's check: broadcast-compatible shapes, each operand from
/// its own domain.
fn binary_inputs(op: &BinaryOp) -> impl Strategy<Value = (TensorSpec, TensorSpec)> {
    let (da, db) = op.test_domain();
    let ((la, ha, za), (lb, hb, zb)) = (grad_range(da), grad_range(db));
    broadcast_pair(4, 3).prop_flat_map(move |(sa, sb)| {
        (
            tensor_of(sa, la, ha).prop_map(move |t| away_from_zero(t, za)),
            tensor_of(sb, lb, hb).prop_map(move |t| away_from_zero(t, zb)),
        )
    })
}

/// Whether every broadcast pair `(a, b)` is at least [`JUMP_GAP`] from a tie and `a / b`
/// from an integer: where the gradients of the table's binary ops jump.
fn away_from_jumps(a: &Tensor, b: &Tensor) -> Result<bool> {
    let shape = a.shape().broadcast(b.shape(), "test")?;
    let av = a.broadcast_to(&shape)?.to_vec::<f64>()?;
    let bv = b.broadcast_to(&shape)?.to_vec::<f64>()?;
    Ok(av.iter().zip(&bv).all(|(&x, &y)| {
        let q = x / y;
        (x - y).abs() >= JUMP_GAP && (!q.is_finite() || (q - q.round()).abs() >= JUMP_GAP)
    }))
}

/// Every unary op of the table, with every sampled parameter.
#[test]
fn unary_table() {
    for_each_op(
        file!(),
        &UnaryOp::samples(),
        cases(),
        unary_input,
        |op, x| {
            let x = tc(x.build(&dev()))?;
            check(|t| t[0].unary(*op), vec![x])
        },
    );
}

/// Every binary op of the table, both operands, broadcasting.
#[test]
fn binary_table() {
    for_each_op(
        file!(),
        &BinaryOp::samples(),
        cases(),
        binary_inputs,
        |op, (a, b)| {
            let (a, b) = (tc(a.build(&dev()))?, tc(b.build(&dev()))?);
            if !tc(away_from_jumps(&a, &b))? {
                return Err(TestCaseError::reject("a tie or an integer quotient"));
            }
            check(|t| t[0].binary(&t[1], *op), vec![a, b])
        },
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn same_input_twice(a in tensor(-2.0, 2.0)) {
        let a = tc(a.build(&dev()))?;
        check(|t| &t[0] * &t[0], vec![a])?;
    }

    #[test]
    fn scalar_operators(x in tensor(0.5, 3.0)) {
        let x = tc(x.build(&dev()))?;
        check(|t| ((((&t[0] * 2.0)? + 1.0)? - 0.5)? / 3.0)?.sub_scalar(1.5)?.div_scalar(-2.0), vec![x])?;
    }

    #[test]
    fn where_(((a, b), seed) in (broadcast_tensors(-3.0, 3.0), any::<u64>())) {
        let (a, b) = (tc(a.build(&dev()))?, tc(b.build(&dev()))?);
        let shape = tc(a.shape().broadcast(b.shape(), "test"))?;
        let cond = tc(Tensor::rand(seed, shape, DType::F64, &dev()).and_then(|r| r.gt_scalar(0.5)))?;
        check(|t| Tensor::where_(&cond, &t[0], &t[1]), vec![a, b])?;
    }

    #[test]
    fn masked_fill((x, seed) in (tensor(-3.0, 3.0), any::<u64>())) {
        let x = tc(x.build(&dev()))?;
        let mask = tc(x.rand_like(seed).and_then(|r| r.gt_scalar(0.5)))?;
        check(|t| t[0].masked_fill(&mask, -7.0), vec![x])?;
    }
}

/// The gradient of `sum(f(x))` at the 1-D `x`.
fn grad_at(xs: &[f64], f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Vec<f64>> {
    let x = Tensor::from_vec(xs.to_vec(), [xs.len()], &dev())?;
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || f(&x)?.sum_all())?;
    match g.get(&x) {
        Some(g) => g.to_vec::<f64>(),
        None => Ok(vec![0.0; xs.len()]),
    }
}

/// Hand-derived values, one per family.
#[test]
fn hand_derived_elementwise() -> Result<()> {
    let d = dev();
    let x = Tensor::from_vec(vec![-1.0f64, 0.0, 2.0], [3], &d)?;
    let y = Tensor::from_vec(vec![3.0f64, 4.0, 5.0], [3], &d)?;
    // d/dx sum(x * y + x^2) = y + 2x = [1, 4, 9]
    let (_, g) =
        lamina_autograd::value_and_grad(&[&x, &y], || ((&x * &y) + x.square()?)?.sum_all())?;
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>()?, vec![1.0, 4.0, 9.0]);
    assert_eq!(g.get(&y).unwrap().to_vec::<f64>()?, vec![-1.0, 0.0, 2.0]);
    // relu at the kink has gradient 0 (PyTorch); so has clamp at its bounds (PyTorch
    // 2.15: `x.clamp(-0.5, 0.5)` at x = ±0.5 gives 0), and 1 strictly inside.
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || x.relu()?.sum_all())?;
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>()?, vec![0.0, 0.0, 1.0]);
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || x.clamp(-1.0, 0.0)?.sum_all())?;
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>()?, vec![0.0, 0.0, 0.0]);
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || x.clamp(-1.5, 0.5)?.sum_all())?;
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>()?, vec![1.0, 1.0, 0.0]);
    // Broadcast: d/db sum(a + b) with a [2, 3], b [3] is 2 per element.
    let a = Tensor::zeros([2, 3], DType::F64, &d)?;
    let (_, g) = lamina_autograd::value_and_grad(&[&y], || (&a + &y)?.sum_all())?;
    assert_eq!(g.get(&y).unwrap().to_vec::<f64>()?, vec![2.0, 2.0, 2.0]);
    // maximum with a tie splits the gradient: d/da max(a, b) at a = b is 0.5.
    let (_, g) = lamina_autograd::value_and_grad(&[&y], || y.maximum(&y.detach())?.sum_all())?;
    assert_eq!(g.get(&y).unwrap().to_vec::<f64>()?, vec![0.5, 0.5, 0.5]);
    // sigmoid'(0) = 1/4, tanh'(0) = 1, gelu'(0) = 1/2
    let z = Tensor::zeros([1], DType::F64, &d)?;
    for (op, want) in [
        (UnaryOp::Sigmoid, 0.25),
        (UnaryOp::Tanh, 1.0),
        (UnaryOp::Gelu, 0.5),
        (UnaryOp::Silu, 0.5),
    ] {
        let (_, g) = lamina_autograd::value_and_grad(&[&z], || z.unary(op)?.sum_all())?;
        let got = g.get(&z).unwrap().to_vec::<f64>()?[0];
        assert!((got - want).abs() < 1e-12, "{op:?}: {got} vs {want}");
    }
    Ok(())
}

/// The gradient at the points where the derivative jumps and PyTorch picks a value, each
/// as PyTorch 2.15 gives it in f64 (`torch.autograd` of `f(x).sum()`): the zero-gradient
/// convention (relu, abs, sign, clamp and hardtanh at their bounds, hardsigmoid at ±3),
/// the inside value at the upper end of hardswish, the negative branch of the
/// exponential units at 0, and `x^0`'s zero gradient at 0.
#[test]
fn gradients_at_special_points() -> Result<()> {
    use UnaryOp::*;
    let selu_at_0 = 1.758_099_340_847_376_6; // scale * alpha
    let cases: Vec<(UnaryOp, Vec<f64>, Vec<f64>)> = vec![
        (Relu, vec![0.0, -0.0], vec![0.0, 0.0]),
        (Abs, vec![0.0, -0.0], vec![0.0, 0.0]),
        (Sign, vec![0.0, -0.0], vec![0.0, 0.0]),
        (Clamp(-1.0, 0.5), vec![-1.0, 0.5], vec![0.0, 0.0]),
        (Clamp(0.0, f64::INFINITY), vec![0.0], vec![0.0]),
        (Clamp(f64::NEG_INFINITY, 2.0), vec![2.0], vec![0.0]),
        (Clamp(1.0, 1.0), vec![0.0, 1.0, 2.0], vec![0.0, 0.0, 0.0]),
        (
            Hardtanh(-1.0, 1.0),
            vec![-3.0, -1.0, 1.0, 3.0],
            vec![0.0, 0.0, 0.0, 0.0],
        ),
        (
            Hardtanh(0.0, 6.0),
            vec![-3.0, 0.0, 3.0, 6.0],
            vec![0.0, 0.0, 1.0, 0.0],
        ),
        (Hardsigmoid, vec![-3.0, 3.0], vec![0.0, 0.0]),
        (Hardswish, vec![-3.0, 3.0], vec![0.0, 1.0]),
        (LeakyRelu(0.01), vec![0.0], vec![0.01]),
        (LeakyRelu(0.2), vec![0.0], vec![0.2]),
        (Elu(1.0), vec![0.0], vec![1.0]),
        (Elu(0.5), vec![0.0], vec![0.5]),
        (Celu(1.0), vec![0.0], vec![1.0]),
        (Celu(2.0), vec![0.0], vec![1.0]),
        (Selu, vec![0.0], vec![selu_at_0]),
        (Powf(0.0), vec![0.0, 2.0], vec![0.0, 0.0]),
    ];
    let mut wrong = Vec::new();
    for (op, xs, want) in cases {
        let got = grad_at(&xs, |x| x.unary(op))?;
        let close = got
            .iter()
            .zip(&want)
            .all(|(g, w)| (g - w).abs() <= 1e-15 * w.abs());
        if !close {
            wrong.push(format!("{op:?} at {xs:?}: {got:?}, PyTorch {want:?}"));
        }
    }
    // relu6 is hardtanh(0, 6).
    let got = grad_at(&[0.0, 6.0], |x| x.relu6())?;
    if got != [0.0, 0.0] {
        wrong.push(format!("relu6 at [0, 6]: {got:?}, PyTorch [0, 0]"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

/// `pow(a, b)` at a zero base, as PyTorch 2.15: `b = 0` gives 0 for both operands (not
/// `0 * 0^-1 = NaN`), `b > 0` gives 0, `b < 0` gives `-inf` (the true limits).
#[test]
fn pow_at_a_zero_base() -> Result<()> {
    let d = dev();
    let a = Tensor::zeros([3], DType::F64, &d)?;
    let b = Tensor::from_vec(vec![0.0f64, 2.0, -1.0], [3], &d)?;
    let (_, g) = lamina_autograd::value_and_grad(&[&a, &b], || a.pow(&b)?.sum_all())?;
    let ga = g.get(&a).unwrap().to_vec::<f64>()?;
    let gb = g.get(&b).unwrap().to_vec::<f64>()?;
    assert_eq!(ga, vec![0.0, 0.0, f64::NEG_INFINITY], "d/da");
    assert_eq!(gb, vec![0.0, 0.0, f64::NEG_INFINITY], "d/db");
    Ok(())
}
