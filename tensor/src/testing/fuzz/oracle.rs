//! PyTorch's shape rules, written from its documentation and checked against torch 2.x,
//! independently of Lamina's code: for each op, the output shape of valid arguments, or
//! why the call must fail. Shapes are plain `Vec<usize>`; nothing here touches a tensor.
//!
//! PyTorch wraps a dim `d` of a tensor of rank `r` into `0..max(r, 1)`: a 0-d tensor takes
//! `0` and `-1` wherever a dim is asked for, except in ops that need a dim to exist
//! (`narrow`, `select`, `cat`, `split`, `chunk`, `roll` with dims).

use crate::testing::reference::numel;

pub type Shape = Vec<usize>;

/// Why a call must fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// A dim argument out of range: the error must be `DimOutOfRange`.
    Dim,
    /// Anything else (shapes, sizes, indices, counts).
    Other,
}

pub type Rule<T = Shape> = std::result::Result<T, Why>;

/// Fails with `Why::Other` unless `ok`.
pub fn ensure(ok: bool) -> Rule<()> {
    if ok {
        Ok(())
    } else {
        Err(Why::Other)
    }
}

/// `d` wrapped into `0..max(rank, 1)`.
pub fn wrap(d: isize, rank: usize) -> Rule<usize> {
    let r = rank.max(1) as isize;
    if d < -r || d >= r {
        Err(Why::Dim)
    } else {
        Ok(d.rem_euclid(r) as usize)
    }
}

/// `d` of an op that needs the dim to exist: a 0-d tensor has none.
pub fn wrap_existing(d: isize, rank: usize) -> Rule<usize> {
    ensure(rank > 0)?;
    wrap(d, rank)
}

/// Each of `dims` wrapped; a dim named twice is an error.
pub fn wrap_all(dims: &[isize], rank: usize) -> Rule<Vec<usize>> {
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let w = wrap(d, rank)?;
        ensure(!out.contains(&w))?;
        out.push(w);
    }
    Ok(out)
}

/// The axes a reduction over `dims` reduces: all of them when `dims` is empty.
pub fn axes(shape: &[usize], dims: &[isize]) -> Rule<Vec<usize>> {
    if dims.is_empty() {
        Ok((0..shape.len()).collect())
    } else {
        wrap_all(dims, shape.len())
    }
}

/// `shape` with `axes` reduced: kept as 1 or dropped. A 0-d tensor stays 0-d.
pub fn reduced(shape: &[usize], axes: &[usize], keepdim: bool) -> Shape {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &n)| match (axes.contains(&i), keepdim) {
            (false, _) => Some(n),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// A reduction with an identity (`sum`, `mean`, ...): any axes.
pub fn reduce(shape: &[usize], dims: &[isize], keepdim: bool) -> Rule {
    Ok(reduced(shape, &axes(shape, dims)?, keepdim))
}

/// A reduction without an identity (`amax`, `argmax`, `max(dim)`, `median`, ...): no
/// reduced axis may be empty.
pub fn reduce_nonempty(shape: &[usize], dims: &[isize], keepdim: bool) -> Rule {
    let a = axes(shape, dims)?;
    ensure(a.iter().all(|&i| shape.get(i).is_none_or(|&n| n > 0)))?;
    Ok(reduced(shape, &a, keepdim))
}

/// The reduction of one dim without an identity (`argmax`, `median`, `mode`, ...).
pub fn reduce_one(shape: &[usize], dim: isize, keepdim: bool) -> Rule {
    let d = wrap(dim, shape.len())?;
    if shape.is_empty() {
        return Ok(Vec::new());
    }
    ensure(shape[d] > 0)?;
    Ok(reduced(shape, &[d], keepdim))
}

/// A map along one dim (`softmax`, `cumsum`, `sort`, ...): the shape is kept.
pub fn along(shape: &[usize], dim: isize) -> Rule {
    wrap(dim, shape.len())?;
    Ok(shape.to_vec())
}

/// NumPy/PyTorch broadcasting.
pub fn broadcast(a: &[usize], b: &[usize]) -> Rule {
    let r = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i + s.len() >= r {
            s[i + s.len() - r]
        } else {
            1
        }
    };
    (0..r)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(Why::Other),
        })
        .collect()
}

