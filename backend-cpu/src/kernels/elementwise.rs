//! Element-wise kernels: unary maps, binary zips with broadcasting (in place too),
//! comparisons, `where`, casts and strided copies. Each op is dispatched once to a
//! monomorphic closure, so the inner loops are plain slice maps the compiler vectorises;
//! f32 transcendental maps go to the explicit SIMD kernels of `simd` (see `num.rs`).

use lamina_tensor::{BinaryOp, CmpOp, Layout, UnaryOp};

use super::num::{map_inplace_generic, Num};
use crate::alloc::PoolVec;
use crate::par;
use crate::walk::Walk;

/// Binds `$f` to a monomorphic closure for each binary op and evaluates `$body` with it.
macro_rules! dispatch_binary {
    ($T:ty, $op:expr, $f:ident => $body:expr) => {
        match $op {
            BinaryOp::Add => {
                let $f = |a: $T, b: $T| a.add(b);
                $body
            }
            BinaryOp::Sub => {
                let $f = |a: $T, b: $T| a.sub(b);
                $body
            }
            BinaryOp::Mul => {
                let $f = |a: $T, b: $T| a.mul(b);
                $body
            }
            BinaryOp::Div => {
                let $f = |a: $T, b: $T| a.div(b);
                $body
            }
            BinaryOp::Pow => {
                let $f = |a: $T, b: $T| a.pow(b);
                $body
            }
            BinaryOp::Maximum => {
                let $f = |a: $T, b: $T| Num::max(a, b);
                $body
            }
            BinaryOp::Minimum => {
                let $f = |a: $T, b: $T| Num::min(a, b);
                $body
            }
        }
    };
}

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

/// `out[i] = f(a[i], b[i])`, out of line so that each op keeps its own vector loop (see
/// `num::map_loop`).
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

/// Generic over every dtype through `Num` (f32 transcendental maps go to `simd` there).
/// `out = op(x)` over `layout`; `out` holds its element count.
pub fn unary_into<T: Num>(op: UnaryOp, x: &[T], layout: &Layout, out: &mut [T]) {
    // Contiguous input: one slice map, no walk set-up (this is the per-op overhead path).
    if let Some(r) = layout.contiguous_range() {
        let xs = &x[r];
        par::for_each_chunk_mut(out, 1024, |start, o| {
            T::map_slice(op, &xs[start..start + o.len()], o);
        });
        return;
    }
    let walk = Walk::new([layout]);
    debug_assert_eq!(walk.len(), out.len());
    walk.fill(out, |o, [off], [st]| {
        if st == 1 {
            T::map_slice(op, &x[off..off + o.len()], o);
        } else {
            for (i, y) in o.iter_mut().enumerate() {
                *y = T::unary(op, x[off + i * st]);
            }
        }
    });
}

/// `x = op(x)` in place over the tensor's layout.
pub fn unary_assign<T: Num>(op: UnaryOp, x: &mut [T], layout: &Layout) {
    if let Some(r) = layout.contiguous_range() {
        par::for_each_chunk_mut(&mut x[r], 1024, |_, chunk| map_inplace_generic(op, chunk));
        return;
    }
    let walk = Walk::new([layout]);
    walk.runs(0, walk.len(), |_, [o], [s], n| {
        for i in 0..n {
            x[o + i * s] = T::unary(op, x[o + i * s]);
        }
    });
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
) {
    // Both contiguous: one zip, no walk set-up (this is the per-op overhead path).
    if let (Some(ra), Some(rb)) = (al.contiguous_range(), bl.contiguous_range()) {
        let (xa, xb) = (&a[ra], &b[rb]);
        dispatch_binary!(T, op, f => par::for_each_chunk_mut(out, 1024, |start, o| {
            let n = o.len();
            zip_loop(&xa[start..start + n], &xb[start..start + n], o, f);
        }));
        return;
    }
    let walk = Walk::new([al, bl]);
    debug_assert_eq!(walk.len(), out.len());
    dispatch_binary!(T, op, f => map2(a, b, &walk, out, f));
}

/// `dst op= rhs` where `dst` is the tensor's storage at `dl`. Contiguous destinations
/// are updated in place chunk by chunk; strided ones run serially.
pub fn binary_assign<T: Num>(op: BinaryOp, dst: &mut [T], dl: &Layout, b: &[T], bl: &Layout) {
    dispatch_binary!(T, op, f => assign_with(dst, dl, b, bl, f));
}

fn assign_with<T: Num>(
    dst: &mut [T],
    dl: &Layout,
    b: &[T],
    bl: &Layout,
    f: impl Fn(T, T) -> T + Sync + Send,
) {
    if let (Some(range), Some(rb)) = (dl.contiguous_range(), bl.contiguous_range()) {
        if rb.len() == range.len() {
            let (d, b) = (&mut dst[range], &b[rb]);
            par::for_each_chunk_mut(d, 1024, |start, o| {
                zip_assign_loop(o, &b[start..start + o.len()], &f);
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

pub fn cmp<T: Num>(op: CmpOp, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> PoolVec<u32> {
    let walk = Walk::new([al, bl]);
    let mut out = PoolVec::<u32>::uninit_for_overwrite(walk.len());
    match op {
        CmpOp::Eq => map2(a, b, &walk, &mut out, |u, v| (u == v) as u32),
        CmpOp::Ne => map2(a, b, &walk, &mut out, |u, v| (u != v) as u32),
        CmpOp::Lt => map2(a, b, &walk, &mut out, |u, v| (u < v) as u32),
        CmpOp::Le => map2(a, b, &walk, &mut out, |u, v| (u <= v) as u32),
        CmpOp::Gt => map2(a, b, &walk, &mut out, |u, v| (u > v) as u32),
        CmpOp::Ge => map2(a, b, &walk, &mut out, |u, v| (u >= v) as u32),
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
