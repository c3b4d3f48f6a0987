//! Pruning tests: masks against references computed here by thresholds over sorted
//! magnitudes and norms, iterative amounts, masks through optimizer steps, `remove`, and
//! the shrunk MLP against the masked one.

use lamina_autograd::value_and_grad;
use lamina_optim::{Adam, AdamConfig, Masked, Optimizer, Sgd, SgdConfig};
use lamina_tensor::{DType, Device, Tensor};

use super::*;
use crate::{mse_loss, Activation, Conv2d, Linear, Mlp, Module, Reduction};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

/// `n` values in multiples of 1/8 in `[-2, 2)`, so magnitudes tie often.
fn tied_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 32) as f32 / 8.0 - 2.0
        })
        .collect()
}

fn linear(values: Vec<f32>, out: usize, inp: usize) -> Linear {
    let w = Tensor::from_vec(values, [out, inp], &dev()).unwrap();
    Linear::from_weights(w, None).unwrap()
}

/// The reference mask: the k-th smallest magnitude `t` by sorting; every entry below `t`
/// is pruned, and of those equal to `t` the lowest indices, until `k` are.
fn threshold_mask(magnitudes: &[f64], k: usize) -> Vec<f64> {
    let mut mask = vec![1.0; magnitudes.len()];
    if k == 0 {
        return mask;
    }
    let mut sorted = magnitudes.to_vec();
    sorted.sort_by(f64::total_cmp);
    let t = sorted[k - 1];
    let below = magnitudes.iter().filter(|&&m| m < t).count();
    let mut ties_left = k - below;
    for (i, &m) in magnitudes.iter().enumerate() {
        if m < t {
            mask[i] = 0.0;
        } else if m == t && ties_left > 0 {
            mask[i] = 0.0;
            ties_left -= 1;
        }
    }
    mask
}

fn abs(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| x.abs() as f64).collect()
}

fn ones_where(mask: &[f64], values: &[f32]) -> Vec<f32> {
    values
        .iter()
        .zip(mask)
        .map(|(v, m)| v * *m as f32)
        .collect()
}

#[test]
fn amounts_round_half_to_even_as_python() {
    let of = |a: Amount, n| a.of(n, "t").unwrap();
    assert_eq!(of(Amount::Fraction(0.25), 10), 2); // round(2.5) = 2
    assert_eq!(of(Amount::Fraction(0.75), 10), 8); // round(7.5) = 8
    assert_eq!(of(Amount::Fraction(0.3), 12), 4); // round(3.6)
    assert_eq!(of(Amount::Fraction(1.0), 7), 7);
    assert_eq!(of(Amount::Count(7), 7), 7);
    assert!(Amount::Fraction(1.5).of(4, "t").is_err());
    assert!(Amount::Fraction(-0.1).of(4, "t").is_err());
    assert!(Amount::Fraction(f64::NAN).of(4, "t").is_err());
    let e = Amount::Count(5).of(4, "l1_unstructured").unwrap_err();
    assert!(e.to_string().contains("l1_unstructured"), "{e}");
}

#[test]
fn unstructured_matches_a_sorted_reference() {
    for (seed, (out, inp)) in [(3, 4), (5, 7), (1, 1), (8, 9)].into_iter().enumerate() {
        let values = tied_values(out * inp, seed as u64);
        let n = values.len();
        for amount in [
            Amount::Fraction(0.0),
            Amount::Fraction(0.25),
            Amount::Fraction(0.5),
            Amount::Fraction(0.9),
            Amount::Fraction(1.0),
            Amount::Count(n / 3),
        ] {
            let mut fc = linear(values.clone(), out, inp);
            let mut pruner = Pruner::new();
            pruner.l1_unstructured(&mut fc, "weight", amount).unwrap();
            let k = amount.of(n, "t").unwrap();
            let want = threshold_mask(&abs(&values), k);
            let mask = pruner.mask("weight").unwrap().to_f64_vec().unwrap();
            assert_eq!(mask, want, "{out}x{inp} {amount:?}");
            assert_eq!(
                fc.weight.to_vec::<f32>().unwrap(),
                ones_where(&want, &values)
            );
        }
    }
}

