//! `CpuBackend`: the `Backend` trait for the CPU. Each method downcasts its storages,
//! dispatches the dtype once (`with_storage!`) and calls a kernel from `kernels/`.

use lamina_tensor::{
    bf16, f16, with_dtype, AdamStep, AttentionSpec, Backend, BinaryOp, CmpOp, ConvGeometry, DType,
    Element, Error, Half, HostData, Layout, MatmulSpec, NormSpec, PoolGeometry, ReduceOp, Result,
    ScanOp, ScatterReduce, SgdStep, Storage, StorageRef, UnaryOp,
};

use crate::alloc::PoolVec;
use crate::kernels::attention::AttnElem;
use crate::kernels::num::{FromPrim, Num};
use crate::kernels::reduce::Fold;
use crate::kernels::{
    attention, conv, elementwise as ew, index, lstm, matmul, norm, optim, pool, reduce, scan,
};
use crate::storage::{with_storage, CpuElem, CpuStorage};

/// The CPU backend (stateless: its buffers come from the process-wide caching
/// allocator in `alloc`).
#[derive(Debug, Default)]
pub struct CpuBackend;

fn cpu(s: &dyn Storage) -> Result<&CpuStorage> {
    s.as_any()
        .downcast_ref::<CpuStorage>()
        .ok_or_else(|| Error::Backend {
            backend: "cpu".into(),
            msg: format!("storage of another device ({s:?}) passed to the CPU backend"),
        })
}

/// The contiguous f32 elements of a tensor; `None` for another dtype or a strided layout.
fn f32_slice<'a>((s, l): (&'a dyn Storage, &Layout)) -> Option<&'a [f32]> {
    let r = l.contiguous_range()?;
    Some(&typed::<f32>(cpu(s).ok()?, "lstm_sequence").ok()?[r])
}

/// A half storage's elements of `layout`, widened to f32 in logical order; `None` for the
/// other dtypes. Half tensors reduce, scan and run the fused kernels in f32 and round once
/// at the end, as PyTorch's CPU kernels do.
fn widened(s: &CpuStorage, layout: &Layout) -> Option<PoolVec<f32>> {
    fn widen<H: Half + Num>(v: &[H], layout: &Layout) -> PoolVec<f32> {
        match layout.contiguous_range() {
            // One vectorised conversion (F16C for f16) rather than a call per element.
            Some(r) => {
                let mut out = PoolVec::<f32>::uninit_for_overwrite(r.len());
                H::widen_slice(&v[r], &mut out);
                out
            }
            None => ew::gather_map(v, layout, |x| x.to_f32()),
        }
    }
    match s {
        CpuStorage::F16(v) => Some(widen(v, layout)),
        CpuStorage::BF16(v) => Some(widen(v, layout)),
        CpuStorage::F32(_)
        | CpuStorage::F64(_)
        | CpuStorage::I64(_)
        | CpuStorage::U32(_)
        | CpuStorage::Bool(_) => None,
    }
}

/// `v` rounded to nearest even into a storage of the half dtype of `like`.
fn rounded_like(v: &[f32], like: &CpuStorage) -> Option<CpuStorage> {
    fn round<H: Half + CpuElem>(v: &[f32]) -> CpuStorage {
        let mut out = PoolVec::<H>::uninit_for_overwrite(v.len());
        H::round_slice(v, &mut out);
        H::wrap(out)
    }
    match like {
        CpuStorage::F16(_) => Some(round::<f16>(v)),
        CpuStorage::BF16(_) => Some(round::<bf16>(v)),
        CpuStorage::F32(_)
        | CpuStorage::F64(_)
        | CpuStorage::I64(_)
        | CpuStorage::U32(_)
        | CpuStorage::Bool(_) => None,
    }
}

/// Runs `kernel` on the f32 widening of a contiguous half storage; `None` for another
/// dtype or a strided layout.
fn via_f32<R>(s: &CpuStorage, layout: &Layout, kernel: impl FnOnce(&[f32]) -> R) -> Option<R> {
    layout.contiguous_range()?;
    Some(kernel(&widened(s, layout)?))
}

fn cpu_mut(s: &mut dyn Storage) -> Result<&mut CpuStorage> {
    s.as_any_mut()
        .downcast_mut::<CpuStorage>()
        .ok_or_else(|| Error::Backend {
            backend: "cpu".into(),
            msg: "storage of another device passed to the CPU backend".into(),
        })
}

fn typed<'a, T: CpuElem>(s: &'a CpuStorage, op: &'static str) -> Result<&'a [T]> {
    T::slice(s).ok_or_else(|| Error::DTypeMismatch {
        op,
        lhs: T::DTYPE,
        rhs: storage_dtype(s),
    })
}

