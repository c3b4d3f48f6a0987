//! Choosing the next token from a language model's logits ([`sample_next`]) and
//! autoregressive generation with any model ([`generate`]).
//!
//! [`Sampling`] is greedy decoding (argmax) or a seeded random draw from the softmax,
//! shaped as Hugging Face's `generate` does, in this order: divide the logits by the
//! temperature, keep the `top_k` most probable tokens, then keep the nucleus of `top_p`
//! (the smallest set of most probable tokens whose probabilities add up to `top_p`, at
//! least one), renormalise and draw. Ties in the ranking go to the lower token id, so
//! every filter keeps a well-defined set (`torch.argmax` picks the first maximum too).
//!
//! Every draw is a pure function of the logits and a seed (Lamina's counter-based
//! SplitMix64, [`lamina_tensor::rng`]): the same seed gives the same tokens on every
//! machine.
//!
//! ```
//! use lamina_nn::generate::{generate, sample_next, Sampling};
//! use lamina_tensor::Tensor;
//! # fn main() -> lamina_tensor::Result<()> {
//! let dev = lamina_backend_cpu::device();
//! let logits = Tensor::from_vec(vec![0.1f32, 2.0, -1.0, 0.5], [4], &dev)?;
//! assert_eq!(sample_next(&logits, &Sampling::Greedy, 0)?, vec![1]);
//! let nucleus = Sampling::random().temperature(0.8).top_k(3).top_p(0.9);
//! assert_eq!(sample_next(&logits, &nucleus, 7)?, sample_next(&logits, &nucleus, 7)?);
//!
//! // A toy "model" that always prefers the token after the last one (mod 4).
//! let step = |ids: &[u32]| {
//!     let mut l = vec![0.0f32; 4];
//!     l[(*ids.last().unwrap() as usize + 1) % 4] = 10.0;
//!     Tensor::from_vec(l, [4], &dev)
//! };
//! assert_eq!(generate(&[2], 5, &Sampling::Greedy, 0, step)?, vec![3, 0, 1, 2, 3]);
//! # Ok(()) }
//! ```

use lamina_tensor::rng::{mix64, unit_f64};
use lamina_tensor::{DType, Error, Result, Tensor};

/// How [`sample_next`] turns logits into a token.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Sampling {
    /// The most probable token (argmax of the logits; the lower id on a tie). No
    /// randomness.
    #[default]
    Greedy,
    /// A seeded draw from `softmax(logits / temperature)`, restricted to the `top_k`
    /// most probable tokens, then to the nucleus of `top_p`, and renormalised.
    Random {
        /// Divides the logits: below 1 sharpens, above 1 flattens. Finite and > 0.
        temperature: f64,
        /// Keep only the `k` most probable tokens (exactly `k`: ties at the `k`-th
        /// place go to the lower ids, where Hugging Face keeps every tied token).
        /// `None` keeps all; `Some(0)` is an error.
        top_k: Option<usize>,
        /// Keep the smallest set of most probable tokens whose probability (after
        /// `top_k`) adds up to at least `p`, and at least one token. In `(0, 1]`;
        /// `None` or `1` keeps all.
        top_p: Option<f64>,
    },
}

impl Sampling {
    /// Argmax decoding.
    pub const fn greedy() -> Sampling {
        Sampling::Greedy
    }

    /// A draw from the softmax of the logits: temperature 1, no `top_k`, no `top_p`
    /// (Hugging Face's `do_sample=True` with its default filters off).
    pub const fn random() -> Sampling {
        Sampling::Random {
            temperature: 1.0,
            top_k: None,
            top_p: None,
        }
    }

    /// The same sampling with this temperature (greedy becomes [`Sampling::random`]
    /// first).
    pub fn temperature(self, temperature: f64) -> Sampling {
        match self.into_random() {
            Sampling::Random { top_k, top_p, .. } => Sampling::Random {
                temperature,
                top_k,
                top_p,
            },
            Sampling::Greedy => unreachable!(),
        }
    }

