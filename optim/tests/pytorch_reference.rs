//! Optimizer trajectories, learning-rate schedules and gradient clipping against PyTorch.
//!
//! The reference numbers live in `fixtures/pytorch_reference.json`, written by
//! `fixtures/make_fixtures.py` with PyTorch (see the script for the problem and each case).
//! Gradients here come from `lamina_autograd` in f64; each parameter is compared after
//! every step to a relative tolerance of 1e-10.

use lamina_autograd::{value_and_grad, Grads};
use lamina_optim::{
    clip_grad_norm, clip_grad_norm_tensors, clip_grad_value, clip_grad_value_tensors, Adagrad,
    AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, CosineAnnealingLR, ExponentialLR,
    LRScheduler, LinearLR, MultiStepLR, Optimizer, RMSprop, RMSpropConfig, ReduceLROnPlateau,
    ReduceLROnPlateauConfig, Sgd, SgdConfig, StepLR,
};
use lamina_tensor::{Device, Result, Tensor};
use serde_json::Value;

const RTOL: f64 = 1e-10;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/pytorch_reference.json")).expect("fixture parses")
}

fn f64s(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(f64s).collect(),
        Value::Number(n) => vec![n.as_f64().expect("a number")],
        other => panic!("expected numbers, got {other}"),
    }
}

/// `|actual − expected| ≤ RTOL |expected|` (plus a tiny absolute floor for exact zeros);
/// returns the relative error for the report.
fn assert_close(actual: f64, expected: f64, what: &str) -> f64 {
    let err = (actual - expected).abs();
    assert!(
        err <= RTOL * expected.abs() + 1e-15,
        "{what}: got {actual:e}, PyTorch {expected:e} (difference {err:e})"
    );
    if expected == 0.0 {
        err
    } else {
        err / expected.abs()
    }
}

fn assert_all_close(actual: &[f64], expected: &[f64], what: &str) -> f64 {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    actual
        .iter()
        .zip(expected)
        .enumerate()
        .map(|(i, (&a, &e))| assert_close(a, e, &format!("{what}[{i}]")))
        .fold(0.0, f64::max)
}

struct Problem {
    x: Tensor,
    y: Tensor,
    w0: Tensor,
    b0: Tensor,
}

impl Problem {
    fn new(fx: &Value, dev: &Device) -> Result<Problem> {
        let p = &fx["problem"];
        Ok(Problem {
            x: Tensor::from_vec(f64s(&p["x"]), [4, 3], dev)?,
            y: Tensor::from_vec(f64s(&p["y"]), [4, 2], dev)?,
            w0: Tensor::from_vec(f64s(&p["w0"]), [3, 2], dev)?,
            b0: Tensor::from_vec(f64s(&p["b0"]), [2], dev)?,
        })
    }

    /// `sum((x @ w + b − y)²)`, as the fixture script.
    fn loss(&self, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        (self.x.matmul(w) + b - &self.y)?.square()?.sum_all()
    }
}

/// The optimizer a case describes: its `args` are the Rust config, field for field.
fn build(case: &Value) -> Box<dyn Optimizer> {
    let args = case["args"].clone();
    let l1 = case.get("l1").and_then(Value::as_f64).unwrap_or(0.0);
    let parse = |what: &str| -> Box<dyn Optimizer> {
        macro_rules! make {
            ($cfg:ty, $opt:ident) => {{
                let mut c: $cfg = serde_json::from_value(args.clone())
                    .unwrap_or_else(|e| panic!("{what}: args do not parse: {e}"));
                c.l1 = l1;
                Box::new($opt::new(c).unwrap())
            }};
        }
        match what {
            "sgd" => make!(SgdConfig, Sgd),
            "adam" => make!(AdamConfig, Adam),
            "adamw" => make!(AdamWConfig, AdamW),
            "rmsprop" => make!(RMSpropConfig, RMSprop),
            "adagrad" => make!(AdagradConfig, Adagrad),
            other => panic!("unknown optimizer {other}"),
        }
    };
    parse(case["optimizer"].as_str().expect("optimizer name"))
}

