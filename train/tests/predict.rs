//! Inference helpers (`predict`, `predict_proba`, `predict_classes`, `predict_loader`)
//! and `Trainer::evaluate`'s metrics, against forward passes and formulas computed here.

use std::sync::Arc;

use lamina_data::{DataLoader, LoaderConfig, TensorDataset};
use lamina_nn::{cross_entropy, Dropout, Linear, Module, Reduction, Sequential};
use lamina_tensor::{DType, Device, Tensor};
use lamina_train::{
    predict, predict_classes, predict_loader, predict_proba, FitConfig, Metric, Trainer,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn dev() -> Device {
    lamina_backend_cpu::device()
}

fn model(outputs: usize) -> Sequential {
    Sequential::new()
        .add(Linear::builder(3, 8).seed(0).build(&dev()).expect("fc1"))
        .add(Dropout::builder(0.5).seed(7).build().expect("dropout"))
        .add(
            Linear::builder(8, outputs)
                .seed(1)
                .build(&dev())
                .expect("fc2"),
        )
}

#[test]
fn predict_is_the_eval_forward_in_batches_and_restores_the_mode() -> TestResult {
    let x = Tensor::rand(3, [10, 3], DType::F64, &dev())?.to_dtype(DType::F32)?;
    let mut m = model(2);
    m.eval();
    let reference = m.forward(&x)?.to_vec::<f32>()?;
    m.train();
    let out = predict(&mut m, &x, 3)?;
    assert_eq!(out.dims(), [10, 2]);
    assert_eq!(out.to_vec::<f32>()?, reference);
    assert_eq!(m.training_mode(), Some(true));
    m.eval();
    predict(&mut m, &x, 4)?;
    assert_eq!(m.training_mode(), Some(false));

    // On error (inputs of the wrong width) the mode comes back too.
    m.train();
    let wide = Tensor::zeros([4, 5], DType::F32, &dev())?;
    let err = predict(&mut m, &wide, 2).unwrap_err().to_string();
    assert!(err.starts_with("batch 0 (evaluation): "), "{err}");
    assert_eq!(m.training_mode(), Some(true));
    assert!(predict(&mut m, &x, 0).is_err());
    Ok(())
}

#[test]
fn probabilities_and_classes_follow_sklearn() -> TestResult {
    let x = Tensor::rand(4, [6, 3], DType::F64, &dev())?.to_dtype(DType::F32)?;
    let mut m = model(3);
    let logits = predict(&mut m, &x, 6)?.to_vec::<f32>()?;
    let p = predict_proba(&mut m, &x, 4)?;
    assert_eq!(p.dims(), [6, 3]);
    let p = p.to_vec::<f32>()?;
    let classes = predict_classes(&mut m, &x, 4)?;
    for (i, row) in logits.chunks(3).enumerate() {
        let z: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        for c in 0..3 {
            assert!((f64::from(p[3 * i + c]) - e[c] / s).abs() < 1e-6);
        }
        let best = (0..3).fold(0, |b, c| if z[c] > z[b] { c } else { b });
        assert_eq!(classes[i], best);
    }

    // One logit per sample: [P(class 0), P(class 1)] = [1 - sigmoid(z), sigmoid(z)].
    let mut binary = model(1);
    let z = predict(&mut binary, &x, 6)?.to_vec::<f32>()?;
    let p = predict_proba(&mut binary, &x, 6)?;
    assert_eq!(p.dims(), [6, 2]);
    let p = p.to_vec::<f32>()?;
    let c = predict_classes(&mut binary, &x, 6)?;
    for i in 0..6 {
        let s = 1.0 / (1.0 + (-f64::from(z[i])).exp());
        assert!((f64::from(p[2 * i]) - (1.0 - s)).abs() < 1e-6);
        assert!((f64::from(p[2 * i + 1]) - s).abs() < 1e-6);
        assert_eq!(c[i], usize::from(z[i] > 0.0));
    }
    Ok(())
}

#[test]
fn predict_loader_returns_rows_with_their_indices() -> TestResult {
    let x = Tensor::rand(5, [9, 3], DType::F64, &dev())?.to_dtype(DType::F32)?;
    let y = Tensor::from_vec((0..9).map(|i| i % 2).collect::<Vec<i64>>(), [9], &dev())?;
    let data = Arc::new(TensorDataset::new(x.clone(), y)?);
    let config = LoaderConfig {
        batch_size: 4,
        shuffle: true,
        seed: Some(3),
        ..Default::default()
    };
    let loader = DataLoader::new(data, config)?;
    let mut m = model(2);
    let p = predict_loader(&mut m, &loader)?;
    let mut sorted = p.indices.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..9).collect::<Vec<_>>());
    let all = predict(&mut m, &x, 9)?.to_vec::<f32>()?;
    let got = p.outputs.to_vec::<f32>()?;
    let targets = p.targets.to_vec::<i64>()?;
    for (row, &i) in p.indices.iter().enumerate() {
        assert_eq!(got[2 * row..2 * row + 2], all[2 * i..2 * i + 2]);
        assert_eq!(targets[row], (i % 2) as i64);
    }
    Ok(())
}

