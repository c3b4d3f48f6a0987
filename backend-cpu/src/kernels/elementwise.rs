//! Element-wise kernels: unary maps, binary zips with broadcasting (in place too),
//! comparisons, `where`, casts and strided copies. The maps receive each op's scalar
//! function from the op tables of `lamina-tensor` (`UnaryKernel`/`BinaryKernel`): one
//! monomorphic closure per op, so the inner loops are plain slice maps the compiler
//! vectorises; f32 maps with a hand-written SIMD kernel use it (see `num.rs`).

use lamina_tensor::{BinaryKernel, BinaryOp, CmpOp, Layout, Result, UnaryKernel, UnaryOp};

use super::num::{HalfSlices, Num, SliceMap};
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

/// Elements a half block widens at a time (two f32 buffers of this on the stack).
const HALF_BLOCK: usize = 512;

/// A contiguous element-wise op on half inputs as the f32 kernel `f` over blocks: each
/// block of every input widened by the vectorised slice conversion, `f` into an f32 block,
/// rounded once into `out` (each element its f32 result rounded to nearest even, as the
/// per-element path; the f32 kernels' SIMD maps may differ from the scalar ones in the
/// f32 result's last bit). `None`, with nothing written, when `f` fails on empty blocks
/// (an op without an f32 kernel: the per-element path then names the half dtype).
fn half_blocks<T: Num, const N: usize>(
    (widen, round): HalfSlices<T>,
    inputs: [&[T]; N],
    out: &mut [T],
    f: impl Fn([&[f32]; N], &mut [f32]) -> Result<()> + Sync,
) -> Option<()> {
    f([&[]; N], &mut []).ok()?;
    par::for_each_chunk_mut(out, HALF_BLOCK, |start, o| {
        let mut wide = [[0f32; HALF_BLOCK]; N];
        let mut y = [0f32; HALF_BLOCK];
        for (k, ob) in o.chunks_mut(HALF_BLOCK).enumerate() {
            let (at, n) = (start + k * HALF_BLOCK, ob.len());
            for (w, x) in wide.iter_mut().zip(inputs) {
                widen(&x[at..at + n], &mut w[..n]);
            }
            let blocks: [&[f32]; N] = std::array::from_fn(|i| &wide[i][..n]);
            // Supported: the empty call above succeeded.
            let _ = f(blocks, &mut y[..n]);
            round(&y[..n], ob);
        }
    });
    Some(())
}

/// A contiguous layout of `n` elements.
fn flat(n: usize) -> Layout {
    Layout::contiguous(lamina_tensor::Shape::from(n))
}

/// `out = op(x)` over `layout`; `out` holds its element count. An op without a kernel
/// for `T` is an error naming op and dtype.
pub fn unary_into<T: Num>(op: UnaryOp, x: &[T], layout: &Layout, out: &mut [T]) -> Result<()> {
    // Looked up only for half inputs: the f32 path pays nothing per op.
    let half = T::half_slices()
        .filter(|&(_, always)| always || <f32 as Num>::simd_map(op).is_some())
        .map(|(h, _)| h);
    if let (Some(h), Some(r)) = (half, layout.contiguous_range()) {
        let run = |[a]: [&[f32]; 1], y: &mut [f32]| unary_into::<f32>(op, a, &flat(a.len()), y);
        if half_blocks(h, [&x[r]], out, run).is_some() {
            return Ok(());
        }
    }
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
    if let (Some(h), Some(ra), Some(rb)) = (
        T::half_slices()
            .filter(|&(_, always)| always)
            .map(|(h, _)| h),
        al.contiguous_range(),
        bl.contiguous_range(),
    ) {
        let run = |[x, z]: [&[f32]; 2], y: &mut [f32]| {
            let l = flat(x.len());
            binary_into::<f32>(op, x, &l, z, &l, y)
        };
        if half_blocks(h, [&a[ra], &b[rb]], out, run).is_some() {
            return Ok(());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::{bf16, f16, Half, Shape};

    /// The block path (contiguous half inputs through the f32 kernels) against each value's
    /// f32 result rounded once, over sizes around and far past a block (and past the
    /// parallel threshold): exact for add and relu; for exp, whose f32 SIMD kernel may differ
    /// from libm's in the last f32 bit, at most one half ulp apart and exact nearly always.
    fn check<H: Num + Half>(ulp: f32) {
        for n in [1usize, 511, 512, 513, 3000, 200_000] {
            let x: Vec<H> = (0..n)
                .map(|i| H::from_f32(((i * 7919) % 4001) as f32 / 500.0 - 4.0))
                .collect();
            let y: Vec<H> = (0..n)
                .map(|i| H::from_f32(((i * 104_729) % 3001) as f32 / 300.0 - 5.0))
                .collect();
            let l = Layout::contiguous(Shape::from(n));
            let mut out = vec![H::from_f32(0.0); n];
            binary_into(BinaryOp::Add, &x, &l, &y, &l, &mut out).unwrap();
            for i in 0..n {
                let want = H::from_f32(x[i].to_f32() + y[i].to_f32());
                assert_eq!(
                    out[i].to_f32().to_bits(),
                    want.to_f32().to_bits(),
                    "add {n} [{i}]"
                );
            }
            unary_into(UnaryOp::Relu, &x, &l, &mut out).unwrap();
            for i in 0..n {
                assert_eq!(out[i].to_f32(), x[i].to_f32().max(0.0), "relu {n} [{i}]");
            }
            unary_into(UnaryOp::Exp, &x, &l, &mut out).unwrap();
            let mut off = 0;
            for i in 0..n {
                let want = H::from_f32(x[i].to_f32().exp()).to_f32();
                let got = out[i].to_f32();
                if got != want {
                    off += 1;
                    assert!(
                        (got - want).abs() <= ulp * want.abs(),
                        "exp {n} [{i}]: {got} vs {want}"
                    );
                }
            }
            assert!(
                off * 100 <= n.max(100),
                "exp {n}: {off} values off by an ulp"
            );
        }
    }

    #[test]
    fn half_blocks_equal_each_value_rounded_once() {
        check::<f16>(1.0 / 1024.0);
        check::<bf16>(1.0 / 128.0);
    }
}
