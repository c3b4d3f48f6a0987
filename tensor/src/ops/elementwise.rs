//! Element-wise ops: the entry points of the unary and binary op tables (validation, type
//! promotion, dispatch, recording), comparisons, `where_`, `masked_fill`, logical ops, and
//! the in-place forms the optimizers use.

use std::borrow::Cow;

use crate::hook::{self, Op};
use crate::{
    BinaryOp, CmpOp, DType, DTypeKind, Error, IntRhs, Layout, Result, Shape, Tensor, UnaryOp,
};

/// `layout` viewed at `shape` (borrowed when already there).
fn broadcast_layout<'a>(
    layout: &'a Layout,
    shape: &Shape,
    op: &'static str,
) -> Result<Cow<'a, Layout>> {
    if layout.shape() == shape {
        Ok(Cow::Borrowed(layout))
    } else {
        Ok(Cow::Owned(layout.broadcast_to(shape, op)?))
    }
}

macro_rules! cmp_methods {
    ($($name:ident, $scalar:ident => $op:ident;)*) => {$(
        #[doc = concat!("Element-wise `", stringify!($name), "` with broadcasting and type promotion: a `Bool` mask.")]
        pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
            self.cmp(rhs, CmpOp::$op)
        }
        #[doc = concat!("`", stringify!($name), "` against a scalar: a `Bool` mask.")]
        pub fn $scalar(&self, rhs: f64) -> Result<Tensor> {
            self.cmp_scalar(rhs, CmpOp::$op)
        }
    )*};
}

