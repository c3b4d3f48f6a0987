//! Index splits for validation (sklearn's `model_selection`): [`train_test_split`],
//! [`train_val_test_split`], [`KFold`] and [`StratifiedKFold`].
//!
//! Everything here works on indices `0..n`; turn them into data sets with
//! [`Subset`](crate::dataset::Subset) (or [`Fold::subsets`], [`Split::subsets`]). Shuffles
//! come from `Rng::new(seed)`, so a seed names a split on every machine. Sizes follow
//! sklearn: a test fraction `f` of `n` samples gives `ceil(f · n)` test samples, and k-fold
//! gives the first `n % k` folds one extra sample.

use std::collections::HashMap;
use std::sync::Arc;

use crate::dataset::{Dataset, Subset};
use crate::{Error, Result, Rng};

/// The indices of a three-way split, each list in random order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Indices to train on.
    pub train: Vec<usize>,
    /// Indices for model selection (early stopping, hyper-parameters).
    pub val: Vec<usize>,
    /// Indices held out for the final score.
    pub test: Vec<usize>,
}

impl Split {
    /// The three parts as views of `dataset` (train, val, test).
    pub fn subsets(&self, dataset: Arc<dyn Dataset>) -> Result<(Subset, Subset, Subset)> {
        Ok((
            Subset::new(dataset.clone(), self.train.clone())?,
            Subset::new(dataset.clone(), self.val.clone())?,
            Subset::new(dataset, self.test.clone())?,
        ))
    }
}

/// One fold of a cross-validation: train on `train`, score on `val`. Both are sorted
/// ascending, as sklearn returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fold {
    /// Indices to train on.
    pub train: Vec<usize>,
    /// Indices to score on.
    pub val: Vec<usize>,
}

impl Fold {
    /// The fold as views of `dataset` (train, val).
    pub fn subsets(&self, dataset: Arc<dyn Dataset>) -> Result<(Subset, Subset)> {
        Ok((
            Subset::new(dataset.clone(), self.train.clone())?,
            Subset::new(dataset, self.val.clone())?,
        ))
    }
}

/// `ceil(fraction · n)`, reading a product within rounding noise of an integer as that
/// integer (so 0.3 · 10 is 3, whatever the last bit says).
fn part_size(fraction: f64, n: usize) -> usize {
    let x = fraction * n as f64;
    let r = x.round();
    if (x - r).abs() <= 1e-9 * (n.max(1) as f64) {
        r as usize
    } else {
        x.ceil() as usize
    }
}

fn check_fraction(op: &'static str, name: &str, f: f64, allow_zero: bool) -> Result<()> {
    let ok = f.is_finite() && f < 1.0 && (f > 0.0 || (allow_zero && f == 0.0));
    if ok {
        Ok(())
    } else {
        let range = if allow_zero { "[0, 1)" } else { "(0, 1)" };
        Err(Error::Invalid {
            op,
            msg: format!("{name} must be in {range}, got {f}"),
        })
    }
}

/// Splits `0..n` into `(train, test)` with `ceil(test_fraction · n)` test indices (sklearn
/// `train_test_split(shuffle=True)`), both in random order.
///
/// With `stratify = Some(labels)` (one label per index) each class is split in
/// proportion: the test set holds `floor` or `ceil` of `n_test · n_c / n` members of
/// class `c` (largest remainders, sklearn's `StratifiedShuffleSplit`). As sklearn, every
/// class needs 2 members and each side at least as many indices as there are classes.
///
/// ```
/// # fn main() -> lamina_data::Result<()> {
/// let (train, test) = lamina_data::split::train_test_split(10, 0.25, 0, None)?;
/// assert_eq!((train.len(), test.len()), (7, 3)); // ceil(2.5) = 3 test samples
/// # Ok(()) }
/// ```
pub fn train_test_split(
    n: usize,
    test_fraction: f64,
    seed: u64,
    stratify: Option<&[usize]>,
) -> Result<(Vec<usize>, Vec<usize>)> {
    const OP: &str = "train_test_split";
    check_fraction(OP, "test_fraction", test_fraction, false)?;
    let n_test = part_size(test_fraction, n);
    if n_test == 0 || n_test >= n {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "test_fraction {test_fraction} of n = {n} samples leaves {n_test} for test and \
                 {} for train; both need at least one",
                n.saturating_sub(n_test)
            ),
        });
    }
    let mut parts = split_parts(OP, n, &[n_test], seed, stratify)?;
    let test = parts.swap_remove(0);
    let train = parts.swap_remove(0);
    Ok((train, test))
}

