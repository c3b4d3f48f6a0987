//! View ops on strided inputs: `reshape` (with -1) / `view`, `permute`, `transpose`, `t`,
//! `squeeze`, `squeeze_all`, `unsqueeze`, `expand`, `broadcast_to`, `narrow`, `flatten`,
//! `flatten_all`, `select`, `unfold` against multi-index references; pure views must share storage.
//! Plus the rules: `view` refuses strides it cannot express while `reshape` copies, and
//! `contiguous` is free on a contiguous tensor.

use proptest::prelude::*;

use super::check::{check_exact, fail, OrFail};
use super::reference::{numel, RefTensor};
use super::reference_layout::flatten_shape;
use super::strategies::{any_dtype, dim, shape_in, tensor, Domain, TensorSpec};
use super::Report;
use crate::{DType, Device, Result, Tensor};

/// One view op with its arguments, as a user writes them (dims may be negative).
#[derive(Clone, Debug)]
pub enum ViewOp {
    Reshape(Vec<isize>),
    View(Vec<isize>),
    Permute(Vec<isize>),
    Transpose(isize, isize),
    T,
    Squeeze(isize),
    SqueezeAll,
    Unsqueeze(isize),
    Expand(Vec<isize>),
    BroadcastTo(Vec<usize>),
    Narrow(isize, usize, usize),
    Flatten(isize, isize),
    FlattenAll,
    Select(isize, usize),
    /// dim, size, step.
    Unfold(isize, usize, usize),
}

/// `d` or its negative twin, chosen by `neg`.
fn signed(d: usize, rank: usize, neg: bool) -> isize {
    if neg {
        d as isize - rank as isize
    } else {
        d as isize
    }
}

/// A new shape with the same element count: merges, splits and unit dims decided by
/// `choices`, then maybe one dim replaced by -1 (when it can be inferred).
fn regroup(dims: &[usize], choices: &[u8]) -> Vec<isize> {
    let mut c = choices.iter().copied().cycle();
    let mut out: Vec<usize> = Vec::new();
    for &d in dims {
        match (out.last_mut(), c.next().unwrap_or(0) % 3) {
            (Some(last), 0) => *last *= d,
            _ => out.push(d),
        }
    }
    let mut split = Vec::new();
    for d in out {
        let f = (2..d).find(|f| d % f == 0);
        match (f, c.next().unwrap_or(0) % 2) {
            (Some(f), 0) => split.extend([f, d / f]),
            _ => split.push(d),
        }
    }
    if c.next().unwrap_or(0) % 4 == 0 {
        let at = c.next().unwrap_or(0) as usize % (split.len() + 1);
        split.insert(at, 1);
    }
    let mut spec: Vec<isize> = split.iter().map(|&d| d as isize).collect();
    if !spec.is_empty() && c.next().unwrap_or(0) % 2 == 0 {
        let at = c.next().unwrap_or(0) as usize % spec.len();
        let others: usize = split
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != at)
            .map(|(_, &d)| d)
            .product();
        if others > 0 {
            spec[at] = -1;
        }
    }
    spec
}

