//! Errors inside a run say where they happened (epoch, batch, phase), and a NaN or
//! infinite loss is traced to where the non-finite value first appeared: the input batch,
//! the targets, a parameter, the model's output, or the loss closure.

use std::sync::Arc;

use lamina_data::{DataLoader, LoaderConfig, TensorDataset};
use lamina_nn::{cross_entropy, mse_loss, Linear, Module, Reduction, Relu, Sequential};
use lamina_optim::{Sgd, SgdConfig};
use lamina_tensor::{Device, Tensor};
use lamina_train::{Error, FitConfig, NonFiniteAt, Phase, Trainer};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

/// 8 rows of 2 features, `x[i] = (i, 1)`, class `i % 2`, with `bad` (row, column) set to
/// `value`.
fn data(bad: Option<(usize, usize, f32)>) -> (Tensor, Tensor) {
    let mut xs: Vec<f32> = (0..8).flat_map(|i| [i as f32 / 8.0, 1.0]).collect();
    if let Some((r, c, v)) = bad {
        xs[2 * r + c] = v;
    }
    let ys: Vec<i64> = (0..8).map(|i| i % 2).collect();
    (
        Tensor::from_vec(xs, [8, 2], &dev()).expect("x"),
        Tensor::from_vec(ys, [8], &dev()).expect("y"),
    )
}

fn loader(x: Tensor, y: Tensor) -> DataLoader {
    let data = Arc::new(TensorDataset::new(x, y).expect("dataset"));
    let config = LoaderConfig {
        batch_size: 4,
        ..Default::default()
    };
    DataLoader::new(data, config).expect("loader")
}

fn model() -> Sequential {
    Sequential::new()
        .add(Linear::builder(2, 4).seed(0).build(&dev()).expect("fc1"))
        .add(Relu)
        .add(Linear::builder(4, 2).seed(1).build(&dev()).expect("fc2"))
}

fn sgd() -> Sgd {
    Sgd::new(SgdConfig {
        lr: 0.1,
        ..Default::default()
    })
    .expect("sgd")
}

fn quiet(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        verbose: false,
        progress: false,
        ..Default::default()
    }
}

fn ce(out: &Tensor, y: &Tensor) -> lamina_tensor::Result<Tensor> {
    cross_entropy(out, y, Reduction::Mean)
}

