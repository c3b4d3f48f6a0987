//! Indexing by integer tensors: `index_select`, `gather`, `scatter_add` and `one_hot`,
//! with I64 and U32 indices (strided too), repeated indices, size-0 extents, and every
//! dtype for the data. Out-of-range indices are checked in `errors.rs`.

use proptest::prelude::*;

use super::check::{check_exact, OrFail};
use super::reference::RefTensor;
use super::strategies::{any_dtype, dim, int_dtype, nonzero_dim, shape_in, tensor, Domain};
use super::Report;
use crate::{DType, Device, ScatterReduce, Tensor};

/// `index_select` along a random dim with 0–6 indices (repeats allowed).
pub fn index_select_op(dev: &Device) {
    let mut rep = Report::new("index_select_op");
    let d = *dev;
    let s = (
        shape_in(1..=4),
        any_dtype(),
        int_dtype(),
        any::<prop::sample::Index>(),
        any::<bool>(),
        0..=6usize,
    )
        .prop_flat_map(|(s, dt, it, at, neg, n)| {
            let axis = at.index(s.len());
            let size = s[axis];
            let n = if size == 0 { 0 } else { n };
            let dim = if neg {
                axis as isize - s.len() as isize
            } else {
                axis as isize
            };
            (
                tensor(s, dt, Domain::Any),
                tensor(vec![n], it, Domain::Index(size)),
                Just(axis),
                Just(dim),
            )
        });
    rep.prop("index_select", s, move |(sx, si, axis, dim)| {
        let (x, ids) = (sx.build(&d).or_fail("x")?, si.build(&d).or_fail("ids")?);
        let got = x.index_select(dim, &ids).or_fail("index_select")?;
        let idx: Vec<usize> = si.reference().data.iter().map(|&v| v as usize).collect();
        let want = sx.reference().index_select(axis, &idx);
        check_exact(
            &format!("index_select({dim}, {idx:?}) of {:?}", sx.shape),
            &got,
            &want,
            sx.dtype,
        )
    });
    rep.finish();
}

/// Shapes for gather/scatter: `self`, the axis, and an index shape no larger than `self`
/// off the axis (any length along it); half of them rows along the last axis with equal
/// leading dims, the layout a backend may take a faster path for (pooling's arg-max).
fn index_shapes() -> BoxedStrategy<(Vec<usize>, usize, Vec<usize>)> {
    let rows = (shape_in(1..=3), dim()).prop_map(|(mut s, l)| {
        let axis = s.len() - 1;
        let mut ids = s.clone();
        ids[axis] = l;
        // Indices need something to point at.
        if s[axis] == 0 && ids.iter().product::<usize>() > 0 {
            s[axis] = 1;
        }
        if s[axis] == 0 {
            ids[axis] = 0;
        }
        (s, axis, ids)
    });
    prop_oneof![any_shapes(), rows].boxed()
}

fn any_shapes() -> BoxedStrategy<(Vec<usize>, usize, Vec<usize>)> {
    (shape_in(1..=3), any::<prop::sample::Index>())
        .prop_flat_map(|(s, at)| {
            let axis = at.index(s.len());
            let per: Vec<BoxedStrategy<usize>> = s
                .iter()
                .enumerate()
                .map(|(i, &n)| if i == axis { dim() } else { (0..=n).boxed() })
                .collect();
            (Just(s), Just(axis), per)
        })
        .prop_map(|(mut s, axis, mut ids)| {
            // Indices need something to point at.
            if s[axis] == 0 && ids.iter().product::<usize>() > 0 {
                s[axis] = 1;
            }
            if s[axis] == 0 {
                ids[axis] = 0;
            }
            (s, axis, ids)
        })
        .boxed()
}