/// The arguments of view op `kind` (0..14) for a tensor of `shape`.
fn view_op(kind: u8, shape: Vec<usize>) -> BoxedStrategy<ViewOp> {
    let r = shape.len();
    let rank_dim = move || {
        if r == 0 {
            Just(0usize).boxed()
        } else {
            (0..r).boxed()
        }
    };
    match kind {
        0 | 1 => proptest::collection::vec(any::<u8>(), 8)
            .prop_map(move |c| {
                let s = regroup(&shape, &c);
                if kind == 0 {
                    ViewOp::Reshape(s)
                } else {
                    ViewOp::View(s)
                }
            })
            .boxed(),
        2 => (
            Just((0..r).collect::<Vec<_>>()).prop_shuffle(),
            proptest::collection::vec(any::<bool>(), r),
        )
            .prop_map(move |(p, neg)| {
                ViewOp::Permute(p.iter().zip(neg).map(|(&d, n)| signed(d, r, n)).collect())
            })
            .boxed(),
        3 => (rank_dim(), rank_dim(), any::<bool>(), any::<bool>())
            .prop_map(move |(a, b, na, nb)| ViewOp::Transpose(signed(a, r, na), signed(b, r, nb)))
            .boxed(),
        4 => Just(ViewOp::T).boxed(),
        5 => (rank_dim(), any::<bool>())
            .prop_map(move |(d, n)| ViewOp::Squeeze(signed(d, r, n)))
            .boxed(),
        6 => Just(ViewOp::SqueezeAll).boxed(),
        7 => (0..=r, any::<bool>())
            .prop_map(move |(d, n)| ViewOp::Unsqueeze(signed(d, r + 1, n)))
            .boxed(),
        8 | 9 => (
            proptest::collection::vec(dim(), 0..=2),
            proptest::collection::vec((dim(), any::<bool>()), r),
        )
            .prop_map(move |(lead, per)| {
                let mut target: Vec<isize> = lead.iter().map(|&d| d as isize).collect();
                for (i, (new, keep)) in per.into_iter().enumerate() {
                    let d = shape[i];
                    target.push(match (d == 1, keep, kind) {
                        (_, true, 8) => -1,
                        (true, false, _) => new as isize,
                        _ => d as isize,
                    });
                }
                if kind == 8 {
                    ViewOp::Expand(target)
                } else {
                    ViewOp::BroadcastTo(target.iter().map(|&d| d as usize).collect())
                }
            })
            .boxed(),
        10 => (rank_dim(), any::<bool>(), 0..=MAX_ARG, 0..=MAX_ARG)
            .prop_map(move |(d, n, a, b)| {
                let size = if r == 0 { 0 } else { shape[d] };
                let start = a % (size + 1);
                ViewOp::Narrow(signed(d, r, n), start, b % (size - start + 1))
            })
            .boxed(),
        11 => (rank_dim(), rank_dim(), any::<bool>(), any::<bool>())
            .prop_map(move |(a, b, na, nb)| {
                ViewOp::Flatten(signed(a.min(b), r, na), signed(a.max(b), r, nb))
            })
            .boxed(),
        12 => Just(ViewOp::FlattenAll).boxed(),
        14 => (rank_dim(), any::<bool>(), 0..=MAX_ARG, 1..=4usize)
            .prop_map(move |(d, n, k, step)| {
                let len = shape.get(d).copied().unwrap_or(1);
                // A 0-d tensor takes dim 0 or -1 (`signed` gives 0 at rank 0).
                let dim = if r == 0 && n { -1 } else { signed(d, r, n) };
                ViewOp::Unfold(dim, k % (len + 1), step)
            })
            .boxed(),
        _ => (rank_dim(), any::<bool>(), 0..=MAX_ARG)
            .prop_map(move |(d, n, i)| {
                ViewOp::Select(
                    signed(d, r, n),
                    i % shape.get(d).copied().unwrap_or(1).max(1),
                )
            })
            .boxed(),
    }
}

const MAX_ARG: usize = 16;
const VIEW_KINDS: [&str; 15] = [
    "reshape",
    "view",
    "permute",
    "transpose",
    "t",
    "squeeze",
    "squeeze_all",
    "unsqueeze",
    "expand",
    "broadcast_to",
    "narrow",
    "flatten",
    "flatten_all",
    "select",
    "unfold",
];

fn pos(d: isize, rank: usize) -> usize {
    if d < 0 {
        (d + rank as isize) as usize
    } else {
        d as usize
    }
}

/// `op` on the tensor.
fn apply(x: &Tensor, op: &ViewOp) -> Result<Tensor> {
    match op {
        ViewOp::Reshape(s) => x.reshape(s.clone()),
        ViewOp::View(s) => x.view(s.clone()),
        ViewOp::Permute(p) => x.permute(p.clone()),
        ViewOp::Transpose(a, b) => x.transpose(*a, *b),
        ViewOp::T => x.t(),
        ViewOp::Squeeze(d) => x.squeeze(*d),
        ViewOp::SqueezeAll => x.squeeze_all(),
        ViewOp::Unsqueeze(d) => x.unsqueeze(*d),
        ViewOp::Expand(s) => x.expand(s.clone()),
        ViewOp::BroadcastTo(s) => x.broadcast_to(s.clone()),
        ViewOp::Narrow(d, start, len) => x.narrow(*d, *start, *len),
        ViewOp::Flatten(a, b) => x.flatten(*a, *b),
        ViewOp::FlattenAll => x.flatten_all(),
        ViewOp::Select(d, i) => x.select(*d, *i),
        ViewOp::Unfold(d, k, step) => x.unfold(*d, *k, *step),
    }
}