    /// The same sampling keeping only the `k` most probable tokens (greedy becomes
    /// [`Sampling::random`] first).
    pub fn top_k(self, k: usize) -> Sampling {
        match self.into_random() {
            Sampling::Random {
                temperature, top_p, ..
            } => Sampling::Random {
                temperature,
                top_k: Some(k),
                top_p,
            },
            Sampling::Greedy => unreachable!(),
        }
    }

    /// The same sampling keeping only the nucleus of probability `p` (greedy becomes
    /// [`Sampling::random`] first).
    pub fn top_p(self, p: f64) -> Sampling {
        match self.into_random() {
            Sampling::Random {
                temperature, top_k, ..
            } => Sampling::Random {
                temperature,
                top_k,
                top_p: Some(p),
            },
            Sampling::Greedy => unreachable!(),
        }
    }

    fn into_random(self) -> Sampling {
        match self {
            Sampling::Greedy => Sampling::random(),
            s => s,
        }
    }

    /// `Ok` when the parameters are usable: a finite temperature > 0, `top_k` ≥ 1 and
    /// `top_p` in `(0, 1]`; otherwise [`Error::Invalid`] naming the bad value.
    pub fn validate(&self) -> Result<()> {
        const OP: &str = "Sampling";
        let Sampling::Random {
            temperature,
            top_k,
            top_p,
        } = *self
        else {
            return Ok(());
        };
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "temperature must be finite and positive, got {temperature} \
                     (use Sampling::Greedy for argmax decoding)"
                ),
            });
        }
        if top_k == Some(0) {
            return Err(Error::Invalid {
                op: OP,
                msg: "top_k must be at least 1, got 0".into(),
            });
        }
        if let Some(p) = top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!("top_p must be in (0, 1], got {p}"),
                });
            }
        }
        Ok(())
    }

    /// The distribution this sampling draws from for one row of logits: `probs[i]` is
    /// the probability of token `i` (zero for every token the filters remove; one-hot
    /// at the argmax for [`Sampling::Greedy`]). Logits may hold `-inf` (a masked token)
    /// but not NaN or `+inf`, and at least one must be finite.
    pub fn probabilities(&self, logits: &[f64]) -> Result<Vec<f64>> {
        self.validate()?;
        check_logits(logits)?;
        Ok(self.probs_unchecked(logits))
    }

    fn probs_unchecked(&self, logits: &[f64]) -> Vec<f64> {
        let mut probs = vec![0.0; logits.len()];
        let Sampling::Random {
            temperature,
            top_k,
            top_p,
        } = *self
        else {
            probs[argmax(logits)] = 1.0;
            return probs;
        };
        // Rank by logit (dividing by a positive temperature keeps the order; ranking
        // the logits themselves avoids ties that the division's rounding could make).
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        let max = logits[order[0]];
        let mut keep = top_k.map_or(order.len(), |k| k.min(order.len()));
        let weights: Vec<f64> = order[..keep]
            .iter()
            .map(|&i| ((logits[i] - max) / temperature).exp())
            .collect();
        if let Some(p) = top_p.filter(|&p| p < 1.0) {
            let total: f64 = weights.iter().sum();
            // Token j stays while the tokens ranked above it hold less than p: the
            // smallest prefix reaching p. The slack absorbs rounding in the sum when
            // the prefix reaches p exactly.
            let mut cum = 0.0;
            let mut m = 0;
            while m < keep && (m == 0 || cum < p - 1e-12) {
                cum += weights[m] / total;
                m += 1;
            }
            keep = m;
        }
        let total: f64 = weights[..keep].iter().sum();
        for (&i, &w) in order[..keep].iter().zip(&weights) {
            probs[i] = w / total;
        }
        probs
    }
}

