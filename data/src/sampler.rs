//! [`Sampler`]: the order in which a `DataLoader` visits a data set in one epoch.
//!
//! A sampler is a pure function of `(len, seed, epoch)`: the same three give the same
//! indices on every machine and for any worker count, and each epoch draws a fresh order
//! from `Rng::derive(seed, &[epoch])`.

use std::collections::BTreeMap;

use crate::{Error, Result, Rng};

/// How a loader orders (or draws) the indices of one epoch.
///
/// ```
/// use lamina_data::sampler::Sampler;
/// # fn main() -> lamina_data::Result<()> {
/// assert_eq!(Sampler::Sequential.indices(4, 0, 0)?, vec![0, 1, 2, 3]);
/// let mut perm = Sampler::Random.indices(5, 42, 0)?;
/// assert_ne!(perm, Sampler::Random.indices(5, 42, 1)?); // a new order each epoch
/// perm.sort();
/// assert_eq!(perm, vec![0, 1, 2, 3, 4]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// `0, 1, ..., len - 1` (PyTorch `SequentialSampler`).
    Sequential,
    /// A fresh uniform permutation each epoch (PyTorch `RandomSampler`, `shuffle=True`).
    Random,
    /// `num_samples` indices drawn with probability proportional to `weights[i]`
    /// (PyTorch `WeightedRandomSampler`). With `replacement`, draws are independent;
    /// without, it is successive sampling without replacement (each draw proportional to
    /// the weights of what is left), so `num_samples` may not exceed the number of
    /// positive weights. `weights` has one finite, non-negative entry per sample and a
    /// positive sum.
    Weighted {
        weights: Vec<f64>,
        num_samples: usize,
        replacement: bool,
    },
    /// Every sample once, shuffled within its class, then interleaved so that every
    /// prefix of the order, and so every batch, holds each class in the proportion of the
    /// whole. `labels[i]` is the class of sample `i`.
    ///
    /// The interleaving is Balinski and Young's quota method: position `m` (1-based) goes
    /// to the class `c` that minimises `(taken_c + 1) / n_c` among those still below
    /// their quota (`taken_c < m · n_c / n`); ties go to the smaller label. Every prefix
    /// of length `m` then holds `floor` or `ceil` of `m · n_c / n` samples of class `c`,
    /// so a batch of `B` holds within 2 (strictly) of `B · n_c / n`. Cost `O(n · classes)`.
    Stratified { labels: Vec<usize> },
}

impl Sampler {
    /// The number of indices one epoch yields over a data set of `len` samples
    /// (`num_samples` for `Weighted`, `len` otherwise).
    pub fn num_samples(&self, len: usize) -> usize {
        match self {
            Sampler::Weighted { num_samples, .. } => *num_samples,
            _ => len,
        }
    }

    /// The indices of epoch `epoch` over a data set of `len` samples, drawn from
    /// `Rng::derive(seed, &[epoch])`. Errors when the sampler does not fit `len` (weights
    /// or labels of another length) or its parameters are invalid.
    pub fn indices(&self, len: usize, seed: u64, epoch: u64) -> Result<Vec<usize>> {
        let mut rng = Rng::derive(seed, &[epoch]);
        match self {
            Sampler::Sequential => Ok((0..len).collect()),
            Sampler::Random => {
                let mut v: Vec<usize> = (0..len).collect();
                rng.shuffle(&mut v);
                Ok(v)
            }
            Sampler::Weighted {
                weights,
                num_samples,
                replacement,
            } => weighted(weights, *num_samples, *replacement, len, &mut rng),
            Sampler::Stratified { labels } => stratified(labels, len, &mut rng),
        }
    }
}

