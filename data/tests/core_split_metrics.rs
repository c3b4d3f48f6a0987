//! Splits and metrics against sklearn's documented outputs, hand-computed values and naive
//! references.

use lamina_data::metrics::{accuracy, argmax_rows, labels_of, roc_auc, ConfusionMatrix, MeanStd};
use lamina_data::split::{train_test_split, train_val_test_split, KFold, StratifiedKFold};
use lamina_data::{Error, Rng};
use lamina_tensor::{DType, Device, Tensor};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Asserts that `parts` are disjoint and together cover `0..n`.
fn assert_partition(parts: &[&[usize]], n: usize) {
    let mut all: Vec<usize> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    all.sort();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
}

fn class_count(idx: &[usize], labels: &[usize], c: usize) -> usize {
    idx.iter().filter(|&&i| labels[i] == c).count()
}

// ---- k-fold ----

#[test]
fn kfold_matches_sklearn_sizes_without_shuffle() {
    // sklearn: KFold(n_splits=3).split(range(10)) -> test [0..4], [4..7], [7..10].
    let folds = KFold::new(3, false, 0).split(10).unwrap();
    let vals: Vec<Vec<usize>> = folds.iter().map(|f| f.val.clone()).collect();
    assert_eq!(
        vals,
        vec![
            (0..4).collect::<Vec<_>>(),
            (4..7).collect(),
            (7..10).collect()
        ]
    );
    for f in &folds {
        assert_partition(&[&f.train, &f.val], 10);
        assert!(
            f.train.windows(2).all(|w| w[0] < w[1]),
            "train is ascending"
        );
    }
    // sklearn's docstring: KFold(n_splits=2) on 4 samples -> train [2, 3] test [0, 1], then
    // train [0, 1] test [2, 3].
    let folds = KFold::new(2, false, 0).split(4).unwrap();
    assert_eq!(
        (folds[0].train.clone(), folds[0].val.clone()),
        (vec![2, 3], vec![0, 1])
    );
    assert_eq!(
        (folds[1].train.clone(), folds[1].val.clone()),
        (vec![0, 1], vec![2, 3])
    );
}

#[test]
fn kfold_shuffled_keeps_sizes_and_coverage() {
    let folds = KFold::new(4, true, 1).split(11).unwrap();
    let sizes: Vec<usize> = folds.iter().map(|f| f.val.len()).collect();
    assert_eq!(
        sizes,
        vec![3, 3, 3, 2],
        "first 11 % 4 = 3 folds get one extra"
    );
    let vals: Vec<&[usize]> = folds.iter().map(|f| f.val.as_slice()).collect();
    assert_partition(&vals, 11);
    for f in &folds {
        assert_partition(&[&f.train, &f.val], 11);
        assert!(f.val.windows(2).all(|w| w[0] < w[1]));
    }
    let unshuffled = KFold::new(4, false, 1).split(11).unwrap();
    assert_ne!(folds, unshuffled);
    assert_eq!(
        folds,
        KFold::new(4, true, 1).split(11).unwrap(),
        "reproducible"
    );
    assert_ne!(folds, KFold::new(4, true, 2).split(11).unwrap());
}

#[test]
fn kfold_rejects_bad_k() {
    let msg = KFold::new(1, false, 0).split(10).unwrap_err().to_string();
    assert!(msg.contains("at least 2"), "{msg}");
    let msg = KFold::new(11, false, 0).split(10).unwrap_err().to_string();
    assert!(msg.contains("11") && msg.contains("n = 10"), "{msg}");
    assert!(KFold::new(10, false, 0).split(10).is_ok());
}

