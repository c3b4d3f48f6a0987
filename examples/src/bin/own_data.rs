use std::sync::Arc;

use lamina::data::metrics::classification_report;
use lamina::data::split::{train_test_split, StratifiedKFold};
use lamina::data::transform::StandardScaler;
use lamina::data::{read_csv, CsvOptions, DataLoader, LoaderConfig, TensorDataset};
use lamina::nn::{cross_entropy, mlp, Activation, Reduction};
use lamina::optim::{Adam, AdamConfig};
use lamina::prelude::*;
use lamina::train::{
    predict_classes, CrossValidation, FitConfig, FoldSetup, Metric, Preprocess, Trainer,
};

fn main() -> lamina::Result<()> {
    lamina::manual_seed(0); // weights and shuffles repeat run to run
    let dev = device()?;

    // Load: a header row, 30 numeric columns, the class (0 malignant, 1 benign) last.
    let table = read_csv("datasets/sklearn/breast_cancer.csv", &CsvOptions::default())?;
    let labels = table.class_labels()?;
    println!(
        "{} rows, {} features, class counts {:?}",
        table.rows,
        table.cols,
        table.class_counts()?
    );

    // Split: a stratified quarter held out for testing.
    let (train_rows, test_rows) = train_test_split(table.rows, 0.25, 0, Some(&labels))?;
    let (train, test) = (
        table.select_rows(&train_rows)?,
        table.select_rows(&test_rows)?,
    );

    // Scale: statistics from the training rows only, applied to both.
    let scaler = StandardScaler::fit(&train.features_tensor(DType::F32, &dev)?)?;
    let x_train = scaler.transform(&train.features_tensor(DType::F32, &dev)?)?;
    let x_test = scaler.transform(&test.features_tensor(DType::F32, &dev)?)?;

    // Train: a 30-16-2 MLP, Adam, cross-entropy, 30 epochs of shuffled batches of 32.
    let batches = LoaderConfig {
        batch_size: 32,
        shuffle: true,
        ..Default::default()
    };
    let fit = FitConfig {
        epochs: 30,
        verbose: false,
        progress: false,
        ..Default::default()
    };
    let adam = || Adam::new(AdamConfig::default()); // lr 1e-3
    let loss = |out: &Tensor, y: &Tensor| cross_entropy(out, y, Reduction::Mean);
    let data = TensorDataset::new(x_train, train.class_labels_tensor(&dev)?)?;
    let loader = DataLoader::new(Arc::new(data), batches.clone())?;
    let mut model = mlp(&[30, 16, 2], Activation::Relu, &dev)?;
    Trainer::new(fit.clone()).fit(&mut model, &mut adam()?, &loader, None, loss)?;

    // Evaluate on the held-out quarter.
    let predicted = predict_classes(&mut model, &x_test, 256)?;
    let report = classification_report(&predicted, &test.class_labels()?)?;
    println!("\n{}", report.with_names(&["malignant", "benign"])?);

    // Cross-validate the same recipe: 5 stratified folds, the scaler fitted inside each.
    let folds = StratifiedKFold::new(5, true, 0).split(&labels)?;
    let x = table.features_tensor(DType::F32, &dev)?;
    let y = table.class_labels_tensor(&dev)?;
    let build = |_fold| {
        Ok(FoldSetup {
            model: mlp(&[30, 16, 2], Activation::Relu, &dev)?,
            optimizer: Box::new(adam()?),
            schedule: None,
            loader: batches.clone(),
        })
    };
    let cv = CrossValidation::new(folds, &[Metric::Accuracy, Metric::F1Macro])
        .preprocess(Preprocess::StandardScaler)
        .cross_validate(&x, &y, &fit, build, loss)?;
    println!("5-fold cross-validation:\n{cv}");
    Ok(())
}

/// `--device cpu|cuda|cuda:N`, else the environment variable `LAMINA_DEVICE`, else the CPU
/// (CUDA in a build with `--features cuda`).
fn device() -> lamina::Result<Device> {
    let args: Vec<String> = std::env::args().collect();
    let flag = args.iter().position(|a| a == "--device");
    let name = match flag.and_then(|i| args.get(i + 1)) {
        Some(n) => n.clone(),
        None => std::env::var("LAMINA_DEVICE").unwrap_or_else(|_| "cpu".into()),
    };
    match name.as_str() {
        "cpu" => Ok(Device::cpu()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)?),
        other => {
            #[cfg(feature = "cuda")]
            if let Some(Ok(i)) = other.strip_prefix("cuda:").map(str::parse) {
                return Ok(Device::cuda(i)?);
            }
            let msg = format!("unknown or unavailable device {other:?} (cpu, cuda, cuda:N)");
            Err(lamina::tensor::Error::DeviceUnavailable(msg).into())
        }
    }
}
