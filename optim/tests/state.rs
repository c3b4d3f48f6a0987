//! Optimizer behaviour beyond the update formulas: exact resume through serde_json,
//! in-place updates that keep ids, skipped parameters, gradient accumulation, and the
//! errors for mismatched gradients and state.

use lamina_autograd::{value_and_grad, Grads, Tape};
use lamina_optim::{
    l1_penalty, l2_penalty, Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig,
    CosineAnnealingLR, LRScheduler, LinearLR, Optimizer, OptimizerState, RMSprop, RMSpropConfig,
    ReduceLROnPlateau, ReduceLROnPlateauConfig, Sgd, SgdConfig, TensorData,
};
use lamina_tensor::{DType, Device, Error, Result, Tensor};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

/// A small fixed problem: `sum((x w + b − y)²) + sum(sin(w))`, in `dtype`.
struct Problem {
    x: Tensor,
    y: Tensor,
}

impl Problem {
    fn new(dtype: DType) -> Result<Problem> {
        let d = dev();
        let x = Tensor::from_vec(
            vec![
                0.5, -1.2, 0.3, 1.1, 0.4, -0.7, -0.6, 0.9, 1.5, 0.2, -0.3, 0.8,
            ],
            [4, 3],
            &d,
        )?;
        let y = Tensor::from_vec(vec![1.0, -0.5, 0.3, 0.8, -1.2, 0.4, 0.6, 0.1], [4, 2], &d)?;
        Ok(Problem {
            x: x.to_dtype(dtype)?,
            y: y.to_dtype(dtype)?,
        })
    }

    fn params(&self) -> Result<(Tensor, Tensor)> {
        let d = dev();
        let w = Tensor::from_vec(vec![0.1, -0.2, 0.4, 0.3, -0.5, 0.25], [3, 2], &d)?;
        let b = Tensor::from_vec(vec![0.05, -0.1], [2], &d)?;
        Ok((w.to_dtype(self.x.dtype())?, b.to_dtype(self.x.dtype())?))
    }

    fn loss(&self, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        let fit = (self.x.matmul(w) + b - &self.y)?.square()?.sum_all()?;
        fit + w.sin()?.sum_all()?
    }

    fn grads(&self, w: &Tensor, b: &Tensor) -> Result<Grads> {
        Ok(value_and_grad(&[w, b], || self.loss(w, b))?.1)
    }

    fn run(
        &self,
        opt: &mut dyn Optimizer,
        w: &mut Tensor,
        b: &mut Tensor,
        steps: usize,
    ) -> Result<()> {
        for _ in 0..steps {
            let g = self.grads(w, b)?;
            opt.step(&mut [&mut *w, &mut *b], &g)?;
        }
        Ok(())
    }
}

fn bits(t: &Tensor) -> Result<Vec<u64>> {
    Ok(t.to_f64_vec()?.iter().map(|v| v.to_bits()).collect())
}

/// A checkpoint as a user would write one: config, optimizer state and parameters, all
/// through JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint<C> {
    config: C,
    state: OptimizerState,
    w: TensorData,
    b: TensorData,
}