fn storage_dtype(s: &CpuStorage) -> DType {
    Storage::dtype(s)
}

fn wrap(s: CpuStorage) -> Result<StorageRef> {
    Ok(lamina_tensor::share_storage(s))
}

/// A new storage of `len` elements of `T` written by `fill`, made in its final place: the
/// reference-counted block is allocated first and the storage object (up to
/// [`crate::alloc::INLINE_LEN`] elements inline) is written straight into it, so it is never
/// built on the stack and copied (two `memcpy` calls per op before).
fn fill_new<T: CpuElem>(
    len: usize,
    fill: impl FnOnce(&mut [T]) -> Result<()>,
) -> Result<StorageRef> {
    let mut slot = triomphe::UniqueArc::<CpuStorage>::new_uninit();
    slot.write(T::wrap(PoolVec::uninit_for_overwrite(len)));
    // SAFETY: `write` has just initialised the value, which is all `assume_init` requires.
    let mut storage = unsafe { triomphe::UniqueArc::assume_init(slot) };
    let out = T::slice_mut(&mut storage).ok_or_else(|| Error::Backend {
        backend: "cpu".into(),
        msg: "a new output storage is of another dtype".into(),
    })?;
    fill(out)?;
    Ok(lamina_tensor::share_arc(storage.shareable()))
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn zeros(&self, len: usize, dtype: DType) -> Result<StorageRef> {
        wrap(CpuStorage::zeros(len, dtype))
    }

    fn full(&self, len: usize, value: f64, dtype: DType) -> Result<StorageRef> {
        with_dtype!(dtype, T => fill_new(len, |o: &mut [T]| {
            o.fill(T::from_f64(value));
            Ok(())
        }))
    }

    fn from_host(&self, data: HostData) -> Result<StorageRef> {
        wrap(CpuStorage::from_host(data))
    }

    fn to_host(&self, src: &dyn Storage, layout: &Layout) -> Result<HostData> {
        Ok(cpu(src)?.to_host(layout))
    }

    fn copy_strided(
        &self,
        src: &dyn Storage,
        sl: &Layout,
        dst: &mut dyn Storage,
        dl: &Layout,
    ) -> Result<()> {
        let s = cpu(src)?;
        let d = cpu_mut(dst)?;
        with_storage!(d, dv => {
            let sv = typed(s, "copy")?;
            ew::copy_strided(sv, sl, dv, dl);
        });
        Ok(())
    }

    fn cast(&self, src: &dyn Storage, layout: &Layout, dtype: DType) -> Result<StorageRef> {
        let s = cpu(src)?;
        wrap(with_storage!(s, v => with_dtype!(dtype, U => {
            U::wrap(ew::gather_map(v, layout, <U as FromPrim<_>>::from_prim))
        })))
    }

    fn unary(&self, op: UnaryOp, src: &dyn Storage, layout: &Layout) -> Result<StorageRef> {
        let s = cpu(src)?;
        with_storage!(s, v => fill_new(layout.elem_count(), |out| ew::unary_into(op, v, layout, out)))
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: &dyn Storage,
        ll: &Layout,
        rhs: &dyn Storage,
        rl: &Layout,
    ) -> Result<StorageRef> {
        let (a, b) = (cpu(lhs)?, cpu(rhs)?);
        with_storage!(a, av => {
            let bv = typed(b, op.name())?;
            fill_new(ll.elem_count(), |out| ew::binary_into(op, av, ll, bv, rl, out))
        })
    }

    fn binary_assign(
        &self,
        op: BinaryOp,
        dst: &mut dyn Storage,
        dl: &Layout,
        rhs: &dyn Storage,
        rl: &Layout,
    ) -> Result<()> {
        let b = cpu(rhs)?;
        let d = cpu_mut(dst)?;
        with_storage!(d, dv => {
            let bv = typed(b, op.name())?;
            ew::binary_assign(op, dv, dl, bv, rl)
        })
    }

    fn unary_assign(&self, op: UnaryOp, dst: &mut dyn Storage, dl: &Layout) -> Result<()> {
        let d = cpu_mut(dst)?;
        with_storage!(d, dv => ew::unary_assign(op, dv, dl))
    }

    fn cmp(
        &self,
        op: CmpOp,
        lhs: &dyn Storage,
        ll: &Layout,
        rhs: &dyn Storage,
        rl: &Layout,
    ) -> Result<StorageRef> {
        let (a, b) = (cpu(lhs)?, cpu(rhs)?);
        wrap(CpuStorage::Bool(with_storage!(a, av => {
            let bv = typed(b, op.name())?;
            ew::cmp(op, av, ll, bv, rl)
        })))
    }

    fn where_cond(
        &self,
        cond: &dyn Storage,
        cl: &Layout,
        on_true: &dyn Storage,
        tl: &Layout,
        on_false: &dyn Storage,
        fl: &Layout,
    ) -> Result<StorageRef> {
        let (c, t, f) = (cpu(cond)?, cpu(on_true)?, cpu(on_false)?);
        wrap(with_storage!(c, cv => with_storage!(t, tv => {
            let fv = typed(f, "where")?;
            CpuElem::wrap(ew::where_cond(cv, cl, tv, tl, fv, fl))
        })))
    }

    fn reduce(
        &self,
        op: ReduceOp,
        src: &dyn Storage,
        layout: &Layout,
        axes: &[usize],
    ) -> Result<StorageRef> {
        let s = cpu(src)?;
        let fold = match op {
            ReduceOp::Sum => Fold::Sum,
            ReduceOp::Prod => Fold::Prod,
            ReduceOp::Max => Fold::Max,
            ReduceOp::Min => Fold::Min,
            ReduceOp::ArgMax | ReduceOp::ArgMin => {
                let axis = *axes.first().ok_or_else(|| Error::Invalid {
                    op: op.name(),
                    msg: "needs one axis".into(),
                })?;
                let max = op == ReduceOp::ArgMax;
                return wrap(CpuStorage::I64(
                    with_storage!(s, v => reduce::arg_reduce(max, v, layout, axis)),
                ));
            }
        };
        if matches!(fold, Fold::Sum | Fold::Prod) {
            // Half sums and products accumulate in f32 and round once.
            if let Some(w) = widened(s, layout) {
                let wl = Layout::contiguous(layout.shape().clone());
                let mut out = PoolVec::<f32>::zeroed(reduce::reduced_len(layout, axes));
                reduce::reduce_into(fold, &w, &wl, axes, &mut out);
                return wrap(rounded_like(&out, s).expect("widened storages are half"));
            }
        }
        with_storage!(s, v => {
            fill_new(reduce::reduced_len(layout, axes), |out| {
                reduce::reduce_into(fold, v, layout, axes, out);
                Ok(())
            })
        })
    }

    fn matmul(
        &self,
        lhs: &dyn Storage,
        ll: &Layout,
        rhs: &dyn Storage,
        rl: &Layout,
        spec: &MatmulSpec,
    ) -> Result<StorageRef> {
        let (a, b) = (cpu(lhs)?, cpu(rhs)?);
        wrap(match a {
            CpuStorage::F32(av) => {
                CpuStorage::F32(matmul::matmul_float(av, ll, typed(b, "matmul")?, rl, spec))
            }
            CpuStorage::F64(av) => {
                CpuStorage::F64(matmul::matmul_float(av, ll, typed(b, "matmul")?, rl, spec))
            }
            CpuStorage::I64(av) => {
                CpuStorage::I64(matmul::matmul_int(av, ll, typed(b, "matmul")?, rl, spec))
            }
            CpuStorage::U32(av) => {
                CpuStorage::U32(matmul::matmul_int(av, ll, typed(b, "matmul")?, rl, spec))
            }
            CpuStorage::F16(av) => {
                CpuStorage::F16(matmul::matmul_float(av, ll, typed(b, "matmul")?, rl, spec))
            }
            CpuStorage::BF16(av) => {
                CpuStorage::BF16(matmul::matmul_float(av, ll, typed(b, "matmul")?, rl, spec))
            }
            CpuStorage::Bool(_) => {
                return Err(Error::UnsupportedDType {
                    op: "matmul",
                    dtype: DType::Bool,
                })
            }
        })
    }

    fn index_select(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        dim: usize,
        ids: &dyn Storage,
        il: &Layout,
    ) -> Result<StorageRef> {
        let (s, i) = (cpu(src)?, cpu(ids)?);
        let ids = with_storage!(i, iv => index::index_values(iv, il));
        wrap(with_storage!(s, v => CpuElem::wrap(index::index_select(v, layout, dim, &ids)?)))
    }

    fn gather(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        dim: usize,
        ids: &dyn Storage,
        il: &Layout,
    ) -> Result<StorageRef> {
        let (s, i) = (cpu(src)?, cpu(ids)?);
        let ids = with_storage!(i, iv => index::index_values(iv, il));
        wrap(with_storage!(s, v => CpuElem::wrap(index::gather(v, layout, dim, &ids, il)?)))
    }

    fn scatter(
        &self,
        reduce: ScatterReduce,
        include_self: bool,
        dst: &mut dyn Storage,
        dl: &Layout,
        dim: usize,
        ids: &dyn Storage,
        il: &Layout,
        src: &dyn Storage,
        sl: &Layout,
    ) -> Result<()> {
        let (s, i) = (cpu(src)?, cpu(ids)?);
        let ids = with_storage!(i, iv => index::index_values(iv, il));
        let d = cpu_mut(dst)?;
        with_storage!(d, dv => {
            let sv = typed(s, reduce.name())?;
            index::scatter(reduce, include_self, dv, dl, dim, &ids, il, sv, sl)
        })
    }

    fn scan(
        &self,
        op: ScanOp,
        src: &dyn Storage,
        layout: &Layout,
        axis: usize,
    ) -> Result<StorageRef> {
        let s = cpu(src)?;
        let unsupported = |dtype| Error::UnsupportedDType {
            op: op.name(),
            dtype,
        };
        if let Some(w) = widened(s, layout) {
            // Half scans run in f32 and round each output once.
            let wl = Layout::contiguous(layout.shape().clone());
            let out = match op {
                ScanOp::Sum => scan::scan(&w, &wl, axis, |a, b| a + b),
                ScanOp::Prod => scan::scan(&w, &wl, axis, |a, b| a * b),
                ScanOp::LogSumExp => scan::scan(&w, &wl, axis, scan::log_add_exp),
            };
            return wrap(rounded_like(&out, s).expect("widened storages are half"));
        }
        wrap(match op {
            ScanOp::Sum => {
                with_storage!(s, v => CpuElem::wrap(scan::scan(v, layout, axis, |a, b| a.add(b))))
            }
            ScanOp::Prod => {
                with_storage!(s, v => CpuElem::wrap(scan::scan(v, layout, axis, |a, b| a.mul(b))))
            }
            ScanOp::LogSumExp => match s {
                CpuStorage::F32(v) => {
                    CpuStorage::F32(scan::scan(v, layout, axis, scan::log_add_exp))
                }
                CpuStorage::F64(v) => {
                    CpuStorage::F64(scan::scan(v, layout, axis, scan::log_add_exp))
                }
                CpuStorage::I64(_) => return Err(unsupported(DType::I64)),
                CpuStorage::U32(_) => return Err(unsupported(DType::U32)),
                CpuStorage::Bool(_) => return Err(unsupported(DType::Bool)),
                CpuStorage::F16(_) => return Err(unsupported(DType::F16)),
                CpuStorage::BF16(_) => return Err(unsupported(DType::BF16)),
            },
        })
    }

    fn argsort(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        axis: usize,
        descending: bool,
    ) -> Result<StorageRef> {
        let s = cpu(src)?;
        wrap(CpuStorage::I64(
            with_storage!(s, v => scan::argsort(v, layout, axis, descending)),
        ))
    }

    fn conv(
        &self,
        x: &dyn Storage,
        xl: &Layout,
        w: &dyn Storage,
        wl: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        conv_kernel(
            x,
            xl,
            w,
            wl,
            geo,
            conv::forward::<f32>,
            conv::forward::<f64>,
        )
    }

    fn conv_input_grad(
        &self,
        dy: &dyn Storage,
        dyl: &Layout,
        w: &dyn Storage,
        wl: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        conv_kernel(
            dy,
            dyl,
            w,
            wl,
            geo,
            conv::input_grad::<f32>,
            conv::input_grad::<f64>,
        )
    }

    fn conv_weight_grad(
        &self,
        x: &dyn Storage,
        xl: &Layout,
        dy: &dyn Storage,
        dyl: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        conv_kernel(
            x,
            xl,
            dy,
            dyl,
            geo,
            conv::weight_grad::<f32>,
            conv::weight_grad::<f64>,
        )
    }

    fn normalize(
        &self,
        x: &dyn Storage,
        xl: &Layout,
        spec: &NormSpec,
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        let range = xl.contiguous_range()?;
        let three = |(y, m, v)| -> Result<(StorageRef, StorageRef, StorageRef)> {
            Ok((wrap(y)?, wrap(m)?, wrap(v)?))
        };
        Some(match cpu(x).ok()? {
            CpuStorage::F32(v) => {
                let (y, m, s) = norm::forward(spec, &v[range]);
                three((CpuStorage::F32(y), CpuStorage::F32(m), CpuStorage::F32(s)))
            }
            CpuStorage::F64(v) => {
                let (y, m, s) = norm::forward(spec, &v[range]);
                three((CpuStorage::F64(y), CpuStorage::F64(m), CpuStorage::F64(s)))
            }
            h @ (CpuStorage::F16(_) | CpuStorage::BF16(_)) => {
                let (y, m, s) = via_f32(h, xl, |x| norm::forward(spec, x))?;
                let r = |v: &[f32]| rounded_like(v, h).expect("half storage");
                three((r(&y), r(&m), r(&s)))
            }
            // `tensor` accepts floats only.
            CpuStorage::I64(_) | CpuStorage::U32(_) | CpuStorage::Bool(_) => return None,
        })
    }

    fn normalize_backward(
        &self,
        g: &dyn Storage,
        gl: &Layout,
        y: &dyn Storage,
        yl: &Layout,
        rstd: &dyn Storage,
        rl: &Layout,
        spec: &NormSpec,
    ) -> Option<Result<StorageRef>> {
        let (gr, yr, rr) = (
            gl.contiguous_range()?,
            yl.contiguous_range()?,
            rl.contiguous_range()?,
        );
        let (y, rstd) = (cpu(y).ok()?, cpu(rstd).ok()?);
        // `tensor` checks the three share one float dtype.
        Some(match cpu(g).ok()? {
            CpuStorage::F32(g) => {
                let (CpuStorage::F32(y), CpuStorage::F32(r)) = (y, rstd) else {
                    return None;
                };
                wrap(CpuStorage::F32(norm::backward(
                    spec, &g[gr], &y[yr], &r[rr],
                )))
            }
            CpuStorage::F64(g) => {
                let (CpuStorage::F64(y), CpuStorage::F64(r)) = (y, rstd) else {
                    return None;
                };
                wrap(CpuStorage::F64(norm::backward(
                    spec, &g[gr], &y[yr], &r[rr],
                )))
            }
            h @ (CpuStorage::F16(_) | CpuStorage::BF16(_)) => {
                let (y, r) = (widened(y, yl)?, widened(rstd, rl)?);
                let dx = via_f32(h, gl, |g| norm::backward(spec, g, &y, &r))?;
                wrap(rounded_like(&dx, h).expect("half storage"))
            }
            CpuStorage::I64(_) | CpuStorage::U32(_) | CpuStorage::Bool(_) => return None,
        })
    }

    fn lstm_cell(
        &self,
        gates: &dyn Storage,
        gl: &Layout,
        c_prev: &dyn Storage,
        cl: &Layout,
        n: usize,
        h: usize,
    ) -> Option<Result<StorageRef>> {
        let (gr, cr) = (gl.contiguous_range()?, cl.contiguous_range()?);
        let c_prev = cpu(c_prev).ok()?;
        // `tensor` checks both share one float dtype.
        Some(match cpu(gates).ok()? {
            CpuStorage::F32(a) => {
                let CpuStorage::F32(c) = c_prev else {
                    return None;
                };
                wrap(CpuStorage::F32(lstm::forward(&a[gr], &c[cr], n, h)))
            }
            CpuStorage::F64(a) => {
                let CpuStorage::F64(c) = c_prev else {
                    return None;
                };
                wrap(CpuStorage::F64(lstm::forward(&a[gr], &c[cr], n, h)))
            }
            // Half cells run the composite.
            CpuStorage::I64(_)
            | CpuStorage::U32(_)
            | CpuStorage::Bool(_)
            | CpuStorage::F16(_)
            | CpuStorage::BF16(_) => return None,
        })
    }

    fn lstm_cell_backward(
        &self,
        grad: &dyn Storage,
        grl: &Layout,
        gates: &dyn Storage,
        gl: &Layout,
        c_prev: &dyn Storage,
        cl: &Layout,
        n: usize,
        h: usize,
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        let (dr, gr, cr) = (
            grl.contiguous_range()?,
            gl.contiguous_range()?,
            cl.contiguous_range()?,
        );
        let (gates, c_prev) = (cpu(gates).ok()?, cpu(c_prev).ok()?);
        let two = |(a, b): (CpuStorage, CpuStorage)| -> Result<(StorageRef, StorageRef)> {
            Ok((wrap(a)?, wrap(b)?))
        };
        // `tensor` checks the three share one float dtype.
        Some(match cpu(grad).ok()? {
            CpuStorage::F32(d) => {
                let (CpuStorage::F32(a), CpuStorage::F32(c)) = (gates, c_prev) else {
                    return None;
                };
                let (da, dc) = lstm::backward(&d[dr], &a[gr], &c[cr], n, h);
                two((CpuStorage::F32(da), CpuStorage::F32(dc)))
            }
            CpuStorage::F64(d) => {
                let (CpuStorage::F64(a), CpuStorage::F64(c)) = (gates, c_prev) else {
                    return None;
                };
                let (da, dc) = lstm::backward(&d[dr], &a[gr], &c[cr], n, h);
                two((CpuStorage::F64(da), CpuStorage::F64(dc)))
            }
            CpuStorage::I64(_)
            | CpuStorage::U32(_)
            | CpuStorage::Bool(_)
            | CpuStorage::F16(_)
            | CpuStorage::BF16(_) => return None,
        })
    }

    fn lstm_sequence(
        &self,
        xp: (&dyn Storage, &Layout),
        w: (&dyn Storage, &Layout),
        h0: (&dyn Storage, &Layout),
        c0: (&dyn Storage, &Layout),
        dims: [usize; 3],
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        // f32 only: the panel product is an f32 kernel; f64 runs the composite.
        let [xp, w, h0, c0] = [xp, w, h0, c0].map(f32_slice);
        let (states, gates) = lstm::sequence_forward(xp?, w?, h0?, c0?, dims);
        let two = || {
            Ok((
                wrap(CpuStorage::F32(states))?,
                wrap(CpuStorage::F32(gates))?,
            ))
        };
        Some(two())
    }

    fn lstm_sequence_backward(
        &self,
        grad: (&dyn Storage, &Layout),
        gates: (&dyn Storage, &Layout),
        states: (&dyn Storage, &Layout),
        w: (&dyn Storage, &Layout),
        c0: (&dyn Storage, &Layout),
        dims: [usize; 3],
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        let [g, a, st, w, c0] = [grad, gates, states, w, c0].map(f32_slice);
        let (dxp, dh0, dc0) = lstm::sequence_backward(g?, a?, st?, w?, c0?, dims);
        let three = || {
            Ok((
                wrap(CpuStorage::F32(dxp))?,
                wrap(CpuStorage::F32(dh0))?,
                wrap(CpuStorage::F32(dc0))?,
            ))
        };
        Some(three())
    }

    fn attention(
        &self,
        q: (&dyn Storage, &Layout),
        k: (&dyn Storage, &Layout),
        v: (&dyn Storage, &Layout),
        bias: Option<(&dyn Storage, &Layout)>,
        spec: &AttentionSpec,
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        // `tensor` checks that all share one float dtype.
        Some(match cpu(q.0).ok()? {
            CpuStorage::F32(_) => attention_forward::<f32>(q, k, v, bias, spec),
            CpuStorage::F64(_) => attention_forward::<f64>(q, k, v, bias, spec),
            // Half attention runs the composite: half matmuls, the softmax in f32.
            CpuStorage::I64(_)
            | CpuStorage::U32(_)
            | CpuStorage::Bool(_)
            | CpuStorage::F16(_)
            | CpuStorage::BF16(_) => return None,
        })
    }

    fn attention_backward(
        &self,
        grad: (&dyn Storage, &Layout),
        q: (&dyn Storage, &Layout),
        k: (&dyn Storage, &Layout),
        v: (&dyn Storage, &Layout),
        out: (&dyn Storage, &Layout),
        lse: (&dyn Storage, &Layout),
        bias: Option<(&dyn Storage, &Layout)>,
        spec: &AttentionSpec,
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        let dense = [grad, out, lse].map(|(s, l)| (s, l.contiguous_range()));
        let [(g, Some(gr)), (o, Some(or)), (m, Some(mr))] = dense else {
            return None;
        };
        let dense = ((g, gr), (o, or), (m, mr));
        Some(match cpu(q.0).ok()? {
            CpuStorage::F32(_) => attention_backward::<f32>(dense, q, k, v, bias, spec),
            CpuStorage::F64(_) => attention_backward::<f64>(dense, q, k, v, bias, spec),
            CpuStorage::I64(_)
            | CpuStorage::U32(_)
            | CpuStorage::Bool(_)
            | CpuStorage::F16(_)
            | CpuStorage::BF16(_) => return None,
        })
    }

    fn max_pool_indices(
        &self,
        x: &dyn Storage,
        xl: &Layout,
        geo: &PoolGeometry,
    ) -> Option<Result<StorageRef>> {
        let range = xl.contiguous_range()?;
        Some(match cpu(x).ok()? {
            CpuStorage::F32(v) => wrap(CpuStorage::I64(pool::max_pool_indices(geo, &v[range]))),
            CpuStorage::F64(v) => wrap(CpuStorage::I64(pool::max_pool_indices(geo, &v[range]))),
            // Widening is exact, so the arg-max is the half tensor's.
            h @ (CpuStorage::F16(_) | CpuStorage::BF16(_)) => {
                wrap(CpuStorage::I64(via_f32(h, xl, |x| {
                    pool::max_pool_indices(geo, x)
                })?))
            }
            // `tensor` accepts floats only.
            CpuStorage::I64(_) | CpuStorage::U32(_) | CpuStorage::Bool(_) => return None,
        })
    }

    fn softmax_last_dim(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        log: bool,
    ) -> Option<Result<StorageRef>> {
        let s = cpu(src).ok()?;
        let range = layout.contiguous_range()?;
        let row = *layout.dims().last()?;
        Some(match s {
            CpuStorage::F32(v) => wrap(CpuStorage::F32(reduce::softmax_rows_f32(
                &v[range], row, log,
            ))),
            CpuStorage::F64(v) => wrap(CpuStorage::F64(reduce::softmax_rows_f64(
                &v[range], row, log,
            ))),
            h @ (CpuStorage::F16(_) | CpuStorage::BF16(_)) => {
                let y = via_f32(h, layout, |x| reduce::softmax_rows_f32(x, row, log))?;
                wrap(rounded_like(&y, h).expect("half storage"))
            }
            // No fused kernel: `tensor` runs the composite (it rejects non-floats first).
            CpuStorage::I64(_) | CpuStorage::U32(_) | CpuStorage::Bool(_) => return None,
        })
    }

    fn softmax_backward_last_dim(
        &self,
        y: &dyn Storage,
        yl: &Layout,
        dy: &dyn Storage,
        dyl: &Layout,
        log: bool,
    ) -> Option<Result<StorageRef>> {
        let (ys, gs) = (cpu(y).ok()?, cpu(dy).ok()?);
        let (yr, gr) = (yl.contiguous_range()?, dyl.contiguous_range()?);
        let row = *yl.dims().last()?;
        if ys.dtype() == gs.dtype() {
            if let (Some(yw), Some(gw)) = (widened(ys, yl), widened(gs, dyl)) {
                let dx = reduce::softmax_backward_rows_f32(&yw, &gw, row, log);
                return Some(wrap(rounded_like(&dx, ys).expect("half storage")));
            }
        }
        // The fused kernel is f32 (half through f32) only; others take the composite.
        if let (CpuStorage::F32(yv), CpuStorage::F32(gv)) = (ys, gs) {
            Some(wrap(CpuStorage::F32(reduce::softmax_backward_rows_f32(
                &yv[yr], &gv[gr], row, log,
            ))))
        } else {
            None
        }
    }

    fn adam_update(
        &self,
        param: &mut dyn Storage,
        pl: &Layout,
        grad: &dyn Storage,
        gl: &Layout,
        m: &mut dyn Storage,
        v: &mut dyn Storage,
        step: &AdamStep,
    ) -> Option<Result<()>> {
        let g = cpu(grad).ok()?;
        let (pr, gr) = (pl.contiguous_range()?, gl.contiguous_range()?);
        let p = cpu_mut(param).ok()?;
        // The moments are fresh contiguous tensors of the parameter's shape, offset 0.
        let n = pr.len();
        macro_rules! run {
            ($t:ty, $pv:expr, $gv:expr) => {{
                let mv = <$t as CpuElem>::slice_mut(cpu_mut(m).ok()?)?;
                let vv = <$t as CpuElem>::slice_mut(cpu_mut(v).ok()?)?;
                if mv.len() < n || vv.len() < n {
                    return None;
                }
                optim::adam_update::<$t>(&mut $pv[pr], &$gv[gr], &mut mv[..n], &mut vv[..n], step);
                Some(Ok(()))
            }};
        }
        // Fused float kernels; anything else (mixed or integer dtypes) takes the composite.
        if let (CpuStorage::F32(pv), CpuStorage::F32(gv)) = (&mut *p, g) {
            return run!(f32, pv, gv);
        }
        if let (CpuStorage::F64(pv), CpuStorage::F64(gv)) = (p, g) {
            return run!(f64, pv, gv);
        }
        None
    }

    fn sgd_update(
        &self,
        param: &mut dyn Storage,
        pl: &Layout,
        grad: &dyn Storage,
        gl: &Layout,
        buf: &mut dyn Storage,
        step: &SgdStep,
    ) -> Option<Result<()>> {
        let g = cpu(grad).ok()?;
        let (pr, gr) = (pl.contiguous_range()?, gl.contiguous_range()?);
        let p = cpu_mut(param).ok()?;
        // The buffer is a fresh contiguous tensor of the parameter's shape, offset 0.
        let n = pr.len();
        macro_rules! run {
            ($t:ty, $pv:expr, $gv:expr) => {{
                let bv = <$t as CpuElem>::slice_mut(cpu_mut(buf).ok()?)?;
                if bv.len() < n {
                    return None;
                }
                optim::sgd_update::<$t>(&mut $pv[pr], &$gv[gr], &mut bv[..n], step);
                Some(Ok(()))
            }};
        }
        // Fused float kernels; anything else (mixed or integer dtypes) takes the composite.
        if let (CpuStorage::F32(pv), CpuStorage::F32(gv)) = (&mut *p, g) {
            return run!(f32, pv, gv);
        }
        if let (CpuStorage::F64(pv), CpuStorage::F64(gv)) = (p, g) {
            return run!(f64, pv, gv);
        }
        None
    }

    fn live_bytes(&self) -> Option<usize> {
        Some(crate::alloc::live_bytes())
    }
}