#[test]
fn stratified_kfold_matches_sklearn_examples() {
    // sklearn's docstring: y = [0, 0, 1, 1], n_splits=2 -> test [0, 2], then [1, 3].
    let folds = StratifiedKFold::new(2, false, 0)
        .split(&[0, 0, 1, 1])
        .unwrap();
    assert_eq!(
        (folds[0].train.clone(), folds[0].val.clone()),
        (vec![1, 3], vec![0, 2])
    );
    assert_eq!(
        (folds[1].train.clone(), folds[1].val.clone()),
        (vec![0, 2], vec![1, 3])
    );
    // sklearn's user guide: 45 zeros and 5 ones, n_splits=3 -> test bincounts [15, 2],
    // [15, 2], [15, 1] and train [30, 3], [30, 3], [30, 4].
    let y: Vec<usize> = (0..50).map(|i| usize::from(i >= 45)).collect();
    for shuffle in [false, true] {
        let folds = StratifiedKFold::new(3, shuffle, 0).split(&y).unwrap();
        let test: Vec<[usize; 2]> = folds
            .iter()
            .map(|f| [class_count(&f.val, &y, 0), class_count(&f.val, &y, 1)])
            .collect();
        assert_eq!(test, vec![[15, 2], [15, 2], [15, 1]]);
        let train: Vec<[usize; 2]> = folds
            .iter()
            .map(|f| [class_count(&f.train, &y, 0), class_count(&f.train, &y, 1)])
            .collect();
        assert_eq!(train, vec![[30, 3], [30, 3], [30, 4]]);
    }
}

#[test]
fn stratified_kfold_spreads_every_class() {
    // Sizes 17, 9, 4 and 2 (< k, allowed), scattered in random order.
    let mut labels: Vec<usize> = [17usize, 9, 4, 2]
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| std::iter::repeat_n(c + 5, n))
        .collect();
    Rng::new(3).shuffle(&mut labels);
    let n = labels.len();
    let k = 5;
    for shuffle in [false, true] {
        let folds = StratifiedKFold::new(k, shuffle, 8).split(&labels).unwrap();
        let vals: Vec<&[usize]> = folds.iter().map(|f| f.val.as_slice()).collect();
        assert_partition(&vals, n);
        for f in &folds {
            assert_partition(&[&f.train, &f.val], n);
        }
        for (c, n_c) in [(5, 17usize), (6, 9), (7, 4), (8, 2)] {
            let counts: Vec<usize> = folds
                .iter()
                .map(|f| class_count(&f.val, &labels, c))
                .collect();
            assert_eq!(counts.iter().sum::<usize>(), n_c);
            for &have in &counts {
                assert!(
                    have == n_c / k || have == n_c.div_ceil(k),
                    "class {c}: {counts:?}"
                );
            }
        }
    }
    let a = StratifiedKFold::new(k, true, 8).split(&labels).unwrap();
    assert_ne!(a, StratifiedKFold::new(k, true, 9).split(&labels).unwrap());
}

#[test]
fn stratified_kfold_errors() {
    assert!(StratifiedKFold::new(1, false, 0)
        .split(&[0, 1, 0, 1])
        .is_err());
    assert!(
        StratifiedKFold::new(5, false, 0)
            .split(&[0, 1, 0, 1])
            .is_err(),
        "k > n"
    );
    // Every class has fewer than k = 3 members: sklearn raises.
    let msg = StratifiedKFold::new(3, false, 0)
        .split(&[0, 1, 2, 3])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("k = 3"), "{msg}");
}

// ---- train / test splits ----

#[test]
fn train_test_split_sizes_follow_sklearn() {
    // sklearn: n_test = ceil(test_size * n): 0.25 of 10 -> 3, 0.3 of 10 -> 3, 0.2 of 7 -> 2.
    for (n, f, want) in [(10, 0.25, 3), (10, 0.3, 3), (7, 0.2, 2), (100, 0.1, 10)] {
        let (train, test) = train_test_split(n, f, 0, None).unwrap();
        assert_eq!(test.len(), want, "{f} of {n}");
        assert_partition(&[&train, &test], n);
    }
    let a = train_test_split(50, 0.2, 1, None).unwrap();
    assert_eq!(a, train_test_split(50, 0.2, 1, None).unwrap());
    assert_ne!(a, train_test_split(50, 0.2, 2, None).unwrap());
}

#[test]
fn train_test_split_rejects_bad_arguments() {
    for f in [0.0, 1.0, -0.1, f64::NAN] {
        let err = train_test_split(10, f, 0, None).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }));
    }
    assert!(
        train_test_split(1, 0.5, 0, None).is_err(),
        "one sample cannot be split"
    );
    assert!(
        train_test_split(10, 0.5, 0, Some(&[0; 9])).is_err(),
        "label count"
    );
    let msg = train_test_split(4, 0.5, 0, Some(&[0, 0, 0, 1]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("class 1") && msg.contains("1 member"), "{msg}");
}