#[test]
fn global_ranks_all_parameters_together() {
    // The second layer's weights are ten times smaller: global pruning takes them first.
    let a = tied_values(24, 11);
    let b: Vec<f32> = tied_values(30, 12).iter().map(|v| v / 10.0).collect();
    let mut model = Mlp::builder(&[4, 6, 5]).seed(0).build(&dev()).unwrap();
    model.visit_mut("", &mut |name, p| {
        let v = if name == "0.weight" { &a } else { &b };
        if name.ends_with("weight") {
            p.assign(&Tensor::from_vec(v.clone(), p.dims().to_vec(), &dev()).unwrap())
                .unwrap();
        }
    });
    let mut global = Pruner::new();
    global
        .global_unstructured(&mut model, &["0.weight", "2.weight"], 0.5)
        .unwrap();
    let mut both = abs(&a);
    both.extend(abs(&b));
    let want = threshold_mask(&both, 27);
    let mut got = global.mask("0.weight").unwrap().to_f64_vec().unwrap();
    got.extend(global.mask("2.weight").unwrap().to_f64_vec().unwrap());
    assert_eq!(got, want);
    let s = sparsity(&model, &["0.weight", "2.weight"]).unwrap();
    assert_eq!(s.zeros(), 27);
    assert!(
        s.params[1].fraction() > 2.0 * s.params[0].fraction(),
        "{s:?}"
    );
    // Per layer, each loses half.
    let mut model2 = Mlp::builder(&[4, 6, 5]).seed(0).build(&dev()).unwrap();
    let mut per = Pruner::new();
    per.l1_unstructured(&mut model2, "0.weight", 0.5).unwrap();
    per.l1_unstructured(&mut model2, "2.weight", 0.5).unwrap();
    let s = sparsity(&model2, &["0.weight", "2.weight"]).unwrap();
    assert_eq!((s.params[0].zeros, s.params[1].zeros), (12, 15));
    // Names are checked.
    let e = global
        .global_unstructured(&mut model, &["0.weight", "9.weight"], 0.1)
        .unwrap_err();
    assert!(e.to_string().contains("9.weight"), "{e}");
}

#[test]
fn structured_ranks_rows_by_l1_or_l2_norm() {
    // Row 0: L1 4, L2 2; row 1: L1 3, L2 3; row 2: L1 8, L2 4.
    let values = vec![
        1.0f32, -1.0, 1.0, 1.0, 3.0, 0.0, 0.0, 0.0, 2.0, 2.0, -2.0, 2.0,
    ];
    let mut fc = linear(values.clone(), 3, 4);
    Pruner::new()
        .ln_structured(&mut fc, "weight", 1usize, Norm::L1)
        .unwrap();
    assert_eq!(
        fc.weight.to_vec::<f32>().unwrap(),
        [1.0, -1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0, -2.0, 2.0]
    );
    let mut fc = linear(values, 3, 4);
    Pruner::new()
        .ln_structured(&mut fc, "weight", 1usize, Norm::L2)
        .unwrap();
    assert_eq!(
        fc.weight.to_vec::<f32>().unwrap(),
        [0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0, 2.0, -2.0, 2.0]
    );
}

#[test]
fn structured_prunes_conv_output_channels_against_reference_norms() {
    let conv = Conv2d::builder(2, 6, 3).seed(4).build(&dev()).unwrap();
    let w = conv.weight.to_vec::<f32>().unwrap();
    let per = 2 * 3 * 3;
    for norm in [Norm::L1, Norm::L2] {
        let mut c = Conv2d::builder(2, 6, 3).seed(4).build(&dev()).unwrap();
        let mut pruner = Pruner::new();
        pruner.ln_structured(&mut c, "weight", 0.5, norm).unwrap();
        let norms: Vec<f64> = w
            .chunks(per)
            .map(|ch| match norm {
                Norm::L1 => ch.iter().map(|v| v.abs() as f64).sum(),
                Norm::L2 => ch.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt(),
            })
            .collect();
        let channel_mask = threshold_mask(&norms, 3);
        let got = c.weight.to_vec::<f32>().unwrap();
        for (ch, &m) in channel_mask.iter().enumerate() {
            let span = ch * per..(ch + 1) * per;
            let want: Vec<f32> = w[span.clone()].iter().map(|v| v * m as f32).collect();
            assert_eq!(got[span], want[..], "{norm:?} channel {ch}");
        }
        // The bias is not pruned, as in PyTorch.
        assert!(pruner.mask("bias").is_none());
    }
}

