//! Indexing kernels: `index_select`, `gather`, `scatter_add`. Index values are data, so
//! they are bounds-checked here and reported as errors, never read out of bounds.

use lamina_tensor::{Error, Layout, Result};

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

pub fn scatter_add<T: Num>(
    dst: &mut [T],
    dst_layout: &Layout,
    dim: usize,
    ids: &[i64],
    ids_layout: &Layout,
    src: &[T],
    src_layout: &Layout,
) -> Result<()> {
    let stride = dst_layout.strides()[dim];
    let src_offsets: Vec<usize> = src_layout.offsets().collect();
    // Validate every index before writing anything, so an error leaves `dst` untouched.
    for_each_indexed(
        "scatter_add",
        ids,
        ids_layout.dims(),
        dst_layout,
        dim,
        |_, _, _| {},
    )?;
    for_each_indexed(
        "scatter_add",
        ids,
        ids_layout.dims(),
        dst_layout,
        dim,
        |pos, base, id| {
            let p = base + id * stride;
            dst[p] = dst[p].add(src[src_offsets[pos]]);
        },
    )
}
