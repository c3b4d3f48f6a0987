//! Indexing kernels: `index_select`, `gather`, `scatter` (overwrite, add, reduce). Index values are data, so
//! they are bounds-checked here and reported as errors, never read out of bounds.

use lamina_tensor::{Error, Layout, Result, ScatterReduce};

use super::elementwise::copy_strided;
use super::num::Num;
use crate::alloc::PoolVec;
use crate::walk::Walk;

/// Index values in logical order, as i64: borrowed when they already are.
pub fn index_values<'a, I: Num>(ids: &'a [I], layout: &Layout) -> std::borrow::Cow<'a, [i64]> {
    if let (Some(r), Some(ids)) = (layout.contiguous_range(), I::as_i64_slice(ids)) {
        return std::borrow::Cow::Borrowed(&ids[r]);
    }
    let mut v = Vec::with_capacity(layout.elem_count());
    let walk = Walk::new([layout]);
    walk.runs(0, walk.len(), |_, [o], [s], n| {
        v.extend((0..n).map(|i| ids[o + i * s].to_f64() as i64));
    });
    std::borrow::Cow::Owned(v)
}

fn check(op: &'static str, idx: i64, dim: usize, size: usize) -> Result<usize> {
    if idx < 0 || idx as usize >= size {
        return Err(Error::IndexOutOfBounds {
            op,
            index: idx,
            dim,
            size,
        });
    }
    Ok(idx as usize)
}

pub fn index_select<T: Num>(
    x: &[T],
    layout: &Layout,
    dim: usize,
    ids: &[i64],
) -> Result<PoolVec<T>> {
    let size = layout.dims()[dim];
    let mut dims = layout.dims().to_vec();
    dims[dim] = ids.len();
    let out_layout = Layout::contiguous(dims);
    let mut out = PoolVec::<T>::uninit_for_overwrite(out_layout.elem_count());
    if out.is_empty() {
        return Ok(out);
    }
    // Rows of a contiguous tensor (embedding lookups, batch gathers): one slice copy each.
    if let (0, Some(r)) = (dim, layout.contiguous_range()) {
        let row = r.len().checked_div(size).unwrap_or(0);
        for (i, &id) in ids.iter().enumerate() {
            let id = check("index_select", id, dim, size)?;
            let src = r.start + id * row;
            out[i * row..(i + 1) * row].copy_from_slice(&x[src..src + row]);
        }
        return Ok(out);
    }
    for (i, &id) in ids.iter().enumerate() {
        let id = check("index_select", id, dim, size)?;
        let src = layout.narrow(dim, id, 1)?;
        let dst = out_layout.narrow(dim, i, 1)?;
        copy_strided(x, &src, &mut out, &dst);
    }
    Ok(out)
}

/// When `dim` is the last and both the indexed tensor and the indices are contiguous with
/// the same leading dims: the indexed tensor's elements, its row length `d` and the
/// indices' row length `l` (rows pair up one to one).
fn last_dim_rows<'a, T>(
    x: &'a [T],
    layout: &Layout,
    dim: usize,
    ids_layout: &Layout,
) -> Option<(&'a [T], usize, usize)> {
    let rank = layout.rank();
    if dim + 1 != rank || layout.dims()[..dim] != ids_layout.dims()[..dim] {
        return None;
    }
    let (r, _) = (layout.contiguous_range()?, ids_layout.contiguous_range()?);
    let (d, l) = (layout.dims()[dim], ids_layout.dims()[dim]);
    (d > 0 && l > 0).then_some((&x[r], d, l))
}

/// The storage offset of every element in logical order, by runs.
fn offsets(layout: &Layout) -> Vec<usize> {
    let mut v = Vec::with_capacity(layout.elem_count());
    let walk = Walk::new([layout]);
    walk.runs(0, walk.len(), |_, [o], [s], n| {
        v.extend((0..n).map(|i| o + i * s));
    });
    v
}

/// Walks `ids` in logical order with the storage offset of the same multi-index in a
/// second layout whose `dim` stride is set to 0, calling `f(pos_in_ids_order, base, id)`;
/// the caller adds `id * stride[dim]`. By runs of the fused layout: a per-element
/// multi-index iterator costs more than the gather itself.
fn for_each_indexed(
    op: &'static str,
    ids: &[i64],
    ids_shape: &[usize],
    other: &Layout,
    dim: usize,
    mut f: impl FnMut(usize, usize, usize),
) -> Result<()> {
    let size = other.dims()[dim];
    let mut strides = other.strides().to_vec();
    strides[dim] = 0;
    let base = Layout::new(ids_shape.to_vec().into(), strides, other.offset());
    let walk = Walk::new([&base]);
    let mut result = Ok(());
    walk.runs(0, walk.len(), |pos, [o], [s], n| {
        if result.is_err() {
            return;
        }
        for i in 0..n {
            match check(op, ids[pos + i], dim, size) {
                Ok(id) => f(pos + i, o + i * s, id),
                Err(e) => {
                    result = Err(e);
                    return;
                }
            }
        }
    });
    result
}

