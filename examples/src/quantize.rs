//! int8 quantisation of a trained MNIST network, measured: the f32 model and its static
//! (min-max and percentile observers) and dynamic int8 versions (`lamina::quant`), each
//! scored on the test images for accuracy, file size and inference throughput. Shared by
//! `mnist_quantize` and `mnist_compress`.

use std::path::Path;
use std::time::Instant;

use lamina::nn::{Module, Sequential};
use lamina::prelude::*;
use lamina::quant::{quantize_dynamic, Calibrator, Observer, QuantizedModel};

use crate::realdata::Result;

/// One row of a compression table.
#[derive(Clone, Debug)]
pub struct Row {
    pub model: String,
    /// Bytes of the saved safetensors file.
    pub file_bytes: u64,
    /// Test accuracy in `[0, 1]`.
    pub accuracy: f64,
    /// Test images per second through the model's forward (batches of `batch`).
    pub images_per_s: f64,
}

/// Accuracy and images/s of `f` over `images` (`[N, ..]`) in batches of `batch`, after one
/// warm-up batch.
pub fn score(
    f: &dyn Fn(&Tensor) -> lamina::tensor::Result<Tensor>,
    images: &Tensor,
    labels: &[i64],
    batch: usize,
) -> Result<(f64, f64)> {
    let n = images.dims()[0];
    f(&images.narrow(0, 0, batch.min(n))?)?;
    let t0 = Instant::now();
    let mut correct = 0usize;
    for start in (0..n).step_by(batch) {
        let len = batch.min(n - start);
        let pred = f(&images.narrow(0, start, len)?)?
            .argmax(-1, false)?
            .to_vec::<i64>()?;
        correct += pred
            .iter()
            .zip(&labels[start..start + len])
            .filter(|(p, y)| p == y)
            .count();
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok((correct as f64 / n as f64, n as f64 / secs))
}

/// The f32 model (evaluation mode) and its int8 versions: static with min-max and with
/// 99.99th-percentile observers (calibrated on `calibration`, `[N, ..]`, in batches of
/// 500) and dynamic; files written under `dir`.
pub fn int8_rows(
    model: &mut Sequential,
    calibration: &Tensor,
    images: &Tensor,
    labels: &[i64],
    dir: &Path,
) -> Result<Vec<Row>> {
    std::fs::create_dir_all(dir)?;
    model.set_training(false);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len());
    let f32_path = dir.join("f32.safetensors");
    model.save_safetensors(&f32_path)?;
    let (accuracy, images_per_s) = score(&|x| model.forward(x), images, labels, 256)?;
    let mut rows = vec![Row {
        model: "f32".into(),
        file_bytes: size(&f32_path)?,
        accuracy,
        images_per_s,
    }];
    let mut add = |name: &str, q: QuantizedModel, file: &str| -> Result<()> {
        let path = dir.join(file);
        q.save_safetensors(&path)?;
        // Scored as loaded back from the file: what a deployment would run.
        let q = QuantizedModel::load_safetensors(&path)?;
        let (accuracy, images_per_s) = score(&|x| q.forward(x), images, labels, 256)?;
        rows.push(Row {
            model: name.into(),
            file_bytes: size(&path)?,
            accuracy,
            images_per_s,
        });
        Ok(())
    };
    for (name, observer, file) in [
        (
            "int8 static (min-max)",
            Observer::MinMax,
            "int8_minmax.safetensors",
        ),
        (
            "int8 static (99.99th pct)",
            Observer::Percentile(99.99),
            "int8_percentile.safetensors",
        ),
    ] {
        let mut cal = Calibrator::new(model, observer)?;
        let n = calibration.dims()[0];
        for start in (0..n).step_by(500) {
            cal.observe(&calibration.narrow(0, start, 500.min(n - start))?)?;
        }
        add(name, cal.convert()?, file)?;
    }
    add(
        "int8 dynamic (linear only)",
        quantize_dynamic(model)?,
        "int8_dynamic.safetensors",
    )?;
    Ok(rows)
}

/// The rows as a table, with each model's size and speed against the first row's.
pub fn table(rows: &[Row]) -> String {
    let base = &rows[0];
    let mut s = format!(
        "{:<28} {:>10} {:>7} {:>9} {:>7} {:>10} {:>7}\n",
        "model", "file", "smaller", "accuracy", "Δ pts", "images/s", "speed"
    );
    for r in rows {
        s += &format!(
            "{:<28} {:>7.1} KB {:>6.2}x {:>8.2}% {:>+7.2} {:>10.0} {:>6.2}x\n",
            r.model,
            r.file_bytes as f64 / 1024.0,
            base.file_bytes as f64 / r.file_bytes as f64,
            100.0 * r.accuracy,
            100.0 * (r.accuracy - base.accuracy),
            r.images_per_s,
            r.images_per_s / base.images_per_s,
        );
    }
    s
}
