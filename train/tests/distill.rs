//! `Trainer::fit_distill`: the loss sees the frozen teacher's outputs for the very batch
//! the student trains on (shuffled), the teacher is untouched and keeps its mode, and a
//! student taught by a teacher alone (alpha 1, labels all wrong) learns the teacher's
//! function.

use std::sync::Arc;

use lamina_data::{DataLoader, LoaderConfig, TensorDataset};
use lamina_nn::{distillation_loss, mse_loss, Dropout, Linear, Module, Reduction, Sequential};
use lamina_optim::{Adam, AdamConfig, Sgd, SgdConfig};
use lamina_tensor::{DType, Tensor};
use lamina_train::{Accuracy, FitConfig, Trainer};

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn quiet(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        verbose: false,
        progress: false,
        ..Default::default()
    }
}

#[test]
fn the_loss_sees_the_teachers_output_for_the_same_batch() -> TestResult {
    let dev = lamina_backend_cpu::device();
    // Targets equal the inputs and the teacher is the identity (behind a dropout that
    // would scramble it in training mode): its output must equal the targets.
    let x = Tensor::randn(1, [20, 3], DType::F32, &dev)?;
    let data = Arc::new(TensorDataset::new(x.clone(), x)?);
    let loader = DataLoader::new(
        data,
        LoaderConfig {
            batch_size: 4,
            shuffle: true,
            seed: Some(3),
            ..Default::default()
        },
    )?;
    let eye = Tensor::from_vec(
        vec![1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        [3, 3],
        &dev,
    )?;
    let mut teacher = Sequential::new()
        .add(Dropout::builder(0.5).seed(1).build()?)
        .add(Linear::from_weights(eye.clone(), None)?);
    teacher.train();
    let mut student = Linear::builder(3, 3).seed(0).build(&dev)?;
    let mut opt = Sgd::new(SgdConfig {
        lr: 0.1,
        ..Default::default()
    })?;
    let calls = std::cell::Cell::new(0);
    let config = FitConfig {
        accuracy: Accuracy::Off,
        ..quiet(2)
    };
    Trainer::new(config).fit_distill(
        &mut student,
        &mut teacher,
        &mut opt,
        &loader,
        Some(&loader),
        |s, t, y| {
            calls.set(calls.get() + 1);
            let diff = (t - y)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert_eq!(diff, 0.0, "the teacher's output is for another batch");
            mse_loss(s, y, Reduction::Mean)
        },
    )?;
    assert_eq!(calls.get(), 2 * (5 + 5)); // two epochs of training and validation
    assert_eq!(teacher.training_mode(), Some(true));
    assert_eq!(
        teacher.named_parameters()[0].1.to_vec::<f32>()?,
        eye.to_vec::<f32>()?
    );
    Ok(())
}

#[test]
fn a_student_learns_the_teachers_function_from_soft_targets() -> TestResult {
    let dev = lamina_backend_cpu::device();
    // The teacher classifies 2-d points by the sign of x0 - x1; every label is the
    // opposite class, so only the soft targets (alpha 1) teach the right function.
    let x = Tensor::randn(2, [64, 2], DType::F32, &dev)?;
    let w = Tensor::from_vec(vec![3.0f32, -3.0, -3.0, 3.0], [2, 2], &dev)?;
    let mut teacher = Linear::from_weights(w, None)?;
    let truth = teacher.forward(&x)?.argmax(1, false)?;
    let wrong = truth.mul_scalar(-1.0)?.add_scalar(1.0)?;
    let data = Arc::new(TensorDataset::new(x.clone(), wrong)?);
    let loader = DataLoader::new(
        data,
        LoaderConfig {
            batch_size: 16,
            shuffle: true,
            seed: Some(0),
            ..Default::default()
        },
    )?;
    let mut student = Linear::builder(2, 2).seed(5).build(&dev)?;
    let mut opt = Adam::new(AdamConfig {
        lr: 0.05,
        ..Default::default()
    })?;
    let history = Trainer::new(quiet(40)).fit_distill(
        &mut student,
        &mut teacher,
        &mut opt,
        &loader,
        None,
        |s, t, y| distillation_loss(s, t, y, 2.0, 1.0),
    )?;
    // Accuracy is against the (wrong) labels: the student disagrees with all of them.
    assert!(history.last().and_then(|r| r.train_acc) < Some(0.05));
    let agree = student
        .forward(&x)?
        .argmax(1, false)?
        .eq(&truth)?
        .to_dtype(DType::F64)?
        .mean_all()?
        .to_scalar::<f64>()?;
    assert!(
        agree > 0.95,
        "the student agrees with the teacher on {agree}"
    );
    Ok(())
}
