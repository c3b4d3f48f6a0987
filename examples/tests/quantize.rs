//! int8 quantisation of a briefly trained `mnist_cnn` on real MNIST (CI-sized): the static
//! model, calibrated on training images and reloaded from its file, stays within a point
//! of the f32 model's test accuracy, and its file is at least 3.5 times smaller.

use lamina::prelude::*;
use lamina::train::Checkpoints;
use lamina_examples::mnist::{cnn, train_mnist, Architecture, MnistConfig};
use lamina_examples::quantize::int8_rows;
use lamina_examples::realdata::{datasets_dir, Result};

#[test]
fn int8_mnist_cnn_keeps_its_accuracy_in_a_quarter_of_the_bytes() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("lamina-quantize-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dev = Device::cpu();
    let cfg = MnistConfig {
        architecture: Architecture::Cnn,
        epochs: 1,
        limit: Some(2000),
        test_limit: Some(500),
        checkpoint_dir: Some(dir.join("run")),
        verbose: false,
        ..Default::default()
    };
    train_mnist(&cfg, &dev)?;
    let mut model = cnn(0, &dev)?;
    Checkpoints::new(dir.join("run")).load_best(&mut model)?;
    let mnist = lamina::data::Mnist::load_limit(datasets_dir().join("mnist"), 500, 500, &dev)?;
    let img = |t: &Tensor| t.reshape([t.dims()[0], 1, 28, 28]);
    let labels = mnist.test_labels.to_vec::<i64>()?;
    let rows = int8_rows(
        &mut model,
        &img(&mnist.train_images)?,
        &img(&mnist.test_images)?,
        &labels,
        &dir.join("files"),
    )?;
    eprintln!("{}", lamina_examples::quantize::table(&rows));
    let f32_row = &rows[0];
    assert!(
        f32_row.accuracy > 0.7,
        "f32 after one short epoch: {}",
        f32_row.accuracy
    );
    for r in &rows[1..] {
        assert!(
            (r.accuracy - f32_row.accuracy).abs() <= 0.01,
            "{}: {} vs f32 {}",
            r.model,
            r.accuracy,
            f32_row.accuracy
        );
    }
    let stat = &rows[1];
    let ratio = f32_row.file_bytes as f64 / stat.file_bytes as f64;
    assert!(ratio >= 3.5, "{} is only {ratio:.2}x smaller", stat.model);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
