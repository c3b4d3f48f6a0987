//! Indexing kernels: `index_select`, `gather`, `scatter` (overwrite, add, reduce). Index values are data, so
//! they are bounds-checked here and reported as errors, never read out of bounds.

use lamina_tensor::{Error, Layout, Result, ScatterReduce};

use super::elementwise::copy_strided;
use super::num::Num;
use crate::alloc::PoolVec;
use crate::walk::Walk;

/// Index values in logical order, as i64.
pub fn index_values<I: Num>(ids: &[I], layout: &Layout) -> Vec<i64> {
    let mut v = Vec::with_capacity(layout.elem_count());
    let walk = Walk::new([layout]);
    walk.runs(0, walk.len(), |_, [o], [s], n| {
        v.extend((0..n).map(|i| ids[o + i * s].to_f64() as i64));
    });
    v
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

/// Walks `ids` in logical order with the storage offset of the same multi-index in a
/// second layout whose `dim` stride is set to 0, calling `f(pos_in_ids_order, base, id)`;
/// the caller adds `id * stride[dim]`.
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
    for (pos, off) in base.offsets().enumerate() {
        let id = check(op, ids[pos], dim, size)?;
        f(pos, off, id);
    }
    Ok(())
}

pub fn gather<T: Num>(
    x: &[T],
    layout: &Layout,
    dim: usize,
    ids: &[i64],
    ids_layout: &Layout,
) -> Result<PoolVec<T>> {
    let mut out = PoolVec::<T>::uninit_for_overwrite(ids.len());
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
    let stride = dst_layout.strides()[dim];
    let src_offsets: Vec<usize> = src_layout.offsets().collect();
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
