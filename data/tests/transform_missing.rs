//! Missing values: imputer fills worked out by hand, and dropping rows read from a CSV
//! with `Missing::Nan`.

use lamina_data::tabular::{parse_csv, CsvOptions, Missing};
use lamina_data::transform::{drop_rows_with_nan, ImputeStrategy, Imputer};
use lamina_data::Error;
use lamina_tensor::Tensor;

const N: f64 = f64::NAN;

/// Four columns, four rows:
/// col 0: 1, N, 3, 10  -> mean 14/3, median 3
/// col 1: N, 2, 4, N   -> mean 3, median 3
/// col 2: 4, 1, N, 2   -> mean 7/3, median 2
/// col 3: 5, 1, 3, 2   -> mean 2.75, median (2 + 3) / 2 = 2.5
fn data() -> Vec<f64> {
    vec![
        1.0, N, 4.0, 5.0, //
        N, 2.0, 1.0, 1.0, //
        3.0, 4.0, N, 3.0, //
        10.0, N, 2.0, 2.0,
    ]
}

fn tensor(data: Vec<f64>, cols: usize) -> Tensor {
    let rows = data.len() / cols;
    Tensor::from_vec(data, [rows, cols], &lamina_backend_cpu::device()).unwrap()
}

#[test]
fn mean_and_median_by_hand() {
    let x = tensor(data(), 4);
    let mean = Imputer::fit(ImputeStrategy::Mean, &x).unwrap();
    let want = [14.0 / 3.0, 3.0, 7.0 / 3.0, 2.75];
    for (g, w) in mean.fill.iter().zip(want) {
        assert!((g - w).abs() < 1e-15, "{:?}", mean.fill);
    }
    let median = Imputer::fit(ImputeStrategy::Median, &x).unwrap();
    assert_eq!(median.fill, [3.0, 3.0, 2.0, 2.5]);

    let filled = median.transform(&x).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(
        filled,
        [1.0, 3.0, 4.0, 5.0, 3.0, 2.0, 1.0, 1.0, 3.0, 4.0, 2.0, 3.0, 10.0, 3.0, 2.0, 2.0]
    );
    // f32 works the same and keeps its dtype.
    let x32 = x.to_dtype(lamina_tensor::DType::F32).unwrap();
    let filled = mean.transform(&x32).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(filled[4], (14.0f64 / 3.0) as f32);
    assert_eq!(filled[0], 1.0);

    let constant = Imputer::fit(ImputeStrategy::Constant(-1.0), &x).unwrap();
    assert_eq!(constant.fill, [-1.0; 4]);
    let filled = constant.transform(&x).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(filled.iter().filter(|&&v| v == -1.0).count(), 4);
}

#[test]
fn imputer_errors_and_json() {
    let x = tensor(vec![1.0, N, 2.0, N], 2);
    let err = Imputer::fit(ImputeStrategy::Mean, &x).unwrap_err();
    assert!(matches!(err, Error::Transform { .. }));
    assert!(
        err.to_string().contains("column 1 has no observed value"),
        "{err}"
    );
    // A constant fill needs no observed value.
    assert!(Imputer::fit(ImputeStrategy::Constant(0.0), &x).is_ok());

    let imp = Imputer::fit(ImputeStrategy::Median, &tensor(data(), 4)).unwrap();
    assert!(imp
        .transform(&x)
        .unwrap_err()
        .to_string()
        .contains("fitted on 4 columns"));
    let back = Imputer::from_json(&imp.to_json().unwrap()).unwrap();
    assert_eq!(back, imp);
}

#[test]
fn csv_with_gaps_drop_or_impute() {
    let opts = CsvOptions {
        missing: Missing::Nan,
        ..CsvOptions::default()
    };
    let text = "a,b,label\n1,2,0\nNA,4,1\n5,,1\n7,8,\n9,10,0\n";
    let table = parse_csv(text, "gaps.csv", &opts).unwrap();
    assert_eq!(table.rows, 5);

    let (kept, dropped) = drop_rows_with_nan(&table).unwrap();
    assert_eq!(dropped, 3);
    assert_eq!((kept.rows, kept.cols), (2, 2));
    assert_eq!(kept.features, [1.0, 2.0, 9.0, 10.0]);
    assert_eq!(kept.labels, Some(vec![0.0, 0.0]));
    assert_eq!(kept.columns, table.columns);

    // Fit on the complete rows, fill the others: a = mean(1, 9) = 5, b = mean(2, 10) = 6.
    let imp = Imputer::fit_rows(ImputeStrategy::Mean, &kept.features, kept.cols).unwrap();
    let filled = imp.transform_table(&table).unwrap();
    assert_eq!(
        filled.features,
        [1.0, 2.0, 5.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    );
    // Labels are not imputed.
    assert!(filled.labels.unwrap()[3].is_nan());
}