/// Splits `0..n` into train, validation and test with `ceil(val · n)` and
/// `ceil(test · n)` indices for the last two (either may be 0) and the rest, at least
/// one, for train. `stratify` works as in [`train_test_split`], each part in proportion.
pub fn train_val_test_split(
    n: usize,
    val: f64,
    test: f64,
    seed: u64,
    stratify: Option<&[usize]>,
) -> Result<Split> {
    const OP: &str = "train_val_test_split";
    check_fraction(OP, "val", val, true)?;
    check_fraction(OP, "test", test, true)?;
    let (n_val, n_test) = (part_size(val, n), part_size(test, n));
    if n_val + n_test >= n {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "val {val} and test {test} of n = {n} samples take {n_val} + {n_test}, \
                 leaving no training samples"
            ),
        });
    }
    let mut parts = split_parts(OP, n, &[n_test, n_val], seed, stratify)?;
    let train = parts.pop().unwrap_or_default();
    let val = parts.pop().unwrap_or_default();
    let test = parts.pop().unwrap_or_default();
    Ok(Split { train, val, test })
}

/// Parts of `sizes[0], sizes[1], ...` indices and a last part with the rest, each
/// shuffled. `sum(sizes) < n` is the caller's guarantee.
fn split_parts(
    op: &'static str,
    n: usize,
    sizes: &[usize],
    seed: u64,
    stratify: Option<&[usize]>,
) -> Result<Vec<Vec<usize>>> {
    let mut rng = Rng::new(seed);
    let rest = n - sizes.iter().sum::<usize>();
    let mut all_sizes = sizes.to_vec();
    all_sizes.push(rest);
    let mut parts: Vec<Vec<usize>> = all_sizes.iter().map(|&s| Vec::with_capacity(s)).collect();
    match stratify {
        None => {
            let mut perm: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut perm);
            let mut start = 0;
            for (part, &s) in parts.iter_mut().zip(&all_sizes) {
                part.extend_from_slice(&perm[start..start + s]);
                start += s;
            }
        }
        Some(labels) => {
            let members = class_members(op, labels, n)?;
            if let Some(m) = members.iter().find(|m| m.len() < 2) {
                return Err(Error::Invalid {
                    op,
                    msg: format!(
                        "class {} has only 1 member; stratifying needs at least 2 per class",
                        labels[m[0]]
                    ),
                });
            }
            let k = members.len();
            if let Some(&s) = all_sizes.iter().find(|&&s| s > 0 && s < k) {
                return Err(Error::Invalid {
                    op,
                    msg: format!(
                        "a part of {s} samples cannot hold one of each of the {k} classes"
                    ),
                });
            }
            let mut members = members;
            for m in &mut members {
                rng.shuffle(m);
            }
            // Allocate each part in proportion to what is left of every class; the last
            // part takes the rest.
            let mut left: Vec<usize> = members.iter().map(Vec::len).collect();
            let mut taken = vec![0usize; k];
            for (p, &s) in sizes.iter().enumerate() {
                let alloc = approximate_mode(&left, s, &mut rng);
                for c in 0..k {
                    parts[p].extend_from_slice(&members[c][taken[c]..taken[c] + alloc[c]]);
                    taken[c] += alloc[c];
                    left[c] -= alloc[c];
                }
            }
            for c in 0..k {
                parts[sizes.len()].extend_from_slice(&members[c][taken[c]..]);
            }
        }
    }
    for part in &mut parts {
        rng.shuffle(part);
    }
    Ok(parts)
}

