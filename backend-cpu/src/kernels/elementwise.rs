//! Element-wise kernels: unary maps, binary zips with broadcasting (in place too),
//! comparisons, `where`, casts and strided copies. The maps receive each op's scalar
//! function from the op tables of `lamina-tensor` (`UnaryKernel`/`BinaryKernel`): one
//! monomorphic closure per op, so the inner loops are plain slice maps the compiler
//! vectorises; f32 maps with a hand-written SIMD kernel use it (see `num.rs`).

use lamina_tensor::{BinaryKernel, BinaryOp, CmpOp, Layout, Result, UnaryKernel, UnaryOp};

use super::num::{Num, SliceMap};
use crate::alloc::PoolVec;
use crate::par;
use crate::walk::Walk;

/// `out[i] = f(x[off + i * st])` over a walk of one layout.
fn map1<T: Num, U: Send + Copy + Default>(
    x: &[T],
    walk: &Walk<1>,
    out: &mut [U],
    f: impl Fn(T) -> U + Sync + Send,
) {
    walk.fill(out, |o, [off], [st]| {
        if st == 1 {
            let n = o.len();
            for (y, &v) in o.iter_mut().zip(&x[off..off + n]) {
                *y = f(v);
            }
        } else {
            for (i, y) in o.iter_mut().enumerate() {
                *y = f(x[off + i * st]);
            }
        }
    });
}

/// `out[i] = f(a[..], b[..])` over a walk of two layouts, with the stride patterns that
/// matter (dense/dense, dense/scalar, scalar/dense) as separate vectorisable loops.
fn map2<T: Num, U: Send + Copy>(
    a: &[T],
    b: &[T],
    walk: &Walk<2>,
    out: &mut [U],
    f: impl Fn(T, T) -> U + Sync + Send,
) {
    walk.fill(out, |o, [oa, ob], [sa, sb]| {
        let n = o.len();
        match (sa, sb) {
            (1, 1) => {
                for ((y, &u), &v) in o.iter_mut().zip(&a[oa..oa + n]).zip(&b[ob..ob + n]) {
                    *y = f(u, v);
                }
            }
            (1, 0) => {
                let v = b[ob];
                for (y, &u) in o.iter_mut().zip(&a[oa..oa + n]) {
                    *y = f(u, v);
                }
            }
            (0, 1) => {
                let u = a[oa];
                for (y, &v) in o.iter_mut().zip(&b[ob..ob + n]) {
                    *y = f(u, v);
                }
            }
            _ => {
                for (i, y) in o.iter_mut().enumerate() {
                    *y = f(a[oa + i * sa], b[ob + i * sb]);
                }
            }
        }
    });
}

/// `y[i] = f(x[i])`: kept out of line so that LLVM cannot fold the per-op loops back into
/// one loop with a `match` per element (it did, and the affine map lost its vector speed).
#[inline(never)]
fn map_loop<T: Copy, F: Fn(T) -> T>(x: &[T], y: &mut [T], f: F) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// In-place twin of [`map_loop`].
#[inline(never)]
fn map_inplace_loop<T: Copy, F: Fn(T) -> T>(x: &mut [T], f: F) {
    for v in x.iter_mut() {
        *v = f(*v);
    }
}

/// `out[i] = f(a[i], b[i])`, out of line like [`map_loop`].
#[inline(never)]
fn zip_loop<T: Copy, F: Fn(T, T) -> T>(a: &[T], b: &[T], out: &mut [T], f: F) {
    for ((y, &u), &v) in out.iter_mut().zip(a).zip(b) {
        *y = f(u, v);
    }
}

/// `d[i] = f(d[i], b[i])`, out of line like [`zip_loop`].
#[inline(never)]
fn zip_assign_loop<T: Copy, F: Fn(T, T) -> T>(d: &mut [T], b: &[T], f: F) {
    for (y, &v) in d.iter_mut().zip(b) {
        *y = f(*y, v);
    }
}

/// Receives a unary op's scalar function and maps `x` at `layout` into `out`.
struct MapInto<'a, T> {
    x: &'a [T],
    layout: &'a Layout,
    out: &'a mut [T],
    simd: Option<SliceMap<T>>,
}

