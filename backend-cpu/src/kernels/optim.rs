//! Fused optimizer updates: one pass over parameter, gradient and state instead of the
//! ~15 passes (and temporaries) of the composite, with the same arithmetic in the same
//! order, so both paths give identical results.

use lamina_tensor::{AdamStep, SgdStep};

/// Adam's update, element by element, exactly as `lamina_tensor::AdamStep` documents.
pub fn adam_update<T: num_traits::Float>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    s: &AdamStep,
) {
    let c = |x: f64| T::from(x).unwrap_or_else(T::nan);
    let w = 1.0 - s.beta1;
    let (wt, w1t) = (c(w), c(1.0 - w));
    let (b2, one_minus_b2) = (c(s.beta2), c(1.0 - s.beta2));
    let (bc2, eps, neg_step) = (c(s.bc2_sqrt), c(s.eps), c(-s.step_size));
    let zero = T::zero();
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        // The `+ zero` terms mirror the composite's scalar maps (`x * s + 0`), which turn a
        // -0 into +0; keeping them keeps the two paths identical to the bit.
        let d = g - *m;
        *m = if w < 0.5 {
            *m + (d * wt + zero)
        } else {
            g - (d * w1t + zero)
        };
        *v = (*v * b2 + zero) + ((g * one_minus_b2 + zero) * g);
        let denom = (v.sqrt() / bc2) * T::one() + eps;
        *p = *p + ((*m * neg_step + zero) / denom);
    }
}

/// SGD with momentum, element by element, exactly as `lamina_tensor::SgdStep` documents.
pub fn sgd_update<T: num_traits::Float>(p: &mut [T], g: &[T], buf: &mut [T], s: &SgdStep) {
    let c = |x: f64| T::from(x).unwrap_or_else(T::nan);
    let (wd, mu, damp, neg_lr) = (
        c(s.weight_decay),
        c(s.momentum),
        c(1.0 - s.dampening),
        c(-s.lr),
    );
    let (decay, dampen, nesterov) = (s.weight_decay != 0.0, s.dampening != 0.0, s.nesterov);
    let zero = T::zero();
    for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
        let d = if decay { g + (*p * wd + zero) } else { g };
        let d_in = if dampen { d * damp + zero } else { d };
        *b = (*b * mu + zero) + d_in;
        let u = if nesterov { d + (*b * mu + zero) } else { *b };
        *p = *p + (u * neg_lr + zero);
    }
}
