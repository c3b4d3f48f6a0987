//! A first look at Lamina's tensors on real data: Fisher's iris set (bundled), standardised
//! with reductions and broadcasting, then classified by nearest class centroid — centroids
//! from a one-hot matmul, distances by broadcasting, predictions by `argmin`. Trains on the
//! even rows, reports accuracy on the odd rows.
//!
//! `cargo run --release -p lamina-examples --bin tensor_tour -- [--device cpu|cuda|cuda:N]`

use lamina::prelude::*;
use lamina_examples::realdata::device_only_args;

const IRIS: &str = include_str!("../../data/iris.csv");

/// Parses the bundled CSV: four feature columns and an integer label.
fn load_iris() -> Result<(Vec<f32>, Vec<i64>)> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (n, line) in IRIS.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let bad = |what: &str| -> Error {
            lamina::tensor::Error::Invalid {
                op: "load_iris",
                msg: format!("iris.csv line {}: {what}", n + 1),
            }
            .into()
        };
        if fields.len() != 5 {
            return Err(bad("expected 5 fields"));
        }
        for f in &fields[..4] {
            x.push(f.parse::<f32>().map_err(|_| bad("non-numeric feature"))?);
        }
        y.push(
            fields[4]
                .parse::<i64>()
                .map_err(|_| bad("non-integer label"))?,
        );
    }
    Ok((x, y))
}

fn main() -> Result<()> {
    // `--device cpu|cuda|cuda:N`, else `LAMINA_DEVICE`, else the CPU.
    let usage = "usage: tensor_tour [--device cpu|cuda[:N]]";
    let choice = device_only_args(std::env::args().skip(1), usage).unwrap_or_else(|msg| {
        eprintln!("{msg}");
        std::process::exit(2)
    });
    let dev = choice.open()?;
    let (xs, ys) = load_iris()?;
    let n = ys.len();
    let x = Tensor::from_vec(xs, [n, 4], &dev)?;
    let y = Tensor::from_vec(ys, [n], &dev)?;
    println!("iris: {} samples, features {}", n, x.shape());

    // Standardise each feature with statistics of the training half only.
    let even = Tensor::arange(0.0, n as f64, 2.0, DType::I64, &dev)?;
    let odd = Tensor::arange(1.0, n as f64, 2.0, DType::I64, &dev)?;
    let (x_train, y_train) = (x.index_select(0, &even)?, y.index_select(0, &even)?);
    let (x_test, y_test) = (x.index_select(0, &odd)?, y.index_select(0, &odd)?);
    let mean = x_train.mean(0, true)?;
    let std = x_train.std(0, true, true)?;
    println!("feature means {}", mean.squeeze(0)?);
    let z_train = ((&x_train - &mean) / &std)?;
    let z_test = ((&x_test - &mean) / &std)?;

    // Class centroids: one-hot^T · X / counts.
    let onehot = y_train.one_hot(3)?.to_dtype(DType::F32)?;
    let counts = onehot.sum(0, false)?.unsqueeze(1)?;
    let centroids = (onehot.t()?.matmul(&z_train)? / &counts)?;
    println!("centroids (standardised)\n{centroids}");

    // Squared distances [test, class] by broadcasting [t, 1, 4] - [1, 3, 4].
    let diff = (z_test.unsqueeze(1)? - centroids.unsqueeze(0)?)?;
    let dist = diff.square()?.sum(2, false)?;
    let pred = dist.argmin(1, false)?;
    let correct = pred.eq(&y_test)?.to_dtype(DType::F32)?.mean_all()?;
    let probs = dist.neg()?.softmax(1)?;
    println!(
        "class probabilities of the first 3 test samples\n{}",
        probs.narrow(0, 0, 3)?
    );
    println!(
        "Nearest-centroid accuracy on the held-out half of iris: {:.4}",
        correct.to_scalar::<f32>()?
    );
    Ok(())
}
