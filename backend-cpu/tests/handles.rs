//! The per-op handles: tensor ids are unique across threads (each thread hands out ids
//! from its own block), devices are plain copies of one process-wide backend, and outputs
//! written in place into their reference-counted block hold the right values and counts.

use std::collections::HashSet;

use lamina_backend_cpu::device;
use lamina_tensor::{Result, Tensor};

#[test]
fn tensor_ids_are_unique_across_threads() -> Result<()> {
    let dev = device();
    let per_thread = 3000; // more than one id block per thread
    let handles: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || -> Result<Vec<u64>> {
                let a = Tensor::from_vec(vec![1.0f32; 4], [4], &dev)?;
                (0..per_thread)
                    .map(|_| Ok(a.add(&a)?.id().as_u64()))
                    .collect()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for h in handles {
        for id in h.join().expect("worker thread panicked")? {
            assert!(seen.insert(id), "id {id} handed out twice");
        }
    }
    // Ids made on this thread do not collide with the workers' either.
    let b = Tensor::zeros([2], lamina_tensor::DType::F32, &dev)?;
    assert!(seen.insert(b.id().as_u64()));
    assert_eq!(seen.len(), 4 * per_thread + 1);
    Ok(())
}

#[test]
fn devices_are_copies_of_one_backend() -> Result<()> {
    let (a, b) = (device(), device());
    assert_eq!(a, b);
    let t = Tensor::from_vec(vec![1.0f64, 2.0], [2], &a)?;
    assert_eq!(*t.device(), b);
    assert_eq!(a.name(), "cpu");

    // Two more instances of the (zero-sized) CPU backend: distinct devices, though
    // zero-sized values may share an address.
    let (c, d) = (
        lamina_tensor::Device::leak(Box::new(lamina_backend_cpu::CpuBackend)),
        lamina_tensor::Device::leak(Box::new(lamina_backend_cpu::CpuBackend)),
    );
    assert!(c != d && c != a && d != a);
    let copy = c;
    assert_eq!(copy, c);
    let on_c = Tensor::from_vec(vec![1.0f64, 2.0], [2], &c)?;
    assert_eq!(on_c.add(&on_c)?.to_vec::<f64>()?, vec![2.0, 4.0]);
    let msg = on_c.add(&t).unwrap_err().to_string();
    assert!(msg.contains("add"), "{msg}");
    Ok(())
}

#[test]
fn outputs_made_in_place_hold_their_values_inline_and_pooled() -> Result<()> {
    let dev = device();
    // 16 elements are stored inline in the storage object, 17 take a pooled buffer.
    for n in [1usize, 16, 17, 1000] {
        let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        let y: Vec<f32> = (0..n).map(|i| 3.0 - i as f32).collect();
        let a = Tensor::from_vec(x.clone(), [n], &dev)?;
        let b = Tensor::from_vec(y.clone(), [n], &dev)?;
        let sum = a.add(&b)?;
        let prod = a.mul(&b)?;
        let want_sum: Vec<f32> = x.iter().zip(&y).map(|(p, q)| p + q).collect();
        let want_prod: Vec<f32> = x.iter().zip(&y).map(|(p, q)| p * q).collect();
        assert_eq!(sum.to_vec::<f32>()?, want_sum, "n = {n}");
        assert_eq!(prod.to_vec::<f32>()?, want_prod, "n = {n}");
        assert_eq!(sum.storage().len(), n);
        // A clone shares the storage; dropping one handle leaves the other intact.
        let keep = sum.clone();
        assert!(keep.shares_storage(&sum));
        drop(sum);
        assert_eq!(keep.to_vec::<f32>()?, want_sum);
    }
    Ok(())
}
