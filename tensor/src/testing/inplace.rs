//! In-place updates: `binary_assign` / `add_assign` write through strided layouts when the
//! handle owns its storage, keep the tensor's id, and copy first when the storage is
//! shared (a clone or another view must never see the write). Stride-0 (expanded)
//! destinations alias elements: the update must then be an error or still correct.

use proptest::prelude::*;

use super::check::{check_close, check_exact, fail, OrFail, Tol};
use super::elementwise::wrap_int;
use super::strategies::{
    broadcastable_to, float_dtype, int_dtype, shape, tensor, tensor_with, Domain, TensorSpec,
};
use super::Report;
use crate::{BinaryOp, DType, Device, Tensor};

/// A destination (never expanded unless `expand`) and a right-hand side that broadcasts
/// to it.
fn assign_case(
    dtypes: BoxedStrategy<DType>,
    rhs: Domain,
    expand: bool,
) -> BoxedStrategy<(TensorSpec, TensorSpec)> {
    (shape(), dtypes)
        .prop_flat_map(move |(s, dt)| {
            (
                tensor_with(s.clone(), dt, Domain::Any, expand),
                broadcastable_to(s).prop_flat_map(move |rs| tensor(rs, dt, rhs)),
            )
        })
        .boxed()
}

fn float_ops() -> [(BinaryOp, Domain); 6] {
    [
        (BinaryOp::Add, Domain::Any),
        (BinaryOp::Sub, Domain::Any),
        (BinaryOp::Mul, Domain::Any),
        (BinaryOp::Div, Domain::NonZero),
        (BinaryOp::Maximum, Domain::Any),
        (BinaryOp::Minimum, Domain::Any),
    ]
}

/// Expected `dst op rhs` broadcast to dst's shape.
fn expected(sd: &TensorSpec, sr: &TensorSpec, op: BinaryOp) -> super::reference::RefTensor {
    let want = sd
        .reference()
        .binary(&sr.reference(), op)
        .expect("broadcastable");
    want.map(|v| wrap_int(v, sd.dtype))
}

/// `binary_assign` for every float op and the integer ops, and `add_assign`, on uniquely
/// owned strided destinations: correct values, same id.
pub fn inplace_assign(dev: &Device) {
    let mut rep = Report::new("inplace_assign");
    let mut cases: Vec<(BinaryOp, Domain, bool)> =
        float_ops().iter().map(|&(op, dm)| (op, dm, true)).collect();
    cases.extend(
        [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Maximum,
        ]
        .map(|op| (op, Domain::Any, false)),
    );
    for (op, domain, float) in cases {
        let d = *dev;
        let dtypes = if float { float_dtype() } else { int_dtype() };
        let name = format!(
            "binary_assign/{}{}",
            op.name(),
            if float { "" } else { "_int" }
        );
        rep.prop(
            &name,
            assign_case(dtypes, domain, false),
            move |(sd, sr)| {
                let mut x = sd.build(&d).or_fail("dst")?;
                let r = sr.build(&d).or_fail("rhs")?;
                let id = x.id();
                x.binary_assign(&r, op).or_fail("binary_assign")?;
                if x.id() != id {
                    return Err(fail("binary_assign changed the tensor's id"));
                }
                let ctx = format!(
                    "{:?} {}= {:?} ({})",
                    sd.shape,
                    op.name(),
                    sr.shape,
                    sd.dtype
                );
                check_close(
                    &ctx,
                    &x,
                    &expected(&sd, &sr, op),
                    sd.dtype,
                    Tol::arith(sd.dtype),
                )
            },
        );
    }
    let d = *dev;
    rep.prop(
        "add_assign",
        assign_case(float_dtype(), Domain::Any, false),
        move |(sd, sr)| {
            let mut x = sd.build(&d).or_fail("dst")?;
            x.add_assign(&sr.build(&d).or_fail("rhs")?)
                .or_fail("add_assign")?;
            check_close(
                "add_assign",
                &x,
                &expected(&sd, &sr, BinaryOp::Add),
                sd.dtype,
                Tol::arith(sd.dtype),
            )
        },
    );
    rep.finish();
}