#[test]
fn evaluate_reports_every_metric_asked_for() -> TestResult {
    let x = Tensor::rand(6, [40, 3], DType::F64, &dev())?.to_dtype(DType::F32)?;
    let labels: Vec<i64> = (0..40).map(|i| i64::from(i % 3 == 0)).collect();
    let y = Tensor::from_vec(labels.clone(), [40], &dev())?;
    let data = Arc::new(TensorDataset::new(x.clone(), y)?);
    let config = LoaderConfig {
        batch_size: 16,
        ..Default::default()
    };
    let loader = DataLoader::new(data, config)?;
    let mut m = model(2);
    let fit = FitConfig {
        metrics: vec![Metric::Accuracy, Metric::F1Macro, Metric::RocAuc],
        ..Default::default()
    };
    let ev =
        Trainer::new(fit).evaluate(&mut m, &loader, |o, t| cross_entropy(o, t, Reduction::Mean))?;

    // By hand from the logits: predictions, per-class F1, and the pairwise AUC.
    let z = predict(&mut m, &x, 40)?.to_vec::<f32>()?;
    let pred: Vec<i64> = z.chunks(2).map(|r| i64::from(r[1] > r[0])).collect();
    let hits = pred.iter().zip(&labels).filter(|(p, t)| p == t).count();
    let f1 = |c: i64| {
        let tp = pred
            .iter()
            .zip(&labels)
            .filter(|(p, t)| **p == c && **t == c)
            .count();
        let np = pred.iter().filter(|p| **p == c).count();
        let nt = labels.iter().filter(|t| **t == c).count();
        if np + nt == 0 {
            0.0
        } else {
            2.0 * tp as f64 / (np + nt) as f64
        }
    };
    let present: Vec<i64> = (0..2)
        .filter(|&c| pred.contains(&c) || labels.contains(&c))
        .collect();
    let macro_f1 = present.iter().map(|&c| f1(c)).sum::<f64>() / present.len() as f64;
    let margin: Vec<f64> = z
        .chunks(2)
        .map(|r| f64::from(r[1]) - f64::from(r[0]))
        .collect();
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &a) in margin.iter().enumerate() {
        for (j, &b) in margin.iter().enumerate() {
            if labels[i] == 1 && labels[j] == 0 {
                pairs += 1.0;
                wins += if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    assert_eq!(ev.get(Metric::Accuracy), Some(hits as f64 / 40.0));
    assert_eq!(ev.accuracy, Some(hits as f64 / 40.0));
    assert!((ev.get(Metric::F1Macro).ok_or("f1")? - macro_f1).abs() < 1e-12);
    assert!((ev.get(Metric::RocAuc).ok_or("auc")? - wins / pairs).abs() < 1e-12);
    assert_eq!(ev.get(Metric::Mse), None);
    assert_eq!(m.training_mode(), Some(true));
    Ok(())
}