/// Members of each class (classes ordered by label), after checking `labels.len() == n`.
fn class_members(op: &'static str, labels: &[usize], n: usize) -> Result<Vec<Vec<usize>>> {
    if labels.len() != n {
        return Err(Error::Invalid {
            op,
            msg: format!("stratify has {} labels for n = {n} samples", labels.len()),
        });
    }
    let mut by: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &c) in labels.iter().enumerate() {
        by.entry(c).or_default().push(i);
    }
    Ok(by.into_values().collect())
}

/// Splits `size` over classes in proportion to `counts` (sklearn's `_approximate_mode`):
/// each class gets `floor(size · n_c / N)`, and the seats left go to the largest
/// remainders, ties in random order. Exact integer arithmetic; never exceeds `counts`.
fn approximate_mode(counts: &[usize], size: usize, rng: &mut Rng) -> Vec<usize> {
    let total: u128 = counts.iter().map(|&c| c as u128).sum();
    if total == 0 {
        return vec![0; counts.len()];
    }
    let mut alloc: Vec<usize> = Vec::with_capacity(counts.len());
    let mut rem: Vec<(u128, u64, usize)> = Vec::with_capacity(counts.len());
    for (c, &n_c) in counts.iter().enumerate() {
        let x = size as u128 * n_c as u128;
        alloc.push((x / total) as usize);
        rem.push((x % total, rng.next_u64(), c));
    }
    let left = size - alloc.iter().sum::<usize>();
    rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, _, c) in rem.iter().take(left) {
        alloc[c] += 1;
    }
    alloc
}

fn check_k(op: &'static str, k: usize, n: usize) -> Result<()> {
    if k < 2 {
        return Err(Error::Invalid {
            op,
            msg: format!("k must be at least 2, got {k}"),
        });
    }
    if k > n {
        return Err(Error::Invalid {
            op,
            msg: format!("k = {k} folds need at least {k} samples, got n = {n}"),
        });
    }
    Ok(())
}

/// Fold indices: `val` holds the indices assigned to the fold, `train` the rest; both
/// ascending.
fn folds_from_assignment(fold_of: &[usize], k: usize) -> Vec<Fold> {
    (0..k)
        .map(|f| {
            let (val, train): (Vec<usize>, Vec<usize>) =
                (0..fold_of.len()).partition(|&i| fold_of[i] == f);
            Fold { train, val }
        })
        .collect()
}

/// K-fold cross-validation (sklearn `KFold`): `0..n`, optionally shuffled, cut into `k`
/// consecutive folds, the first `n % k` of size `n / k + 1` and the rest `n / k`; each
/// fold is the validation set once.
///
/// ```
/// use lamina_data::split::KFold;
/// # fn main() -> lamina_data::Result<()> {
/// let folds = KFold::new(3, false, 0).split(10)?;
/// assert_eq!(folds[0].val, vec![0, 1, 2, 3]);
/// assert_eq!(folds[1].val, vec![4, 5, 6]);
/// assert_eq!(folds[2].train, vec![0, 1, 2, 3, 4, 5, 6]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KFold {
    k: usize,
    shuffle: bool,
    seed: u64,
}

impl KFold {
    /// `k` folds; with `shuffle`, indices are permuted by `Rng::new(seed)` before cutting.
    pub fn new(k: usize, shuffle: bool, seed: u64) -> Self {
        KFold { k, shuffle, seed }
    }

    /// The `k` folds of `0..n`. Errors when `k < 2` or `k > n`.
    pub fn split(&self, n: usize) -> Result<Vec<Fold>> {
        check_k("KFold", self.k, n)?;
        let mut order: Vec<usize> = (0..n).collect();
        if self.shuffle {
            Rng::new(self.seed).shuffle(&mut order);
        }
        let mut fold_of = vec![0usize; n];
        let (base, extra) = (n / self.k, n % self.k);
        let mut start = 0;
        for f in 0..self.k {
            let size = base + usize::from(f < extra);
            for &i in &order[start..start + size] {
                fold_of[i] = f;
            }
            start += size;
        }
        Ok(folds_from_assignment(&fold_of, self.k))
    }
}