/// A clone, or the tensor a view was taken from, does not see an in-place write.
pub fn inplace_shared(dev: &Device) {
    let mut rep = Report::new("inplace_shared");
    let d = *dev;
    rep.prop(
        "clone keeps its values",
        assign_case(float_dtype(), Domain::Any, false),
        move |(sd, sr)| {
            let mut x = sd.build(&d).or_fail("dst")?;
            let keep = x.clone();
            x.add_assign(&sr.build(&d).or_fail("rhs")?)
                .or_fail("add_assign")?;
            check_exact(
                "the clone after add_assign",
                &keep,
                &sd.reference(),
                sd.dtype,
            )?;
            check_close(
                "the written tensor",
                &x,
                &expected(&sd, &sr, BinaryOp::Add),
                sd.dtype,
                Tol::arith(sd.dtype),
            )?;
            if x.id() != keep.id() {
                return Err(fail("add_assign on a shared handle changed the id"));
            }
            Ok(())
        },
    );
    rep.case("a view's base does not see the write", || {
        let base = Tensor::arange(0.0, 12.0, 1.0, DType::F32, dev)
            .and_then(|t| t.reshape([3, 4]))
            .or_fail("base")?;
        let mut row = base.narrow(0, 1, 1).or_fail("narrow")?;
        let one = Tensor::ones([4], DType::F32, dev).or_fail("ones")?;
        row.add_assign(&one).or_fail("add_assign")?;
        let want = super::reference::RefTensor::from_fn(vec![3, 4], |i| (i[0] * 4 + i[1]) as f64);
        check_exact("base", &base, &want, DType::F32)?;
        let want = super::reference::RefTensor::from_fn(vec![1, 4], |i| (4 + i[1]) as f64 + 1.0);
        check_exact("row", &row, &want, DType::F32)
    });
    rep.finish();
}

/// Destinations with stride-0 dims (expanded, owning their storage alone): each logical
/// element must end up `x + rhs`, or the op must refuse with an error (as PyTorch does).
/// Overlapping `unfold` windows share elements too and are refused; gapped ones are not.
pub fn inplace_expanded(dev: &Device) {
    let mut rep = Report::new("inplace_expanded");
    rep.case(
        "ones([1, 3]).expand([2, 3]) += [[1, 2, 3], [10, 20, 30]]",
        || {
            let mut x = Tensor::ones([1, 3], DType::F32, dev)
                .and_then(|t| t.expand([2, 3]))
                .or_fail("expand")?;
            let r = Tensor::from_vec(vec![1.0f32, 2., 3., 10., 20., 30.], [2, 3], dev)
                .or_fail("rhs")?;
            if x.add_assign(&r).is_err() {
                return Ok(());
            }
            let want =
                super::reference::RefTensor::new(vec![2, 3], vec![2., 3., 4., 11., 21., 31.]);
            check_exact("expanded destination", &x, &want, DType::F32)
        },
    );
    rep.case(
        "arange(5).unfold(0, 3, 1) (overlapping windows, sole owner) += 1 is refused",
        || {
            let mut x = Tensor::arange(0.0, 5.0, 1.0, DType::F32, dev)
                .and_then(|t| t.unfold(0, 3, 1))
                .or_fail("unfold")?;
            let one = Tensor::ones([3, 3], DType::F32, dev).or_fail("rhs")?;
            match x.add_assign(&one) {
                Err(_) => Ok(()),
                Ok(()) => Err(fail(format!(
                    "a write into overlapping windows was accepted: {x:?}"
                ))),
            }
        },
    );
    rep.case(
        "arange(5).unfold(0, 2, 3) (gapped windows, sole owner) += 1",
        || {
            let mut x = Tensor::arange(0.0, 5.0, 1.0, DType::F32, dev)
                .and_then(|t| t.unfold(0, 2, 3))
                .or_fail("unfold")?;
            let one = Tensor::ones([2, 2], DType::F32, dev).or_fail("rhs")?;
            x.add_assign(&one).or_fail("add_assign")?;
            let want = super::reference::RefTensor::new(vec![2, 2], vec![1., 2., 4., 5.]);
            check_exact("gapped windows", &x, &want, DType::F32)
        },
    );
    let d = *dev;
    rep.prop(
        "expanded destinations",
        assign_case(float_dtype(), Domain::Any, true),
        move |(sd, sr)| {
            let mut x = sd.build(&d).or_fail("dst")?;
            if x.add_assign(&sr.build(&d).or_fail("rhs")?).is_err() {
                return Ok(());
            }
            check_close(
                "add_assign",
                &x,
                &expected(&sd, &sr, BinaryOp::Add),
                sd.dtype,
                Tol::arith(sd.dtype),
            )
        },
    );
    rep.finish();
}
