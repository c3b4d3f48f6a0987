//! A `DataLoader` without a seed takes the next seed of the global stream
//! (`lamina_tensor::random`). The only test in this binary, so no other thread draws from
//! the stream while it runs.

use std::sync::Arc;

use lamina_data::{DataLoader, Error, LoaderConfig, TensorDataset};
use lamina_tensor::random::manual_seed;
use lamina_tensor::{rng, Tensor};

#[test]
fn unseeded_loaders_draw_from_the_global_stream() {
    let dev = lamina_backend_cpu::device();
    let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), [12, 1], &dev).unwrap();
    let y = Tensor::from_vec((0..12i64).collect(), [12], &dev).unwrap();
    let data = Arc::new(TensorDataset::new(x, y).unwrap());
    let unseeded = LoaderConfig {
        batch_size: 4,
        shuffle: true,
        ..Default::default()
    };
    let order =
        |l: &DataLoader| -> Vec<usize> { l.epoch(0).flat_map(|b| b.unwrap().indices).collect() };

    manual_seed(21);
    let a = DataLoader::new(data.clone(), unseeded.clone()).unwrap();
    assert_eq!(a.seed(), rng::draw(21, 0));
    assert_eq!(
        a.config().seed,
        Some(a.seed()),
        "the config holds the resolved seed"
    );
    // An explicit seed and a rejected config draw nothing from the stream.
    let explicit = DataLoader::new(
        data.clone(),
        LoaderConfig {
            seed: Some(3),
            ..unseeded.clone()
        },
    )
    .unwrap();
    assert_eq!(explicit.seed(), 3);
    let bad = LoaderConfig {
        batch_size: 0,
        ..unseeded.clone()
    };
    assert!(matches!(
        DataLoader::new(data.clone(), bad),
        Err(Error::Invalid { .. })
    ));
    let b = DataLoader::new(data.clone(), unseeded.clone()).unwrap();
    assert_eq!(b.seed(), rng::draw(21, 1));

    // The same program gives the same batches; the explicit form reproduces them.
    manual_seed(21);
    let again = DataLoader::new(data.clone(), unseeded.clone()).unwrap();
    assert_eq!(order(&again), order(&a));
    let pinned = DataLoader::new(data.clone(), a.config().clone()).unwrap();
    assert_eq!(order(&pinned), order(&a));
    assert_ne!(order(&b), order(&a), "another seed, another shuffle");
}
