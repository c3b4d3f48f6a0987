//! `CrossValidation`: no leakage from the held-out rows into the preprocessing, a fresh
//! model per fold through the Trainer form, and the configurations it refuses.

use lamina_data::split::{Fold, KFold};
use lamina_data::LoaderConfig;
use lamina_nn::{cross_entropy, Linear, Reduction};
use lamina_optim::{Sgd, SgdConfig};
use lamina_tensor::{DType, Tensor};
use lamina_train::{
    CrossValidation, EarlyStopping, FitConfig, FoldSetup, Metric, Preprocess, Result,
};

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

#[test]
fn preprocessing_is_fitted_on_the_training_rows_only() -> TestResult {
    let dev = lamina_backend_cpu::device();
    // Rows 0..4 hold 0, 2, 10, 20. Fold 0 trains on rows 0 and 1 (mean 1, std 1) and
    // holds out rows 2 and 3: they must come out as (10 - 1) / 1 and (20 - 1) / 1.
    let x = Tensor::from_vec(vec![0.0f64, 2.0, 10.0, 20.0], [4, 1], &dev)?;
    let y = Tensor::from_vec(vec![0i64, 1, 0, 1], [4], &dev)?;
    let folds = vec![Fold {
        train: vec![0, 1],
        val: vec![2, 3],
    }];
    let mut seen = Vec::new();
    CrossValidation::new(folds, &[Metric::Accuracy])
        .preprocess(Preprocess::StandardScaler)
        .dtype(DType::F32)
        .cross_validate_with(&x, &y, |fold| {
            seen.push((fold.x_train.to_vec::<f32>()?, fold.x_val.to_vec::<f32>()?));
            Ok(Tensor::zeros([2, 2], DType::F32, fold.x_val.device())?)
        })?;
    assert_eq!(seen, [(vec![-1.0, 1.0], vec![9.0, 19.0])]);
    Ok(())
}

fn setup(fold: usize) -> Result<FoldSetup<Linear>> {
    let dev = lamina_backend_cpu::device();
    Ok(FoldSetup {
        model: Linear::builder(2, 2).seed(100 + fold as u64).build(&dev)?,
        optimizer: Box::new(Sgd::new(SgdConfig {
            lr: 0.5,
            ..Default::default()
        })?),
        schedule: None,
        loader: LoaderConfig {
            batch_size: 4,
            shuffle: true,
            seed: Some(fold as u64),
            ..Default::default()
        },
    })
}

fn ce(o: &Tensor, t: &Tensor) -> lamina_tensor::Result<Tensor> {
    cross_entropy(o, t, Reduction::Mean)
}

#[test]
fn the_trainer_form_trains_a_fresh_model_per_fold() -> TestResult {
    let dev = lamina_backend_cpu::device();
    // Class = x0 > x1, 24 rows.
    let xs: Vec<f32> = (0..24)
        .flat_map(|i| {
            let a = (i % 6) as f32 / 5.0;
            let b = (i / 6) as f32 / 3.0;
            [a, b]
        })
        .collect();
    let ys: Vec<i64> = xs.chunks(2).map(|r| i64::from(r[0] > r[1])).collect();
    let x = Tensor::from_vec(xs, [24, 2], &dev)?;
    let y = Tensor::from_vec(ys, [24], &dev)?;
    let folds = KFold::new(3, true, 1).split(24)?;
    let mut built = Vec::new();
    let mut lines = 0;
    let config = FitConfig {
        epochs: 30,
        ..Default::default() // verbose: silenced by the cross-validation
    };
    let report = CrossValidation::new(folds, &[Metric::Accuracy, Metric::F1Macro])
        .on_fold(|_| lines += 1)
        .cross_validate(
            &x,
            &y,
            &config,
            |fold| {
                built.push(fold);
                let s = setup(fold)?;
                // A fresh model: its weights are those of a new Linear with the fold's seed.
                assert_eq!(
                    s.model.weight.to_vec::<f32>()?,
                    Linear::builder(2, 2)
                        .seed(100 + fold as u64)
                        .build(&dev)?
                        .weight
                        .to_vec::<f32>()?
                );
                Ok(s)
            },
            ce,
        )?;
    assert_eq!(built, [0, 1, 2]);
    assert_eq!(lines, 3);
    for f in &report.folds {
        let h = f.history.as_ref().ok_or("history")?;
        assert_eq!(h.len(), 30);
        // The held-out rows are tracked as validation, so the history shows them.
        assert!(h.epochs.iter().all(|r| r.val_loss.is_some()));
        assert_eq!((f.train_size, f.val_size), (16, 8));
        assert!(
            f.get(Metric::Accuracy).ok_or("acc")? >= 0.75,
            "{:?}",
            f.scores
        );
    }
    let s = report.summary(Metric::Accuracy).ok_or("summary")?;
    let accs = report.scores(Metric::Accuracy);
    assert_eq!(s.mean, accs.iter().sum::<f64>() / 3.0);
    assert!(report.to_string().starts_with("accuracy: "));
    assert_eq!(report.summary(Metric::Mse), None);
    Ok(())
}

#[test]
fn configurations_that_would_leak_or_collide_are_refused() -> TestResult {
    let dev = lamina_backend_cpu::device();
    let x = Tensor::zeros([6, 2], DType::F32, &dev)?;
    let y = Tensor::from_vec(vec![0i64, 1, 0, 1, 0, 1], [6], &dev)?;
    let run = |config: FitConfig| -> String {
        let folds = KFold::new(2, false, 0).split(6).unwrap_or_default();
        CrossValidation::new(folds, &[Metric::Accuracy])
            .cross_validate(&x, &y, &config, setup, ce)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    };
    let msg = run(FitConfig {
        early_stopping: Some(EarlyStopping::default()),
        ..Default::default()
    });
    assert!(msg.contains("would select on the held-out rows"), "{msg}");
    let msg = run(FitConfig {
        history_csv: Some("h.csv".into()),
        ..Default::default()
    });
    assert!(msg.contains("every fold would overwrite"), "{msg}");
    let bad = vec![Fold {
        train: vec![0, 9],
        val: vec![1],
    }];
    let e = CrossValidation::new(bad, &[Metric::Accuracy])
        .cross_validate_with(&x, &y, |f| Ok(f.x_val.clone()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fold 0 names row 9, but there are 6 rows"),
        "{e}"
    );
    Ok(())
}
