//! `gradcheck`: compares the tape's gradient of a function with central finite differences
//! in f64, input by input, and reports the worst element. PyTorch's defaults: eps 1e-6,
//! atol 1e-5, rtol 1e-3; an element passes when `|analytic - numeric| <= atol + rtol *
//! |numeric|`.
//!
//! A non-scalar output is reduced with a fixed random cotangent `r` (`sum(f(x) * r)`), so
//! one backward checks the vector-Jacobian product `J^T r`, which is wrong whenever any
//! column of `J` is (with probability 1 over `r`).

use std::fmt;

use lamina_tensor::{DType, Error, Result, Tensor};

use crate::Tape;

/// Tolerances and step of the finite differences.
#[derive(Clone, Debug)]
pub struct GradcheckConfig {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
    /// Seed of the random cotangent for non-scalar outputs.
    pub seed: u64,
}

impl Default for GradcheckConfig {
    fn default() -> Self {
        GradcheckConfig {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            seed: 0x5EED,
        }
    }
}

/// The comparison for one input.
#[derive(Clone, Debug)]
pub struct InputReport {
    pub input: usize,
    pub shape: Vec<usize>,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    /// Multi-index of the element with the largest violation (or largest error).
    pub worst_index: Vec<usize>,
    pub analytic: f64,
    pub numeric: f64,
    pub passed: bool,
}

/// Per-input results of one `gradcheck`.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    pub inputs: Vec<InputReport>,
}

impl GradcheckReport {
    pub fn passed(&self) -> bool {
        self.inputs.iter().all(|r| r.passed)
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.inputs {
            writeln!(
                f,
                "input {} {:?}: {} (max abs err {:.3e}, max rel err {:.3e}; worst element {:?}: analytic {:.9e}, numeric {:.9e})",
                r.input,
                r.shape,
                if r.passed { "ok" } else { "MISMATCH" },
                r.max_abs_err,
                r.max_rel_err,
                r.worst_index,
                r.analytic,
                r.numeric
            )?;
        }
        Ok(())
    }
}

fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        if dims[d] > 0 {
            idx[d] = i % dims[d];
            i /= dims[d];
        }
    }
    idx
}

/// Checks the gradient of `f` at `inputs` (float tensors; computed in f64).
pub fn gradcheck(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    cfg: &GradcheckConfig,
) -> Result<GradcheckReport> {
    for t in inputs {
        if !t.dtype().is_float() {
            return Err(Error::UnsupportedDType {
                op: "gradcheck",
                dtype: t.dtype(),
            });
        }
    }
    // Inputs in f64, keeping their layouts when already f64 (non-contiguous views stay so).
    let xs: Vec<Tensor> = inputs
        .iter()
        .map(|t| t.to_dtype(DType::F64))
        .collect::<Result<_>>()?;
    let cotangent = |y: &Tensor| -> Result<Tensor> {
        Tensor::rand_uniform(cfg.seed, 0.5, 1.5, y.shape(), y.dtype(), y.device())
    };
    let scalar = |y: Tensor| -> Result<Tensor> {
        let y = y.to_dtype(DType::F64)?;
        (&y * cotangent(&y)?)?.sum_all()
    };

    // Analytic: one backward through the tape.
    let tape = Tape::new();
    for x in &xs {
        tape.watch(x);
    }
    let loss = scalar(f(&xs)?)?;
    let grads = tape.backward(&loss)?;

    // Numeric: central differences on contiguous copies.
    let base: Vec<Vec<f64>> = xs
        .iter()
        .map(|x| x.to_vec::<f64>())
        .collect::<Result<_>>()?;
    let eval = |k: usize, values: Vec<f64>| -> Result<f64> {
        let mut args: Vec<Tensor> = xs.iter().map(|x| x.detach()).collect();
        args[k] = Tensor::from_vec(values, xs[k].shape().clone(), xs[k].device())?;
        scalar(f(&args)?)?.to_scalar::<f64>()
    };
    let mut reports = Vec::with_capacity(xs.len());
    for (k, x) in xs.iter().enumerate() {
        let analytic = match grads.get(x) {
            Some(g) => g.to_dtype(DType::F64)?.to_vec::<f64>()?,
            None => vec![0.0; x.elem_count()],
        };
        let mut rep = InputReport {
            input: k,
            shape: x.dims().to_vec(),
            max_abs_err: 0.0,
            max_rel_err: 0.0,
            worst_index: Vec::new(),
            analytic: 0.0,
            numeric: 0.0,
            passed: true,
        };
        let mut worst_excess = f64::NEG_INFINITY;
        for i in 0..x.elem_count() {
            let mut plus = base[k].clone();
            plus[i] += cfg.eps;
            let mut minus = base[k].clone();
            minus[i] -= cfg.eps;
            let numeric = (eval(k, plus)? - eval(k, minus)?) / (2.0 * cfg.eps);
            let a = analytic[i];
            let abs = (a - numeric).abs();
            let rel = abs / numeric.abs().max(f64::MIN_POSITIVE);
            rep.max_abs_err = rep.max_abs_err.max(abs);
            rep.max_rel_err = rep.max_rel_err.max(if abs == 0.0 { 0.0 } else { rel });
            let excess = abs - (cfg.atol + cfg.rtol * numeric.abs());
            let bad = excess > 0.0 || excess.is_nan();
            if bad {
                rep.passed = false;
            }
            // The worst element is the one closest to (or furthest past) its tolerance.
            let key = if excess.is_nan() {
                f64::INFINITY
            } else {
                excess
            };
            if key > worst_excess {
                worst_excess = key;
                rep.worst_index = unravel(i, x.dims());
                rep.analytic = a;
                rep.numeric = numeric;
            }
        }
        reports.push(rep);
    }
    Ok(GradcheckReport { inputs: reports })
}
