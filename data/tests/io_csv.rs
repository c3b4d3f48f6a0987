//! CSV loading: the bundled scikit-learn files checked against a naive line parser and
//! their documented shapes and class counts, and broken files written to a temp dir.

use std::path::{Path, PathBuf};

use lamina_data::tabular::{parse_csv, read_csv, CsvOptions, LabelColumn, Missing};
use lamina_data::Error;
use lamina_tensor::DType;

mod common;
use common::temp_dir;

fn dataset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/sklearn")
        .join(name)
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// The reference: split lines on commas, skip the header, last field is the label.
fn naive_parse(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let fields: Vec<f64> = line.split(',').map(|f| f.parse().unwrap()).collect();
        let (label, row) = fields.split_last().unwrap();
        features.extend_from_slice(row);
        labels.push(*label);
    }
    (features, labels)
}

fn check_sklearn_file(name: &str, rows: usize, cols: usize, counts: &[usize]) {
    let path = dataset(name);
    let table = read_csv(&path, &CsvOptions::default()).unwrap();
    assert_eq!((table.rows, table.cols), (rows, cols), "{name}");
    assert_eq!(table.columns.len(), cols);
    assert_eq!(table.label_name.as_deref(), Some("label"));
    let (features, labels) = naive_parse(&path);
    assert_eq!(table.features, features, "{name}");
    assert_eq!(table.labels.as_deref(), Some(&labels[..]));
    assert_eq!(table.class_counts().unwrap(), counts, "{name}");
}

#[test]
fn iris_matches_reference() {
    check_sklearn_file("iris.csv", 150, 4, &[50, 50, 50]);
    let iris = read_csv(dataset("iris.csv"), &CsvOptions::default()).unwrap();
    assert_eq!(
        iris.columns,
        [
            "sepal_length_cm",
            "sepal_width_cm",
            "petal_length_cm",
            "petal_width_cm"
        ]
    );
    assert_eq!(iris.row(0).unwrap(), [5.1, 3.5, 1.4, 0.2]);
    assert_eq!(iris.row(149).unwrap(), [5.9, 3.0, 5.1, 1.8]);
    let e = iris.row(150).unwrap_err().to_string();
    assert_eq!(
        e,
        "Table::row: row 150 is out of range for a table of 150 rows"
    );
    assert_eq!(iris.class_labels().unwrap()[0], 0);
    assert_eq!(iris.class_labels().unwrap()[149], 2);

    let dev = lamina_backend_cpu::device();
    let x = iris.features_tensor(DType::F32, &dev).unwrap();
    assert_eq!(x.dims(), [150, 4]);
    assert_eq!(x.to_vec::<f32>().unwrap()[..4], [5.1f32, 3.5, 1.4, 0.2]);
    let y = iris.class_labels_tensor(&dev).unwrap();
    assert_eq!((y.dtype(), y.dims()), (DType::I64, &[150][..]));
    assert_eq!(y.to_vec::<i64>().unwrap()[48..52], [0, 0, 1, 1]);
    let t = iris.targets_tensor(DType::F64, &dev).unwrap();
    assert_eq!(t.to_vec::<f64>().unwrap()[100], 2.0);
}

