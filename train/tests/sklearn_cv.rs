//! `CrossValidation` against scikit-learn 1.9.1's `cross_validate` (fixture written by
//! `data/tests/fixtures/make_sklearn_fixtures.py`): `make_pipeline(StandardScaler(),
//! NearestCentroid())` under `StratifiedKFold(5)` (unshuffled: Lamina's folds equal
//! scikit-learn's by construction, shuffled ones come from another generator) on the
//! bundled breast-cancer and digits tables. Here the nearest-centroid classifier is
//! written with tensor ops and run through the generic core, with the standardisation
//! fitted by `Preprocess::StandardScaler` on each fold's training rows. The folds, every
//! fold's accuracy and macro F1, and their mean and (ddof 0) std must agree.

use lamina_data::split::StratifiedKFold;
use lamina_data::tabular::{read_csv, CsvOptions};
use lamina_data::transform::one_hot;
use lamina_tensor::{DType, Tensor};
use lamina_train::{CrossValidation, FoldData, Metric, Preprocess, Result};
use serde_json::Value;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sklearn_cv.json"
    );
    let text = std::fs::read_to_string(path).expect("the sklearn_cv.json fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Nearest centroid: class means of the training rows, then `-‖x - c‖²` per class as the
/// held-out rows' scores (`[N, C]`, argmax = nearest).
fn nearest_centroid(fold: &FoldData) -> Result<Tensor> {
    let labels: Vec<usize> = fold
        .y_train
        .to_vec::<i64>()?
        .into_iter()
        .map(|c| c as usize)
        .collect();
    let k = labels.iter().max().map_or(0, |&m| m + 1);
    let dev = fold.x_train.device();
    let onehot = one_hot(&labels, k, DType::F64, dev)?; // [N, C]
    let sums = onehot.t()?.matmul(&fold.x_train)?; // [C, F]
    let counts = onehot.sum([0isize], false)?.reshape([k, 1])?;
    let centroids = (&sums / &counts)?;
    let diff = (fold.x_val.unsqueeze(1)? - centroids.unsqueeze(0)?)?; // [M, C, F]
    Ok(diff.square()?.sum([2isize], false)?.neg()?)
}

#[test]
fn nearest_centroid_cv_matches_sklearn_cross_validate() -> TestResult {
    let fx = fixture();
    assert_eq!(fx["sklearn"], "1.9.1");
    let dev = lamina_backend_cpu::device();
    let cases = fx["cases"].as_array().ok_or("cases")?;
    assert_eq!(cases.len(), 2);
    for case in cases {
        let name = case["data"].as_str().ok_or("data")?;
        let path = format!("{}/../datasets/sklearn/{name}", env!("CARGO_MANIFEST_DIR"));
        let table = read_csv(path, &CsvOptions::default())?;
        let labels = table.class_labels()?;
        let folds = StratifiedKFold::new(5, false, 0).split(&labels)?;
        for (fold, want) in folds
            .iter()
            .zip(case["val_indices"].as_array().ok_or("folds")?)
        {
            let want: Vec<usize> = want
                .as_array()
                .ok_or("indices")?
                .iter()
                .filter_map(Value::as_u64)
                .map(|i| i as usize)
                .collect();
            assert_eq!(fold.val, want, "{name}: held-out rows");
        }

        let x = table.features_tensor(DType::F64, &dev)?;
        let y = table.class_labels_tensor(&dev)?;
        let report = CrossValidation::new(folds, &[Metric::Accuracy, Metric::F1Macro])
            .preprocess(Preprocess::StandardScaler)
            .cross_validate_with(&x, &y, nearest_centroid)?;

        for (metric, key) in [
            (Metric::Accuracy, "accuracy"),
            (Metric::F1Macro, "f1_macro"),
        ] {
            let theirs = &case["scores"][key];
            let folds: Vec<f64> = theirs["folds"]
                .as_array()
                .ok_or("scores")?
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            let ours = report.scores(metric);
            assert_eq!(ours.len(), 5);
            for (a, b) in ours.iter().zip(&folds) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "{name} {key}: lamina {ours:?}, sklearn {folds:?}"
                );
            }
            let s = report.summary(metric).ok_or("summary")?;
            let (mean, std) = (theirs["mean"].as_f64(), theirs["std"].as_f64());
            assert!(
                (s.mean - mean.ok_or("mean")?).abs() < 1e-12,
                "{name} {key} mean"
            );
            assert!(
                (s.std - std.ok_or("std")?).abs() < 1e-12,
                "{name} {key} std"
            );
        }
    }
    Ok(())
}
