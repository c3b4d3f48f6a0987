//! StandardScaler, MinMaxScaler and one-hot against numbers worked out by hand and against
//! Python's `statistics` module on iris.

use std::path::Path;

use lamina_data::tabular::{read_csv, CsvOptions};
use lamina_data::transform::{one_hot, MinMaxScaler, StandardScaler};
use lamina_data::Error;
use lamina_tensor::{DType, Tensor};

fn matrix(rows: &[&[f64]]) -> Tensor {
    let cols = rows[0].len();
    let data: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(data, [rows.len(), cols], &lamina_backend_cpu::device()).unwrap()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w}");
    }
}

#[test]
fn standardize_by_hand() {
    // Column 0: 1, 3, 5 -> mean 3, population variance 8/3, so z = ±2 / sqrt(8/3) = ±sqrt(1.5).
    // Column 1: 2, 6, 10 -> mean 6, variance 32/3, z = ±sqrt(1.5) too.
    // Column 2: constant 7 -> scale 1 (scikit-learn), z = 0.
    let x = matrix(&[&[1.0, 2.0, 7.0], &[3.0, 6.0, 7.0], &[5.0, 10.0, 7.0]]);
    let s = StandardScaler::fit(&x).unwrap();
    assert_close(&s.mean, &[3.0, 6.0, 7.0], 1e-15);
    assert_close(
        &s.scale,
        &[(8.0f64 / 3.0).sqrt(), (32.0f64 / 3.0).sqrt(), 1.0],
        1e-15,
    );
    let z = s.transform(&x).unwrap().to_vec::<f64>().unwrap();
    let r = 1.5f64.sqrt();
    assert_close(&z, &[-r, -r, 0.0, 0.0, 0.0, 0.0, r, r, 0.0], 1e-15);

    // Applied to other data with the fitted numbers, not refitted.
    let other = matrix(&[&[7.0, 6.0, 8.0]]);
    let z = s.transform(&other).unwrap().to_vec::<f64>().unwrap();
    assert_close(&z, &[4.0 / (8.0f64 / 3.0).sqrt(), 0.0, 1.0], 1e-15);

    // Inverse round trip, and the same in f32.
    let back = s.inverse_transform(&s.transform(&x).unwrap()).unwrap();
    assert_close(
        &back.to_vec::<f64>().unwrap(),
        &x.to_vec::<f64>().unwrap(),
        1e-14,
    );
    let x32 = x.to_dtype(DType::F32).unwrap();
    let z32 = s.transform(&x32).unwrap();
    assert_eq!(z32.dtype(), DType::F32);
    assert!((z32.to_vec::<f32>().unwrap()[6] - 1.224_744_9).abs() < 1e-6);
}

#[test]
fn standardized_iris_has_zero_mean_unit_std() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/sklearn/iris.csv");
    let iris = read_csv(path, &CsvOptions::default()).unwrap();
    let dev = lamina_backend_cpu::device();
    let x = iris.features_tensor(DType::F64, &dev).unwrap();
    let s = StandardScaler::fit(&x).unwrap();
    // Python: statistics.fmean / statistics.pstdev of each column.
    assert_close(
        &s.mean,
        &[
            5.843333333333334,
            3.0573333333333337,
            3.7580000000000005,
            1.1993333333333334,
        ],
        1e-13,
    );
    assert_close(
        &s.scale,
        &[
            0.8253012917851409,
            0.43441096773549454,
            1.759404065775303,
            0.7596926279021594,
        ],
        1e-13,
    );
    assert_eq!(StandardScaler::fit_rows(&iris.features, 4).unwrap(), s);

    let z = s.transform(&x).unwrap().to_vec::<f64>().unwrap();
    for j in 0..4 {
        let col: Vec<f64> = z.iter().skip(j).step_by(4).copied().collect();
        let mean = col.iter().sum::<f64>() / 150.0;
        let std = (col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 150.0).sqrt();
        assert!(mean.abs() < 1e-12, "column {j}: mean {mean}");
        assert!((std - 1.0).abs() < 1e-12, "column {j}: std {std}");
    }
}