/// The index of the largest value, the lower one on a tie (`-inf` counts; no NaN).
fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate().skip(1) {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

fn check_logits(logits: &[f64]) -> Result<()> {
    const OP: &str = "sample_next";
    if logits.is_empty() {
        return Err(Error::Invalid {
            op: OP,
            msg: "the logits have no token (vocabulary of 0)".into(),
        });
    }
    if let Some((i, x)) = logits
        .iter()
        .enumerate()
        .find(|(_, x)| x.is_nan() || **x == f64::INFINITY)
    {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("logit {i} is {x}: logits must be finite or -inf"),
        });
    }
    if logits.iter().all(|&x| x == f64::NEG_INFINITY) {
        return Err(Error::Invalid {
            op: OP,
            msg: "every logit is -inf: no token can be drawn".into(),
        });
    }
    Ok(())
}

/// One token per row of `logits`: `[vocab]` gives one, `[batch, vocab]` one per row, as
/// `u32` token ids (what `lamina_data::text` encodes and decodes).
///
/// Row `b` draws the uniform `u = unit_f64(seed, b)` of [`lamina_tensor::rng`] and takes
/// the first token (in id order) whose cumulative probability under
/// [`Sampling::probabilities`] exceeds `u`: the same `(logits, sampling, seed)` always
/// gives the same tokens. Greedy ignores the seed.
///
/// Errors: bad sampling parameters (see [`Sampling::validate`]), logits of a rank other
/// than 1 or 2, a non-float dtype, an empty vocabulary, a NaN or `+inf` logit, or a row
/// whose logits are all `-inf`; each names the row.
pub fn sample_next(logits: &Tensor, sampling: &Sampling, seed: u64) -> Result<Vec<u32>> {
    const OP: &str = "sample_next";
    sampling.validate()?;
    let (rows, vocab) = match *logits.dims() {
        [v] => (1, v),
        [b, v] => (b, v),
        _ => {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "logits must be [vocab] or [batch, vocab], got shape {}",
                    logits.shape()
                ),
            })
        }
    };
    if !logits.dtype().is_float() {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("logits must be a float tensor, got {:?}", logits.dtype()),
        });
    }
    if u32::try_from(vocab).is_err() {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("a vocabulary of {vocab} tokens does not fit u32 token ids"),
        });
    }
    let values = logits.to_dtype(DType::F64)?.to_vec::<f64>()?;
    if vocab == 0 {
        check_logits(&[])?;
    }
    let mut out = Vec::with_capacity(rows);
    for (b, row) in values.chunks(vocab).enumerate() {
        check_logits(row).map_err(|e| {
            if rows > 1 {
                e.context(format!("row {b} of logits {}", logits.shape()))
            } else {
                e
            }
        })?;
        let token = match sampling {
            Sampling::Greedy => argmax(row),
            _ => draw(&sampling.probs_unchecked(row), unit_f64(seed, b as u64)),
        };
        out.push(token as u32);
    }
    Ok(out)
}

/// The first index whose cumulative probability exceeds `u` in `[0, 1)`, among tokens
/// of nonzero probability (the last such token if rounding leaves the sum below `u`).
fn draw(probs: &[f64], u: f64) -> usize {
    let mut cum = 0.0;
    let mut last = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            cum += p;
            last = i;
            if u < cum {
                return i;
            }
        }
    }
    last
}

/// The seed of new token `t` in [`generate`]: an independent stream per position.
fn step_seed(seed: u64, t: usize) -> u64 {
    mix64(mix64(seed) ^ mix64((t as u64).wrapping_add(0x5851_F42D)))
}