#[test]
fn stratified_train_test_split_keeps_proportions() {
    // 60 / 30 / 10 with 20% test: exactly 12 / 6 / 2 in test.
    let labels: Vec<usize> = (0..100)
        .map(|i| i % 10)
        .map(|d| {
            if d < 6 {
                0
            } else if d < 9 {
                1
            } else {
                2
            }
        })
        .collect();
    let (train, test) = train_test_split(100, 0.2, 5, Some(&labels)).unwrap();
    assert_partition(&[&train, &test], 100);
    let counts: Vec<usize> = (0..3).map(|c| class_count(&test, &labels, c)).collect();
    assert_eq!(counts, vec![12, 6, 2]);
    // Uneven: 0.3 of 23 -> 7 test samples; class c gets within one of 7 * n_c / 23.
    let labels: Vec<usize> = (0..23).map(|i| [0, 0, 1, 2, 2, 2, 1][i % 7]).collect();
    for seed in 0..20 {
        let (train, test) = train_test_split(23, 0.3, seed, Some(&labels)).unwrap();
        assert_eq!(test.len(), 7);
        assert_partition(&[&train, &test], 23);
        for c in 0..3 {
            let n_c = labels.iter().filter(|&&l| l == c).count() as f64;
            let have = class_count(&test, &labels, c) as f64;
            assert!(
                (have - 7.0 * n_c / 23.0).abs() < 1.0,
                "seed {seed} class {c}"
            );
        }
    }
}

#[test]
fn train_val_test_split_three_ways() {
    let s = train_val_test_split(100, 0.15, 0.15, 3, None).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (70, 15, 15));
    assert_partition(&[&s.train, &s.val, &s.test], 100);
    let s = train_val_test_split(10, 0.0, 0.2, 3, None).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (8, 0, 2));
    assert!(train_val_test_split(10, 0.5, 0.5, 0, None).is_err());
    assert!(
        train_val_test_split(10, 0.6, 0.35, 0, None).is_err(),
        "6 + 4 leaves no train"
    );

    let labels: Vec<usize> = (0..200).map(|i| [0, 0, 0, 1, 1, 2, 3, 0][i % 8]).collect();
    let s = train_val_test_split(200, 0.2, 0.1, 7, Some(&labels)).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (140, 40, 20));
    assert_partition(&[&s.train, &s.val, &s.test], 200);
    for c in 0..4 {
        let n_c = labels.iter().filter(|&&l| l == c).count() as f64;
        for (part, size) in [(&s.val, 40.0), (&s.test, 20.0), (&s.train, 140.0)] {
            let have = class_count(part, &labels, c) as f64;
            assert!(
                (have - size * n_c / 200.0).abs() < 2.0,
                "class {c}, part of {size}"
            );
        }
    }
}

// ---- metrics ----

#[test]
fn accuracy_counts_matches() {
    assert!(close(accuracy(&[1, 2, 3, 3], &[1, 2, 0, 3]).unwrap(), 0.75));
    assert!(accuracy(&[], &[]).is_err());
    let msg = accuracy(&[1], &[1, 2]).unwrap_err().to_string();
    assert!(msg.contains("1 entries") && msg.contains("has 2"), "{msg}");
}

