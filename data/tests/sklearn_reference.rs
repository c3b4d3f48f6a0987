//! `classification_report` against scikit-learn 1.9.1's, for fixed predictions on the
//! bundled breast-cancer and digits data and two small hand-written cases
//! (`fixtures/make_sklearn_fixtures.py` wrote `fixtures/sklearn_report.json`): every
//! per-class and averaged number, and the printed text character for character at 2
//! and 4 digits.

use lamina_data::metrics::{classification_report, ConfusionMatrix};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sklearn_report.json"
    );
    let text = std::fs::read_to_string(path).expect("the sklearn_report.json fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_u64().expect("a class index") as usize)
        .collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-12, "{what}: lamina {a}, sklearn {b}");
}

#[test]
fn classification_report_matches_sklearn() {
    let fx = fixture();
    assert_eq!(fx["sklearn"], "1.9.1");
    let cases = fx["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let (truth, pred) = (usizes(&case["y_true"]), usizes(&case["y_pred"]));
        let mut report = classification_report(&pred, &truth).expect(name);
        if let Some(names) = case["target_names"].as_array() {
            let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
            report = report.with_names(&names).expect(name);
        }

        let rows = case["rows"].as_array().expect("rows");
        assert_eq!(report.classes.len(), rows.len(), "{name}");
        for (ours, theirs) in report.classes.iter().zip(rows) {
            let what = format!("{name}, class {}", ours.class);
            assert_eq!(
                ours.class as u64,
                theirs["class"].as_u64().unwrap_or(u64::MAX)
            );
            assert_eq!(ours.support as u64, theirs["support"].as_u64().unwrap_or(0));
            close(
                ours.precision,
                theirs["precision"].as_f64().unwrap_or(f64::NAN),
                &what,
            );
            close(
                ours.recall,
                theirs["recall"].as_f64().unwrap_or(f64::NAN),
                &what,
            );
            close(ours.f1, theirs["f1"].as_f64().unwrap_or(f64::NAN), &what);
        }
        close(
            report.accuracy,
            case["accuracy"].as_f64().unwrap_or(f64::NAN),
            name,
        );
        for (avg, key) in [
            (report.macro_avg, "macro"),
            (report.weighted_avg, "weighted"),
        ] {
            let what = format!("{name}, {key} avg");
            let theirs = &case[key];
            close(
                avg.precision,
                theirs["precision"].as_f64().unwrap_or(f64::NAN),
                &what,
            );
            close(
                avg.recall,
                theirs["recall"].as_f64().unwrap_or(f64::NAN),
                &what,
            );
            close(avg.f1, theirs["f1"].as_f64().unwrap_or(f64::NAN), &what);
        }

        assert_eq!(
            report.to_string(),
            case["text_2"].as_str().unwrap_or(""),
            "{name}"
        );
        assert_eq!(
            format!("{report:.4}"),
            case["text_4"].as_str().unwrap_or(""),
            "{name}"
        );
        assert_eq!(
            report.clone().with_digits(4).to_string(),
            case["text_4"].as_str().unwrap_or(""),
            "{name}"
        );

        // The same report through a confusion matrix sized beyond the classes present.
        let cm = ConfusionMatrix::new(&pred, &truth, 12).expect(name);
        let from_cm = lamina_data::ClassificationReport::from_confusion(&cm);
        assert_eq!(from_cm.classes.len(), report.classes.len(), "{name}");
        assert_eq!(from_cm.macro_avg, report.macro_avg, "{name}");
    }
}