#[test]
fn breast_cancer_and_digits_match_reference() {
    check_sklearn_file("breast_cancer.csv", 569, 30, &[212, 357]);
    check_sklearn_file(
        "digits.csv",
        1797,
        64,
        &[178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
    );
}

#[test]
fn label_column_choices() {
    let text = "a;b;c\n1;2;3\n4;5;6\n";
    let opts = |label| CsvOptions {
        delimiter: b';',
        label,
        ..CsvOptions::default()
    };
    let t = parse_csv(text, "t.csv", &opts(LabelColumn::Name("b".into()))).unwrap();
    assert_eq!(
        (t.columns.clone(), t.label_name.clone()),
        (vec!["a".into(), "c".into()], Some("b".into()))
    );
    assert_eq!(
        (t.features.clone(), t.labels.clone()),
        (vec![1.0, 3.0, 4.0, 6.0], Some(vec![2.0, 5.0]))
    );
    let t = parse_csv(text, "t.csv", &opts(LabelColumn::Index(0))).unwrap();
    assert_eq!(
        (t.features, t.labels),
        (vec![2.0, 3.0, 5.0, 6.0], Some(vec![1.0, 4.0]))
    );
    let t = parse_csv(text, "t.csv", &opts(LabelColumn::None)).unwrap();
    assert_eq!((t.rows, t.cols, t.labels, t.label_name), (2, 3, None, None));

    // No header: every line is data and columns get generated names.
    let no_header = CsvOptions {
        has_header: false,
        ..CsvOptions::default()
    };
    let t = parse_csv("1,2,0\n3,4,1\n", "n.csv", &no_header).unwrap();
    assert_eq!(t.rows, 2);
    assert_eq!(t.columns, ["column_1", "column_2"]);
    assert_eq!(t.class_labels().unwrap(), [0, 1]);
    // Quoted fields and spaces around numbers are fine.
    let t = parse_csv("x,y\n\"1.5\", 2 \n", "q.csv", &CsvOptions::default()).unwrap();
    assert_eq!((t.features, t.labels), (vec![1.5], Some(vec![2.0])));
}

#[test]
fn ragged_row_names_file_line_and_counts() {
    let dir = temp_dir("ragged");
    let path = write(&dir, "ragged.csv", "a,b,label\n1,2,0\n3,4\n");
    let err = read_csv(&path, &CsvOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Csv {
                line: 3,
                column: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(
        msg.contains("expected 3 fields") && msg.contains("found 2"),
        "{msg}"
    );

    // Too many fields, after a blank line: the line number is still the file's.
    let path = write(&dir, "long.csv", "a,b,label\n1,2,0\n\n3,4,5,6\n");
    let msg = read_csv(&path, &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 4") && msg.contains("found 4"), "{msg}");
}

#[test]
fn non_numeric_cell_names_line_column_and_name() {
    let dir = temp_dir("text-cell");
    let path = write(
        &dir,
        "bad.csv",
        "width,height,label\n1,2,0\n3,4,1\n5,abc,1\n",
    );
    let err = read_csv(&path, &CsvOptions::default()).unwrap_err();
    match &err {
        Error::Csv {
            line,
            column,
            column_name,
            ..
        } => assert_eq!(
            (*line, *column, column_name.as_deref()),
            (4, 2, Some("height"))
        ),
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.ends_with("line 4, column 2 (`height`): cannot parse \"abc\" as a number"),
        "{msg}"
    );
    // A bad label cell is reported the same way.
    let msg = parse_csv("a,label\n1,cat\n", "l.csv", &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("line 2, column 2 (`label`)") && msg.contains("\"cat\""),
        "{msg}"
    );
}

#[test]
fn missing_cells_are_errors_or_nan() {
    let dir = temp_dir("missing");
    let path = write(&dir, "nan.csv", "a,b,label\n1,NA,0\n,2,1\n3,nan,1\n4,5,0\n");
    let msg = read_csv(&path, &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("line 2, column 2 (`b`)") && msg.contains("missing value \"NA\""),
        "{msg}"
    );

    let opts = CsvOptions {
        missing: Missing::Nan,
        ..CsvOptions::default()
    };
    let t = read_csv(&path, &opts).unwrap();
    assert_eq!(t.rows, 4);
    let nan: Vec<bool> = t.features.iter().map(|v| v.is_nan()).collect();
    assert_eq!(nan, [false, true, true, false, false, true, false, false]);
    assert_eq!(t.features[6..], [4.0, 5.0]);
}

#[test]
fn unknown_label_column_lists_the_columns() {
    let opts = CsvOptions {
        label: LabelColumn::Name("species".into()),
        ..CsvOptions::default()
    };
    let err = read_csv(dataset("iris.csv"), &opts).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Csv { line: 1, .. }), "{err:?}");
    assert!(msg.contains("`species`"), "{msg}");
    assert!(
        msg.contains("sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm, label"),
        "{msg}"
    );
    let opts = CsvOptions {
        label: LabelColumn::Index(7),
        ..CsvOptions::default()
    };
    let msg = parse_csv("a,b\n1,2\n", "i.csv", &opts)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("index 7") && msg.contains("2 fields"), "{msg}");
}

#[test]
fn empty_files_and_missing_files() {
    let dir = temp_dir("empty");
    let msg = read_csv(write(&dir, "empty.csv", ""), &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("empty.csv") && msg.contains("empty"), "{msg}");
    let msg = read_csv(write(&dir, "header.csv", "a,b\n"), &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no data rows"), "{msg}");

    let gone = dir.join("does-not-exist.csv");
    let err = read_csv(&gone, &CsvOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("does-not-exist.csv"));
}

#[test]
fn labels_must_be_class_indices() {
    let dev = lamina_backend_cpu::device();
    let t = parse_csv("a,label\n1,0\n2,1.5\n", "f.csv", &CsvOptions::default()).unwrap();
    let msg = t.class_labels_tensor(&dev).unwrap_err().to_string();
    assert!(msg.contains("data row 1") && msg.contains("1.5"), "{msg}");
    let t = parse_csv("a,label\n1,-1\n", "n.csv", &CsvOptions::default()).unwrap();
    assert!(t
        .class_labels()
        .unwrap_err()
        .to_string()
        .contains("data row 0"));
    let t = parse_csv(
        "a,b\n1,2\n",
        "u.csv",
        &CsvOptions {
            label: LabelColumn::None,
            ..CsvOptions::default()
        },
    )
    .unwrap();
    assert!(t.class_labels_tensor(&dev).is_err());
}

#[test]
fn select_rows_copies_rows_and_labels() {
    let t = parse_csv(
        "a,b,label\n1,2,0\n3,4,1\n5,6,2\n",
        "s.csv",
        &CsvOptions::default(),
    )
    .unwrap();
    let s = t.select_rows(&[2, 0, 2]).unwrap();
    assert_eq!(s.features, [5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    assert_eq!(s.labels, Some(vec![2.0, 0.0, 2.0]));
    let e = t.select_rows(&[0, 3]).unwrap_err().to_string();
    assert_eq!(
        e,
        "Table::select_rows: row 3 is out of range for a table of 3 rows"
    );
}

#[test]
fn hand_edited_tables_are_errors_not_panics() {
    let mut t = parse_csv("a,b,label\n1,2,0\n3,4,1\n", "h.csv", &CsvOptions::default()).unwrap();
    t.rows = 3; // one row more than the features hold
    let e = t.row(2).unwrap_err().to_string();
    assert!(e.contains("row 2 is out of range"), "{e}");
    let e = t.select_rows(&[0]).unwrap_err().to_string();
    assert!(
        e.contains("3 rows × 2 cols, but 4 feature values and 2 labels"),
        "{e}"
    );
    let e = lamina_data::transform::drop_rows_with_nan(&t)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("drop_rows_with_nan: the table's fields disagree"),
        "{e}"
    );
}

#[test]
fn class_labels_and_targets_read_the_same_column_two_ways() {
    let dev = lamina_backend_cpu::device();
    let t = parse_csv("a,y\n1,2\n2,0\n3,1\n", "y.csv", &CsvOptions::default()).unwrap();
    assert_eq!(t.class_labels().unwrap(), [2, 0, 1]);
    let c = t.class_labels_tensor(&dev).unwrap();
    assert_eq!(c.to_vec::<i64>().unwrap(), [2, 0, 1]);
    assert_eq!(t.targets().unwrap(), [2.0, 0.0, 1.0]);
    let r = t.targets_tensor(DType::F32, &dev).unwrap();
    assert_eq!(r.to_vec::<f32>().unwrap(), [2.0, 0.0, 1.0]);
    #[allow(deprecated)]
    let old = t.labels_tensor(&dev).unwrap();
    assert_eq!(old.to_vec::<i64>().unwrap(), [2, 0, 1]);
    let t = parse_csv("a,y\n1,0.5\n", "r.csv", &CsvOptions::default()).unwrap();
    assert_eq!(t.targets().unwrap(), [0.5]);
    assert!(t.class_labels().is_err());
    let none = CsvOptions {
        label: lamina_data::LabelColumn::None,
        ..CsvOptions::default()
    };
    let t = parse_csv("a\n1\n", "n.csv", &none).unwrap();
    let e = t.targets().unwrap_err().to_string();
    assert_eq!(e, "Table::targets: the table has no label column");
}

#[test]
fn line_numbers_count_blank_lines_crlf_and_quoted_newlines() {
    let opts = CsvOptions::default();
    let line = |text: &str| match parse_csv(text, "l.csv", &opts).unwrap_err() {
        Error::Csv { line, .. } => line,
        other => panic!("{other:?}"),
    };
    assert_eq!(line("a,b,label\r\n1,2,0\r\n\r\n3,x,1\r\n"), 4);
    assert_eq!(line("\n\na,label\n1,x\n"), 4);
    assert_eq!(line("a,label\n\"1\n\",0\n2,x\n"), 4);
    assert_eq!(line("a,label\n1,0\n\n\n\n2,3,4\n"), 6);
}

#[test]
fn huge_class_label_names_value_line_and_limit() {
    // A row ID or a price in the label column: counting classes up to it would allocate
    // billions of counters, so every class-index path refuses it, naming where it is.
    let dir = temp_dir("huge-label");
    let path = write(&dir, "ids.csv", "a,label\n1,0\n2,5000000000\n3,1\n");
    let t = read_csv(&path, &CsvOptions::default()).unwrap();
    let dev = lamina_backend_cpu::device();
    let errors = [
        t.class_counts().map(drop).unwrap_err(),
        t.class_labels().map(drop).unwrap_err(),
        t.class_labels_tensor(&dev).map(drop).unwrap_err(),
    ];
    for err in errors {
        match &err {
            Error::Csv {
                line,
                column,
                column_name,
                ..
            } => assert_eq!(
                (*line, *column, column_name.as_deref()),
                (3, 2, Some("label"))
            ),
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains("line 3, column 2 (`label`)") && msg.contains("data row 1"),
            "{msg}"
        );
        assert!(
            msg.contains("label 5000000000") && msg.contains("below 1000000"),
            "{msg}"
        );
    }
    assert_eq!(lamina_data::MAX_CLASSES, 1_000_000);
    // The largest allowed label is fine.
    let t = parse_csv("a,label\n1,999999\n", "max.csv", &CsvOptions::default()).unwrap();
    assert_eq!(t.class_counts().unwrap().len(), 1_000_000);
}

#[test]
fn a_value_beyond_the_dtype_names_line_column_and_dtype() {
    // 1e39 is a finite f64 but past f32's largest value: `as` would make it inf.
    let dir = temp_dir("overflow");
    let path = write(&dir, "big.csv", "x,y,label\n1,2,0\n3,1e39,1\n");
    let t = read_csv(&path, &CsvOptions::default()).unwrap();
    let dev = lamina_backend_cpu::device();
    let err = t.features_tensor(DType::F32, &dev).unwrap_err();
    match &err {
        Error::Csv {
            line,
            column,
            column_name,
            ..
        } => assert_eq!((*line, *column, column_name.as_deref()), (3, 2, Some("y"))),
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("line 3, column 2 (`y`)")
            && msg.contains("1e39")
            && msg.contains("f32")
            && msg.contains("inf"),
        "{msg}"
    );
    // F64 holds it; so does a table whose label column sits before the features.
    assert!(t.features_tensor(DType::F64, &dev).is_ok());
    let opts = CsvOptions {
        label: LabelColumn::Index(0),
        ..CsvOptions::default()
    };
    let t = parse_csv("label,x,y\n0,1,-3e38\n1,2,-4e38\n", "neg.csv", &opts).unwrap();
    let msg = t.features_tensor(DType::F32, &dev).unwrap_err().to_string();
    assert!(
        msg.starts_with("neg.csv: line 3, column 3 (`y`)") && msg.contains("-4e38"),
        "{msg}"
    );

    // Targets: the label column, by its place in the file.
    let t = parse_csv("x,price\n1,2e40\n", "t.csv", &CsvOptions::default()).unwrap();
    let msg = t.targets_tensor(DType::F32, &dev).unwrap_err().to_string();
    assert!(
        msg.starts_with("t.csv: line 2, column 2 (`price`)") && msg.contains("f32"),
        "{msg}"
    );
    // Integer dtypes: out of range (NaN, a missing value, has no integer value).
    let t = parse_csv("x,label\n-1,0\n", "u.csv", &CsvOptions::default()).unwrap();
    let msg = t.features_tensor(DType::U32, &dev).unwrap_err().to_string();
    assert!(
        msg.contains("line 2, column 1 (`x`)") && msg.contains("u32"),
        "{msg}"
    );
    let nan = CsvOptions {
        missing: Missing::Nan,
        ..CsvOptions::default()
    };
    let t = parse_csv("x,label\n1,0\nNA,1\n", "n.csv", &nan).unwrap();
    assert!(t.features_tensor(DType::F32, &dev).is_ok(), "NaN stays NaN");
    let msg = t.features_tensor(DType::I64, &dev).unwrap_err().to_string();
    assert!(
        msg.contains("line 3, column 1") && msg.contains("i64"),
        "{msg}"
    );
}
