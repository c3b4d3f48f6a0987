//! Layers built without a seed draw from the global stream (`lamina_tensor::random`):
//! `manual_seed(s)` makes them reproducible and equal to their explicit-seed forms. Tests
//! in one binary run on parallel threads, so every test here holds `STREAM` while it
//! draws.

use std::sync::{Mutex, MutexGuard};

use lamina_nn::{mlp, Activation, Dropout, Linear, Mlp, Module, Seeds, Sequential};
use lamina_tensor::random::{initial_seed, manual_seed};
use lamina_tensor::{rng, DType, Device, Tensor};

static STREAM: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    STREAM.lock().unwrap_or_else(|p| p.into_inner())
}

fn dev() -> Device {
    lamina_backend_cpu::device()
}

fn values(m: &dyn Module) -> Vec<Vec<f32>> {
    m.parameters()
        .iter()
        .map(|p| p.to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn linear_new_takes_the_next_global_seed() {
    let _g = lock();
    manual_seed(7);
    let a = Linear::new(5, 3, &dev()).unwrap();
    let b = Linear::new(5, 3, &dev()).unwrap();
    let mut seeds = Seeds::new(7);
    let want_a = Linear::builder(5, 3)
        .seed(seeds.next_seed())
        .build(&dev())
        .unwrap();
    let want_b = Linear::builder(5, 3)
        .seed(rng::draw(7, 1))
        .build(&dev())
        .unwrap();
    assert_eq!(values(&a), values(&want_a));
    assert_eq!(values(&b), values(&want_b));
    assert_ne!(values(&a), values(&b), "each layer gets its own seed");
    // An explicit seed leaves the stream alone.
    manual_seed(7);
    Linear::builder(5, 3).seed(99).build(&dev()).unwrap();
    assert_eq!(values(&Linear::new(5, 3, &dev()).unwrap()), values(&a));
    assert_eq!(initial_seed(), 7);
}

#[test]
fn mlp_with_the_global_stream_equals_the_explicit_seed() {
    let _g = lock();
    for act in [Activation::Relu, Activation::Tanh] {
        manual_seed(11);
        let global = mlp(&[4, 6, 3], act, &dev()).unwrap();
        let explicit = Mlp::builder(&[4, 6, 3])
            .activation(act)
            .seed(11)
            .build(&dev())
            .unwrap();
        assert_eq!(values(&global), values(&explicit));
        let x = Tensor::randn(1, [2, 4], DType::F32, &dev()).unwrap();
        assert_eq!(
            global.forward(&x).unwrap().to_vec::<f32>().unwrap(),
            explicit.forward(&x).unwrap().to_vec::<f32>().unwrap()
        );
    }
    // With dropout too (the masks as well as the weights).
    manual_seed(12);
    let global: Sequential = Mlp::builder(&[4, 6, 6, 3])
        .dropout(0.5)
        .build(&dev())
        .unwrap();
    let explicit = Mlp::builder(&[4, 6, 6, 3])
        .dropout(0.5)
        .seed(12)
        .build(&dev())
        .unwrap();
    let x = Tensor::ones([8, 4], DType::F32, &dev()).unwrap();
    assert_eq!(
        global.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        explicit.forward(&x).unwrap().to_vec::<f32>().unwrap()
    );
    // A rejected configuration draws nothing.
    manual_seed(13);
    assert!(mlp(&[4, 0, 3], Activation::Relu, &dev()).is_err());
    let after = Linear::new(2, 2, &dev()).unwrap();
    let first = Linear::builder(2, 2)
        .seed(rng::draw(13, 0))
        .build(&dev())
        .unwrap();
    assert_eq!(values(&after), values(&first));
}

#[test]
fn dropout_new_takes_the_next_global_seed() {
    let _g = lock();
    manual_seed(3);
    let d = Dropout::new(0.5).unwrap();
    let want = Dropout::builder(0.5).seed(rng::draw(3, 0)).build().unwrap();
    let x = Tensor::ones([64], DType::F32, &dev()).unwrap();
    for _ in 0..2 {
        assert_eq!(
            d.forward(&x).unwrap().to_vec::<f32>().unwrap(),
            want.forward(&x).unwrap().to_vec::<f32>().unwrap()
        );
    }
    // A rejected probability draws nothing.
    manual_seed(3);
    assert!(Dropout::new(2.0).is_err());
    let again = Dropout::new(0.5).unwrap();
    let fresh = Dropout::builder(0.5).seed(rng::draw(3, 0)).build().unwrap();
    assert_eq!(
        again.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        fresh.forward(&x).unwrap().to_vec::<f32>().unwrap()
    );
}