/// Whether `from` expands to `to` (`expand`, in-place right operands, `sum_to_size`).
pub fn expands_to(from: &[usize], to: &[usize]) -> bool {
    broadcast(from, to).is_ok_and(|b| b == to)
}

/// `torch.matmul`.
pub fn matmul(a: &[usize], b: &[usize]) -> Rule {
    ensure(!a.is_empty() && !b.is_empty())?;
    if a.len() == 1 && b.len() == 1 {
        ensure(a[0] == b[0])?;
        return Ok(Vec::new());
    }
    let l = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let r = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (lr, rr) = (l.len(), r.len());
    ensure(l[lr - 1] == r[rr - 2])?;
    let mut out = broadcast(&l[..lr - 2], &r[..rr - 2])?;
    if a.len() > 1 {
        out.push(l[lr - 2]);
    }
    if b.len() > 1 {
        out.push(r[rr - 1]);
    }
    Ok(out)
}

/// `reshape`'s target: at most one `-1` (not with a 0 elsewhere), no other negative
/// size, and the element count kept.
pub fn reshape(shape: &[usize], spec: &[isize]) -> Rule {
    let count = numel(shape);
    ensure(spec.iter().filter(|&&d| d == -1).count() <= 1)?;
    ensure(spec.iter().all(|&d| d >= -1))?;
    let known: usize = spec
        .iter()
        .filter(|&&d| d >= 0)
        .map(|&d| d as usize)
        .product();
    let infer = spec.contains(&-1);
    ensure(if infer {
        known > 0 && count.is_multiple_of(known)
    } else {
        known == count
    })?;
    Ok(spec
        .iter()
        .map(|&d| if d == -1 { count / known } else { d as usize })
        .collect())
}