/// 20 straight steps equal 10 steps, a JSON checkpoint, a fresh optimizer and parameters
/// loaded from it, and 10 more steps — bit for bit.
fn check_resume<C, O>(config: C, make: impl Fn(C) -> Result<O>, dtype: DType) -> Result<()>
where
    C: Clone + serde::Serialize + serde::de::DeserializeOwned,
    O: Optimizer,
{
    let problem = Problem::new(dtype)?;

    let (mut w, mut b) = problem.params()?;
    let mut straight = make(config.clone())?;
    problem.run(&mut straight, &mut w, &mut b, 20)?;

    let (mut w1, mut b1) = problem.params()?;
    let mut first = make(config.clone())?;
    problem.run(&mut first, &mut w1, &mut b1, 10)?;
    // The binary form checkpoints use restores the same state exactly.
    let state = first.state()?;
    assert_eq!(
        OptimizerState::from_safetensors(&state.to_safetensors()?)?,
        state,
        "{} {dtype}: safetensors round trip",
        first.name()
    );
    let json = serde_json::to_string(&Checkpoint {
        config,
        state: first.state()?,
        w: TensorData::from_tensor(&w1)?,
        b: TensorData::from_tensor(&b1)?,
    })
    .unwrap();
    drop((first, w1, b1));

    let ckpt: Checkpoint<C> = serde_json::from_str(&json).unwrap();
    let mut resumed = make(ckpt.config)?;
    resumed.load_state(ckpt.state)?;
    let mut w2 = ckpt.w.to_tensor(&dev())?;
    let mut b2 = ckpt.b.to_tensor(&dev())?;
    problem.run(&mut resumed, &mut w2, &mut b2, 10)?;

    let name = straight.name();
    assert_eq!(bits(&w2)?, bits(&w)?, "{name} {dtype}: w after resume");
    assert_eq!(bits(&b2)?, bits(&b)?, "{name} {dtype}: b after resume");
    assert_eq!(
        resumed.state()?,
        straight.state()?,
        "{name} {dtype}: state after resume"
    );
    Ok(())
}

#[test]
fn safetensors_state_keeps_every_bit_and_rejects_other_files() -> Result<()> {
    use lamina_optim::ParamState;
    use std::collections::BTreeMap;
    let buffer = |dtype: &str, values: Vec<f64>| TensorData {
        shape: vec![values.len()],
        dtype: dtype.into(),
        values,
    };
    let mut p0 = BTreeMap::new();
    p0.insert(
        "exp_avg".to_string(),
        buffer(
            "f32",
            vec![1.5, -0.0, f64::from(f32::MAX), f64::INFINITY, f64::NAN],
        ),
    );
    p0.insert(
        "exp_avg_sq".to_string(),
        buffer("f64", vec![0.1, 1e-300, -2.5]),
    );
    let state = OptimizerState {
        optimizer: "Adam".into(),
        learning_rate: 0.1 + 0.2, // not a short decimal
        params: vec![
            Some(ParamState {
                step: 7,
                buffers: p0,
            }),
            None,
            // A parameter with a step count and no buffers (plain SGD).
            Some(ParamState {
                step: 3,
                buffers: BTreeMap::new(),
            }),
        ],
    };
    let back = OptimizerState::from_safetensors(&state.to_safetensors()?)?;
    assert_eq!(back.optimizer, "Adam");
    assert_eq!(back.learning_rate.to_bits(), state.learning_rate.to_bits());
    assert_eq!(back.params.len(), 3);
    assert!(back.params[1].is_none());
    assert_eq!(back.params[2].as_ref().map(|p| p.step), Some(3));
    let (got, want) = (
        back.params[0].as_ref().unwrap(),
        state.params[0].as_ref().unwrap(),
    );
    assert_eq!(got.step, 7);
    for (name, b) in &want.buffers {
        let g = &got.buffers[name];
        assert_eq!((&g.shape, &g.dtype), (&b.shape, &b.dtype), "{name}");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&g.values), bits(&b.values), "{name}");
    }
    // JSON cannot hold the NaN; the binary form can.
    assert!(state.to_json().is_err());

    for (bytes, want) in [
        (b"not a safetensors file".to_vec(), "from_safetensors"),
        (
            bare_safetensors(&[("format", "pt")]),
            "format `pt`, expected `lamina-optimizer-state/1`",
        ),
        (
            bare_safetensors(&[("format", lamina_optim::SAFETENSORS_FORMAT)]),
            "metadata has no `learning_rate`",
        ),
    ] {
        let msg = OptimizerState::from_safetensors(&bytes)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(want), "{msg}");
    }
    Ok(())
}

