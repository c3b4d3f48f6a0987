//! Positional information for attention models: the fixed sinusoidal encoding of
//! "Attention Is All You Need" ([`sinusoidal_encoding`], [`SinusoidalPositionalEncoding`]),
//! a learned table of position embeddings ([`LearnedPositionalEmbedding`]) and rotary
//! embeddings ([`apply_rotary`], RoFormer's rotation of query and key features, in the
//! half-split layout of Hugging Face's `rotate_half`, so LLaMA-style weights apply as they
//! are).

use lamina_tensor::{DType, Device, Error, Result, Tensor};

use crate::Module;

/// `[max_len, d_model]`: `PE[p, 2i] = sin(p / 10000^(2i / d_model))` and
/// `PE[p, 2i + 1] = cos(p / 10000^(2i / d_model))` (an odd last column is a sine).
pub fn sinusoidal_encoding(
    max_len: usize,
    d_model: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut v = Vec::with_capacity(max_len * d_model);
    for p in 0..max_len {
        for j in 0..d_model {
            let angle = p as f64 / 10000f64.powf((j - j % 2) as f64 / d_model as f64);
            v.push(if j % 2 == 0 { angle.sin() } else { angle.cos() });
        }
    }
    Tensor::from_vec(v, [max_len, d_model], device)?.to_dtype(dtype)
}

/// The rows `0..len` of a `[max_len, d]` table for an input whose last two dims are
/// `[len, d]`, or an error naming `what`.
fn rows(what: &str, table: &Tensor, x: &Tensor) -> Result<Tensor> {
    let (max_len, d) = (table.dims()[0], table.dims()[1]);
    let r = x.rank();
    if r < 2 || x.dims()[r - 1] != d || x.dims()[r - 2] > max_len {
        return Err(Error::Invalid {
            op: "positional encoding",
            msg: format!(
                "{what}: input {} must end in [L <= {max_len}, {d}]",
                x.shape()
            ),
        });
    }
    table.narrow(0, 0, x.dims()[r - 2])
}

/// Adds [`sinusoidal_encoding`] to inputs `[.., L, d_model]` (batch-first, or unbatched
/// `[L, d_model]`); no parameters.
#[derive(Clone, Debug)]
pub struct SinusoidalPositionalEncoding {
    table: Tensor,
}

impl SinusoidalPositionalEncoding {
    /// Positions `0..max_len` of width `d_model` (F32).
    pub fn new(max_len: usize, d_model: usize, device: &Device) -> Result<Self> {
        Ok(SinusoidalPositionalEncoding {
            table: sinusoidal_encoding(max_len, d_model, DType::F32, device)?,
        })
    }
}

impl Module for SinusoidalPositionalEncoding {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let pe = rows(&self.name(), &self.table, x)?.to_dtype(x.dtype())?;
        x + &pe
    }
    fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}
    fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        let d = self.table.dims();
        format!(
            "SinusoidalPositionalEncoding(max_len {}, d_model {})",
            d[0], d[1]
        )
    }
}

/// A learned position embedding added to inputs `[.., L, d_model]`: parameter `weight`
/// `[max_len, d_model]`, initialised from N(0, 1) as PyTorch's `nn.Embedding`.
#[derive(Clone, Debug)]
pub struct LearnedPositionalEmbedding {
    pub weight: Tensor,
}

impl LearnedPositionalEmbedding {
    /// Positions `0..max_len` of width `d_model` (F32), weights from `seed`.
    pub fn new(max_len: usize, d_model: usize, seed: u64, device: &Device) -> Result<Self> {
        Ok(LearnedPositionalEmbedding {
            weight: Tensor::randn(seed, [max_len, d_model], DType::F32, device)?,
        })
    }
}

impl Module for LearnedPositionalEmbedding {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x + &rows(&self.name(), &self.weight, x)?
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        f(format!("{prefix}weight"), &self.weight);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        f(format!("{prefix}weight"), &mut self.weight);
    }
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        let d = self.weight.dims();
        format!(
            "LearnedPositionalEmbedding(max_len {}, d_model {})",
            d[0], d[1]
        )
    }
}

/// Rotary position embedding of `x` `[.., L, D]` (`D` even; queries or keys per head) for
/// positions `offset .. offset + L`: with `θ_i = base^(−2i / D)` and the halves
/// `x₁ = x[.., :D/2]`, `x₂ = x[.., D/2:]`, the result is
/// `[x₁ cos(pθ) − x₂ sin(pθ), x₂ cos(pθ) + x₁ sin(pθ)]` (`base` is 10000 in RoFormer and
/// LLaMA). A rotation, so norms are kept and `⟨rot(q, m), rot(k, n)⟩` depends on `m − n`
/// only.
pub fn apply_rotary(x: &Tensor, offset: usize, base: f64) -> Result<Tensor> {
    let r = x.rank();
    let d = if r >= 2 { x.dims()[r - 1] } else { 0 };
    if r < 2 || d % 2 != 0 || d == 0 || !(base > 0.0 && base.is_finite()) {
        return Err(Error::Invalid {
            op: "apply_rotary",
            msg: format!(
                "input {} must be [.., L, D] with D even and positive, base {base} positive",
                x.shape()
            ),
        });
    }
    let (len, half) = (x.dims()[r - 2], d / 2);
    let (mut cos, mut sin) = (
        Vec::with_capacity(len * half),
        Vec::with_capacity(len * half),
    );
    for p in offset..offset + len {
        for i in 0..half {
            let angle = p as f64 * base.powf(-2.0 * i as f64 / d as f64);
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    let table = |v: Vec<f64>| Tensor::from_vec(v, [len, half], x.device())?.to_dtype(x.dtype());
    let (cos, sin) = (table(cos)?, table(sin)?);
    let (x1, x2) = (x.narrow(-1, 0, half)?, x.narrow(-1, half, half)?);
    let a = ((&x1 * &cos)? - (&x2 * &sin)?)?;
    let b = ((&x2 * &cos)? + (&x1 * &sin)?)?;
    Tensor::cat(&[&a, &b], -1)
}