impl Tensor {
    /// Applies a unary map element-wise. Integer and bool tensors compute ops without an
    /// integer kernel (`exp`, `sigmoid`, ...) and ops with non-integral scalars
    /// (`clamp(0.5, 2.5)`) in F32, as PyTorch promotes them; the other integer ops keep
    /// the dtype (bool tensors go to I64; `neg` of a bool is an error).
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        op.validate()?;
        let dtype = self.dtype();
        if !dtype.is_float() {
            let compute = if !op.has_int_kernel() || !op.int_params() {
                DType::F32
            } else if dtype == DType::Bool {
                if op == UnaryOp::Neg {
                    return Err(Error::Invalid {
                        op: "neg",
                        msg: "negation of a bool tensor is not supported; use logical_not".into(),
                    });
                }
                DType::I64
            } else {
                dtype
            };
            if compute != dtype {
                return self.to_dtype(compute)?.unary(op);
            }
        }
        let storage = self
            .device()
            .backend()
            .unary(op, self.storage(), self.layout())?;
        let out = Tensor::from_storage(
            storage,
            Layout::contiguous(self.shape().clone()),
            *self.device(),
        );
        hook::record(|| Op::Unary(op), &[self], &out);
        Ok(out)
    }

    /// `max(x, 0)` clipped at 6 (`hardtanh(0, 6)`).
    pub fn relu6(&self) -> Result<Tensor> {
        self.hardtanh(0.0, 6.0)
    }

    /// Clamps between tensor bounds (broadcasting, either optional), as
    /// `torch.clamp(x, min, max)` with tensors: `minimum(maximum(x, min), max)`, so the
    /// gradient at a bound is split between `x` and the bound.
    pub fn clamp_tensor(&self, min: Option<&Tensor>, max: Option<&Tensor>) -> Result<Tensor> {
        let lo = match min {
            Some(m) => self.maximum(m)?,
            None => self.clone(),
        };
        match max {
            Some(m) => lo.minimum(m),
            None => Ok(lo),
        }
    }

    pub fn add_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(1.0, s)
    }
    pub fn sub_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(1.0, -s)
    }
    pub fn mul_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(s, 0.0)
    }
    /// `x / s`: true division (integer tensors give F32, as PyTorch).
    pub fn div_scalar(&self, s: f64) -> Result<Tensor> {
        if self.dtype().is_float() {
            self.affine(1.0 / s, 0.0)
        } else {
            self.to_dtype(DType::F32)?.div_scalar(s)
        }
    }

    /// A rank-0 tensor of this dtype and device (broadcasts as a scalar operand).
    pub fn scalar_like(&self, value: f64) -> Result<Tensor> {
        Tensor::scalar(value, self.dtype(), self.device())
    }

    /// `self op rhs` with PyTorch broadcasting and type promotion ([`DType::promote`]):
    /// `f32 op f64` computes in f64, `int op float` in the float type; an op without an
    /// integer kernel (true division) computes integer operands in F32. Integer division
    /// by zero and negative integer powers are errors.
    pub fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let name = op.name();
        self.check_device(rhs, name)?;
        let (da, db) = (self.dtype(), rhs.dtype());
        let common = if da == db { da } else { DType::promote(da, db) };
        let compute = match common.kind() {
            DTypeKind::Float => common,
            DTypeKind::Int if op.has_int_kernel() => common,
            DTypeKind::Bool if op.has_bool_kernel() => common,
            DTypeKind::Bool if op.has_int_kernel() => DType::I64,
            DTypeKind::Int | DTypeKind::Bool => DType::F32,
        };
        if compute != da || compute != db {
            return self.to_dtype(compute)?.binary(&rhs.to_dtype(compute)?, op);
        }
        if compute.is_int() {
            check_int_rhs(op, rhs)?;
        }
        let backend = self.device().backend();
        let (storage, shape) = if self.shape() == rhs.shape() {
            // Same shapes (the common case): no broadcast layouts to build.
            let storage = backend.binary(
                op,
                self.storage(),
                self.layout(),
                rhs.storage(),
                rhs.layout(),
            )?;
            (storage, self.shape().clone())
        } else {
            let shape = self.shape().broadcast(rhs.shape(), name)?;
            let ll = broadcast_layout(self.layout(), &shape, name)?;
            let rl = broadcast_layout(rhs.layout(), &shape, name)?;
            let storage = backend.binary(op, self.storage(), &ll, rhs.storage(), &rl)?;
            (storage, shape)
        };
        let out = Tensor::from_storage(storage, Layout::contiguous(shape), *self.device());
        hook::record(|| Op::Binary(op), &[self, rhs], &out);
        Ok(out)
    }

    /// `self / rhs` with a rounding mode (PyTorch `div(rounding_mode=...)`): `None` is
    /// true division, `Some(Floor)` and `Some(Trunc)` keep integer dtypes.
    pub fn div_mode(&self, rhs: &Tensor, mode: Option<RoundingMode>) -> Result<Tensor> {
        match mode {
            None => self.div(rhs),
            Some(RoundingMode::Floor) => self.div_floor(rhs),
            Some(RoundingMode::Trunc) => self.div_trunc(rhs),
        }
    }

    /// `self / rhs` rounded toward negative infinity (PyTorch `floor_divide`).
    pub fn floor_divide(&self, rhs: &Tensor) -> Result<Tensor> {
        self.div_floor(rhs)
    }

    /// In place: `self op= rhs` (rhs broadcast to self's shape). Writes into this tensor's
    /// storage when this handle owns it alone, otherwise copies first, so no other tensor
    /// sees the change. The tensor keeps its id.
    pub fn binary_assign(&mut self, rhs: &Tensor, op: BinaryOp) -> Result<()> {
        let name = op.name();
        self.check_device(rhs, name)?;
        self.check_writable(name)?;
        let dtype = self.dtype();
        let common = DType::promote(dtype, rhs.dtype());
        let in_kind = match dtype.kind() {
            DTypeKind::Float => true,
            DTypeKind::Int => op.has_int_kernel(),
            DTypeKind::Bool => op.has_bool_kernel(),
        };
        // As PyTorch: the result must be storable in self's dtype without changing kind.
        if common.kind() != dtype.kind() || !in_kind {
            return Err(Error::Invalid {
                op: name,
                msg: format!(
                    "the result of {dtype} {name} {} is not {dtype}, so it cannot be written in place",
                    rhs.dtype()
                ),
            });
        }
        let rhs = rhs.to_dtype(dtype)?;
        if dtype.is_int() {
            check_int_rhs(op, &rhs)?;
        }
        let shape = self.shape().clone();
        let rl = rhs.layout().broadcast_to(&shape, name)?;
        let device = *self.device();
        let (dst, dl) = self.storage_mut()?;
        let dl = dl.clone();
        device
            .backend()
            .binary_assign(op, dst, &dl, rhs.storage(), &rl)
    }

    /// `self += rhs` in place (see `binary_assign`).
    pub fn add_assign(&mut self, rhs: &Tensor) -> Result<()> {
        self.binary_assign(rhs, BinaryOp::Add)
    }

    /// In place: `src` added onto the slice `start, start + step, ...` of `dim`
    /// (`x[.., a:b:s] += src`); `src` has the slice's shape and `self`'s dtype. Same
    /// ownership rule as `binary_assign`; not recorded. The backward sweep accumulates the
    /// gradients of many slices of one tensor (a recurrent layer's time steps) with it,
    /// where a full-size zero tensor per slice would cost the whole tensor each time.
    pub fn slice_add_assign(
        &mut self,
        src: &Tensor,
        dim: usize,
        start: usize,
        step: usize,
    ) -> Result<()> {
        const OP: &str = "slice_add_assign";
        self.check_same(src, OP)?;
        self.check_writable(OP)?;
        let shape_ok = src.rank() == self.rank()
            && dim < self.rank()
            && (0..self.rank()).all(|i| i == dim || src.dims()[i] == self.dims()[i]);
        if !shape_ok {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: self.shape().clone(),
                rhs: src.shape().clone(),
            });
        }
        let len = src.dims()[dim];
        let device = *self.device();
        let (dst, dl) = self.storage_mut()?;
        let part = dl.slice(dim, start, len, step, OP)?;
        if len == 0 || part.elem_count() == 0 {
            return Ok(());
        }
        device
            .backend()
            .binary_assign(BinaryOp::Add, dst, &part, src.storage(), src.layout())
    }

    /// In place: `self = op(self)` (e.g. `UnaryOp::Affine(beta, 0.0)` to scale an
    /// optimizer's moment). Same ownership rule as `binary_assign`; the tensor keeps its id.
    pub fn unary_assign(&mut self, op: UnaryOp) -> Result<()> {
        op.validate()?;
        let dtype = self.dtype();
        let integral = || {
            op.params()
                .iter()
                .all(|p| p.fract() == 0.0 || p.is_infinite())
        };
        if !(dtype.is_float() || dtype.is_int() && op.has_int_kernel() && integral()) {
            return Err(Error::Invalid {
                op: op.name(),
                msg: format!("the result is not {dtype}, so it cannot be written in place"),
            });
        }
        self.check_writable(op.name())?;
        let device = *self.device();
        let (dst, dl) = self.storage_mut()?;
        let dl = dl.clone();
        device.backend().unary_assign(op, dst, &dl)
    }

    /// In place: copies `src`'s values (broadcast to self's shape, same dtype) into this
    /// tensor's storage. Same ownership rule as `binary_assign`; the tensor keeps its id.
    pub fn assign(&mut self, src: &Tensor) -> Result<()> {
        const OP: &str = "assign";
        self.check_device(src, OP)?;
        let src = &src.to_dtype(self.dtype())?;
        self.check_writable(OP)?;
        let shape = self.shape().clone();
        let sl = src.layout().broadcast_to(&shape, OP)?;
        let device = *self.device();
        let (dst, dl) = self.storage_mut()?;
        let dl = dl.clone();
        device.backend().copy_strided(src.storage(), &sl, dst, &dl)
    }

    /// A fused in-place Adam step of this parameter with gradient `grad` and moments `m`,
    /// `v` (see [`crate::AdamStep`]). Returns `Ok(false)` without touching anything when the
    /// backend has no fused kernel or the operands are not all contiguous with the same
    /// shape and dtype; the caller then runs the composite update.
    pub fn adam_update_(
        &mut self,
        grad: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        step: &crate::AdamStep,
    ) -> Result<bool> {
        let same = |t: &Tensor| {
            t.shape() == self.shape() && t.dtype() == self.dtype() && t.is_contiguous()
        };
        if !(self.is_contiguous() && same(grad) && same(m) && same(v))
            || self.device() != grad.device()
            || self.device() != m.device()
            || self.device() != v.device()
            || !self.dtype().is_float()
        {
            return Ok(false);
        }
        let device = *self.device();
        let (ms, _) = m.storage_mut()?;
        let (vs, _) = v.storage_mut()?;
        let (ps, pl) = self.storage_mut()?;
        let pl = pl.clone();
        match device
            .backend()
            .adam_update(ps, &pl, grad.storage(), grad.layout(), ms, vs, step)
        {
            Some(r) => r.map(|()| true),
            None => Ok(false),
        }
    }

    /// In-place fused SGD-with-momentum step of this parameter with gradient `grad` and
    /// momentum buffer `buf` (see [`crate::SgdStep`]). Returns `Ok(false)` without touching
    /// anything when the backend has no fused kernel or the operands are not all contiguous
    /// with the same shape and dtype; the caller then runs the composite update.
    pub fn sgd_update_(
        &mut self,
        grad: &Tensor,
        buf: &mut Tensor,
        step: &crate::SgdStep,
    ) -> Result<bool> {
        let same = |t: &Tensor| {
            t.shape() == self.shape() && t.dtype() == self.dtype() && t.is_contiguous()
        };
        if !(self.is_contiguous() && same(grad) && same(buf))
            || self.device() != grad.device()
            || self.device() != buf.device()
            || !self.dtype().is_float()
        {
            return Ok(false);
        }
        let device = *self.device();
        let (bs, _) = buf.storage_mut()?;
        let (ps, pl) = self.storage_mut()?;
        let pl = pl.clone();
        match device
            .backend()
            .sgd_update(ps, &pl, grad.storage(), grad.layout(), bs, step)
        {
            Some(r) => r.map(|()| true),
            None => Ok(false),
        }
    }

    /// Errors if several elements share storage (an expanded view, or an unfolded one with
    /// overlapping windows): PyTorch refuses in-place writes into expanded views too.
    fn check_writable(&self, op: &'static str) -> Result<()> {
        if self.layout().is_self_overlapping() {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "cannot write in place into an expanded or overlapping tensor of shape {} (strides {:?}): several elements share memory",
                    self.shape(),
                    self.layout().strides()
                ),
            });
        }
        Ok(())
    }

    /// Compares with scalar `s`: as a rank-0 tensor of this dtype, or, for an integer
    /// or bool tensor and a scalar it cannot hold exactly, both sides in f64 (PyTorch
    /// compares an integer tensor with a float scalar in floating point).
    fn cmp_scalar(&self, s: f64, op: CmpOp) -> Result<Tensor> {
        let exact = match self.dtype() {
            DType::I64 => s.fract() == 0.0 && s >= i64::MIN as f64 && s < i64::MAX as f64,
            DType::U32 => s.fract() == 0.0 && s >= 0.0 && s <= u32::MAX as f64,
            DType::Bool => s == 0.0 || s == 1.0,
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => true,
        };
        if exact {
            self.cmp(&self.scalar_like(s)?, op)
        } else {
            let x = self.to_dtype(DType::F64)?;
            x.cmp(&x.scalar_like(s)?, op)
        }
    }

    /// Compares with broadcasting, both sides in their promoted dtype; the result is a
    /// `Bool` mask.
    pub fn cmp(&self, rhs: &Tensor, op: CmpOp) -> Result<Tensor> {
        let name = op.name();
        self.check_device(rhs, name)?;
        if self.dtype() != rhs.dtype() {
            let common = DType::promote(self.dtype(), rhs.dtype());
            return self.to_dtype(common)?.cmp(&rhs.to_dtype(common)?, op);
        }
        let shape = self.shape().broadcast(rhs.shape(), name)?;
        let ll = broadcast_layout(self.layout(), &shape, name)?;
        let rl = broadcast_layout(rhs.layout(), &shape, name)?;
        let storage = self
            .device()
            .backend()
            .cmp(op, self.storage(), &ll, rhs.storage(), &rl)?;
        Ok(Tensor::from_storage(
            storage,
            Layout::contiguous(shape),
            *self.device(),
        ))
    }

    cmp_methods! {
        eq, eq_scalar => Eq;
        ne, ne_scalar => Ne;
        lt, lt_scalar => Lt;
        le, le_scalar => Le;
        gt, gt_scalar => Gt;
        ge, ge_scalar => Ge;
    }

    /// `cond != 0 ? on_true : on_false`, all three broadcast together (PyTorch
    /// `torch.where`). `cond` may have any dtype; the branches are promoted to a common
    /// dtype ([`DType::promote`]).
    pub fn where_(cond: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        const OP: &str = "where";
        on_true.check_device(on_false, OP)?;
        cond.check_device(on_true, OP)?;
        if on_true.dtype() != on_false.dtype() {
            let common = DType::promote(on_true.dtype(), on_false.dtype());
            return Tensor::where_(
                cond,
                &on_true.to_dtype(common)?,
                &on_false.to_dtype(common)?,
            );
        }
        let shape = cond
            .shape()
            .broadcast(on_true.shape(), OP)?
            .broadcast(on_false.shape(), OP)?;
        let cl = broadcast_layout(cond.layout(), &shape, OP)?;
        let tl = broadcast_layout(on_true.layout(), &shape, OP)?;
        let fl = broadcast_layout(on_false.layout(), &shape, OP)?;
        let storage = cond.device().backend().where_cond(
            cond.storage(),
            &cl,
            on_true.storage(),
            &tl,
            on_false.storage(),
            &fl,
        )?;
        let out = Tensor::from_storage(storage, Layout::contiguous(shape), *cond.device());
        hook::record(|| Op::Where, &[cond, on_true, on_false], &out);
        Ok(out)
    }

    /// `value` where `mask` is non-zero, `self` elsewhere; `mask` broadcasts to self's
    /// shape (not the other way round, as PyTorch).
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        let shape = self.shape().broadcast(mask.shape(), "masked_fill")?;
        if &shape != self.shape() {
            return Err(Error::Broadcast {
                op: "masked_fill",
                lhs: self.shape().clone(),
                rhs: mask.shape().clone(),
            });
        }
        Tensor::where_(mask, &self.scalar_like(value)?, self)
    }

    /// True where the value is NaN (`Bool` mask; false everywhere for integers).
    pub fn isnan(&self) -> Result<Tensor> {
        self.ne(self)
    }

    /// True where the value is `+inf` or `-inf`.
    pub fn isinf(&self) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return self.zeros_like()?.to_dtype(DType::Bool);
        }
        self.abs()?.eq_scalar(f64::INFINITY)
    }

    /// True where the value is neither NaN nor infinite.
    pub fn isfinite(&self) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return self.ones_like()?.to_dtype(DType::Bool);
        }
        self.abs()?.lt_scalar(f64::INFINITY)
    }

    /// True if every element is finite.
    pub fn all_finite(&self) -> Result<bool> {
        if !self.dtype().is_float() {
            return Ok(true);
        }
        Ok(self.to_f64_vec()?.iter().all(|v| v.is_finite()))
    }

    /// A mask tensor (any dtype) as this tensor's float dtype: 1.0 / 0.0.
    pub fn mask_as(&self, mask: &Tensor) -> Result<Tensor> {
        let dtype = if self.dtype().is_float() {
            self.dtype()
        } else {
            DType::F32
        };
        mask.ne_scalar(0.0)?.to_dtype(dtype)
    }

    /// `self != 0` as a `Bool` tensor (the truth value PyTorch's logical ops use).
    pub fn to_bool(&self) -> Result<Tensor> {
        self.to_dtype(DType::Bool)
    }

    /// Element-wise logical and of the truth values, broadcasting: a `Bool` mask.
    pub fn logical_and(&self, rhs: &Tensor) -> Result<Tensor> {
        self.to_bool()?.mul(&rhs.to_bool()?)
    }

    /// Element-wise logical or of the truth values, broadcasting: a `Bool` mask.
    pub fn logical_or(&self, rhs: &Tensor) -> Result<Tensor> {
        self.to_bool()?.add(&rhs.to_bool()?)
    }

    /// Element-wise logical exclusive or of the truth values: a `Bool` mask.
    pub fn logical_xor(&self, rhs: &Tensor) -> Result<Tensor> {
        self.to_bool()?.ne(&rhs.to_bool()?)
    }

    /// Element-wise logical not (`self == 0`): a `Bool` mask.
    pub fn logical_not(&self) -> Result<Tensor> {
        self.to_bool()?.eq_scalar(0.0)
    }
}

/// Integer right operands that an integer kernel cannot take: a zero divisor, a negative
/// exponent (PyTorch raises on both).
fn check_int_rhs(op: BinaryOp, rhs: &Tensor) -> Result<()> {
    let bad = match op.int_rhs() {
        IntRhs::Any => return Ok(()),
        IntRhs::NonZero => rhs.eq_scalar(0.0)?.any()?,
        IntRhs::NonNegative if rhs.dtype() == DType::U32 => return Ok(()),
        IntRhs::NonNegative => rhs.lt_scalar(0.0)?.any()?,
    };
    if bad {
        let msg = match op.int_rhs() {
            IntRhs::NonNegative => "integers cannot be raised to negative powers",
            IntRhs::Any | IntRhs::NonZero => "integer division by zero",
        };
        return Err(Error::Invalid {
            op: op.name(),
            msg: format!("{msg} ({} operand of shape {})", rhs.dtype(), rhs.shape()),
        });
    }
    Ok(())
}

/// PyTorch's `rounding_mode` of `div`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundingMode {
    /// Toward negative infinity.
    Floor,
    /// Toward zero.
    Trunc,
}
