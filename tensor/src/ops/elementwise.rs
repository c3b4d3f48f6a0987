//! Element-wise ops: unary maps, broadcasting binary ops, comparisons, `where_`,
//! `masked_fill`, and the composites built from them.

use std::borrow::Cow;

use crate::hook::{self, Op};
use crate::{BinaryOp, CmpOp, DType, Error, Layout, Result, Shape, Tensor, UnaryOp};

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

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self) -> Result<Tensor> {
            self.unary(UnaryOp::$op)
        }
    )*};
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
            self.binary(rhs, BinaryOp::$op)
        }
    )*};
}

macro_rules! cmp_methods {
    ($($name:ident, $scalar:ident => $op:ident;)*) => {$(
        #[doc = concat!("Element-wise `", stringify!($name), "` with broadcasting: a `U32` mask of 0/1.")]
        pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
            self.cmp(rhs, CmpOp::$op)
        }
        #[doc = concat!("`", stringify!($name), "` against a scalar.")]
        pub fn $scalar(&self, rhs: f64) -> Result<Tensor> {
            self.cmp_scalar(rhs, CmpOp::$op)
        }
    )*};
}

impl Tensor {
    /// Applies a unary map element-wise.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let dtype = self.dtype();
        if !dtype.is_float() && !op.supports_int() {
            return Err(Error::UnsupportedDType {
                op: op.name(),
                dtype,
            });
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

    unary_methods! {
        /// `-x`
        neg => Neg;
        /// `|x|`
        abs => Abs;
        /// `e^x`
        exp => Exp;
        /// Natural logarithm.
        log => Log;
        /// `ln(1 + x)`, accurate near 0.
        log1p => Log1p;
        /// Square root.
        sqrt => Sqrt;
        /// `1 / sqrt(x)`
        rsqrt => Rsqrt;
        /// Sine.
        sin => Sin;
        /// Cosine.
        cos => Cos;
        /// Hyperbolic tangent.
        tanh => Tanh;
        /// `1 / (1 + e^-x)`, stable for large |x|.
        sigmoid => Sigmoid;
        /// `max(x, 0)`
        relu => Relu;
        /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (PyTorch's default).
        gelu => Gelu;
        /// GELU, tanh approximation (PyTorch `approximate='tanh'`).
        gelu_tanh => GeluTanh;
        /// `x * sigmoid(x)`
        silu => Silu;
        /// The error function.
        erf => Erf;
        /// `x * x`
        square => Square;
        /// `1 / x`
        recip => Recip;
        /// `-1`, `0` or `1` (NaN stays NaN).
        sign => Sign;
    }

    /// `x^p` for a scalar exponent.
    pub fn powf(&self, p: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Powf(p))
    }

    /// `min(max(x, lo), hi)`; pass `f64::NEG_INFINITY`/`INFINITY` for a one-sided clamp.
    pub fn clamp(&self, lo: f64, hi: f64) -> Result<Tensor> {
        if lo > hi || lo.is_nan() || hi.is_nan() {
            return Err(Error::Invalid {
                op: "clamp",
                msg: format!("min {lo} must not exceed max {hi}"),
            });
        }
        self.unary(UnaryOp::Clamp(lo, hi))
    }

    /// `mul * x + add` in one pass.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Affine(mul, add))
    }

    /// `x > 0 ? x : slope * x`
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        self.unary(UnaryOp::LeakyRelu(slope))
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
    pub fn div_scalar(&self, s: f64) -> Result<Tensor> {
        if self.dtype().is_float() {
            self.affine(1.0 / s, 0.0)
        } else {
            Err(Error::UnsupportedDType {
                op: "div",
                dtype: self.dtype(),
            })
        }
    }

    /// A rank-0 tensor of this dtype and device (broadcasts as a scalar operand).
    pub fn scalar_like(&self, value: f64) -> Result<Tensor> {
        Tensor::scalar(value, self.dtype(), self.device())
    }