#[test]
fn safetensors_state_checksum_catches_a_damaged_buffer() -> Result<()> {
    use lamina_optim::ParamState;
    use std::collections::BTreeMap;
    let mut buffers = BTreeMap::new();
    buffers.insert(
        "momentum_buffer".to_string(),
        TensorData {
            shape: vec![4],
            dtype: "f32".into(),
            values: vec![0.5, -1.0, 2.0, 0.25],
        },
    );
    let state = OptimizerState {
        optimizer: "Sgd".into(),
        learning_rate: 0.1,
        params: vec![Some(ParamState { step: 2, buffers })],
    };
    let mut bytes = state.to_safetensors()?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let sum = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("lamina.crc32").cloned())
        .expect("the state carries a checksum");
    // Flip a bit of the last value: the file still parses, to another state.
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let msg = OptimizerState::from_safetensors(&bytes)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("from_safetensors") && msg.contains("checksum") && msg.contains(&sum),
        "{msg}"
    );
    // Older states, written before the checksum, still load.
    let old = bare_safetensors(&[
        ("format", lamina_optim::SAFETENSORS_FORMAT),
        ("optimizer", "Sgd"),
        ("learning_rate", "0.1"),
        ("params", "0"),
    ]);
    assert_eq!(OptimizerState::from_safetensors(&old)?.optimizer, "Sgd");
    Ok(())
}

/// A tensor-less safetensors file with the given metadata.
fn bare_safetensors(meta: &[(&str, &str)]) -> Vec<u8> {
    let header = serde_json::json!({
        "__metadata__": meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::HashMap<_, _>>()
    })
    .to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes
}

#[test]
fn resume_from_json_is_bit_for_bit() -> Result<()> {
    for dtype in [DType::F64, DType::F32] {
        let sgd = SgdConfig {
            lr: 0.01,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.01,
            l1: 0.001,
            ..Default::default()
        };
        check_resume(sgd, Sgd::new, dtype)?;
        check_resume(
            SgdConfig {
                lr: 0.01,
                ..Default::default()
            },
            Sgd::new,
            dtype,
        )?;
        let adam = AdamConfig {
            lr: 0.01,
            eps: 1e-7,
            amsgrad: true,
            weight_decay: 0.01,
            ..Default::default()
        };
        check_resume(adam, Adam::new, dtype)?;
        check_resume(
            AdamWConfig {
                lr: 0.01,
                ..Default::default()
            },
            AdamW::new,
            dtype,
        )?;
        let rms = RMSpropConfig {
            lr: 0.01,
            centered: true,
            momentum: 0.5,
            ..Default::default()
        };
        check_resume(rms, RMSprop::new, dtype)?;
        let adagrad = AdagradConfig {
            lr: 0.1,
            lr_decay: 0.01,
            initial_accumulator_value: 0.1,
            ..Default::default()
        };
        check_resume(adagrad, Adagrad::new, dtype)?;
    }
    Ok(())
}

#[test]
fn schedules_resume_from_json() -> Result<()> {
    let mut a = CosineAnnealingLR::new(0.1, 7, 0.001)?;
    let mut b = LinearLR::new(0.1, 0.1, 1.0, 5)?;
    let mut c = ReduceLROnPlateau::new(
        0.1,
        ReduceLROnPlateauConfig {
            patience: 1,
            ..Default::default()
        },
    )?;
    // Fresh plateau state (no best yet) must survive JSON too.
    let fresh: ReduceLROnPlateau =
        serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(fresh, c);
    let metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9];
    for m in &metrics[..5] {
        a.step();
        b.step();
        c.step(*m);
    }
    let mut a2: CosineAnnealingLR =
        serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    let mut b2: LinearLR = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    let mut c2: ReduceLROnPlateau =
        serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    for m in &metrics[5..] {
        a.step();
        b.step();
        c.step(*m);
        a2.step();
        b2.step();
        c2.step(*m);
        assert_eq!(a.lr().to_bits(), a2.lr().to_bits());
        assert_eq!(b.lr().to_bits(), b2.lr().to_bits());
        assert_eq!(c.lr().to_bits(), c2.lr().to_bits());
    }
    assert!(c.lr() < 0.1, "the plateau schedule cut the rate");
    Ok(())
}