impl<T: Num> UnaryKernel<T> for MapInto<'_, T> {
    type Out = ();
    fn run<F: Fn(T) -> T + Copy + Send + Sync>(self, f: F) {
        let MapInto {
            x,
            layout,
            out,
            simd,
        } = self;
        let slice_map = |xs: &[T], o: &mut [T]| match simd {
            Some(k) => k(xs, o),
            None => map_loop(xs, o, f),
        };
        // Contiguous input: one slice map, no walk set-up (the per-op overhead path).
        if let Some(r) = layout.contiguous_range() {
            let xs = &x[r];
            par::for_each_chunk_mut(out, 1024, |start, o| {
                slice_map(&xs[start..start + o.len()], o);
            });
            return;
        }
        let walk = Walk::new([layout]);
        debug_assert_eq!(walk.len(), out.len());
        walk.fill(out, |o, [off], [st]| {
            if st == 1 {
                slice_map(&x[off..off + o.len()], o);
            } else {
                for (i, y) in o.iter_mut().enumerate() {
                    *y = f(x[off + i * st]);
                }
            }
        });
    }
}

/// `out = op(x)` over `layout`; `out` holds its element count. An op without a kernel
/// for `T` is an error naming op and dtype.
pub fn unary_into<T: Num>(op: UnaryOp, x: &[T], layout: &Layout, out: &mut [T]) -> Result<()> {
    let simd = T::simd_map(op);
    T::unary_kernel(
        op,
        MapInto {
            x,
            layout,
            out,
            simd,
        },
    )
}

/// Receives a unary op's scalar function and applies it in place.
struct MapInPlace<'a, T> {
    x: &'a mut [T],
    layout: &'a Layout,
}

impl<T: Num> UnaryKernel<T> for MapInPlace<'_, T> {
    type Out = ();
    fn run<F: Fn(T) -> T + Copy + Send + Sync>(self, f: F) {
        let MapInPlace { x, layout } = self;
        if let Some(r) = layout.contiguous_range() {
            par::for_each_chunk_mut(&mut x[r], 1024, |_, chunk| map_inplace_loop(chunk, f));
            return;
        }
        let walk = Walk::new([layout]);
        walk.runs(0, walk.len(), |_, [o], [s], n| {
            for i in 0..n {
                x[o + i * s] = f(x[o + i * s]);
            }
        });
    }
}

/// `x = op(x)` in place over the tensor's layout.
pub fn unary_assign<T: Num>(op: UnaryOp, x: &mut [T], layout: &Layout) -> Result<()> {
    T::unary_kernel(op, MapInPlace { x, layout })
}

/// Receives a binary op's scalar function and zips `a`, `b` into `out`.
struct ZipInto<'a, T> {
    a: &'a [T],
    al: &'a Layout,
    b: &'a [T],
    bl: &'a Layout,
    out: &'a mut [T],
}

impl<T: Num> BinaryKernel<T> for ZipInto<'_, T> {
    type Out = ();
    fn run<F: Fn(T, T) -> T + Copy + Send + Sync>(self, f: F) {
        let ZipInto { a, al, b, bl, out } = self;
        // Both contiguous: one zip, no walk set-up (the per-op overhead path).
        if let (Some(ra), Some(rb)) = (al.contiguous_range(), bl.contiguous_range()) {
            let (xa, xb) = (&a[ra], &b[rb]);
            par::for_each_chunk_mut(out, 1024, |start, o| {
                let n = o.len();
                zip_loop(&xa[start..start + n], &xb[start..start + n], o, f);
            });
            return;
        }
        let walk = Walk::new([al, bl]);
        debug_assert_eq!(walk.len(), out.len());
        map2(a, b, &walk, out, f);
    }
}

/// `out = a op b` over two layouts of the same (broadcast) shape; `out` holds its element
/// count.
pub fn binary_into<T: Num>(
    op: BinaryOp,
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
    out: &mut [T],
) -> Result<()> {
    T::binary_kernel(op, ZipInto { a, al, b, bl, out })
}

/// Receives a binary op's scalar function and applies `dst op= b`.
struct ZipAssign<'a, T> {
    dst: &'a mut [T],
    dl: &'a Layout,
    b: &'a [T],
    bl: &'a Layout,
}

impl<T: Num> BinaryKernel<T> for ZipAssign<'_, T> {
    type Out = ();
    fn run<F: Fn(T, T) -> T + Copy + Send + Sync>(self, f: F) {
        let ZipAssign { dst, dl, b, bl } = self;
        assign_with(dst, dl, b, bl, f)
    }
}