/// An attention operand as the kernel reads it: the storage's elements and the layout.
fn attention_input<'a, T: CpuElem>(
    (s, l): (&'a dyn Storage, &'a Layout),
) -> Result<(&'a [T], &'a Layout)> {
    Ok((typed(cpu(s)?, "attention")?, l))
}

fn attention_forward<T: AttnElem + CpuElem>(
    q: (&dyn Storage, &Layout),
    k: (&dyn Storage, &Layout),
    v: (&dyn Storage, &Layout),
    bias: Option<(&dyn Storage, &Layout)>,
    spec: &AttentionSpec,
) -> Result<(StorageRef, StorageRef)> {
    let (out, lse) = attention::forward::<T>(
        attention_input(q)?,
        attention_input(k)?,
        attention_input(v)?,
        bias.map(attention_input).transpose()?,
        spec,
    );
    Ok((wrap(T::wrap(out))?, wrap(T::wrap(lse))?))
}

/// The output gradient, output and log-sum-exp: storages with their contiguous ranges.
type DenseTrio<'a> = (
    (&'a dyn Storage, std::ops::Range<usize>),
    (&'a dyn Storage, std::ops::Range<usize>),
    (&'a dyn Storage, std::ops::Range<usize>),
);

fn attention_backward<T: AttnElem + CpuElem>(
    (g, o, m): DenseTrio,
    q: (&dyn Storage, &Layout),
    k: (&dyn Storage, &Layout),
    v: (&dyn Storage, &Layout),
    bias: Option<(&dyn Storage, &Layout)>,
    spec: &AttentionSpec,
) -> Result<(StorageRef, StorageRef, StorageRef)> {
    let (dq, dk, dv) = attention::backward::<T>(
        dense_slice(g)?,
        attention_input(q)?,
        attention_input(k)?,
        attention_input(v)?,
        dense_slice(o)?,
        dense_slice(m)?,
        bias.map(attention_input).transpose()?,
        spec,
    );
    Ok((wrap(T::wrap(dq))?, wrap(T::wrap(dk))?, wrap(T::wrap(dv))?))
}

/// The elements `r` of a storage of `T`.
fn dense_slice<T: CpuElem>((s, r): (&dyn Storage, std::ops::Range<usize>)) -> Result<&[T]> {
    Ok(&typed::<T>(cpu(s)?, "attention_backward")?[r])
}

/// Runs one of the convolution kernels on two contiguous float operands of one dtype;
/// `None` (the composite runs) for 3-D convolutions and non-float storages, which
/// `tensor` has rejected already.
fn conv_kernel(
    a: &dyn Storage,
    al: &Layout,
    b: &dyn Storage,
    bl: &Layout,
    geo: &ConvGeometry,
    f32_kernel: fn(&conv::Geo, &[f32], &[f32]) -> PoolVec<f32>,
    f64_kernel: fn(&conv::Geo, &[f64], &[f64]) -> PoolVec<f64>,
) -> Option<Result<StorageRef>> {
    let g = conv::Geo::new(geo)?;
    let (a, b) = (cpu(a).ok()?, cpu(b).ok()?);
    let (ar, br) = (al.contiguous_range()?, bl.contiguous_range()?);
    Some(match (a, b) {
        (CpuStorage::F32(x), CpuStorage::F32(y)) => {
            wrap(CpuStorage::F32(f32_kernel(&g, &x[ar], &y[br])))
        }
        (CpuStorage::F64(x), CpuStorage::F64(y)) => {
            wrap(CpuStorage::F64(f64_kernel(&g, &x[ar], &y[br])))
        }
        // Half convolutions widen both operands, run the f32 kernel and round once.
        (h @ (CpuStorage::F16(_) | CpuStorage::BF16(_)), y) if h.dtype() == y.dtype() => {
            let (xw, yw) = (widened(h, al)?, widened(y, bl)?);
            wrap(rounded_like(&f32_kernel(&g, &xw, &yw), h).expect("half storage"))
        }
        (
            CpuStorage::F32(_)
            | CpuStorage::F64(_)
            | CpuStorage::I64(_)
            | CpuStorage::U32(_)
            | CpuStorage::Bool(_)
            | CpuStorage::F16(_)
            | CpuStorage::BF16(_),
            _,
        ) => return None,
    })
}