#[test]
fn confusion_matrix_by_hand() {
    let target = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
    let pred = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1];
    let cm = ConfusionMatrix::new(&pred, &target, 3).unwrap();
    // Rows actual, columns predicted:
    //   actual 0: [2, 1, 1]   actual 1: [1, 2, 0]   actual 2: [0, 1, 2]
    let rows: Vec<Vec<usize>> = (0..3)
        .map(|a| (0..3).map(|p| cm.counts(a, p)).collect())
        .collect();
    assert_eq!(rows, vec![vec![2, 1, 1], vec![1, 2, 0], vec![0, 1, 2]]);
    // precision = tp / column sum: 2/3, 2/4, 2/3; recall = tp / row sum: 2/4, 2/3, 2/3;
    // F1 = 2tp / (row + column): 4/7, 4/7, 4/6.
    let p = [2.0 / 3.0, 0.5, 2.0 / 3.0];
    let r = [0.5, 2.0 / 3.0, 2.0 / 3.0];
    let f = [4.0 / 7.0, 4.0 / 7.0, 2.0 / 3.0];
    for c in 0..3 {
        assert!(
            close(cm.precision(c), p[c]) && close(cm.recall(c), r[c]) && close(cm.f1(c), f[c]),
            "class {c}"
        );
    }
    // macro P = (2/3 + 1/2 + 2/3) / 3 = 11/18, macro R = 11/18, macro F1 = (8/7 + 2/3) / 3 = 38/63.
    assert!(close(cm.macro_precision(), 11.0 / 18.0));
    assert!(close(cm.macro_recall(), 11.0 / 18.0));
    assert!(close(cm.macro_f1(), 38.0 / 63.0));
    // Weighted by support 4, 3, 3: F1 = (4 * 4/7 + 3 * 4/7 + 3 * 2/3) / 10 = 0.6.
    assert!(close(cm.weighted_f1(), 0.6));
    assert!(close(cm.accuracy(), 0.6));
    assert_eq!((cm.total(), cm.support(0), cm.predicted(1)), (10, 4, 4));
    assert_eq!(cm.counts(3, 0), 0, "outside the matrix");
}

#[test]
fn confusion_matrix_matches_sklearn_docstring() {
    // precision_recall_fscore_support docstring: y_true = [cat, dog, pig, cat, dog, pig],
    // y_pred = [cat, pig, dog, cat, cat, dog]; macro -> (0.22.., 0.33.., 0.26..),
    // weighted -> (0.22.., 0.33.., 0.26..); f1_score(average=None) -> [0.8, 0, 0].
    let (cat, dog, pig) = (0, 1, 2);
    let y_true = [cat, dog, pig, cat, dog, pig];
    let y_pred = [cat, pig, dog, cat, cat, dog];
    let cm = ConfusionMatrix::new(&y_pred, &y_true, 3).unwrap();
    assert!(close(cm.macro_precision(), 2.0 / 9.0));
    assert!(close(cm.macro_recall(), 1.0 / 3.0));
    assert!(close(cm.macro_f1(), 0.8 / 3.0));
    assert!(close(cm.weighted_precision(), 2.0 / 9.0));
    assert!(close(cm.weighted_recall(), 1.0 / 3.0));
    assert!(close(cm.weighted_f1(), 0.8 / 3.0));
    assert!(close(cm.f1(cat), 0.8) && cm.f1(dog) == 0.0 && cm.f1(pig) == 0.0);
    assert!(close(cm.accuracy(), 1.0 / 3.0), "micro average = accuracy");
    // Classes absent from both sides do not dilute the macro average (labels=None).
    let wide = ConfusionMatrix::new(&y_pred, &y_true, 6).unwrap();
    assert!(close(wide.macro_f1(), cm.macro_f1()));
}

#[test]
fn confusion_matrix_rejects_out_of_range_classes() {
    let msg = ConfusionMatrix::new(&[0, 3], &[0, 1], 3)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("pred[1] = 3") && msg.contains("num_classes 3"),
        "{msg}"
    );
    assert!(ConfusionMatrix::new(&[0], &[5], 3).is_err());
}

#[test]
fn confusion_matrix_bounds_num_classes() {
    // Sized from the largest label: a stray label must not ask for num_classes² counters.
    let msg = ConfusionMatrix::empty(5_000_000_000)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("num_classes 5000000000") && msg.contains("at most 1000000"),
        "{msg}"
    );
    // The limit itself is fine: memory grows with the classes and the pairs seen.
    let mut cm = ConfusionMatrix::empty(lamina_data::MAX_CLASSES).unwrap();
    cm.update(&[999_999, 3], &[999_999, 4]).unwrap();
    assert_eq!((cm.counts(999_999, 999_999), cm.counts(4, 3)), (1, 1));
    assert_eq!((cm.total(), cm.support(4), cm.predicted(3)), (2, 1, 1));
    assert!(close(cm.accuracy(), 0.5));
    assert!(close(cm.macro_f1(), 1.0 / 3.0));
}