/// `op` on the reference; `true` when the op must share storage (reshape and flatten
/// may copy).
fn apply_ref(r: &RefTensor, op: &ViewOp) -> (RefTensor, bool) {
    let rank = r.rank();
    match op {
        ViewOp::Reshape(s) | ViewOp::View(s) => {
            let known: usize = s.iter().filter(|&&d| d >= 0).map(|&d| d as usize).product();
            let dims: Vec<usize> = s
                .iter()
                .map(|&d| {
                    if d < 0 {
                        r.numel() / known.max(1)
                    } else {
                        d as usize
                    }
                })
                .collect();
            (r.reshape(&dims), matches!(op, ViewOp::View(_)))
        }
        ViewOp::Permute(p) => (
            r.permute(&p.iter().map(|&d| pos(d, rank)).collect::<Vec<_>>()),
            true,
        ),
        ViewOp::Transpose(a, b) => (r.transpose(pos(*a, rank), pos(*b, rank)), true),
        ViewOp::T if rank == 2 => (r.transpose(0, 1), true),
        ViewOp::T => (r.clone(), true),
        ViewOp::Squeeze(_) if rank == 0 => (r.clone(), true),
        ViewOp::Squeeze(d) => (r.squeeze(pos(*d, rank)), true),
        ViewOp::SqueezeAll => {
            let s: Vec<usize> = r.shape.iter().copied().filter(|&d| d != 1).collect();
            (r.reshape(&s), true)
        }
        ViewOp::Unsqueeze(d) => (r.unsqueeze(pos(*d, rank + 1)), true),
        ViewOp::Expand(s) => {
            let lead = s.len() - rank;
            let dims: Vec<usize> = s
                .iter()
                .enumerate()
                .map(|(i, &d)| if d < 0 { r.shape[i - lead] } else { d as usize })
                .collect();
            (r.broadcast_to(&dims).expect("valid by construction"), true)
        }
        ViewOp::BroadcastTo(s) => (r.broadcast_to(s).expect("valid by construction"), true),
        ViewOp::Narrow(d, start, len) => (r.narrow(pos(*d, rank), *start, *len), true),
        ViewOp::Flatten(_, _) if rank == 0 => (r.reshape(&[1]), false),
        ViewOp::Flatten(a, b) => (
            r.reshape(&flatten_shape(&r.shape, pos(*a, rank), pos(*b, rank))),
            false,
        ),
        ViewOp::FlattenAll => (r.reshape(&[r.numel()]), false),
        ViewOp::Select(d, i) => (r.select(pos(*d, rank), *i), true),
        ViewOp::Unfold(d, k, step) => (r.unfold(pos(*d, rank.max(1)), *k, *step), true),
    }
}

/// Checks one view op on `x` (whose logical values are `r`); gives the result, or `None`
/// when `view` refused a non-contiguous input (allowed).
fn check_view(
    x: &Tensor,
    r: &RefTensor,
    dtype: DType,
    op: &ViewOp,
) -> std::result::Result<Option<(Tensor, RefTensor, bool)>, proptest::test_runner::TestCaseError> {
    let (want, shares) = apply_ref(r, op);
    let ctx = format!("{op:?} of {:?}", r.shape);
    let got = match (apply(x, op), op) {
        // `view` may refuse strides it cannot express, never a contiguous input.
        (Err(_), ViewOp::View(_)) if !x.is_contiguous() => return Ok(None),
        (got, _) => got.or_fail(&ctx)?,
    };
    check_exact(&ctx, &got, &want, dtype)?;
    if shares && !got.shares_storage(x) {
        return Err(fail(format!(
            "{ctx}: a view must share the input's storage"
        )));
    }
    Ok(Some((got, want, shares)))
}

/// True when `op` cannot apply to `shape` (select on an empty dim).
fn skip(op: &ViewOp, shape: &[usize]) -> bool {
    matches!(op, ViewOp::Select(d, _) if shape[pos(*d, shape.len())] == 0)
}

/// Kinds valid for a tensor of rank `rank` whose chain should not grow past rank 5 or
/// 2000 elements.
fn kinds_for(rank: usize, numel: usize) -> Vec<u8> {
    (0u8..15)
        .filter(|&k| match k {
            2 | 3 | 10 | 11 | 13 => rank >= 1,
            4 => rank <= 2,
            7..=9 | 14 => rank < 5 && numel <= 2000,
            _ => true,
        })
        .collect()
}