/// Stratified k-fold (sklearn `StratifiedKFold`, sklearn ≥ 0.22's algorithm): each
/// class is dealt across the folds so that fold `f` holds `floor` or `ceil` of `n_c / k`
/// members of class `c`.
///
/// Exactly as sklearn: classes are numbered by first appearance, the sorted class
/// sequence is dealt round-robin (`y_sorted[f::k]` goes to fold `f`) to fix how many of
/// each class every fold gets, and then a class's members, in index order (or shuffled
/// when `shuffle`), fill those slots fold by fold. So without shuffling the folds equal
/// sklearn's. A class with fewer than `k` members is allowed (sklearn warns) and is simply
/// missing from some validation folds; only when *every* class is smaller than `k` is it
/// an error, as in sklearn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StratifiedKFold {
    k: usize,
    shuffle: bool,
    seed: u64,
}

impl StratifiedKFold {
    /// `k` folds; with `shuffle`, which member of a class lands in which fold is drawn
    /// from `Rng::new(seed)`.
    pub fn new(k: usize, shuffle: bool, seed: u64) -> Self {
        StratifiedKFold { k, shuffle, seed }
    }

    /// The `k` folds of `0..labels.len()`, stratified by `labels`. Errors when `k < 2`,
    /// `k > labels.len()`, or every class has fewer than `k` members.
    pub fn split(&self, labels: &[usize]) -> Result<Vec<Fold>> {
        const OP: &str = "StratifiedKFold";
        let (n, k) = (labels.len(), self.k);
        check_k(OP, k, n)?;
        // Encode classes in order of first appearance, as sklearn does.
        let mut code: HashMap<usize, usize> = HashMap::new();
        let encoded: Vec<usize> = labels
            .iter()
            .map(|&l| {
                let next = code.len();
                *code.entry(l).or_insert(next)
            })
            .collect();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); code.len()];
        for (i, &c) in encoded.iter().enumerate() {
            members[c].push(i);
        }
        let largest = members.iter().map(Vec::len).max().unwrap_or(0);
        if largest < k {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "k = {k} is greater than the number of members of every class \
                     (the largest has {largest})"
                ),
            });
        }
        // sklearn's allocation: fold f gets #{ j in class c's run of the sorted labels :
        // j % k == f } members of class c. `slots` lists those folds, ascending, one entry
        // per member.
        let mut rng = Rng::new(self.seed);
        let mut fold_of = vec![0usize; n];
        let mut start = 0;
        for class_members in &members {
            let n_c = class_members.len();
            let mut slots: Vec<usize> = (start..start + n_c).map(|j| j % k).collect();
            slots.sort_unstable();
            start += n_c;
            if self.shuffle {
                rng.shuffle(&mut slots);
            }
            for (&i, f) in class_members.iter().zip(slots) {
                fold_of[i] = f;
            }
        }
        Ok(folds_from_assignment(&fold_of, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_ignores_rounding_noise() {
        assert_eq!(part_size(0.3, 10), 3);
        assert_eq!(part_size(0.1 * 3.0, 10), 3); // 0.30000000000000004
        assert_eq!(part_size(0.25, 10), 3);
        assert_eq!(part_size(0.2, 7), 2);
    }

    #[test]
    fn approximate_mode_is_largest_remainder() {
        let mut rng = Rng::new(0);
        // 5 of [6, 3, 1]: exact 3, 1.5, 0.5 -> floors 3, 1, 0, one seat left, tie between
        // classes 1 and 2 (remainder 0.5 each).
        let a = approximate_mode(&[6, 3, 1], 5, &mut rng);
        assert_eq!(a.iter().sum::<usize>(), 5);
        assert_eq!(a[0], 3);
        assert!(a == vec![3, 2, 0] || a == vec![3, 1, 1], "{a:?}");
        assert_eq!(approximate_mode(&[4, 4], 8, &mut rng), vec![4, 4]);
    }
}