pub fn gather<T: Num>(
    x: &[T],
    layout: &Layout,
    dim: usize,
    ids: &[i64],
    ids_layout: &Layout,
) -> Result<PoolVec<T>> {
    let mut out = PoolVec::<T>::uninit_for_overwrite(ids.len());
    if let Some((x, d, l)) = last_dim_rows(x, layout, dim, ids_layout) {
        // Rows of a contiguous source along its last dim (max pooling's values).
        for (o, (xr, ir)) in out.chunks_mut(l).zip(x.chunks(d).zip(ids.chunks(l))) {
            for (o, &id) in o.iter_mut().zip(ir) {
                *o = xr[check("gather", id, dim, d)?];
            }
        }
        return Ok(out);
    }
    let stride = layout.strides()[dim];
    for_each_indexed(
        "gather",
        ids,
        ids_layout.dims(),
        layout,
        dim,
        |pos, base, id| {
            out[pos] = x[base + id * stride];
        },
    )?;
    Ok(out)
}

/// `dst[.., ids[..], ..] (reduce)= src[..]` along `dim` (see `Backend::scatter`).
#[allow(clippy::too_many_arguments)]
pub fn scatter<T: Num>(
    reduce: ScatterReduce,
    include_self: bool,
    dst: &mut [T],
    dst_layout: &Layout,
    dim: usize,
    ids: &[i64],
    ids_layout: &Layout,
    src: &[T],
    src_layout: &Layout,
) -> Result<()> {
    let op = reduce.name();
    if let (ScatterReduce::Sum | ScatterReduce::Replace, Some(r), Some(sr)) = (
        reduce,
        dst_layout.contiguous_range(),
        src_layout.contiguous_range(),
    ) {
        if let Some((_, d, l)) = last_dim_rows(&dst[..], dst_layout, dim, ids_layout) {
            if src_layout.dims() == ids_layout.dims() {
                // Rows along a contiguous last dim (max pooling's gradient): check every
                // index first, so an error leaves `dst` untouched, then write in place.
                for &id in ids {
                    check(op, id, dim, d)?;
                }
                let (dst, src) = (&mut dst[r], &src[sr]);
                let rows = dst.chunks_mut(d).zip(src.chunks(l).zip(ids.chunks(l)));
                // Sum adds (onto zeros without `include_self`); Replace overwrites.
                let add = reduce == ScatterReduce::Sum;
                for (dr, (sr, ir)) in rows {
                    if add && !include_self {
                        for &id in ir {
                            dr[id as usize] = T::ZERO;
                        }
                    }
                    for (&v, &id) in sr.iter().zip(ir) {
                        let d = &mut dr[id as usize];
                        *d = if add { d.add(v) } else { v };
                    }
                }
                return Ok(());
            }
        }
    }
    let stride = dst_layout.strides()[dim];
    let src_offsets = offsets(src_layout);
    // Every written position, in ids order; validated before anything is written, so an
    // error leaves `dst` untouched.
    let mut targets = Vec::with_capacity(ids.len());
    for_each_indexed(
        op,
        ids,
        ids_layout.dims(),
        dst_layout,
        dim,
        |_, base, id| targets.push(base + id * stride),
    )?;
    let values = targets.iter().zip(&src_offsets).map(|(&p, &o)| (p, src[o]));
    let start = |dst: &mut [T], init: T| {
        if !include_self {
            for &p in &targets {
                dst[p] = init;
            }
        }
    };
    match reduce {
        ScatterReduce::Replace => values.for_each(|(p, v)| dst[p] = v),
        ScatterReduce::Sum => {
            start(dst, T::ZERO);
            values.for_each(|(p, v)| dst[p] = dst[p].add(v));
        }
        ScatterReduce::Prod => {
            start(dst, T::ONE);
            values.for_each(|(p, v)| dst[p] = dst[p].mul(v));
        }
        ScatterReduce::Amax => {
            start(dst, T::MIN_VALUE);
            values.for_each(|(p, v)| dst[p] = Num::max(dst[p], v));
        }
        ScatterReduce::Amin => {
            start(dst, T::MAX_VALUE);
            values.for_each(|(p, v)| dst[p] = Num::min(dst[p], v));
        }
        ScatterReduce::Mean => {
            start(dst, T::ZERO);
            // How many values each written position combines (the original one too).
            let mut counts: std::collections::HashMap<usize, usize> = Default::default();
            for (p, v) in values {
                dst[p] = dst[p].add(v);
                *counts.entry(p).or_insert(usize::from(include_self)) += 1;
            }
            for (p, n) in counts {
                dst[p] = dst[p].div_count(n);
            }
        }
    }
    Ok(())
}