/// A spec and a chain of `n` view ops, each drawn for the shape the previous one left.
fn view_chain(n: usize) -> BoxedStrategy<(TensorSpec, Vec<ViewOp>)> {
    let start = (shape_in(0..=4), any_dtype())
        .prop_flat_map(|(s, dt)| (tensor(s, dt, Domain::Any), Just(Vec::<ViewOp>::new())))
        .boxed();
    (0..n).fold(start, |acc, _| {
        acc.prop_flat_map(|(spec, ops)| {
            let mut r = RefTensor::full(spec.shape.clone(), 0.0);
            for op in &ops {
                if skip(op, &r.shape) {
                    break;
                }
                r = apply_ref(&r, op).0;
            }
            let kinds = kinds_for(r.rank(), r.numel());
            let shape = r.shape.clone();
            (Just(spec), Just(ops), proptest::sample::select(kinds))
                .prop_flat_map(move |(spec, ops, kind)| {
                    (Just(spec), Just(ops), view_op(kind, shape.clone()))
                })
                .prop_map(|(spec, mut ops, op)| {
                    ops.push(op);
                    (spec, ops)
                })
        })
        .boxed()
    })
}

/// Which kinds need rank >= 1 (or at most 2 for `t`): the shape strategy per kind.
fn shape_for(kind: u8) -> BoxedStrategy<Vec<usize>> {
    match kind {
        2 | 3 | 10 | 11 | 13 => shape_in(1..=4),
        4 => shape_in(0..=2),
        _ => shape_in(0..=4),
    }
}

/// Every view op on strided inputs of every dtype: values, shape, and shared storage.
pub fn view_ops(dev: &Device) {
    let mut rep = Report::new("view_ops");
    for (kind, name) in VIEW_KINDS.iter().enumerate() {
        let kind = kind as u8;
        let d = *dev;
        let s = (shape_for(kind), any_dtype())
            .prop_flat_map(move |(s, dt)| (tensor(s.clone(), dt, Domain::Any), view_op(kind, s)));
        rep.prop(
            &format!("view/{name}"),
            s,
            move |(spec, op): (TensorSpec, ViewOp)| {
                if skip(&op, &spec.shape) {
                    return Ok(());
                }
                let x = spec.build(&d).or_fail("build")?;
                check_view(&x, &spec.reference(), spec.dtype, &op).map(|_| ())
            },
        );
    }
    let d = *dev;
    rep.prop("view/chain of 3", view_chain(3), move |(spec, ops)| {
        let mut x = spec.build(&d).or_fail("build")?;
        let mut r = spec.reference();
        let base = x.clone();
        let mut all_views = true;
        for op in &ops {
            if skip(op, &r.shape) {
                break;
            }
            match check_view(&x, &r, spec.dtype, op)
                .map_err(|e| fail(format!("after {ops:?}: {e}")))?
            {
                Some((t, want, shares)) => {
                    all_views &= shares;
                    x = t;
                    r = want;
                }
                None => return Ok(()),
            }
        }
        if all_views && !x.shares_storage(&base) {
            return Err(fail(format!(
                "{ops:?}: a chain of views must share the storage"
            )));
        }
        Ok(())
    });
    rep.finish();
}