#[test]
fn iterative_pruning_applies_the_amount_to_the_unpruned() {
    let values = tied_values(20, 7);
    let mut fc = linear(values.clone(), 4, 5);
    let mut pruner = Pruner::new();
    let zeros = |fc: &Linear| sparsity(fc, &["weight"]).unwrap().zeros();
    pruner.l1_unstructured(&mut fc, "weight", 0.5).unwrap();
    let first = pruner.mask("weight").unwrap().to_f64_vec().unwrap();
    assert_eq!(zeros(&fc), 10);
    pruner.l1_unstructured(&mut fc, "weight", 0.5).unwrap(); // 5 of the 10 left
    assert_eq!(zeros(&fc), 15);
    pruner.l1_unstructured(&mut fc, "weight", 3usize).unwrap();
    assert_eq!(zeros(&fc), 18);
    // The combined mask is the reference for 18 at once, and contains the first.
    let combined = pruner.mask("weight").unwrap().to_f64_vec().unwrap();
    assert_eq!(combined, threshold_mask(&abs(&values), 18));
    assert!(first.iter().zip(&combined).all(|(a, b)| b <= a));
    // A count beyond what is left is an error and changes nothing.
    assert!(pruner.l1_unstructured(&mut fc, "weight", 3usize).is_err());
    assert_eq!(zeros(&fc), 18);

    // Structured: 8 rows, a quarter (2), then half of the 6 left (3).
    let mut fc = linear(tied_values(8 * 3, 9), 8, 3);
    let mut pruner = Pruner::new();
    pruner
        .ln_structured(&mut fc, "weight", 0.25, Norm::L2)
        .unwrap();
    pruner
        .ln_structured(&mut fc, "weight", 0.5, Norm::L2)
        .unwrap();
    let rows = fc.weight.to_vec2::<f32>().unwrap();
    let dead = rows.iter().filter(|r| r.iter().all(|&v| v == 0.0)).count();
    assert_eq!(dead, 5);
}

/// A 4-6-5 MLP on a fixed regression batch; returns the model and its loss closure.
fn regression() -> (crate::Sequential, Tensor, Tensor) {
    let model = Mlp::builder(&[4, 6, 5]).seed(3).build(&dev()).unwrap();
    let x = Tensor::randn(5, [16, 4], DType::F32, &dev()).unwrap();
    let y = Tensor::randn(6, [16, 5], DType::F32, &dev()).unwrap();
    (model, x, y)
}

fn grads(model: &crate::Sequential, x: &Tensor, y: &Tensor) -> lamina_autograd::Grads {
    let params = model.parameters();
    value_and_grad(&params, || mse_loss(&model.forward(x)?, y, Reduction::Mean))
        .unwrap()
        .1
}

/// The flat positions where the named weights are zero.
fn zero_positions(model: &crate::Sequential, names: &[&str]) -> Vec<Vec<usize>> {
    let params = model.named_parameters();
    names
        .iter()
        .map(|n| {
            let p = &params.iter().find(|(m, _)| m == n).unwrap().1;
            let v = p.to_vec::<f32>().unwrap();
            (0..v.len()).filter(|&i| v[i] == 0.0).collect()
        })
        .collect()
}

#[test]
fn masked_steps_keep_pruned_weights_zero_with_momentum_and_adam() {
    let names = ["0.weight", "2.weight"];
    let optimizers: [fn() -> Box<dyn Optimizer>; 2] = [
        || {
            Box::new(
                Sgd::new(SgdConfig {
                    lr: 0.1,
                    momentum: 0.9,
                    weight_decay: 1e-2,
                    ..Default::default()
                })
                .unwrap(),
            )
        },
        || {
            Box::new(
                Adam::new(AdamConfig {
                    lr: 0.05,
                    ..Default::default()
                })
                .unwrap(),
            )
        },
    ];
    for make in optimizers {
        for through_wrapper in [true, false] {
            let (mut model, x, y) = regression();
            let mut opt = make();
            // Steps before pruning leave momentum / moments at every entry.
            for _ in 0..3 {
                let g = grads(&model, &x, &y);
                opt.step(&mut model.parameters_mut(), &g).unwrap();
            }
            let mut pruner = Pruner::new();
            pruner.global_unstructured(&mut model, &names, 0.6).unwrap();
            let zeros = zero_positions(&model, &names);
            assert_eq!(zeros.iter().map(Vec::len).sum::<usize>(), 32); // round(0.6 * 54)
            let before = model.named_parameters()[0].1.to_vec::<f32>().unwrap();
            for _ in 0..5 {
                let mut g = grads(&model, &x, &y);
                if through_wrapper {
                    let mut masked = Masked::new(&mut *opt, pruner.masks_by_id(&model).unwrap());
                    masked.step(&mut model.parameters_mut(), &g).unwrap();
                } else {
                    pruner.mask_grads(&model, &mut g).unwrap();
                    opt.step(&mut model.parameters_mut(), &g).unwrap();
                    pruner.apply(&mut model).unwrap();
                }
            }
            assert_eq!(zero_positions(&model, &names), zeros);
            let after = model.named_parameters()[0].1.to_vec::<f32>().unwrap();
            assert_ne!(before, after, "the kept weights train");
            // Without the masks, the old state regrows the pruned weights.
            let g = grads(&model, &x, &y);
            opt.step(&mut model.parameters_mut(), &g).unwrap();
            assert_ne!(zero_positions(&model, &names), zeros);
        }
    }
}