/// Autoregressive generation with any model: `max_new_tokens` times, call
/// `step(ids)` with the prompt and every token generated so far, take the logits of the
/// last position, draw the next token with [`sample_next`] and append it. Returns the
/// new tokens only (not the prompt).
///
/// `step` returns the logits as `[vocab]`, `[positions, vocab]` or `[1, positions,
/// vocab]` (the last position is used), so it can be an LSTM that feeds only the last
/// token and keeps its state in the closure, or a GPT that runs on the last
/// `block_size` tokens of `ids`. Token `t` is drawn with a seed derived from `(seed,
/// t)`: the same seed gives the same text.
///
/// Errors: bad sampling parameters, an empty prompt, logits of another shape, and any
/// error of `step` (with the step number as context).
pub fn generate<F>(
    prompt: &[u32],
    max_new_tokens: usize,
    sampling: &Sampling,
    seed: u64,
    mut step: F,
) -> Result<Vec<u32>>
where
    F: FnMut(&[u32]) -> Result<Tensor>,
{
    const OP: &str = "generate";
    sampling.validate()?;
    if prompt.is_empty() {
        return Err(Error::Invalid {
            op: OP,
            msg: "the prompt needs at least one token".into(),
        });
    }
    let mut ids = Vec::with_capacity(prompt.len() + max_new_tokens);
    ids.extend_from_slice(prompt);
    for t in 0..max_new_tokens {
        let context = || format!("generate: new token {t}");
        let logits = step(&ids).map_err(|e| e.context(context()))?;
        let last = last_position(&logits).map_err(|e| e.context(context()))?;
        let next =
            sample_next(&last, sampling, step_seed(seed, t)).map_err(|e| e.context(context()))?;
        ids.push(next[0]);
    }
    Ok(ids.split_off(prompt.len()))
}