/// The strides of `view(new)` of a tensor with `dims` and `strides`, or `None` where a
/// view cannot express it (ATen's `computeStride`).
pub fn view_strides(dims: &[usize], strides: &[usize], new: &[usize]) -> Option<Vec<usize>> {
    if dims.is_empty() {
        return Some(vec![1; new.len()]);
    }
    let count = numel(dims);
    if count == 0 {
        return Some(vec![0; new.len()]);
    }
    let mut out = vec![0usize; new.len()];
    let mut view_d = new.len() as isize - 1;
    let mut chunk_base = *strides.last()?;
    let (mut tensor_numel, mut view_numel) = (1usize, 1usize);
    for d in (0..dims.len()).rev() {
        tensor_numel *= dims[d];
        let chunk_ends =
            d == 0 || (dims[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base);
        if chunk_ends {
            while view_d >= 0 && (view_numel < tensor_numel || new[view_d as usize] == 1) {
                out[view_d as usize] = view_numel * chunk_base;
                view_numel *= new[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if d > 0 {
                chunk_base = strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    (view_d == -1).then_some(out)
}

/// `permute`: a permutation of all the dims.
pub fn permute(shape: &[usize], dims: &[isize]) -> Rule {
    ensure(dims.len() == shape.len())?;
    let p = wrap_all(dims, shape.len())?;
    Ok(p.iter().map(|&i| shape[i]).collect())
}

/// `expand` (`-1` keeps an existing dim; new dims lead).
pub fn expand(shape: &[usize], spec: &[isize]) -> Rule {
    ensure(spec.len() >= shape.len())?;
    let lead = spec.len() - shape.len();
    spec.iter()
        .enumerate()
        .map(|(i, &s)| {
            let src = (i >= lead).then(|| shape[i - lead]);
            match (s, src) {
                (-1, Some(n)) => Ok(n),
                (s, _) if s < 0 => Err(Why::Other),
                (s, None) => Ok(s as usize),
                (s, Some(n)) if s as usize == n || n == 1 => Ok(s as usize),
                _ => Err(Why::Other),
            }
        })
        .collect()
}

/// `flatten(start, end)`: a 0-d tensor becomes `[1]`.
pub fn flatten(shape: &[usize], start: isize, end: isize) -> Rule {
    let (s, e) = (wrap(start, shape.len())?, wrap(end, shape.len())?);
    if shape.is_empty() {
        return Ok(vec![1]);
    }
    ensure(s <= e)?;
    let mut out = shape[..s].to_vec();
    out.push(shape[s..=e].iter().product());
    out.extend_from_slice(&shape[e + 1..]);
    Ok(out)
}

/// One item of Python's basic indexing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    Int(i64),
    Slice(Option<i64>, Option<i64>, usize),
    NewAxis,
    Ellipsis,
}

/// `x[items]` with Python's rules: one ellipsis at most, no more integers and slices than
/// dims, integers in `-n..n`, slices clamped, a zero step an error.
pub fn index(shape: &[usize], items: &[Item]) -> Rule {
    let consuming = items
        .iter()
        .filter(|i| matches!(i, Item::Int(_) | Item::Slice(..)))
        .count();
    let ellipses = items.iter().filter(|&&i| i == Item::Ellipsis).count();
    ensure(ellipses <= 1 && consuming <= shape.len())?;
    ensure(items.iter().all(|i| !matches!(i, Item::Slice(_, _, 0))))?;
    let mut out = Vec::new();
    let mut d = 0;
    for &item in items {
        match item {
            Item::Ellipsis => {
                let n = shape.len() - consuming;
                out.extend_from_slice(&shape[d..d + n]);
                d += n;
            }
            Item::NewAxis => out.push(1),
            Item::Int(i) => {
                let n = shape[d] as i64;
                ensure(-n <= i && i < n)?;
                d += 1;
            }
            Item::Slice(start, end, step) => {
                let n = shape[d] as i64;
                let clamp = |v: i64| (if v < 0 { v + n } else { v }).clamp(0, n);
                let (s, e) = (start.map_or(0, clamp), end.map_or(n, clamp));
                let len = if e > s {
                    (e - s + step as i64 - 1) / step as i64
                } else {
                    0
                };
                out.push(len as usize);
                d += 1;
            }
        }
    }
    out.extend_from_slice(&shape[d..]);
    Ok(out)
}

/// `torch.cat` (without the legacy skipping of 1-D empty tensors; callers treat that
/// case apart).
pub fn cat(shapes: &[Shape], dim: isize) -> Rule {
    let first = shapes.first().ok_or(Why::Other)?;
    ensure(!first.is_empty())?;
    let d = wrap(dim, first.len())?;
    ensure(shapes.iter().all(|s| {
        s.len() == first.len()
            && s.iter()
                .zip(first)
                .enumerate()
                .all(|(i, (a, b))| i == d || a == b)
    }))?;
    let mut out = first.clone();
    out[d] = shapes.iter().map(|s| s[d]).sum();
    Ok(out)
}

/// `torch.stack`: equal shapes, a new dim.
pub fn stack(shapes: &[Shape], dim: isize) -> Rule {
    let first = shapes.first().ok_or(Why::Other)?;
    let d = wrap(dim, first.len() + 1)?;
    ensure(shapes.iter().all(|s| s == first))?;
    let mut out = first.clone();
    out.insert(d, shapes.len());
    Ok(out)
}

/// `shape` with dim `d` set to each of `sizes`.
fn pieces(shape: &[usize], d: usize, sizes: &[usize]) -> Vec<Shape> {
    sizes
        .iter()
        .map(|&n| {
            let mut s = shape.to_vec();
            s[d] = n;
            s
        })
        .collect()
}

/// `split(size, dim)`: pieces of `size`, the last shorter; size 0 only for an empty dim.
pub fn split(shape: &[usize], size: usize, dim: isize) -> Rule<Vec<Shape>> {
    let d = wrap_existing(dim, shape.len())?;
    let n = shape[d];
    if n == 0 {
        return Ok(vec![shape.to_vec()]);
    }
    ensure(size > 0)?;
    let sizes: Vec<usize> = (0..n).step_by(size).map(|s| size.min(n - s)).collect();
    Ok(pieces(shape, d, &sizes))
}

/// `split(sizes, dim)`: the sizes add up to the dim.
pub fn split_sizes(shape: &[usize], sizes: &[usize], dim: isize) -> Rule<Vec<Shape>> {
    let d = wrap_existing(dim, shape.len())?;
    ensure(sizes.iter().sum::<usize>() == shape[d])?;
    Ok(pieces(shape, d, sizes))
}

/// `chunk(chunks, dim)`: pieces of `ceil(n / chunks)`; an empty dim gives `chunks`
/// empty pieces.
pub fn chunk(shape: &[usize], chunks: usize, dim: isize) -> Rule<Vec<Shape>> {
    ensure(chunks > 0)?;
    let d = wrap_existing(dim, shape.len())?;
    let n = shape[d];
    if n == 0 {
        return Ok(vec![shape.to_vec(); chunks]);
    }
    split(shape, n.div_ceil(chunks), dim)
}

/// `narrow(dim, start, len)`.
pub fn narrow(shape: &[usize], dim: isize, start: usize, len: usize) -> Rule {
    let d = wrap_existing(dim, shape.len())?;
    ensure(start <= shape[d] && len <= shape[d] - start)?;
    Ok(pieces(shape, d, &[len]).remove(0))
}

/// Lamina's `narrow_step(dim, start, len, step)`: `x[start : start + len * step : step]`
/// along `dim` holding exactly `len` elements.
pub fn narrow_step(shape: &[usize], dim: isize, start: usize, len: usize, step: usize) -> Rule {
    let d = wrap_existing(dim, shape.len())?;
    ensure(step > 0)?;
    let fits = if len == 0 {
        start <= shape[d]
    } else {
        (len - 1)
            .checked_mul(step)
            .and_then(|o| o.checked_add(start))
            .is_some_and(|last| last < shape[d])
    };
    ensure(fits)?;
    Ok(pieces(shape, d, &[len]).remove(0))
}

/// `select(dim, index)`.
pub fn select(shape: &[usize], dim: isize, index: usize) -> Rule {
    let d = wrap_existing(dim, shape.len())?;
    ensure(index < shape[d])?;
    let mut out = shape.to_vec();
    out.remove(d);
    Ok(out)
}

/// `topk(k, dim)`: `k` at most the dim's size (1 for a 0-d tensor).
pub fn topk(shape: &[usize], k: usize, dim: isize) -> Rule {
    let d = wrap(dim, shape.len())?;
    if shape.is_empty() {
        ensure(k <= 1)?;
        return Ok(Vec::new());
    }
    ensure(k <= shape[d])?;
    Ok(pieces(shape, d, &[k]).remove(0))
}

/// `kthvalue(k, dim, keepdim)`: `k` in `1..=n`.
pub fn kthvalue(shape: &[usize], k: usize, dim: isize, keepdim: bool) -> Rule {
    let n = if shape.is_empty() {
        1
    } else {
        shape[wrap(dim, shape.len())?]
    };
    let out = reduce_one(shape, dim, keepdim)?;
    ensure(1 <= k && k <= n)?;
    Ok(out)
}

/// `r(t) = max(rank, 1)` and `size(t, i)` as ATen's scatter/gather checks see them: a
/// 0-d tensor counts as `[1]`.
fn nonempty(shape: &[usize]) -> Shape {
    if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    }
}

/// `gather(dim, index)` with a non-empty index: same rank (0-d counting as 1-D), the
/// index no larger than self off `dim`, index values in range. The output has the
/// index's shape.
pub fn gather(shape: &[usize], dim: isize, ids: &[usize], values: &[i64]) -> Rule {
    let d = wrap(dim, shape.len())?;
    let (s, i) = (nonempty(shape), nonempty(ids));
    ensure(s.len() == i.len())?;
    ensure((0..s.len()).all(|k| k == d || i[k] <= s[k]))?;
    ensure(values.iter().all(|&v| 0 <= v && v < s[d] as i64))?;
    Ok(ids.to_vec())
}

/// `scatter*(dim, index, src)` with a non-empty index: index, src and self of one rank
/// (0-d counting as 1-D), the index no larger than src anywhere nor than self off `dim`,
/// index values in range. The output has self's shape.
pub fn scatter(shape: &[usize], dim: isize, ids: &[usize], values: &[i64], src: &[usize]) -> Rule {
    let d = wrap(dim, shape.len())?;
    let (s, i, r) = (nonempty(shape), nonempty(ids), nonempty(src));
    ensure(s.len() == i.len() && r.len() == i.len())?;
    ensure((0..s.len()).all(|k| i[k] <= r[k] && (k == d || i[k] <= s[k])))?;
    ensure(values.iter().all(|&v| 0 <= v && v < s[d] as i64))?;
    Ok(shape.to_vec())
}

/// `index_select(dim, index)`: a 0-d or 1-D index with values in range; a 0-d self takes
/// one index (0) and stays 0-d.
pub fn index_select(shape: &[usize], dim: isize, ids: &[usize], values: &[i64]) -> Rule {
    let d = wrap(dim, shape.len())?;
    ensure(ids.len() <= 1)?;
    let n = nonempty(shape)[d] as i64;
    ensure(values.iter().all(|&v| 0 <= v && v < n))?;
    if shape.is_empty() {
        ensure(values.len() == 1)?;
        return Ok(Vec::new());
    }
    Ok(pieces(shape, d, &[values.len()]).remove(0))
}

/// `pad` (constant mode): `(before, after)` pairs from the last dim; negative amounts
/// crop, but no more than the dim holds.
pub fn pad(shape: &[usize], pads: &[isize]) -> Rule {
    ensure(pads.len().is_multiple_of(2) && pads.len() / 2 <= shape.len())?;
    let mut out = shape.to_vec();
    for (k, p) in pads.chunks(2).enumerate() {
        let d = shape.len() - 1 - k;
        let n = out[d] as isize;
        ensure(n + p[0].min(0) + p[1].min(0) >= 0)?;
        out[d] = (n + p[0] + p[1]) as usize;
    }
    Ok(out)
}

/// `diagonal(offset, dim1, dim2)`: two different dims, removed, and the diagonal's length
/// appended.
pub fn diagonal(shape: &[usize], offset: isize, dim1: isize, dim2: isize) -> Rule {
    let (a, b) = (wrap(dim1, shape.len())?, wrap(dim2, shape.len())?);
    ensure(a != b && !shape.is_empty())?;
    let (n, m) = (shape[a] as isize, shape[b] as isize);
    let len = if offset >= 0 {
        n.min(m - offset)
    } else {
        (n + offset).min(m)
    };
    let mut out: Shape = (0..shape.len())
        .filter(|&i| i != a && i != b)
        .map(|i| shape[i])
        .collect();
    out.push(len.max(0) as usize);
    Ok(out)
}

/// `diag(k)`: a 1-D tensor onto a square matrix, or a matrix's diagonal.
pub fn diag(shape: &[usize], k: isize) -> Rule {
    match shape.len() {
        1 => {
            let n = shape[0] + k.unsigned_abs();
            Ok(vec![n, n])
        }
        2 => diagonal(shape, k, 0, 1),
        _ => Err(Why::Other),
    }
}

/// `repeat(sizes)`: at least as many sizes as dims.
pub fn repeat(shape: &[usize], sizes: &[usize]) -> Rule {
    ensure(sizes.len() >= shape.len())?;
    let lead = sizes.len() - shape.len();
    Ok(sizes
        .iter()
        .enumerate()
        .map(|(i, &r)| r * if i < lead { 1 } else { shape[i - lead] })
        .collect())
}

/// `tile(reps)`: the shorter of shape and reps padded with leading ones.
pub fn tile(shape: &[usize], reps: &[usize]) -> Rule {
    let mut r = vec![1; shape.len().saturating_sub(reps.len())];
    r.extend_from_slice(reps);
    repeat(shape, &r)
}

/// `meshgrid`: a non-empty list of 0-d or 1-D tensors; `xy` swaps the first two dims.
pub fn meshgrid(shapes: &[Shape], xy: bool) -> Rule<Vec<Shape>> {
    ensure(!shapes.is_empty() && shapes.iter().all(|s| s.len() <= 1))?;
    let mut out: Shape = shapes.iter().map(|s| numel(s)).collect();
    if xy && out.len() >= 2 {
        out.swap(0, 1);
    }
    Ok(vec![out; shapes.len()])
}

/// `cdist(x1, x2)`: `[.., P, M]` and `[.., R, M]` give `[.., P, R]`.
pub fn cdist(a: &[usize], b: &[usize]) -> Rule {
    ensure(a.len() >= 2 && b.len() >= 2)?;
    let (ar, br) = (a.len(), b.len());
    ensure(a[ar - 1] == b[br - 1])?;
    let mut out = broadcast(&a[..ar - 2], &b[..br - 2])?;
    out.extend([a[ar - 2], b[br - 2]]);
    Ok(out)
}
