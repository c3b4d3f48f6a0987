//! Joining and splitting: `cat` (parts of different lengths, size-0 parts, strided
//! parts), `stack` along a new dim anywhere, and `split`, `split_sizes`, `chunk` (views
//! that must share storage and tile the input exactly).

use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use super::check::{check_exact, fail, OrFail};
use super::reference::RefTensor;
use super::strategies::{any_dtype, dim, shape_in, tensor, Domain, TensorSpec};
use super::Report;
use crate::{Device, Tensor};

/// `cat` of 1–4 parts of every dtype along a random dim (negative too).
pub fn cat_op(dev: &Device) {
    let mut rep = Report::new("cat_op");
    let d = *dev;
    let s = (
        shape_in(1..=4),
        any_dtype(),
        proptest::collection::vec(dim(), 1..=4),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_flat_map(|(s, dt, lens, at, neg)| {
            let axis = at.index(s.len());
            let parts: Vec<BoxedStrategy<TensorSpec>> = lens
                .iter()
                .map(|&n| {
                    let mut ps = s.clone();
                    ps[axis] = n;
                    tensor(ps, dt, Domain::Any)
                })
                .collect();
            let dim = if neg {
                axis as isize - s.len() as isize
            } else {
                axis as isize
            };
            (parts, Just(axis), Just(dim))
        });
    rep.prop("cat", s, move |(specs, axis, dim)| {
        let parts: Vec<Tensor> = specs
            .iter()
            .map(|s| s.build(&d))
            .collect::<crate::Result<_>>()
            .or_fail("build")?;
        let refs: Vec<&Tensor> = parts.iter().collect();
        let got = Tensor::cat(&refs, dim).or_fail("cat")?;
        let want = RefTensor::cat(
            &specs.iter().map(|s| s.reference()).collect::<Vec<_>>(),
            axis,
        );
        check_exact(
            &format!(
                "cat(dim {dim}) of {:?}",
                specs.iter().map(|s| &s.shape).collect::<Vec<_>>()
            ),
            &got,
            &want,
            specs[0].dtype,
        )
    });
    rep.finish();
}

/// `stack` of 1–4 equal-shaped strided parts at any new position.
pub fn stack_op(dev: &Device) {
    let mut rep = Report::new("stack_op");
    let d = *dev;
    let s = (shape_in(0..=3), any_dtype(), 1..=4usize).prop_flat_map(|(s, dt, n)| {
        let r = s.len() as isize;
        (
            proptest::collection::vec(tensor(s, dt, Domain::Any), n),
            -(r + 1)..=r,
        )
    });
    rep.prop("stack", s, move |(specs, dim)| {
        let parts: Vec<Tensor> = specs
            .iter()
            .map(|s| s.build(&d))
            .collect::<crate::Result<_>>()
            .or_fail("build")?;
        let refs: Vec<&Tensor> = parts.iter().collect();
        let got = Tensor::stack(&refs, dim).or_fail("stack")?;
        let r = specs[0].shape.len() as isize;
        let axis = if dim < 0 { dim + r + 1 } else { dim } as usize;
        let want = RefTensor::stack(
            &specs.iter().map(|s| s.reference()).collect::<Vec<_>>(),
            axis,
        );
        check_exact(
            &format!("stack(dim {dim}) of {} x {:?}", specs.len(), specs[0].shape),
            &got,
            &want,
            specs[0].dtype,
        )
    });
    rep.finish();
}

/// Checks that `got` are views of `x` equal to `want`, piece by piece.
fn check_pieces(
    ctx: &str,
    x: &Tensor,
    got: &[Tensor],
    want: &[RefTensor],
    spec: &TensorSpec,
) -> TestCaseResult {
    if got.len() != want.len() {
        return Err(fail(format!(
            "{ctx}: {} pieces, expected {}",
            got.len(),
            want.len()
        )));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        check_exact(&format!("{ctx}: piece {i}"), g, w, spec.dtype)?;
        if !g.shares_storage(x) {
            return Err(fail(format!(
                "{ctx}: piece {i} must be a view sharing the storage"
            )));
        }
    }
    Ok(())
}

/// `split(size)`, `split_sizes` and `chunk` along a random dim.
pub fn split_chunk_ops(dev: &Device) {
    let mut rep = Report::new("split_chunk_ops");
    let base = || {
        (
            shape_in(1..=4),
            any_dtype(),
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_flat_map(|(s, dt, at, neg)| {
                let axis = at.index(s.len());
                let dim = if neg {
                    axis as isize - s.len() as isize
                } else {
                    axis as isize
                };
                (tensor(s, dt, Domain::Any), Just(axis), Just(dim))
            })
    };
    let d = *dev;
    rep.prop(
        "split",
        (base(), 1..=5usize),
        move |((spec, axis, dim), size)| {
            let x = spec.build(&d).or_fail("build")?;
            let got = x.split(size, dim).or_fail("split")?;
            let want = spec.reference().split(size, axis);
            check_pieces(
                &format!("split({size}, {dim}) of {:?}", spec.shape),
                &x,
                &got,
                &want,
                &spec,
            )
        },
    );
    let d = *dev;
    let s = base().prop_flat_map(|(spec, axis, dim)| {
        let n = spec.shape[axis];
        // Cut points in 0..=n, sorted: the pieces between them (some may be empty).
        (
            Just((spec, axis, dim)),
            proptest::collection::vec(0..=n, 0..=3),
        )
    });
    rep.prop("split_sizes", s, move |((spec, axis, dim), mut cuts)| {
        cuts.sort_unstable();
        let n = spec.shape[axis];
        let mut sizes = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain([n]) {
            sizes.push(c - prev);
            prev = c;
        }
        let x = spec.build(&d).or_fail("build")?;
        let got = x.split_sizes(&sizes, dim).or_fail("split_sizes")?;
        let want = spec.reference().split_sizes(&sizes, axis);
        check_pieces(
            &format!("split_sizes({sizes:?}, {dim}) of {:?}", spec.shape),
            &x,
            &got,
            &want,
            &spec,
        )
    });
    let d = *dev;
    rep.prop(
        "chunk",
        (base(), 1..=6usize),
        move |((spec, axis, dim), chunks)| {
            let x = spec.build(&d).or_fail("build")?;
            let got = x.chunk(chunks, dim).or_fail("chunk")?;
            let n = spec.shape[axis];
            // An empty dim gives `chunks` empty pieces (PyTorch).
            let want = if n == 0 {
                vec![spec.reference(); chunks]
            } else {
                spec.reference().split(n.div_ceil(chunks), axis)
            };
            check_pieces(
                &format!("chunk({chunks}, {dim}) of {:?}", spec.shape),
                &x,
                &got,
                &want,
                &spec,
            )
        },
    );
    rep.finish();
}