/// The `[vocab]` logits of the last position of `[vocab]`, `[T, vocab]` or
/// `[1, T, vocab]`.
fn last_position(logits: &Tensor) -> Result<Tensor> {
    let bad = || Error::Invalid {
        op: "generate",
        msg: format!(
            "step must return logits [vocab], [positions, vocab] or [1, positions, vocab], \
             got shape {}",
            logits.shape()
        ),
    };
    match *logits.dims() {
        [_] => Ok(logits.clone()),
        [t, _] if t > 0 => logits.select(0, t - 1),
        [1, t, _] if t > 0 => logits.select(0, 0)?.select(0, t - 1),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::Device;

    fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    fn t1(v: &[f64]) -> Tensor {
        Tensor::from_vec(v.to_vec(), [v.len()], &dev()).unwrap()
    }

    /// Logits whose softmax is `probs` (zero probability as `-inf`).
    fn logits_of(probs: &[f64]) -> Vec<f64> {
        probs
            .iter()
            .map(|&p| if p > 0.0 { p.ln() } else { f64::NEG_INFINITY })
            .collect()
    }

    /// Reference: the renormalised distribution after temperature, top-k, top-p, by
    /// plain f64 code written independently of the implementation (a full sort of
    /// (prob, id) pairs, then prefix sums).
    fn reference(logits: &[f64], t: f64, k: Option<usize>, p: Option<f64>) -> Vec<f64> {
        let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| ((l - m) / t).exp()).collect();
        let s: f64 = e.iter().sum();
        let probs: Vec<f64> = e.iter().map(|x| x / s).collect();
        let mut ranked: Vec<(f64, usize)> = probs.iter().cloned().zip(0..).collect();
        // Descending probability, lower id first on ties.
        ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
        let kk = k.unwrap_or(ranked.len()).min(ranked.len());
        ranked.truncate(kk);
        let s: f64 = ranked.iter().map(|r| r.0).sum();
        for r in &mut ranked {
            r.0 /= s;
        }
        if let Some(p) = p {
            let mut n = 0;
            let mut c = 0.0;
            for r in &ranked {
                n += 1;
                c += r.0;
                if c >= p - 1e-9 {
                    break;
                }
            }
            ranked.truncate(n);
        }
        let s: f64 = ranked.iter().map(|r| r.0).sum();
        let mut out = vec![0.0; logits.len()];
        for r in ranked {
            out[r.1] = r.0 / s;
        }
        out
    }

    fn support(probs: &[f64]) -> Vec<u32> {
        (0..probs.len() as u32)
            .filter(|&i| probs[i as usize] > 0.0)
            .collect()
    }

    /// The set of tokens `sampling` produces over `n` seeds, and their counts.
    fn counts(logits: &Tensor, sampling: &Sampling, n: u64) -> Vec<usize> {
        let mut c = vec![0usize; logits.dims()[logits.rank() - 1]];
        for seed in 0..n {
            c[sample_next(logits, sampling, seed).unwrap()[0] as usize] += 1;
        }
        c
    }

    const PROBS: [f64; 6] = [0.05, 0.3, 0.1, 0.25, 0.1, 0.2];

    #[test]
    fn greedy_is_argmax_per_row() {
        let x = Tensor::from_vec(
            vec![
                0.1f32, 3.0, -1.0, 2.9, 5.0, 5.0, 1.0, 0.0, -2.0, -1.0, -3.0, -1.5,
            ],
            [3, 4],
            &dev(),
        )
        .unwrap();
        // Reference argmax by hand; the tie in row 1 goes to the lower id.
        assert_eq!(
            sample_next(&x, &Sampling::Greedy, 0).unwrap(),
            vec![1, 0, 1]
        );
        assert_eq!(
            sample_next(&x, &Sampling::Greedy, 99).unwrap(),
            vec![1, 0, 1]
        );
        // -inf is a masked token, not an error.
        let masked = t1(&[f64::NEG_INFINITY, -5.0, f64::NEG_INFINITY]);
        assert_eq!(sample_next(&masked, &Sampling::Greedy, 0).unwrap(), vec![1]);
    }

    #[test]
    fn top_k_one_and_tiny_temperature_are_greedy() {
        let logits = t1(&[0.3, 1.2, 1.1, -0.4, 1.19]);
        for seed in 0..200 {
            let g = sample_next(&logits, &Sampling::Greedy, seed).unwrap();
            assert_eq!(g, vec![1]);
            let k1 = Sampling::random().temperature(1.7).top_k(1);
            assert_eq!(sample_next(&logits, &k1, seed).unwrap(), g);
            let cold = Sampling::random().temperature(1e-4);
            assert_eq!(sample_next(&logits, &cold, seed).unwrap(), g);
            // A tiny nucleus keeps the single most probable token.
            let p = Sampling::random().top_p(1e-6);
            assert_eq!(sample_next(&logits, &p, seed).unwrap(), g);
        }
    }

    #[test]
    fn reachable_sets_match_hand_computed_filters() {
        let logits = t1(&logits_of(&PROBS));
        // Ranked: 1 (0.3), 3 (0.25), 5 (0.2), 2 (0.1), 4 (0.1), 0 (0.05).
        let cases: [(Sampling, &[u32]); 7] = [
            (Sampling::random().top_k(3), &[1, 3, 5]),
            // Tie between 2 and 4 at the 4th place: the lower id stays.
            (Sampling::random().top_k(4), &[1, 2, 3, 5]),
            // 0.3 + 0.25 = 0.55 ≥ 0.5: two tokens.
            (Sampling::random().top_p(0.5), &[1, 3]),
            // 0.3 + 0.25 + 0.2 = 0.75 reaches 0.75 exactly: three tokens.
            (Sampling::random().top_p(0.75), &[1, 3, 5]),
            (Sampling::random().top_p(0.76), &[1, 2, 3, 5]),
            // top-p after top-k: within {1, 3, 5} (0.3/0.75 = 0.4, then 0.733..),
            // p = 0.7 needs two tokens.
            (Sampling::random().top_k(3).top_p(0.7), &[1, 3]),
            (Sampling::random().top_p(1.0), &[0, 1, 2, 3, 4, 5]),
        ];
        for (s, want) in cases {
            let Sampling::Random {
                temperature,
                top_k,
                top_p,
            } = s
            else {
                unreachable!()
            };
            let r = reference(&logits_of(&PROBS), temperature, top_k, top_p);
            assert_eq!(support(&r), want, "reference for {s:?}");
            let c = counts(&logits, &s, 3000);
            let seen: Vec<u32> = (0..6).filter(|&i| c[i as usize] > 0).collect();
            assert_eq!(seen, want, "{s:?}: counts {c:?}");
        }
    }

    #[test]
    fn probabilities_match_reference() {
        let logits = [1.3, -0.2, 0.7, 2.1, 2.1, f64::NEG_INFINITY, 0.0];
        for t in [0.5, 1.0, 2.5] {
            for k in [None, Some(1), Some(3), Some(5), Some(10)] {
                for p in [None, Some(0.3), Some(0.6), Some(0.9), Some(1.0)] {
                    let s = Sampling::Random {
                        temperature: t,
                        top_k: k,
                        top_p: p,
                    };
                    let got = s.probabilities(&logits).unwrap();
                    let want = reference(&logits, t, k, p);
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() < 1e-12, "{s:?}: {got:?} vs {want:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn empirical_frequencies_match_renormalised_probabilities() {
        const N: u64 = 20_000;
        let raw = logits_of(&PROBS);
        let logits = t1(&raw);
        let cases = [
            (1.0, None, None),
            (0.7, None, None),
            (1.5, Some(4), None),
            (1.0, None, Some(0.8)),
            (1.3, Some(5), Some(0.85)),
        ];
        for (t, k, p) in cases {
            let s = Sampling::Random {
                temperature: t,
                top_k: k,
                top_p: p,
            };
            let want = reference(&raw, t, k, p);
            let c = counts(&logits, &s, N);
            for i in 0..PROBS.len() {
                let f = c[i] as f64 / N as f64;
                let se = (want[i] * (1.0 - want[i]) / N as f64).sqrt();
                assert!(
                    (f - want[i]).abs() <= 4.5 * se + 1e-12,
                    "{s:?} token {i}: frequency {f}, probability {} (se {se})",
                    want[i]
                );
            }
        }
    }

    #[test]
    fn seeds_reproduce_and_differ_and_rows_are_independent() {
        let x = Tensor::from_vec(
            (0..64).map(|i| ((i * 7) % 11) as f32 * 0.1).collect(),
            [8, 8],
            &dev(),
        )
        .unwrap();
        let s = Sampling::random().temperature(1.2).top_p(0.95);
        let a = sample_next(&x, &s, 5).unwrap();
        assert_eq!(a.len(), 8);
        assert_eq!(a, sample_next(&x, &s, 5).unwrap());
        let others: Vec<Vec<u32>> = (6..12)
            .map(|seed| sample_next(&x, &s, seed).unwrap())
            .collect();
        assert!(others.iter().any(|o| *o != a), "{a:?} {others:?}");
        // F32 and F64 logits draw the same tokens.
        let x64 = x.to_dtype(DType::F64).unwrap();
        assert_eq!(a, sample_next(&x64, &s, 5).unwrap());
    }

    #[test]
    fn bad_parameters_and_logits_are_clear_errors() {
        let l = t1(&[0.0, 1.0]);
        let err = |s: Sampling| sample_next(&l, &s, 0).unwrap_err().to_string();
        for t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let m = err(Sampling::random().temperature(t));
            assert!(m.contains("temperature"), "{m}");
        }
        assert!(err(Sampling::random().top_k(0)).contains("top_k"));
        for p in [0.0, -0.1, 1.5, f64::NAN] {
            let m = err(Sampling::random().top_p(p));
            assert!(m.contains("top_p"), "{m}");
        }
        let nan = Tensor::from_vec(vec![0.0f32, 1.0, f32::NAN, 2.0], [2, 2], &dev()).unwrap();
        let m = sample_next(&nan, &Sampling::Greedy, 0)
            .unwrap_err()
            .to_string();
        assert!(m.contains("row 1") && m.contains("NaN"), "{m}");
        let inf = t1(&[f64::NEG_INFINITY, f64::NEG_INFINITY]);
        assert!(sample_next(&inf, &Sampling::random(), 0).is_err());
        let r3 = Tensor::zeros([1, 2, 3], DType::F32, &dev()).unwrap();
        let m = sample_next(&r3, &Sampling::Greedy, 0)
            .unwrap_err()
            .to_string();
        assert!(m.contains("[1, 2, 3]"), "{m}");
        let r0 = Tensor::zeros([0], DType::F32, &dev()).unwrap();
        assert!(sample_next(&r0, &Sampling::Greedy, 0).is_err());
        let ints = Tensor::from_vec(vec![1i64, 2], [2], &dev()).unwrap();
        assert!(sample_next(&ints, &Sampling::Greedy, 0).is_err());
    }

    /// A bigram "model": logits depend on the last token only.
    fn bigram(ids: &[u32]) -> Result<Tensor> {
        let last = *ids.last().unwrap() as usize;
        let v: Vec<f32> = (0..5)
            .map(|j| (((last * 3 + j * 7) % 5) as f32) * 0.6)
            .collect();
        Tensor::from_vec(v, [5], &dev())
    }

    #[test]
    fn generate_greedy_follows_argmax_chain() {
        let got = generate(&[0, 2], 6, &Sampling::Greedy, 0, bigram).unwrap();
        // Reference: follow argmax of the bigram table by hand-coded loop.
        let mut want = Vec::new();
        let mut last = 2usize;
        for _ in 0..6 {
            let row: Vec<usize> = (0..5).map(|j| (last * 3 + j * 7) % 5).collect();
            let m = *row.iter().max().unwrap();
            last = row.iter().position(|&x| x == m).unwrap();
            want.push(last as u32);
        }
        assert_eq!(got, want);
        assert!(generate(&[1], 0, &Sampling::Greedy, 0, bigram)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn generate_passes_growing_context_and_takes_last_position() {
        let mut seen = Vec::new();
        // A "GPT" returning [1, T, vocab]: only the last position should matter.
        let step = |ids: &[u32]| {
            seen.push(ids.to_vec());
            let t = ids.len();
            let mut v = vec![0.0f32; t * 3];
            for pos in 0..t {
                v[pos * 3] = 9.0; // earlier positions prefer token 0
            }
            v[(t - 1) * 3] = 0.0;
            v[(t - 1) * 3 + 2] = 9.0; // the last prefers token 2
            Tensor::from_vec(v, [1, t, 3], &dev())
        };
        let got = generate(&[1], 3, &Sampling::Greedy, 0, step).unwrap();
        assert_eq!(got, vec![2, 2, 2]);
        assert_eq!(seen, vec![vec![1], vec![1, 2], vec![1, 2, 2]]);
    }

    #[test]
    fn generate_is_seeded() {
        let s = Sampling::random().temperature(1.5);
        let a = generate(&[3], 40, &s, 11, bigram).unwrap();
        assert_eq!(a, generate(&[3], 40, &s, 11, bigram).unwrap());
        assert_ne!(a, generate(&[3], 40, &s, 12, bigram).unwrap());
        // Each step draws from its own stream: not one token repeated.
        assert!(a.iter().any(|&x| x != a[0]), "{a:?}");
    }

    #[test]
    fn generate_errors_name_the_step() {
        assert!(generate(&[], 3, &Sampling::Greedy, 0, bigram).is_err());
        assert!(generate(&[1], 3, &Sampling::random().top_k(0), 0, bigram).is_err());
        let mut n = 0;
        let failing = |ids: &[u32]| {
            n += 1;
            if n == 3 {
                Tensor::zeros([2, 2, 5], DType::F32, &dev())
            } else {
                bigram(ids)
            }
        };
        let m = generate(&[1], 5, &Sampling::Greedy, 0, failing)
            .unwrap_err()
            .to_string();
        assert!(m.contains("new token 2") && m.contains("[2, 2, 5]"), "{m}");
    }
}