/// `view` errors on strides it cannot express while `reshape` copies (and shares storage
/// exactly when `view` succeeds); `-1` is inferred.
pub fn reshape_view_rules(dev: &Device) {
    let mut rep = Report::new("reshape_view_rules");
    rep.case("transposed [2, 3] viewed as [6]", || {
        let a = Tensor::arange(0.0, 6.0, 1.0, DType::F32, dev)
            .and_then(|t| t.reshape([2, 3]))
            .or_fail("a")?;
        let t = a.t().or_fail("t")?;
        if t.view([6usize]).is_ok() {
            return Err(fail("view of a transposed [3, 2] as [6] must be an error"));
        }
        let r = t.reshape([6usize]).or_fail("reshape")?;
        if r.shares_storage(&a) {
            return Err(fail("reshape of a transposed tensor into [6] must copy"));
        }
        check_exact(
            "reshape(tᵀ, [6])",
            &r,
            &RefTensor::new(vec![6], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]),
            DType::F32,
        )?;
        let v = a.view([3isize, -1]).or_fail("view -1")?;
        if !v.shares_storage(&a) || v.dims() != [3, 2] {
            return Err(fail(
                "view([3, -1]) of a contiguous [2, 3] must be a [3, 2] view",
            ));
        }
        Ok(())
    });
    rep.case("narrowed rows split but not merged", || {
        let a = Tensor::arange(0.0, 24.0, 1.0, DType::F64, dev)
            .and_then(|t| t.reshape([4, 6]))
            .or_fail("a")?;
        let n = a.narrow(1, 1, 4).or_fail("narrow")?;
        let v = n
            .view([4, 2, 2])
            .or_fail("splitting a dense dim is a view")?;
        let want = RefTensor::from_fn(vec![4, 2, 2], |i| (i[0] * 6 + 1 + i[1] * 2 + i[2]) as f64);
        check_exact("view [4, 2, 2]", &v, &want, DType::F64)?;
        if n.view([16usize]).is_ok() {
            return Err(fail("merging non-dense rows with view must be an error"));
        }
        let r = n.reshape([-1isize]).or_fail("reshape")?;
        check_exact(
            "reshape [-1]",
            &r,
            &RefTensor::from_fn(vec![16], |i| (i[0] / 4 * 6 + 1 + i[0] % 4) as f64),
            DType::F64,
        )
    });
    let d = *dev;
    let s = (
        shape_in(0..=4),
        any_dtype(),
        proptest::collection::vec(any::<u8>(), 8),
    )
        .prop_flat_map(|(s, dt, c)| (tensor(s.clone(), dt, Domain::Any), Just(regroup(&s, &c))));
    rep.prop("reshape shares iff view works", s, move |(spec, target)| {
        let x = spec.build(&d).or_fail("build")?;
        let r = x.reshape(target.clone()).or_fail("reshape")?;
        let want = spec.reference();
        let dims = r.dims().to_vec();
        if numel(&dims) != want.numel() {
            return Err(fail(format!(
                "reshape {target:?}: {} elements",
                numel(&dims)
            )));
        }
        check_exact(
            &format!("reshape {target:?}"),
            &r,
            &want.reshape(&dims),
            spec.dtype,
        )?;
        let viewable = x.view(target.clone()).is_ok();
        if viewable != r.shares_storage(&x) {
            return Err(fail(format!(
                "reshape {target:?}: view ok = {viewable} but reshape shares storage = {}",
                r.shares_storage(&x)
            )));
        }
        Ok(())
    });
    rep.finish();
}

/// `contiguous` returns the same storage when already contiguous, else a contiguous copy.
pub fn contiguous_rules(dev: &Device) {
    let mut rep = Report::new("contiguous_rules");
    let d = *dev;
    let s = (shape_in(0..=4), any_dtype()).prop_flat_map(|(s, dt)| tensor(s, dt, Domain::Any));
    rep.prop("contiguous", s, move |spec| {
        let x = spec.build(&d).or_fail("build")?;
        let c = x.contiguous().or_fail("contiguous")?;
        check_exact("contiguous", &c, &spec.reference(), spec.dtype)?;
        if !c.is_contiguous() {
            return Err(fail("contiguous() is not contiguous"));
        }
        if x.is_contiguous() != c.shares_storage(&x) {
            return Err(fail(format!(
                "input contiguous = {} but result shares storage = {}",
                x.is_contiguous(),
                c.shares_storage(&x)
            )));
        }
        Ok(())
    });
    rep.case("fresh, transposed, column", || {
        let a = Tensor::zeros([3, 4], DType::F32, dev).or_fail("zeros")?;
        if !a.contiguous().or_fail("contiguous")?.shares_storage(&a) {
            return Err(fail(
                "contiguous() of a fresh tensor must share its storage",
            ));
        }
        let t = a.t().or_fail("t")?;
        if t.is_contiguous() || t.contiguous().or_fail("contiguous")?.shares_storage(&a) {
            return Err(fail(
                "a transposed [3, 4] is not contiguous; contiguous() must copy",
            ));
        }
        let row = a.select(0, 1).or_fail("select")?;
        if !row.is_contiguous() || !row.contiguous().or_fail("contiguous")?.shares_storage(&a) {
            return Err(fail("a row of a contiguous matrix is contiguous"));
        }
        Ok(())
    });
    rep.finish();
}