fn naive_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut sum = 0.0;
    let mut pairs = 0.0;
    for (i, &li) in labels.iter().enumerate() {
        for (j, &lj) in labels.iter().enumerate() {
            if li && !lj {
                pairs += 1.0;
                sum += if scores[i] > scores[j] {
                    1.0
                } else if scores[i] == scores[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    sum / pairs
}

#[test]
fn roc_auc_matches_pair_count_with_ties() {
    let mut rng = Rng::new(12);
    for trial in 0..50 {
        let n = 2 + rng.below(60);
        // One decimal: many ties; a few infinities.
        let mut scores: Vec<f64> = (0..n)
            .map(|_| (rng.uniform() * 10.0).floor() / 10.0)
            .collect();
        if trial % 5 == 0 {
            scores[0] = f64::INFINITY;
            scores[n - 1] = f64::NEG_INFINITY;
        }
        let mut labels: Vec<bool> = (0..n).map(|_| rng.uniform() < 0.4).collect();
        labels[0] = true;
        labels[1] = false;
        let got = roc_auc(&scores, &labels).unwrap();
        let want = naive_auc(&scores, &labels);
        assert!((got - want).abs() < 1e-12, "trial {trial}: {got} vs {want}");
    }
    // sklearn's roc_auc_score docs example.
    assert!(close(
        roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap(),
        0.75
    ));
    // All tied: 0.5.
    assert!(close(
        roc_auc(&[1.0; 4], &[true, false, true, false]).unwrap(),
        0.5
    ));
}

#[test]
fn roc_auc_errors() {
    assert!(roc_auc(&[0.1, 0.2], &[true, true])
        .unwrap_err()
        .to_string()
        .contains("both classes"));
    assert!(roc_auc(&[0.1, f64::NAN], &[true, false])
        .unwrap_err()
        .to_string()
        .contains("scores[1]"));
    assert!(roc_auc(&[0.1], &[true, false]).is_err());
}

#[test]
fn argmax_rows_and_labels_of() {
    let logits = Tensor::from_vec(vec![0.1f32, 0.9, 2.0, -1.0, 3.0, 3.0], [3, 2], &dev()).unwrap();
    assert_eq!(
        argmax_rows(&logits).unwrap(),
        vec![1, 0, 0],
        "first maximum on ties"
    );
    assert!(argmax_rows(&Tensor::zeros([4], DType::F32, &dev()).unwrap()).is_err());

    let i64s = Tensor::from_vec(vec![2i64, 0, 1], [3], &dev()).unwrap();
    assert_eq!(labels_of(&i64s).unwrap(), vec![2, 0, 1]);
    let u32s = Tensor::from_vec(vec![4u32, 1], [2, 1], &dev()).unwrap();
    assert_eq!(labels_of(&u32s).unwrap(), vec![4, 1]);
    let floats = Tensor::from_vec(vec![1.0f32, 0.0], [2], &dev()).unwrap();
    assert_eq!(labels_of(&floats).unwrap(), vec![1, 0]);
    let neg = Tensor::from_vec(vec![1i64, -1], [2], &dev()).unwrap();
    assert!(labels_of(&neg)
        .unwrap_err()
        .to_string()
        .contains("element 1 is -1"));
    let frac = Tensor::from_vec(vec![1.0f64, 2.5], [2], &dev()).unwrap();
    assert!(labels_of(&frac).unwrap_err().to_string().contains("2.5"));
    let nan = Tensor::from_vec(vec![f32::NAN], [1], &dev()).unwrap();
    assert!(labels_of(&nan).is_err());
    let onehot = Tensor::zeros([2, 3], DType::F32, &dev()).unwrap();
    assert!(labels_of(&onehot)
        .unwrap_err()
        .to_string()
        .contains("[2, 3]"));
}

#[test]
fn mean_std_is_numpy_population_std() {
    // np.mean([0.965, 0.993]) = 0.979, np.std(...) = 0.014.
    let s = MeanStd::of(&[0.965, 0.993]);
    assert_eq!(s.to_string(), "0.9790 ± 0.0140");
    assert_eq!(s.n, 2);
    // np.std([2, 4, 4, 4, 5, 5, 7, 9]) = 2.0 (ddof=0); the sample std would be 2.138.
    let s = MeanStd::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
    assert!(close(s.mean, 5.0) && close(s.std, 2.0));
    assert_eq!(format!("{s:.1}"), "5.0 ± 2.0");
}