#[test]
fn updates_in_place_and_keep_ids() -> Result<()> {
    let problem = Problem::new(DType::F64)?;
    let (mut w, mut b) = problem.params()?;
    let (w_id, b_id) = (w.id(), b.id());
    let w_storage = std::ptr::from_ref(w.storage()).cast::<u8>();
    let mut opt = Adam::new(AdamConfig::default())?;
    problem.run(&mut opt, &mut w, &mut b, 3)?;
    assert_eq!((w.id(), b.id()), (w_id, b_id));
    assert_eq!(
        std::ptr::from_ref(w.storage()).cast::<u8>(),
        w_storage,
        "written in place"
    );

    // Another handle on the storage never sees the write; the parameter still keeps its id.
    let other = w.clone();
    let before = other.to_vec::<f64>()?;
    problem.run(&mut opt, &mut w, &mut b, 1)?;
    assert_eq!(other.to_vec::<f64>()?, before);
    assert_ne!(w.to_vec::<f64>()?, before);
    assert_eq!(w.id(), w_id);
    Ok(())
}

#[test]
fn parameters_without_gradients_are_skipped() -> Result<()> {
    let problem = Problem::new(DType::F64)?;
    let (mut w, mut b) = problem.params()?;
    let mut unused = Tensor::ones([5], DType::F64, &dev())?;
    let mut opt = Sgd::new(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.1,
        ..Default::default()
    })?;
    assert!(opt.state()?.params.is_empty(), "state is created lazily");
    for _ in 0..3 {
        let g = problem.grads(&w, &b)?;
        opt.step(&mut [&mut w, &mut unused, &mut b], &g)?;
    }
    assert_eq!(unused.to_vec::<f64>()?, vec![1.0; 5]);
    let state = opt.state()?;
    assert_eq!(state.params.len(), 3);
    assert!(state.params[1].is_none());
    assert_eq!(state.params[0].as_ref().unwrap().step, 3);
    assert_eq!(
        state.params[2].as_ref().unwrap().buffers["momentum_buffer"].shape,
        vec![2]
    );
    Ok(())
}

#[test]
fn accumulated_gradients_step_like_the_summed_loss() -> Result<()> {
    let problem = Problem::new(DType::F64)?;
    let (mut w, mut b) = problem.params()?;
    let (mut w2, mut b2) = problem.params()?;
    let half = |w: &Tensor, b: &Tensor| problem.loss(w, b)?.mul_scalar(0.5);

    let mut acc = Grads::new();
    for _ in 0..2 {
        let (_, g) = value_and_grad(&[&w, &b], || half(&w, &b))?;
        acc.accumulate(g)?;
    }
    let mut opt = Sgd::new(SgdConfig {
        lr: 0.01,
        ..Default::default()
    })?;
    opt.step(&mut [&mut w, &mut b], &acc)?;

    let g = problem.grads(&w2, &b2)?;
    let mut opt2 = Sgd::new(SgdConfig {
        lr: 0.01,
        ..Default::default()
    })?;
    opt2.step(&mut [&mut w2, &mut b2], &g)?;
    for (a, e) in w.to_vec::<f64>()?.iter().zip(w2.to_vec::<f64>()?) {
        assert!((a - e).abs() <= 1e-15 * e.abs().max(1.0));
    }
    Ok(())
}

#[test]
fn step_records_nothing_on_an_active_tape() -> Result<()> {
    let problem = Problem::new(DType::F64)?;
    let (mut w, mut b) = problem.params()?;
    let g = problem.grads(&w, &b)?;
    let tape = Tape::new();
    tape.watch(&w);
    tape.watch(&b);
    let mut opt = Adam::new(AdamConfig::default())?;
    opt.step(&mut [&mut w, &mut b], &g)?;
    assert!(tape.is_empty());
    Ok(())
}