#[test]
fn standardize_errors() {
    let x = matrix(&[&[1.0, 2.0], &[3.0, f64::NAN], &[5.0, 1.0]]);
    let err = StandardScaler::fit(&x).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Transform { .. }));
    assert!(msg.contains("column 1 holds NaN at row 1"), "{msg}");

    let s = StandardScaler::fit(&matrix(&[&[1.0, 2.0], &[3.0, 4.0]])).unwrap();
    let msg = s
        .transform(&matrix(&[&[1.0, 2.0, 3.0]]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("fitted on 2 columns") && msg.contains("[1, 3]"),
        "{msg}"
    );
    let dev = lamina_backend_cpu::device();
    let v = Tensor::from_vec(vec![1.0f64, 2.0], [2], &dev).unwrap();
    assert!(s.transform(&v).unwrap_err().to_string().contains("[N, F]"));
    let ints = Tensor::from_vec(vec![1i64, 2], [1, 2], &dev).unwrap();
    assert!(s
        .transform(&ints)
        .unwrap_err()
        .to_string()
        .contains("float"));
    assert!(StandardScaler::fit_rows(&[], 3).is_err());
}

#[test]
fn standardize_json_round_trip() {
    let x = matrix(&[&[1.0, -2.0], &[4.0, 0.5], &[2.5, 3.0]]);
    let s = StandardScaler::fit(&x).unwrap();
    let json = s.to_json().unwrap();
    let back = StandardScaler::from_json(&json).unwrap();
    assert_eq!(back, s);
    assert_eq!(
        back.transform(&x).unwrap().to_vec::<f64>().unwrap(),
        s.transform(&x).unwrap().to_vec::<f64>().unwrap()
    );
    let bad = StandardScaler::from_json(r#"{"mean":[0.0,1.0],"scale":[1.0]}"#).unwrap_err();
    assert!(matches!(bad, Error::Serde { .. }), "{bad:?}");
    assert!(StandardScaler::from_json(r#"{"mean":[0.0],"scale":[0.0]}"#).is_err());
    assert!(StandardScaler::from_json("not json").is_err());
}

#[test]
fn min_max_by_hand() {
    // Column 0: 1..5 -> (x - 1) / 4; column 1 constant -> the range's low end (scikit-learn).
    let x = matrix(&[&[1.0, 10.0], &[3.0, 10.0], &[5.0, 10.0]]);
    let m = MinMaxScaler::fit(&x).unwrap();
    assert_eq!(
        (m.data_min.clone(), m.data_max.clone()),
        (vec![1.0, 10.0], vec![5.0, 10.0])
    );
    let y = m.transform(&x).unwrap().to_vec::<f64>().unwrap();
    assert_close(&y, &[0.0, 0.0, 0.5, 0.0, 1.0, 0.0], 1e-15);
    // Outside the fitted range: no clipping.
    let y = m
        .transform(&matrix(&[&[7.0, 11.0]]))
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    assert_close(&y, &[1.5, 1.0], 1e-15);

    let m = MinMaxScaler::fit_range(&x, (-1.0, 1.0)).unwrap();
    let y = m.transform(&x).unwrap();
    assert_close(
        &y.to_vec::<f64>().unwrap(),
        &[-1.0, -1.0, 0.0, -1.0, 1.0, -1.0],
        1e-15,
    );
    let back = m.inverse_transform(&y).unwrap().to_vec::<f64>().unwrap();
    assert_close(&back, &x.to_vec::<f64>().unwrap(), 1e-14);

    assert!(MinMaxScaler::fit_range(&x, (1.0, 1.0)).is_err());
    assert!(m.transform(&matrix(&[&[1.0]])).is_err());
    let back = MinMaxScaler::from_json(&m.to_json().unwrap()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn one_hot_by_hand() {
    let dev = lamina_backend_cpu::device();
    let y = one_hot(&[1, 0, 2, 1], 3, DType::F64, &dev).unwrap();
    assert_eq!(y.dims(), [4, 3]);
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    );
    let msg = one_hot(&[0, 3], 3, DType::F32, &dev)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("label 3 at index 1"), "{msg}");
    assert_eq!(one_hot(&[], 3, DType::F32, &dev).unwrap().dims(), [0, 3]);
}

#[test]
#[allow(deprecated)]
fn former_names_still_work() {
    let x = matrix(&[&[1.0, 2.0], &[3.0, 6.0]]);
    let old = lamina_data::transform::Standardize::fit(&x).unwrap();
    assert_eq!(old, StandardScaler::fit(&x).unwrap());
    assert_eq!(old.mean, [2.0, 4.0]);
    let old = lamina_data::MinMaxScale::fit(&x).unwrap();
    assert_eq!(old.data_max, [3.0, 6.0]);
}