    /// `self op rhs` with PyTorch broadcasting; both dtypes must match.
    pub fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let name = op.name();
        self.check_same(rhs, name)?;
        if !self.dtype().is_float() && matches!(op, BinaryOp::Div | BinaryOp::Pow) {
            return Err(Error::UnsupportedDType {
                op: name,
                dtype: self.dtype(),
            });
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

    binary_methods! {
        /// `self + rhs`, broadcasting.
        add => Add;
        /// `self - rhs`, broadcasting.
        sub => Sub;
        /// `self * rhs`, broadcasting.
        mul => Mul;
        /// `self / rhs`, broadcasting (float dtypes).
        div => Div;
        /// `self ^ rhs`, broadcasting (float dtypes).
        pow => Pow;
        /// Element-wise maximum (NaN propagates).
        maximum => Maximum;
        /// Element-wise minimum (NaN propagates).
        minimum => Minimum;
    }

    /// In place: `self op= rhs` (rhs broadcast to self's shape). Writes into this tensor's
    /// storage when this handle owns it alone, otherwise copies first, so no other tensor
    /// sees the change. The tensor keeps its id.
    pub fn binary_assign(&mut self, rhs: &Tensor, op: BinaryOp) -> Result<()> {
        let name = op.name();
        self.check_same(rhs, name)?;
        self.check_writable(name)?;
        if !self.dtype().is_float() && matches!(op, BinaryOp::Div | BinaryOp::Pow) {
            return Err(Error::UnsupportedDType {
                op: name,
                dtype: self.dtype(),
            });
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

    /// In place: `self = op(self)` (e.g. `UnaryOp::Affine(beta, 0.0)` to scale an
    /// optimizer's moment). Same ownership rule as `binary_assign`; the tensor keeps its id.
    pub fn unary_assign(&mut self, op: UnaryOp) -> Result<()> {
        let dtype = self.dtype();
        if !dtype.is_float() && !op.supports_int() {
            return Err(Error::UnsupportedDType {
                op: op.name(),
                dtype,
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
        self.check_same(src, OP)?;
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

    /// Errors if several elements share storage (an expanded view): PyTorch refuses such
    /// in-place writes too.
    fn check_writable(&self, op: &'static str) -> Result<()> {
        if self.layout().is_self_overlapping() {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "cannot write in place into an expanded tensor of shape {} (strides {:?}): several elements share memory",
                    self.shape(),
                    self.layout().strides()
                ),
            });
        }
        Ok(())
    }

    /// Compares with scalar `s`: as a rank-0 tensor of this dtype, or, for an integer
    /// tensor and a scalar it cannot hold exactly, both sides in f64 (PyTorch compares an
    /// integer tensor with a float scalar in floating point).
    fn cmp_scalar(&self, s: f64, op: CmpOp) -> Result<Tensor> {
        let exact = match self.dtype() {
            DType::I64 => s.fract() == 0.0 && s >= i64::MIN as f64 && s < i64::MAX as f64,
            DType::U32 => s.fract() == 0.0 && s >= 0.0 && s <= u32::MAX as f64,
            _ => true,
        };
        if exact {
            self.cmp(&self.scalar_like(s)?, op)
        } else {
            let x = self.to_dtype(DType::F64)?;
            x.cmp(&x.scalar_like(s)?, op)
        }
    }

    /// Compares with broadcasting; the result is a `U32` mask.
    pub fn cmp(&self, rhs: &Tensor, op: CmpOp) -> Result<Tensor> {
        let name = op.name();
        self.check_same(rhs, name)?;
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
    /// `torch.where`). `cond` may have any dtype; the branches share theirs.
    pub fn where_(cond: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        const OP: &str = "where";
        on_true.check_same(on_false, OP)?;
        cond.check_device(on_true, OP)?;
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

    /// 1 where the value is NaN (`U32` mask).
    pub fn isnan(&self) -> Result<Tensor> {
        self.ne(self)
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
}