fn weighted(
    weights: &[f64],
    num_samples: usize,
    replacement: bool,
    len: usize,
    rng: &mut Rng,
) -> Result<Vec<usize>> {
    const OP: &str = "Sampler::Weighted";
    let invalid = |msg: String| Err(Error::Invalid { op: OP, msg });
    if weights.len() != len {
        return invalid(format!(
            "weights has {} entries but the data set has {len} samples",
            weights.len()
        ));
    }
    if num_samples == 0 {
        return invalid("num_samples must be positive, got 0".into());
    }
    if let Some((i, w)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
    {
        return invalid(format!(
            "weights[{i}] = {w}; weights must be finite and >= 0"
        ));
    }
    let total: f64 = weights.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return invalid(format!(
            "the weights sum to {total}; the sum must be positive and finite"
        ));
    }
    if replacement {
        // Inverse CDF: the first i with x < cum[i]. A zero weight has an empty interval,
        // so it is never drawn; rounding that lands on `total` falls back to the last
        // positive weight.
        let mut cum = Vec::with_capacity(len);
        let mut acc = 0.0;
        for &w in weights {
            acc += w;
            cum.push(acc);
        }
        let last = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        Ok((0..num_samples)
            .map(|_| {
                let x = rng.uniform() * acc;
                cum.partition_point(|&c| c <= x).min(last)
            })
            .collect())
    } else {
        let positive = weights.iter().filter(|&&w| w > 0.0).count();
        if num_samples > positive {
            return invalid(format!(
                "num_samples {num_samples} exceeds the {positive} samples with positive \
                 weight, the most that can be drawn without replacement"
            ));
        }
        // Efraimidis–Spirakis: key_i = ln(u_i) / w_i, sorted descending, is distributed
        // as successive draws without replacement proportional to the weights (what
        // torch.multinomial(replacement=False) samples). u = 1 - uniform() is in (0, 1].
        let mut keyed: Vec<(f64, usize)> = weights
            .iter()
            .enumerate()
            .filter(|(_, &w)| w > 0.0)
            .map(|(i, &w)| ((1.0 - rng.uniform()).ln() / w, i))
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(keyed
            .into_iter()
            .take(num_samples)
            .map(|(_, i)| i)
            .collect())
    }
}

fn stratified(labels: &[usize], len: usize, rng: &mut Rng) -> Result<Vec<usize>> {
    if labels.len() != len {
        return Err(Error::Invalid {
            op: "Sampler::Stratified",
            msg: format!(
                "labels has {} entries but the data set has {len} samples",
                labels.len()
            ),
        });
    }
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &c) in labels.iter().enumerate() {
        by_class.entry(c).or_default().push(i);
    }
    let mut members: Vec<Vec<usize>> = by_class.into_values().collect();
    for m in &mut members {
        rng.shuffle(m);
    }
    Ok(quota_interleave(&members))
}

/// Interleaves `members` (one list per class) by the quota method; see
/// [`Sampler::Stratified`]. Exact integer arithmetic, so the order never depends on
/// rounding.
fn quota_interleave(members: &[Vec<usize>]) -> Vec<usize> {
    let n: usize = members.iter().map(Vec::len).sum();
    let n = n as u128;
    let mut taken = vec![0usize; members.len()];
    let mut out = Vec::with_capacity(n as usize);
    for m in 1..=n {
        let mut best: Option<usize> = None;
        for (c, list) in members.iter().enumerate() {
            let (t, nc) = (taken[c] as u128, list.len() as u128);
            // Below quota: taken_c < m * n_c / n. Priority: smallest (t + 1) / n_c.
            if t < nc && n * t < m * nc {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let (tb, nb) = (taken[b] as u128, members[b].len() as u128);
                        (t + 1) * nb < (tb + 1) * nc
                    }
                };
                if better {
                    best = Some(c);
                }
            }
        }
        // Some class is always below quota: sum(taken) = m - 1 < m = sum(m * n_c / n).
        let Some(c) = best else { break };
        out.push(members[c][taken[c]]);
        taken[c] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_prefixes_stay_within_one() {
        // Class sizes chosen so that the simpler largest-deficit greedy strays past 1.
        let sizes = [39usize, 3, 1, 9, 383, 26, 411, 2, 1];
        let mut next = 0;
        let members: Vec<Vec<usize>> = sizes
            .iter()
            .map(|&s| {
                next += s;
                (next - s..next).collect()
            })
            .collect();
        let class_of = |i: usize| members.iter().position(|m| m.contains(&i)).unwrap();
        let order = quota_interleave(&members);
        let n = order.len();
        assert_eq!(n, sizes.iter().sum::<usize>());
        let mut counts = vec![0usize; sizes.len()];
        for (m, &i) in order.iter().enumerate() {
            counts[class_of(i)] += 1;
            for (c, &s) in sizes.iter().enumerate() {
                let quota = (m + 1) as f64 * s as f64 / n as f64;
                assert!((counts[c] as f64 - quota).abs() < 1.0, "m {m} class {c}");
            }
        }
    }
}