/// `dst op= rhs` where `dst` is the tensor's storage at `dl`. Contiguous destinations
/// are updated in place chunk by chunk; strided ones run serially.
pub fn binary_assign<T: Num>(
    op: BinaryOp,
    dst: &mut [T],
    dl: &Layout,
    b: &[T],
    bl: &Layout,
) -> Result<()> {
    T::binary_kernel(op, ZipAssign { dst, dl, b, bl })
}

fn assign_with<T: Num>(
    dst: &mut [T],
    dl: &Layout,
    b: &[T],
    bl: &Layout,
    f: impl Fn(T, T) -> T + Copy + Sync + Send,
) {
    if let (Some(range), Some(rb)) = (dl.contiguous_range(), bl.contiguous_range()) {
        if rb.len() == range.len() {
            let (d, b) = (&mut dst[range], &b[rb]);
            par::for_each_chunk_mut(d, 1024, |start, o| {
                zip_assign_loop(o, &b[start..start + o.len()], f);
            });
            return;
        }
    }
    if let Some(range) = dl.contiguous_range() {
        let contiguous = Layout::contiguous(dl.shape().clone());
        let walk = Walk::new([&contiguous, bl]);
        let d = &mut dst[range];
        walk.fill(d, |o, [_, ob], [_, sb]| {
            if sb == 1 {
                let n = o.len();
                for (y, &v) in o.iter_mut().zip(&b[ob..ob + n]) {
                    *y = f(*y, v);
                }
            } else {
                for (i, y) in o.iter_mut().enumerate() {
                    *y = f(*y, b[ob + i * sb]);
                }
            }
        });
    } else {
        let walk = Walk::new([dl, bl]);
        walk.runs(0, walk.len(), |_, [od, ob], [sd, sb], n| {
            for i in 0..n {
                let p = od + i * sd;
                dst[p] = f(dst[p], b[ob + i * sb]);
            }
        });
    }
}

pub fn cmp<T: Num>(op: CmpOp, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> PoolVec<bool> {
    let walk = Walk::new([al, bl]);
    let mut out = PoolVec::<bool>::uninit_for_overwrite(walk.len());
    match op {
        CmpOp::Eq => map2(a, b, &walk, &mut out, |u, v| u == v),
        CmpOp::Ne => map2(a, b, &walk, &mut out, |u, v| u != v),
        CmpOp::Lt => map2(a, b, &walk, &mut out, |u, v| u < v),
        CmpOp::Le => map2(a, b, &walk, &mut out, |u, v| u <= v),
        CmpOp::Gt => map2(a, b, &walk, &mut out, |u, v| u > v),
        CmpOp::Ge => map2(a, b, &walk, &mut out, |u, v| u >= v),
    }
    out
}

/// `cond != 0 ? t : f`; the condition may be any dtype.
pub fn where_cond<C: Num, T: Num>(
    cond: &[C],
    cl: &Layout,
    t: &[T],
    tl: &Layout,
    f: &[T],
    fl: &Layout,
) -> PoolVec<T> {
    let walk = Walk::new([cl, tl, fl]);
    let mut out = PoolVec::<T>::uninit_for_overwrite(walk.len());
    walk.fill(&mut out, |o, [oc, ot, of], [sc, st, sf]| {
        for (i, y) in o.iter_mut().enumerate() {
            *y = if cond[oc + i * sc] != C::ZERO {
                t[ot + i * st]
            } else {
                f[of + i * sf]
            };
        }
    });
    out
}

/// The elements of `layout` gathered into a contiguous buffer, converted by `f`.
pub fn gather_map<T: Num, U: Send + Copy + Default + 'static>(
    x: &[T],
    layout: &Layout,
    f: impl Fn(T) -> U + Sync + Send,
) -> PoolVec<U> {
    let walk = Walk::new([layout]);
    let mut out = PoolVec::<U>::uninit_for_overwrite(walk.len());
    map1(x, &walk, &mut out, f);
    out
}

/// Copies `src` at `sl` into `dst` at `dl` (same shape).
pub fn copy_strided<T: Num>(src: &[T], sl: &Layout, dst: &mut [T], dl: &Layout) {
    if let Some(range) = dl.contiguous_range() {
        let walk = Walk::new([sl]);
        map1(src, &walk, &mut dst[range], |v| v);
        return;
    }
    let walk = Walk::new([sl, dl]);
    walk.runs(0, walk.len(), |_, [os, od], [ss, sd], n| {
        for i in 0..n {
            dst[od + i * sd] = src[os + i * ss];
        }
    });
}