fn message(r: Result<()>) -> String {
    match r {
        Ok(()) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn gradient_mismatch_is_an_error_and_changes_nothing() -> Result<()> {
    let d = dev();
    let mut w = Tensor::ones([3, 2], DType::F64, &d)?;
    let mut b = Tensor::ones([2], DType::F64, &d)?;
    let gw = Tensor::ones([3, 2], DType::F64, &d)?;
    let bad_shape = Tensor::ones([3], DType::F64, &d)?;
    let bad_dtype = Tensor::ones([2], DType::F32, &d)?;
    let mut opt = Adam::new(AdamConfig::default())?;

    let msg = message(opt.step_grads(&mut [&mut w, &mut b], &[Some(&gw), Some(&bad_shape)]));
    assert!(
        msg.contains("parameter 1") && msg.contains("[3]") && msg.contains("[2]"),
        "{msg}"
    );
    let msg = message(opt.step_grads(&mut [&mut w, &mut b], &[Some(&gw), Some(&bad_dtype)]));
    assert!(
        msg.contains("parameter 1") && msg.contains("f32") && msg.contains("f64"),
        "{msg}"
    );
    let msg = message(opt.step_grads(&mut [&mut w, &mut b], &[Some(&gw)]));
    assert!(msg.contains("2 parameters but 1 gradient"), "{msg}");

    // The failed steps updated nothing, not even parameter 0, and created no state.
    assert_eq!(w.to_vec::<f64>()?, vec![1.0; 6]);
    assert!(opt.state()?.params.is_empty());
    Ok(())
}

#[test]
fn mismatched_state_is_an_error() -> Result<()> {
    let problem = Problem::new(DType::F64)?;
    let (mut w, mut b) = problem.params()?;
    let mut opt = Adam::new(AdamConfig::default())?;
    problem.run(&mut opt, &mut w, &mut b, 2)?;
    let state = opt.state()?;

    // Parameters passed in another order: the state of parameter 0 has w's shape.
    let mut fresh = Adam::new(AdamConfig::default())?;
    fresh.load_state(state.clone())?;
    let g = problem.grads(&w, &b)?;
    let msg = message(fresh.step(&mut [&mut b, &mut w], &g));
    assert!(
        msg.contains("parameter 0") && msg.contains("[2]") && msg.contains("[3, 2]"),
        "{msg}"
    );

    // The same after the state went live: a live optimizer checks every step.
    let msg = message(opt.step(&mut [&mut b, &mut w], &g));
    assert!(
        msg.contains("parameter 0") && msg.contains("exp_avg"),
        "{msg}"
    );

    // State of another optimizer, or another config, is refused at load.
    let mut adamw = AdamW::new(AdamWConfig::default())?;
    let msg = message(adamw.load_state(state.clone()));
    assert!(msg.contains("Adam") && msg.contains("AdamW"), "{msg}");
    let mut ams = Adam::new(AdamConfig {
        amsgrad: true,
        ..Default::default()
    })?;
    let msg = message(ams.load_state(state.clone()));
    assert!(msg.contains("max_exp_avg_sq"), "{msg}");

    // A buffer whose values do not fill its shape.
    let mut broken = state;
    let p0 = broken.params[0].as_mut().unwrap();
    p0.buffers.get_mut("exp_avg").unwrap().values.pop();
    let msg = message(Adam::new(AdamConfig::default())?.load_state(broken));
    assert!(
        msg.contains("parameter 0") && msg.contains("exp_avg"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn configs_default_to_pytorch_and_reject_bad_values() {
    let sgd = SgdConfig::default();
    assert_eq!(
        (
            sgd.lr,
            sgd.momentum,
            sgd.dampening,
            sgd.weight_decay,
            sgd.nesterov
        ),
        (1e-3, 0.0, 0.0, 0.0, false)
    );
    let adam = AdamConfig::default();
    assert_eq!(
        (
            adam.lr,
            adam.betas,
            adam.eps,
            adam.weight_decay,
            adam.amsgrad
        ),
        (1e-3, (0.9, 0.999), 1e-8, 0.0, false)
    );
    assert_eq!(AdamWConfig::default().weight_decay, 1e-2);
    let rms = RMSpropConfig::default();
    assert_eq!(
        (rms.lr, rms.alpha, rms.eps, rms.momentum, rms.centered),
        (1e-2, 0.99, 1e-8, 0.0, false)
    );
    let ada = AdagradConfig::default();
    assert_eq!(
        (ada.lr, ada.lr_decay, ada.initial_accumulator_value, ada.eps),
        (1e-2, 0.0, 0.0, 1e-10)
    );

    // `{}` is the default config; a misspelt field is an error, not silently ignored.
    assert_eq!(
        serde_json::from_str::<AdamConfig>("{}").unwrap(),
        AdamConfig::default()
    );
    assert!(serde_json::from_str::<AdamConfig>(r#"{"learning_rate": 0.1}"#).is_err());

    assert!(Sgd::new(SgdConfig {
        nesterov: true,
        ..Default::default()
    })
    .is_err());
    assert!(Sgd::new(SgdConfig {
        lr: -1.0,
        ..Default::default()
    })
    .is_err());
    assert!(Adam::new(AdamConfig {
        betas: (1.0, 0.999),
        ..Default::default()
    })
    .is_err());
    assert!(Adam::new(AdamConfig {
        eps: -1e-8,
        ..Default::default()
    })
    .is_err());
    assert!(ReduceLROnPlateau::new(
        0.1,
        ReduceLROnPlateauConfig {
            factor: 1.0,
            ..Default::default()
        }
    )
    .is_err());
    assert!(LinearLR::new(0.1, 0.0, 1.0, 5).is_err());
}

#[test]
fn penalties_have_the_gradients_the_optimizer_terms_add() -> Result<()> {
    let d = dev();
    let w = Tensor::from_vec(vec![1.5f64, -2.0, 0.0, 0.25], [2, 2], &d)?;
    let (l1, g1) = value_and_grad(&[&w], || l1_penalty(&[&w], 0.3))?;
    assert!((l1.to_scalar::<f64>()? - 0.3 * 3.75).abs() < 1e-15);
    assert_eq!(
        g1.get(&w).unwrap().to_vec::<f64>()?,
        vec![0.3, -0.3, 0.0, 0.3]
    );
    let (l2, g2) = value_and_grad(&[&w], || l2_penalty(&[&w], 0.1))?;
    assert!((l2.to_scalar::<f64>()? - 0.05 * (2.25 + 4.0 + 0.0625)).abs() < 1e-15);
    let want: Vec<f64> = [1.5, -2.0, 0.0, 0.25].iter().map(|v| 0.1 * v).collect();
    for (a, e) in g2.get(&w).unwrap().to_vec::<f64>()?.iter().zip(want) {
        assert!((a - e).abs() < 1e-15);
    }
    assert!(matches!(l1_penalty(&[], 0.1), Err(Error::Invalid { .. })));
    Ok(())
}

#[test]
fn state_json_round_trips_exactly() -> Result<()> {
    let problem = Problem::new(DType::F32)?;
    let (mut w, mut b) = problem.params()?;
    let mut opt = RMSprop::new(RMSpropConfig {
        centered: true,
        ..Default::default()
    })?;
    problem.run(&mut opt, &mut w, &mut b, 3)?;
    let state = opt.state()?;
    assert_eq!(
        state.params[0].as_ref().unwrap().buffers["grad_avg"].dtype,
        "f32"
    );
    assert_eq!(OptimizerState::from_json(&state.to_json()?)?, state);
    Ok(())
}
