//! Gradient property tests of the element-wise ops: every unary map, every broadcasting
//! binary op, `where_` and `masked_fill`, over random shapes (rank 0–4, size-1 dims,
//! broadcasting) and non-contiguous inputs, in f64, against finite differences.

mod common;

use common::{cases, check, dev, tc};
use lamina_autograd::strategies::{broadcast_tensors, tensor, tensor_away_from, TensorSpec, View};
use lamina_tensor::{Tensor, UnaryOp};
use proptest::prelude::*;

fn no_expand(t: &TensorSpec) -> bool {
    !matches!(t.view, View::Expanded { .. })
}

macro_rules! unary_props {
    ($($name:ident: $strategy:expr => $f:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(cases()))]
            $(
                #[test]
                fn $name(x in $strategy) {
                    let x = tc(x.build(&dev()))?;
                    check(|t| $f(&t[0]), vec![x])?;
                }
            )*
        }
    };
}

unary_props! {
    neg: tensor(-3.0, 3.0) => |x: &Tensor| x.neg();
    abs: tensor_away_from(-3.0, 3.0, vec![0.0], 1e-3) => |x: &Tensor| x.abs();
    exp: tensor(-3.0, 3.0) => |x: &Tensor| x.exp();
    log: tensor(0.1, 4.0) => |x: &Tensor| x.log();
    log1p: tensor(-0.9, 4.0) => |x: &Tensor| x.log1p();
    sqrt: tensor(0.1, 4.0) => |x: &Tensor| x.sqrt();
    rsqrt: tensor(0.1, 4.0) => |x: &Tensor| x.rsqrt();
    sin: tensor(-3.0, 3.0) => |x: &Tensor| x.sin();
    cos: tensor(-3.0, 3.0) => |x: &Tensor| x.cos();
    tanh: tensor(-3.0, 3.0) => |x: &Tensor| x.tanh();
    sigmoid: tensor(-6.0, 6.0) => |x: &Tensor| x.sigmoid();
    relu: tensor_away_from(-3.0, 3.0, vec![0.0], 1e-3) => |x: &Tensor| x.relu();
    gelu: tensor(-4.0, 4.0) => |x: &Tensor| x.gelu();
    gelu_tanh: tensor(-4.0, 4.0) => |x: &Tensor| x.gelu_tanh();
    silu: tensor(-5.0, 5.0) => |x: &Tensor| x.silu();
    erf: tensor(-3.0, 3.0) => |x: &Tensor| x.erf();
    square: tensor(-3.0, 3.0) => |x: &Tensor| x.square();
    recip: tensor_away_from(-3.0, 3.0, vec![0.0], 0.2) => |x: &Tensor| x.recip();
    sign: tensor_away_from(-3.0, 3.0, vec![0.0], 1e-3) => |x: &Tensor| x.sign();
    powf_cube: tensor(-2.0, 2.0) => |x: &Tensor| x.powf(3.0);
    powf_frac: tensor(0.1, 3.0) => |x: &Tensor| x.powf(1.7);
    clamp: tensor_away_from(-3.0, 3.0, vec![-1.0, 0.5], 1e-3) => |x: &Tensor| x.clamp(-1.0, 0.5);
    affine: tensor(-3.0, 3.0) => |x: &Tensor| x.affine(-1.5, 0.25);
    leaky_relu: tensor_away_from(-3.0, 3.0, vec![0.0], 1e-3) => |x: &Tensor| x.leaky_relu(0.1);
    scalar_ops: tensor(0.5, 3.0) => |x: &Tensor| (((x * 2.0)? + 1.0)? - 0.5)? / 3.0;
}

macro_rules! binary_props {
    ($($name:ident: $strategy:expr => $f:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(cases()))]
            $(
                #[test]
                fn $name((a, b) in $strategy) {
                    let (a, b) = (tc(a.build(&dev()))?, tc(b.build(&dev()))?);
                    check(|t| $f(&t[0], &t[1]), vec![a, b])?;
                }
            )*
        }
    };
}

binary_props! {
    add: broadcast_tensors(-3.0, 3.0) => |a: &Tensor, b: &Tensor| a + b;
    sub: broadcast_tensors(-3.0, 3.0) => |a: &Tensor, b: &Tensor| a - b;
    mul: broadcast_tensors(-3.0, 3.0) => |a: &Tensor, b: &Tensor| a * b;
    div: broadcast_tensors(0.5, 3.0) => |a: &Tensor, b: &Tensor| a / b;
    pow: broadcast_tensors(0.5, 2.0) => |a: &Tensor, b: &Tensor| a.pow(b);
    maximum: broadcast_tensors(-3.0, 3.0).prop_filter("ties", |(a, b)| no_expand(a) && no_expand(b))
        => |a: &Tensor, b: &Tensor| a.maximum(b);
    minimum: broadcast_tensors(-3.0, 3.0).prop_filter("ties", |(a, b)| no_expand(a) && no_expand(b))
        => |a: &Tensor, b: &Tensor| a.minimum(b);
    same_input_twice: broadcast_tensors(-2.0, 2.0) => |a: &Tensor, _b: &Tensor| a * a;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn where_(((a, b), seed) in (broadcast_tensors(-3.0, 3.0), any::<u64>())) {
        let (a, b) = (tc(a.build(&dev()))?, tc(b.build(&dev()))?);
        let shape = tc(a.shape().broadcast(b.shape(), "test"))?;
        let cond = tc(Tensor::rand(seed, shape, lamina_tensor::DType::F64, &dev()).and_then(|r| r.gt_scalar(0.5)))?;
        check(|t| Tensor::where_(&cond, &t[0], &t[1]), vec![a, b])?;
    }

    #[test]
    fn masked_fill((x, seed) in (tensor(-3.0, 3.0), any::<u64>())) {
        let x = tc(x.build(&dev()))?;
        let mask = tc(x.rand_like(seed).and_then(|r| r.gt_scalar(0.5)))?;
        check(|t| t[0].masked_fill(&mask, -7.0), vec![x])?;
    }
}

/// Hand-derived values, one per family.
#[test]
fn hand_derived_elementwise() -> lamina_tensor::Result<()> {
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
    let a = Tensor::zeros([2, 3], lamina_tensor::DType::F64, &d)?;
    let (_, g) = lamina_autograd::value_and_grad(&[&y], || (&a + &y)?.sum_all())?;
    assert_eq!(g.get(&y).unwrap().to_vec::<f64>()?, vec![2.0, 2.0, 2.0]);
    // maximum with a tie splits the gradient: d/da max(a, b) at a = b is 0.5.
    let (_, g) = lamina_autograd::value_and_grad(&[&y], || y.maximum(&y.detach())?.sum_all())?;
    assert_eq!(g.get(&y).unwrap().to_vec::<f64>()?, vec![0.5, 0.5, 0.5]);
    // sigmoid'(0) = 1/4, tanh'(0) = 1, gelu'(0) = 1/2
    let z = Tensor::zeros([1], lamina_tensor::DType::F64, &d)?;
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