#[test]
fn masked_gradients_are_the_masked_full_gradients() {
    let (mut model, x, y) = regression();
    let mut pruner = Pruner::new();
    pruner.l1_unstructured(&mut model, "0.weight", 0.5).unwrap();
    let full = grads(&model, &x, &y);
    let mut masked = grads(&model, &x, &y);
    pruner.mask_grads(&model, &mut masked).unwrap();
    let w = &model.named_parameters()[0].1;
    let m = pruner.mask("0.weight").unwrap().to_vec::<f32>().unwrap();
    let f = full.get(w).unwrap().to_vec::<f32>().unwrap();
    let got = masked.get(w).unwrap().to_vec::<f32>().unwrap();
    let want: Vec<f32> = f.iter().zip(&m).map(|(g, m)| g * m).collect();
    assert_eq!(got, want);
}

#[test]
fn remove_bakes_the_zeros_in_and_drops_the_mask() {
    let (mut model, x, y) = regression();
    let mut pruner = Pruner::new();
    pruner
        .global_unstructured(&mut model, &["0.weight", "2.weight"], 0.5)
        .unwrap();
    let zeros = zero_positions(&model, &["0.weight"]);
    pruner.remove(&mut model, "0.weight").unwrap();
    assert!(pruner.mask("0.weight").is_none());
    assert_eq!(pruner.names().collect::<Vec<_>>(), ["2.weight"]);
    assert_eq!(zero_positions(&model, &["0.weight"]), zeros);
    assert!(pruner.remove(&mut model, "0.weight").is_err());
    // Unmasked now: training moves the zeros again.
    let mut opt = Sgd::new(SgdConfig {
        lr: 0.1,
        ..Default::default()
    })
    .unwrap();
    let g = grads(&model, &x, &y);
    opt.step(&mut model.parameters_mut(), &g).unwrap();
    assert_ne!(zero_positions(&model, &["0.weight"]), zeros);
    pruner.remove_all(&mut model).unwrap();
    assert_eq!(pruner.names().count(), 0);
}

#[test]
fn shrunk_mlp_computes_the_masked_function() {
    let mut model = Mlp::builder(&[6, 10, 8, 3]).seed(5).build(&dev()).unwrap();
    let mut pruner = Pruner::new();
    pruner
        .ln_structured(&mut model, "0.weight", 0.4, Norm::L2)
        .unwrap();
    pruner
        .ln_structured(&mut model, "2.weight", 0.5, Norm::L1)
        .unwrap();
    for activation in [Activation::Relu, Activation::Tanh] {
        let masked = Mlp::builder(&[6, 10, 8, 3])
            .activation(activation)
            .seed(5)
            .build(&dev())
            .unwrap();
        let mut masked = masked;
        let mut again = Pruner::new();
        again
            .ln_structured(&mut masked, "0.weight", 0.4, Norm::L2)
            .unwrap();
        again
            .ln_structured(&mut masked, "2.weight", 0.5, Norm::L1)
            .unwrap();
        let small = shrink_mlp(&masked, &["0", "2", "4"], activation).unwrap();
        let dims: Vec<Vec<usize>> = small
            .named_parameters()
            .iter()
            .filter(|(n, _)| n.ends_with("weight"))
            .map(|(_, p)| p.dims().to_vec())
            .collect();
        assert_eq!(dims, [vec![6, 6], vec![4, 6], vec![3, 4]]);
        let x = Tensor::randn(8, [32, 6], DType::F32, &dev()).unwrap();
        let want = masked.forward(&x).unwrap().to_vec::<f32>().unwrap();
        let got = small.forward(&x).unwrap().to_vec::<f32>().unwrap();
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
    let e = shrink_mlp(&model, &["0", "4"], Activation::Relu).unwrap_err();
    assert!(e.to_string().contains("4.weight"), "{e}");
}