#[test]
fn nan_in_the_input_batch_names_the_sample_and_asks_to_clean_the_data() {
    let (x, y) = data(Some((5, 1, f32::NAN)));
    let err = Trainer::new(quiet(2))
        .fit(&mut model(), &mut sgd(), &loader(x, y), None, ce)
        .unwrap_err();
    // Row 5 is sample 1 of batch 1 (rows 4..8), in the first epoch.
    assert_eq!(
        err.to_string(),
        "epoch 0, batch 1 (training): the input batch holds NaN (sample 1 of the batch, data \
         set index 5, element 1): clean the data (lamina_data::transform::Imputer, or \
         drop_rows_with_nan for a table) before training"
    );
    match err {
        Error::NonFinite {
            at:
                NonFiniteAt::Input {
                    sample: 1,
                    index: Some(5),
                    element: 1,
                    value,
                },
            ..
        } => assert!(value.is_nan()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn infinite_float_targets_are_named_as_targets() {
    let x = Tensor::from_vec((0..8).map(|i| i as f32).collect(), [8, 1], &dev()).expect("x");
    let mut ys = vec![0.0f32; 8];
    ys[2] = f32::INFINITY;
    let y = Tensor::from_vec(ys, [8, 1], &dev()).expect("y");
    let mut m = Linear::builder(1, 1).seed(0).build(&dev()).expect("linear");
    let err = Trainer::new(quiet(1))
        .fit(&mut m, &mut sgd(), &loader(x, y), None, |o, t| {
            mse_loss(o, t, Reduction::Mean)
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("epoch 0, batch 0 (training): the targets hold inf (sample 2 of the batch, data set index 2, element 0): clean the data"),
        "{err}"
    );
}

#[test]
fn a_parameter_made_nan_by_an_earlier_step_is_named() {
    let (x, y) = data(None);
    let mut m = model();
    // As if an earlier step had written NaN into the second layer's bias.
    let nan = Tensor::from_vec(vec![0.0f32, f32::NAN], [2], &dev()).expect("bias");
    m.parameters_mut()[3].assign(&nan).expect("assign");
    let err = Trainer::new(quiet(1))
        .fit(&mut m, &mut sgd(), &loader(x, y), None, ce)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "epoch 0, batch 0 (training): parameter `2.bias` holds NaN (element 1) before this \
         batch: an earlier optimizer step made it so; the run diverged (lower the learning \
         rate, clip gradients), or look for a NaN gradient"
    );
}

#[test]
fn an_output_overflowing_from_finite_inputs_and_weights_is_divergence() {
    let (x, y) = data(None);
    let mut m = model();
    // Finite, but the product overflows f32 in the first layer.
    let huge = Tensor::from_vec(vec![3e38f32; 8], [4, 2], &dev()).expect("weight");
    m.parameters_mut()[0].assign(&huge).expect("assign");
    let err = Trainer::new(quiet(1))
        .fit(&mut m, &mut sgd(), &loader(x, y), None, ce)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("epoch 0, batch 0 (training): the model's output holds "),
        "{msg}"
    );
    assert!(
        msg.ends_with(
            "while its inputs and parameters are finite: the run diverged (lower the learning \
             rate, clip gradients)"
        ),
        "{msg}"
    );
    assert!(matches!(
        err,
        Error::NonFinite {
            at: NonFiniteAt::Output { .. },
            ..
        }
    ));
}

#[test]
fn a_loss_closure_that_makes_nan_is_named_and_validation_is_its_own_phase() {
    let (x, y) = data(None);
    let (vx, vy) = data(None);
    // Training is clean; the closure's 3rd call, validation's first batch (after the 2
    // training batches), makes the loss NaN.
    let calls = std::cell::Cell::new(0usize);
    let err = Trainer::new(quiet(1))
        .fit(
            &mut model(),
            &mut sgd(),
            &loader(x, y),
            Some(&loader(vx, vy)),
            |o, t| {
                calls.set(calls.get() + 1);
                let l = ce(o, t)?;
                if calls.get() == 3 {
                    l.mul_scalar(f64::NAN)
                } else {
                    Ok(l)
                }
            },
        )
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "epoch 0, batch 0 (validation): the loss is NaN while the model's outputs and the \
         targets are finite: the loss closure made it (a log of 0, or targets outside the \
         loss's domain?)"
    );
}

#[test]
fn other_errors_carry_epoch_batch_and_phase_and_keep_their_source() {
    let (x, y) = data(None);
    // A loss closure whose shapes do not fit: a tensor error in training, batch 0.
    let err = Trainer::new(quiet(1))
        .fit(
            &mut model(),
            &mut sgd(),
            &loader(x.clone(), y.clone()),
            None,
            |o, _| o.matmul(o),
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("epoch 0, batch 0 (training): "), "{msg}");
    let ctx = err.context().copied().expect("a context");
    assert_eq!(
        (ctx.epoch, ctx.batch, ctx.phase),
        (Some(0), Some(0), Phase::Training)
    );
    assert!(matches!(err.inner(), Error::Tensor(_)), "{:?}", err.inner());
    let source = std::error::Error::source(&err)
        .expect("a source")
        .to_string();
    assert_eq!(format!("epoch 0, batch 0 (training): {source}"), msg);

    // The history CSV cannot be written into a directory that is a file.
    let dir = std::env::temp_dir().join(format!("lamina-train-errors-{}", std::process::id()));
    std::fs::write(&dir, b"a file").expect("write");
    let config = FitConfig {
        history_csv: Some(dir.join("history.csv")),
        ..quiet(2)
    };
    let err = Trainer::new(config)
        .fit(
            &mut model(),
            &mut sgd(),
            &loader(x.clone(), y.clone()),
            None,
            ce,
        )
        .unwrap_err();
    let _ = std::fs::remove_file(&dir);
    assert!(
        err.to_string().starts_with("epoch 0 (history): cannot "),
        "{err}"
    );
    assert!(matches!(err.inner(), Error::Io { .. }), "{err:?}");

    // Trainer::evaluate names the batch and the phase.
    let bad = loader(x, y);
    let err = Trainer::new(quiet(1))
        .evaluate(&mut model(), &bad, |o, _| o.matmul(o))
        .unwrap_err();
    assert!(
        err.to_string().starts_with("batch 0 (evaluation): "),
        "{err}"
    );
}