fn run_case(problem: &Problem, case: &Value) -> Result<f64> {
    let name = case["name"].as_str().unwrap();
    let mut opt = build(case);
    let mut schedule = case.get("schedule").map(|s| {
        StepLR::new(
            opt.learning_rate(),
            s["step_size"].as_u64().unwrap() as usize,
            s["gamma"].as_f64().unwrap(),
        )
        .unwrap()
    });
    let clip = case.get("clip_norm").and_then(Value::as_f64);
    let mut w = problem.w0.copy()?;
    let mut b = problem.b0.copy()?;
    let trajectory = case["trajectory"].as_array().unwrap();
    assert_eq!(trajectory.len(), case["steps"].as_u64().unwrap() as usize);
    let mut worst: f64 = 0.0;
    for (t, rec) in trajectory.iter().enumerate() {
        let at = |what: &str| format!("{name}, step {}: {what}", t + 1);
        let (loss, mut grads) = value_and_grad(&[&w, &b], || problem.loss(&w, &b))?;
        worst = worst.max(assert_close(
            loss.to_scalar::<f64>()?,
            rec["loss"].as_f64().unwrap(),
            &at("loss"),
        ));
        if let Some(max_norm) = clip {
            let total = clip_grad_norm(&[&w, &b], &mut grads, max_norm, 2.0)?;
            worst = worst.max(assert_close(
                total,
                rec["total_norm"].as_f64().unwrap(),
                &at("total norm"),
            ));
        }
        opt.step(&mut [&mut w, &mut b], &grads)?;
        if let Some(s) = schedule.as_mut() {
            s.step();
            s.apply(opt.as_mut());
            worst = worst.max(assert_close(
                opt.learning_rate(),
                rec["lr"].as_f64().unwrap(),
                &at("lr"),
            ));
        }
        worst = worst.max(assert_all_close(
            &w.to_vec::<f64>()?,
            &f64s(&rec["w"]),
            &at("w"),
        ));
        worst = worst.max(assert_all_close(
            &b.to_vec::<f64>()?,
            &f64s(&rec["b"]),
            &at("b"),
        ));
    }
    Ok(worst)
}

#[test]
fn optimizer_trajectories_match_pytorch() -> Result<()> {
    let fx = fixture();
    let dev = lamina_backend_cpu::device();
    let problem = Problem::new(&fx, &dev)?;
    let cases = fx["optimizers"].as_array().unwrap();
    let mut names = Vec::new();
    for case in cases {
        let worst = run_case(&problem, case)?;
        let name = case["name"].as_str().unwrap();
        eprintln!("{name:<32} max relative error {worst:.1e}");
        names.push(name);
    }
    // Every optimizer variant the crate promises is covered by the fixture.
    for want in [
        "sgd_plain",
        "sgd_momentum",
        "sgd_nesterov_weight_decay",
        "sgd_dampening",
        "sgd_momentum_l1",
        "sgd_momentum_clip",
        "adam",
        "adam_keras_eps_weight_decay",
        "adam_amsgrad",
        "adam_l1",
        "adam_step_lr",
        "adamw",
        "adamw_amsgrad",
        "rmsprop",
        "rmsprop_centered_momentum",
        "rmsprop_momentum",
        "adagrad",
        "adagrad_decay_init",
    ] {
        assert!(names.contains(&want), "fixture lacks case {want}");
    }
    Ok(())
}

fn usize_arg(args: &Value, key: &str) -> usize {
    args[key].as_u64().unwrap_or_else(|| panic!("{key}")) as usize
}

fn f64_arg(args: &Value, key: &str) -> f64 {
    args[key].as_f64().unwrap_or_else(|| panic!("{key}"))
}

#[test]
fn schedules_match_pytorch() -> Result<()> {
    let fx = fixture();
    let schedules = fx["schedules"].as_array().unwrap();
    assert!(schedules.len() >= 9);
    for s in schedules {
        let kind = s["kind"].as_str().unwrap();
        let base = s["base_lr"].as_f64().unwrap();
        let args = &s["args"];
        let expected = f64s(&s["lrs"]);
        let mut got = Vec::with_capacity(expected.len());
        if kind == "plateau" {
            let config: ReduceLROnPlateauConfig = serde_json::from_value(args.clone()).unwrap();
            let mut sched = ReduceLROnPlateau::new(base, config)?;
            got.push(sched.lr());
            for m in f64s(&s["metrics"]).into_iter().take(expected.len() - 1) {
                sched.step(m);
                got.push(sched.lr());
            }
        } else {
            let mut sched: Box<dyn LRScheduler> = match kind {
                "step" => Box::new(StepLR::new(
                    base,
                    usize_arg(args, "step_size"),
                    f64_arg(args, "gamma"),
                )?),
                "multistep" => {
                    let milestones: Vec<usize> = f64s(&args["milestones"])
                        .iter()
                        .map(|&m| m as usize)
                        .collect();
                    Box::new(MultiStepLR::new(base, &milestones, f64_arg(args, "gamma"))?)
                }
                "exponential" => Box::new(ExponentialLR::new(base, f64_arg(args, "gamma"))?),
                "cosine" => Box::new(CosineAnnealingLR::new(
                    base,
                    usize_arg(args, "t_max"),
                    f64_arg(args, "eta_min"),
                )?),
                "linear" => Box::new(LinearLR::new(
                    base,
                    f64_arg(args, "start_factor"),
                    f64_arg(args, "end_factor"),
                    usize_arg(args, "total_iters"),
                )?),
                other => panic!("unknown schedule {other}"),
            };
            got.push(sched.lr());
            for _ in 1..expected.len() {
                sched.step();
                got.push(sched.lr());
            }
        }
        let worst = assert_all_close(&got, &expected, &format!("{kind} {args}"));
        eprintln!("{kind:<12} {args} max relative error {worst:.1e}");
    }
    Ok(())
}

