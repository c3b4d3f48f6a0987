//! `GradScaler` against PyTorch's `torch.amp.GradScaler` on a committed fixture
//! (`fixtures/make_grad_scaler_fixture.py`): one parameter `p`, loss `c · p`, SGD lr 0.1,
//! a scripted sequence of clean and inf / -inf / NaN steps, PyTorch's default settings and
//! a small growth interval. Every step's scale, unscaled gradient, skip and the scale after
//! `update` must equal PyTorch's, and the parameter agree to 1e-6.

use lamina_autograd::Tape;
use lamina_optim::{GradScaler, GradScalerConfig, Sgd, SgdConfig};
use lamina_tensor::{Result, Tensor};

#[test]
fn scale_trajectory_matches_pytorch() -> Result<()> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grad_scaler.json"
    );
    let f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let dev = lamina_backend_cpu::device();
    let runs = f["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    for run in runs {
        let c = &run["config"];
        let cfg = GradScalerConfig {
            init_scale: c["init_scale"].as_f64().unwrap(),
            growth_factor: c["growth_factor"].as_f64().unwrap(),
            backoff_factor: c["backoff_factor"].as_f64().unwrap(),
            growth_interval: c["growth_interval"].as_u64().unwrap(),
        };
        let mut scaler = GradScaler::new(cfg)?;
        let mut p = Tensor::from_vec(vec![1.5f32], [1], &dev)?;
        let mut opt = Sgd::new(SgdConfig {
            lr: 0.1,
            ..Default::default()
        })?;
        for (i, s) in run["steps"].as_array().unwrap().iter().enumerate() {
            let ci = s["c"].as_f64().unwrap();
            assert_eq!(
                scaler.scale(),
                s["scale_used"].as_f64().unwrap(),
                "step {i} scale"
            );
            let tape = Tape::new();
            tape.watch(&p);
            let loss = p.affine(ci, 0.0)?.sum_all()?;
            let mut grads = tape.backward(&scaler.scale_loss(&loss)?)?;
            let poison = match s["kind"].as_str().unwrap() {
                "ok" => None,
                "inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                "nan" => Some(f64::NAN),
                other => panic!("unknown step kind {other}"),
            };
            if let Some(v) = poison {
                grads.insert(&p, Tensor::from_vec(vec![v as f32], [1], &dev)?);
            }
            let found_inf = scaler.unscale(&[&p], &mut grads)?;
            assert_eq!(found_inf, poison.is_some(), "step {i} found_inf");
            if let Some(want) = s["grad"].as_f64() {
                let g = grads.get(&p).unwrap().to_vec::<f32>()?[0];
                assert_eq!(g, want as f32, "step {i} unscaled gradient");
            }
            let stepped = scaler.step(&mut opt, &mut [&mut p], &mut grads)?;
            assert_eq!(
                !stepped,
                s["skipped"].as_bool().unwrap(),
                "step {i} skipped"
            );
            scaler.update();
            // SGD rounds `p - lr g` twice, PyTorch once (fused): they drift apart by ulps;
            // the scaler's part, whether the step ran, is exact above.
            let (got, want) = (p.to_vec::<f32>()?[0], s["p"].as_f64().unwrap() as f32);
            assert!((got - want).abs() <= 1e-6, "step {i} p: {got} vs {want}");
            assert_eq!(
                scaler.scale(),
                s["scale_after"].as_f64().unwrap(),
                "step {i} scale after"
            );
        }
    }
    Ok(())
}

#[test]
fn bad_settings_and_a_second_unscale_are_errors() -> Result<()> {
    for cfg in [
        GradScalerConfig {
            init_scale: 0.0,
            ..Default::default()
        },
        GradScalerConfig {
            growth_factor: 1.0,
            ..Default::default()
        },
        GradScalerConfig {
            backoff_factor: 1.0,
            ..Default::default()
        },
        GradScalerConfig {
            growth_interval: 0,
            ..Default::default()
        },
        GradScalerConfig {
            init_scale: f64::NAN,
            ..Default::default()
        },
    ] {
        assert!(GradScaler::new(cfg).is_err(), "{cfg:?}");
    }
    let dev = lamina_backend_cpu::device();
    let p = Tensor::from_vec(vec![2.0f32], [1], &dev)?;
    let mut scaler = GradScaler::new(GradScalerConfig::default())?;
    let tape = Tape::new();
    tape.watch(&p);
    let mut grads = tape.backward(&scaler.scale_loss(&p.square()?.sum_all()?)?)?;
    assert!(!scaler.unscale(&[&p], &mut grads)?);
    assert_eq!(grads.get(&p).unwrap().to_vec::<f32>()?, [4.0]);
    let e = scaler.unscale(&[&p], &mut grads).unwrap_err().to_string();
    assert!(e.contains("already called"), "{e}");
    scaler.update();
    assert_eq!(scaler.growth_tracker(), 1);
    Ok(())
}