/// `gather` along a random dim, indices smaller than the input off the axis.
pub fn gather_op(dev: &Device) {
    let mut rep = Report::new("gather_op");
    let d = *dev;
    let s = (index_shapes(), any_dtype(), int_dtype()).prop_flat_map(|((s, axis, is), dt, it)| {
        let size = s[axis];
        (
            tensor(s, dt, Domain::Any),
            tensor(is, it, Domain::Index(size)),
            Just(axis),
        )
    });
    rep.prop("gather", s, move |(sx, si, axis)| {
        let (x, ids) = (sx.build(&d).or_fail("x")?, si.build(&d).or_fail("ids")?);
        let got = x.gather(axis as isize, &ids).or_fail("gather")?;
        let want = sx.reference().gather(axis, &si.reference());
        check_exact(
            &format!("gather({axis}) of {:?} by {:?}", sx.shape, si.shape),
            &got,
            &want,
            sx.dtype,
        )
    });
    rep.finish();
}

/// `scatter_add` with repeated indices (small integer values, so float sums are exact), a
/// `src` at least as large as the indices, strided everything; the input is unchanged.
pub fn scatter_add_op(dev: &Device) {
    let mut rep = Report::new("scatter_add_op");
    let d = *dev;
    let s = (index_shapes(), any_dtype(), int_dtype()).prop_flat_map(|((s, axis, is), dt, it)| {
        let size = s[axis];
        let src_shape: Vec<BoxedStrategy<usize>> =
            is.iter().map(|&n| (n..=n + 1).boxed()).collect();
        (
            tensor(s, dt, Domain::SmallInt),
            tensor(is, it, Domain::Index(size)),
            src_shape.prop_flat_map(move |ss| tensor(ss, dt, Domain::SmallInt)),
            Just(axis),
        )
    });
    rep.prop("scatter_add", s, move |(sx, si, ss, axis)| {
        let (x, ids, src) = (
            sx.build(&d).or_fail("x")?,
            si.build(&d).or_fail("ids")?,
            ss.build(&d).or_fail("src")?,
        );
        let got = x
            .scatter_add(axis as isize, &ids, &src)
            .or_fail("scatter_add")?;
        let rx = sx.reference();
        let dt = sx.dtype;
        let want = rx.scatter_add(axis, &si.reference(), &ss.reference());
        let want = want.map(|v| super::elementwise::wrap_int(v, dt));
        let ctx = format!(
            "scatter_add({axis}) of {:?} by {:?} from {:?}",
            sx.shape, si.shape, ss.shape
        );
        check_exact(&ctx, &got, &want, dt)?;
        // Without `include_self` the targeted positions start from zero.
        let got = x
            .scatter_reduce(axis as isize, &ids, &src, ScatterReduce::Sum, false)
            .or_fail("scatter_reduce sum")?;
        let want = rx.scatter_sum(axis, &si.reference(), &ss.reference(), false);
        let want = want.map(|v| super::elementwise::wrap_int(v, dt));
        check_exact(&format!("{ctx}, include_self false"), &got, &want, dt)?;
        check_exact(&format!("{ctx}: input unchanged"), &x, &rx, dt)
    });
    rep.finish();
}

/// `one_hot` of I64/U32 class tensors of any shape (strided), I64 output.
pub fn one_hot_op(dev: &Device) {
    let mut rep = Report::new("one_hot_op");
    let d = *dev;
    let s = (shape_in(0..=3), int_dtype(), nonzero_dim())
        .prop_flat_map(|(s, it, classes)| (tensor(s, it, Domain::Index(classes)), Just(classes)));
    rep.prop("one_hot", s, move |(si, classes)| {
        let ids = si.build(&d).or_fail("ids")?;
        let got = ids.one_hot(classes).or_fail("one_hot")?;
        let want = si.reference().one_hot(classes);
        check_exact(
            &format!("one_hot({classes}) of {:?}", si.shape),
            &got,
            &want,
            DType::I64,
        )
    });
    rep.case("one_hot of a fixed vector", || {
        let ids = Tensor::from_vec(vec![2i64, 0, 1], [3], dev).or_fail("ids")?;
        let want = RefTensor::new(vec![3, 3], vec![0., 0., 1., 1., 0., 0., 0., 1., 0.]);
        check_exact(
            "one_hot([2, 0, 1], 3)",
            &ids.one_hot(3).or_fail("one_hot")?,
            &want,
            DType::I64,
        )
    });
    rep.finish();
}