#[test]
fn clipping_matches_pytorch() -> Result<()> {
    let fx = fixture();
    let clip = &fx["clip"];
    let dev = lamina_backend_cpu::device();
    let shapes: Vec<Vec<usize>> = clip["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| f64s(s).iter().map(|&d| d as usize).collect())
        .collect();
    let fresh = || -> Result<Vec<Tensor>> {
        clip["grads"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&shapes)
            .map(|(g, s)| Tensor::from_vec(f64s(g), s.clone(), &dev))
            .collect()
    };
    for case in clip["cases"].as_array().unwrap() {
        let expected: Vec<Vec<f64>> = case["grads"].as_array().unwrap().iter().map(f64s).collect();
        match case["op"].as_str().unwrap() {
            "norm" => {
                let norm_type = match &case["norm_type"] {
                    Value::String(s) if s == "inf" => f64::INFINITY,
                    v => v.as_f64().unwrap(),
                };
                let max_norm = case["max_norm"].as_f64().unwrap();
                let what = format!("clip_grad_norm p={norm_type} max={max_norm}");
                // On a list of tensors ...
                let mut grads = fresh()?;
                let total = clip_grad_norm_tensors(&mut grads, max_norm, norm_type)?;
                assert_close(total, case["total_norm"].as_f64().unwrap(), &what);
                for (g, e) in grads.iter().zip(&expected) {
                    assert_all_close(&g.to_vec::<f64>()?, e, &what);
                }
                // ... and on `Grads`, by parameter.
                let params: Vec<Tensor> = shapes
                    .iter()
                    .map(|s| Tensor::zeros(s.clone(), lamina_tensor::DType::F64, &dev))
                    .collect::<Result<_>>()?;
                let mut map = Grads::new();
                for (p, g) in params.iter().zip(fresh()?) {
                    map.insert(p, g);
                }
                let refs: Vec<&Tensor> = params.iter().collect();
                let total = clip_grad_norm(&refs, &mut map, max_norm, norm_type)?;
                assert_close(total, case["total_norm"].as_f64().unwrap(), &what);
                for (p, e) in params.iter().zip(&expected) {
                    assert_all_close(&map.get(p).unwrap().to_vec::<f64>()?, e, &what);
                }
            }
            "value" => {
                let clip_value = case["clip_value"].as_f64().unwrap();
                let what = format!("clip_grad_value {clip_value}");
                let mut grads = fresh()?;
                clip_grad_value_tensors(&mut grads, clip_value)?;
                for (g, e) in grads.iter().zip(&expected) {
                    assert_all_close(&g.to_vec::<f64>()?, e, &what);
                }
                let params: Vec<Tensor> = shapes
                    .iter()
                    .map(|s| Tensor::zeros(s.clone(), lamina_tensor::DType::F64, &dev))
                    .collect::<Result<_>>()?;
                let mut map = Grads::new();
                for (p, g) in params.iter().zip(fresh()?) {
                    map.insert(p, g);
                }
                let refs: Vec<&Tensor> = params.iter().collect();
                clip_grad_value(&refs, &mut map, clip_value)?;
                for (p, e) in params.iter().zip(&expected) {
                    assert_all_close(&map.get(p).unwrap().to_vec::<f64>()?, e, &what);
                }
            }
            other => panic!("unknown clip op {other}"),
        }
    }
    Ok(())
}
