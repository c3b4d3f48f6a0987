//! Fuzzed `matmul`, `dist`, `cdist`, creation (`zeros` ... `rand_uniform`, `from_vec`,
//! `new`), conversion (`to_dtype`, `to_vec*`, `to_scalar`, `Display`) and the in-place
//! ops (`binary_assign`, `unary_assign`, `assign`, the fused optimizer steps).

use super::draw::Draw;
use super::elementwise::{scalar, unary_name};
use super::oracle::{self, broadcast, ensure, expands_to, Rule, Why};
use super::{op, Call, Expect, FuzzOp};
use crate::testing::reference::numel;
use crate::{AdamStep, BinaryOp, DType, Element, HostData, Result, SgdStep, Tensor, UnaryOp};

pub(super) fn ops(v: &mut Vec<FuzzOp>) {
    linalg_ops(v);
    create_ops(v);
    convert_ops(v);
    inplace_ops(v);
}

fn linalg_ops(v: &mut Vec<FuzzOp>) {
    v.push(op("linalg", "matmul", |g| {
        let a = g.mostly_float("a");
        let mut s = g.shape();
        if g.chance(75) && !a.dims().is_empty() && !s.is_empty() {
            let k = a.dims()[a.rank() - 1];
            let at = if s.len() == 1 { 0 } else { s.len() - 2 };
            s[at] = k;
        }
        let dtype = if g.chance(85) { a.dtype() } else { g.dtype() };
        let b = g.tensor("b", s, dtype);
        let rule = ensure(a.dtype() == b.dtype()).and_then(|_| oracle::matmul(a.dims(), b.dims()));
        // Integer and bool products: Lamina computes them, PyTorch not all of them.
        let expect = Expect::of(rule, a.dtype().is_float()).loose();
        Call::one(String::new(), expect, || a.matmul(&b))
    }));
    v.push(op("linalg", "dist", |g| {
        let a = g.mostly_float("a");
        let s = g.partner_shape(a.dims());
        let b = g.tensor("b", s, a.dtype());
        let p = g.pick(&[2.0, 1.0, 0.0, 3.0, f64::INFINITY, f64::NAN]);
        let rule = broadcast(a.dims(), b.dims()).and_then(|_| {
            ensure(!p.is_nan())?;
            // The inf-norm of nothing has no value.
            ensure(!p.is_infinite() || numel(&broadcast(a.dims(), b.dims())?) > 0)?;
            Ok(Vec::new())
        });
        Call::one(
            format!("p={p}"),
            Expect::of(rule, a.dtype().is_float()),
            || a.dist(&b, p),
        )
    }));
    v.push(op("linalg", "cdist", |g| {
        let a = g.mostly_float("a");
        let mut s = g.shape();
        if g.chance(75) && !a.dims().is_empty() && !s.is_empty() {
            let last = s.len() - 1;
            s[last] = a.dims()[a.rank() - 1];
        }
        let dtype = if g.chance(85) { a.dtype() } else { g.dtype() };
        let b = g.tensor("b", s, dtype);
        let p = g.pick(&[2.0, 1.0, 0.0, 0.5, 3.0, f64::INFINITY]);
        let rule = oracle::cdist(a.dims(), b.dims());
        // With M = 0 the inf-norm of nothing is undefined; mixed dtypes are PyTorch's
        // error, Lamina's promotion.
        let m_empty = a.dims().last() == Some(&0);
        let strict = a.dtype().is_float() && a.dtype() == b.dtype() && !m_empty;
        Call::one(format!("p={p}"), Expect::of(rule, strict).loose(), || {
            a.cdist(&b, p)
        })
    }));
}

fn create_ops(v: &mut Vec<FuzzOp>) {
    type Fill = fn(&[usize], DType, &crate::Device) -> Result<Tensor>;
    let fills: [(&str, Fill); 3] = [
        ("zeros", |s, d, dev| Tensor::zeros(s, d, dev)),
        ("ones", |s, d, dev| Tensor::ones(s, d, dev)),
        ("full", |s, d, dev| Tensor::full(-2.5, s, d, dev)),
    ];
    for (name, f) in fills {
        v.push(op("create", name, move |g| {
            let (s, d) = (g.shape(), g.dtype());
            let dev = g.dev;
            Call::one(
                format!("shape={s:?}, dtype={d}"),
                Expect::Ok(vec![s.clone()]),
                || f(&s, d, &dev),
            )
        }));
    }
    v.push(op("create", "scalar", |g| {
        let (x, d, dev) = (scalar(g), g.dtype(), g.dev);
        Call::one(
            format!("value={x}, dtype={d}"),
            Expect::Ok(vec![vec![]]),
            || Tensor::scalar(x, d, &dev),
        )
    }));
    v.push(op("create", "arange", |g| {
        let (start, end) = (g.int(-6, 8) as f64 / 2.0, g.int(-6, 8) as f64 / 2.0);
        let step = g.pick(&[
            1.0,
            2.0,
            0.5,
            0.75,
            -1.0,
            -0.5,
            0.0,
            f64::NAN,
            f64::INFINITY,
        ]);
        let (d, dev) = (g.dtype(), g.dev);
        let rule = ensure(step != 0.0 && step.is_finite() && (end - start) * step >= 0.0)
            .map(|_| vec![((end - start) / step).ceil() as usize]);
        Call::one(
            format!("start={start}, end={end}, step={step}, dtype={d}"),
            Expect::of(rule, d != DType::Bool),
            || Tensor::arange(start, end, step, d, &dev),
        )
    }));
    v.push(op("create", "arange_of::<i64>", |g| {
        let (start, end, step) = (g.int(-5, 5), g.int(-5, 5), g.int(-2, 3));
        let dev = g.dev;
        let rule = ensure(step != 0 && (end - start) * step.signum() >= 0)
            .map(|_| vec![((end - start) as f64 / step as f64).ceil() as usize]);
        Call::one(
            format!("start={start}, end={end}, step={step}"),
            Expect::of(rule, true),
            || Tensor::arange_of(start, end, step, &dev),
        )
    }));
    v.push(op("create", "linspace", |g| {
        let (n, d, dev) = (g.below(6), g.dtype(), g.dev);
        Call::one(
            format!("steps={n}, dtype={d}"),
            Expect::Ok(vec![vec![n]]),
            || Tensor::linspace(-1.0, 2.0, n, d, &dev),
        )
    }));
    v.push(op("create", "logspace", |g| {
        let (n, d, dev) = (g.below(6), g.dtype(), g.dev);
        Call::one(
            format!("steps={n}, dtype={d}"),
            Expect::of(Ok(vec![n]), d.is_float()),
            || Tensor::logspace(-1.0, 2.0, n, 10.0, d, &dev),
        )
    }));
    v.push(op("create", "eye", |g| {
        let (n, m, d, dev) = (g.below(5), g.below(5), g.dtype(), g.dev);
        let square = g.bool();
        let want = if square { vec![n, n] } else { vec![n, m] };
        Call::one(
            format!("n={n}, m={m}, square={square}"),
            Expect::Ok(vec![want]),
            || {
                if square {
                    Tensor::eye(n, d, &dev)
                } else {
                    Tensor::eye_nm(n, m, d, &dev)
                }
            },
        )
    }));
    for name in ["rand", "randn", "rand_uniform", "rand_like", "randn_like"] {
        v.push(op("create", name, move |g| {
            let (s, d, dev) = (g.shape(), g.dtype(), g.dev);
            let (lo, hi) = (g.int(-2, 2) as f64, g.int(-2, 2) as f64);
            let like = name.ends_with("_like");
            let x = like.then(|| g.tensor("x", s.clone(), d));
            let rule = if d.is_float() {
                Ok(s.clone())
            } else {
                Err(Why::Other)
            };
            // PyTorch's uniform_ refuses lo > hi; Lamina draws from the reversed range.
            let expect = if name == "rand_uniform" && lo > hi && d.is_float() {
                Expect::Any
            } else {
                Expect::of(rule, true)
            };
            Call::one(
                format!("shape={s:?}, dtype={d}, lo={lo}, hi={hi}"),
                expect,
                || match (name, &x) {
                    ("rand", _) => Tensor::rand(7, s.clone(), d, &dev),
                    ("randn", _) => Tensor::randn(7, s.clone(), d, &dev),
                    ("rand_uniform", _) => Tensor::rand_uniform(7, lo, hi, s.clone(), d, &dev),
                    ("rand_like", Some(x)) => x.rand_like(7),
                    (_, Some(x)) => x.randn_like(7),
                    _ => unreachable!("like ops have an input"),
                },
            )
        }));
    }
    type Like = fn(&Tensor) -> Result<Tensor>;
    let likes: [(&str, Like); 2] = [
        ("zeros_like", Tensor::zeros_like),
        ("ones_like", Tensor::ones_like),
    ];
    for (name, f) in likes {
        v.push(op("create", name, move |g| {
            let x = g.any("x");
            Call::one(String::new(), Expect::Ok(vec![x.dims().to_vec()]), || f(&x))
        }));
    }
    v.push(op("create", "from_vec / from_host", |g| {
        let s = g.shape();
        let n = if g.chance(80) { numel(&s) } else { g.below(7) };
        let (d, dev, host) = (g.dtype(), g.dev, g.bool());
        let rule = ensure(n == numel(&s)).map(|_| s.clone());
        Call::one(
            format!("{n} values, shape={s:?}, dtype={d}, host={host}"),
            Expect::of(rule, true),
            || {
                if host {
                    Tensor::from_host(HostData::from_f64_vec(&vec![1.0; n], d), s.clone(), &dev)
                } else {
                    Tensor::from_vec(vec![1.5f32; n], s.clone(), &dev)
                }
            },
        )
    }));
    v.push(op("create", "new (nested)", |g| {
        let rows: Vec<Vec<f32>> = (0..g.below(4))
            .map(|_| vec![0.5; g.pick(&[2, 2, 2, 0, 1, 3])])
            .collect();
        let dev = g.dev;
        let rule = match rows.first() {
            None => Ok(vec![0]),
            Some(r) => {
                ensure(rows.iter().all(|x| x.len() == r.len())).map(|_| vec![rows.len(), r.len()])
            }
        };
        let lens: Vec<usize> = rows.iter().map(Vec::len).collect();
        Call::one(
            format!("row lengths {lens:?}"),
            Expect::of(rule, true),
            || Tensor::new(&rows, &dev),
        )
    }));
}

/// `to_vec::<T>()` of `x` for `T` the Rust type of `dtype`.
fn to_vec_as(x: &Tensor, dtype: DType) -> Result<usize> {
    fn n<T: Element>(x: &Tensor) -> Result<usize> {
        x.to_vec::<T>().map(|v| v.len())
    }
    match dtype {
        DType::F32 => n::<f32>(x),
        DType::F64 => n::<f64>(x),
        DType::I64 => n::<i64>(x),
        DType::U32 => n::<u32>(x),
        DType::Bool => n::<bool>(x),
        DType::F16 => n::<crate::f16>(x),
        DType::BF16 => n::<crate::bf16>(x),
    }
}

/// `to_scalar`, `to_vec2` or `to_vec3` (by `what`) as the Rust type of `dtype`: the
/// number of values (rows for the nested forms).
fn read_as(x: &Tensor, dtype: DType, what: usize) -> Result<usize> {
    fn go<T: Element>(x: &Tensor, what: usize) -> Result<usize> {
        match what {
            0 => x.to_scalar::<T>().map(|_| 1),
            2 => x.to_vec2::<T>().map(|v| v.len()),
            _ => x.to_vec3::<T>().map(|v| v.len()),
        }
    }
    match dtype {
        DType::F32 => go::<f32>(x, what),
        DType::F64 => go::<f64>(x, what),
        DType::I64 => go::<i64>(x, what),
        DType::U32 => go::<u32>(x, what),
        DType::Bool => go::<bool>(x, what),
        DType::F16 => go::<crate::f16>(x, what),
        DType::BF16 => go::<crate::bf16>(x, what),
    }
}

fn convert_ops(v: &mut Vec<FuzzOp>) {
    v.push(op("convert", "to_dtype", |g| {
        let (x, d) = (g.any("x"), g.dtype());
        Call::one(
            format!("dtype={d}"),
            Expect::Ok(vec![x.dims().to_vec()]),
            || x.to_dtype(d),
        )
    }));
    v.push(op("convert", "to_device", |g| {
        let x = g.any("x");
        let dev = g.dev;
        Call::one(String::new(), Expect::Ok(vec![x.dims().to_vec()]), || {
            x.to_device(&dev)
        })
    }));
    v.push(op("convert", "to_vec", |g| {
        let x = g.any("x");
        let d = if g.chance(75) { x.dtype() } else { g.dtype() };
        let rule = ensure(d == x.dtype()).map(|_| vec![numel(x.dims())]);
        Call::run(format!("as {d}"), Expect::of(rule, true), || {
            to_vec_as(&x, d).map(super::Out::Len)
        })
    }));
    v.push(op("convert", "to_f64_vec / to_host", |g| {
        let x = g.any("x");
        let host = g.bool();
        Call::run(
            format!("host={host}"),
            Expect::Ok(vec![vec![numel(x.dims())]]),
            || {
                let n = if host {
                    x.to_host()?.len()
                } else {
                    x.to_f64_vec()?.len()
                };
                Ok(super::Out::Len(n))
            },
        )
    }));
    for (name, what) in [("to_scalar", 0usize), ("to_vec2", 2), ("to_vec3", 3)] {
        v.push(op("convert", name, move |g| {
            let x = g.any("x");
            let d = if g.chance(80) { x.dtype() } else { g.dtype() };
            let rule: Rule = ensure(d == x.dtype()).and_then(|_| match what {
                0 => ensure(numel(x.dims()) == 1).map(|_| vec![1]),
                r => ensure(x.rank() == r).map(|_| vec![x.dims()[0]]),
            });
            Call::run(format!("as {d}"), Expect::of(rule, true), || {
                read_as(&x, d, what).map(super::Out::Len)
            })
        }));
    }
    v.push(op("convert", "Display", |g| {
        let x = g.any("x");
        Call::value(String::new(), Expect::Ok(Vec::new()), || {
            Ok(format!("{x} {x:?}"))
        })
    }));
}

/// True where a write into `x` would hit one element twice (PyTorch refuses those).
fn overlapping(x: &Tensor) -> bool {
    x.elem_count() > 0
        && x.dims()
            .iter()
            .zip(x.layout().strides())
            .any(|(&d, &s)| d > 1 && s == 0)
}

fn inplace_ops(v: &mut Vec<FuzzOp>) {
    v.push(op("inplace", "binary_assign", |g| {
        let b = g.pick(&BinaryOp::samples());
        let x = g.any("x");
        let s = g.partner_shape(x.dims());
        let dtype = if g.chance(70) { x.dtype() } else { g.dtype() };
        let rhs = g.tensor("rhs", s, dtype);
        let rule =
            ensure(expands_to(rhs.dims(), x.dims()) && !overlapping(&x)).map(|_| x.dims().to_vec());
        // Integer results depend on the values and the dtypes (PyTorch: "result type
        // can't be cast to the desired output type").
        let expect = Expect::of(rule, x.dtype().is_float()).loose();
        Call::one(format!("op={}", b.name()), expect, || {
            let mut y = x.clone();
            y.binary_assign(&rhs, b).map(|_| y)
        })
    }));
    v.push(op("inplace", "unary_assign", |g| {
        let u = g.pick(&UnaryOp::samples());
        let x = g.any("x");
        let rule = ensure(!overlapping(&x)).map(|_| x.dims().to_vec());
        Call::one(
            format!("op={}", unary_name(&u)),
            Expect::of(rule, x.dtype().is_float()),
            || {
                let mut y = x.clone();
                y.unary_assign(u).map(|_| y)
            },
        )
    }));
    v.push(op("inplace", "assign", |g| {
        let x = g.any("x");
        let s = g.partner_shape(x.dims());
        let dtype = g.dtype();
        let src = g.tensor("src", s, dtype);
        let rule =
            ensure(expands_to(src.dims(), x.dims()) && !overlapping(&x)).map(|_| x.dims().to_vec());
        Call::one(String::new(), Expect::of(rule, true).loose(), || {
            let mut y = x.clone();
            y.assign(&src).map(|_| y)
        })
    }));
    v.push(op("inplace", "adam_update_ / sgd_update_", |g| {
        let p = g.any("param");
        let other = |g: &mut Draw, name: &'static str| {
            let s = if g.chance(85) {
                p.dims().to_vec()
            } else {
                g.shape()
            };
            let d = if g.chance(85) { p.dtype() } else { g.dtype() };
            g.tensor(name, s, d)
        };
        let (grad, m, v) = (other(g, "grad"), other(g, "m"), other(g, "v"));
        let adam = g.bool();
        Call::value(format!("adam={adam}"), Expect::Any, || {
            let (mut p, mut m, mut v) = (p.clone(), m.clone(), v.clone());
            if adam {
                let step = AdamStep {
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    step_size: 1e-3,
                    bc2_sqrt: 0.5,
                };
                p.adam_update_(&grad, &mut m, &mut v, &step)
            } else {
                let step = SgdStep {
                    lr: 0.1,
                    momentum: 0.9,
                    dampening: 0.0,
                    weight_decay: 0.01,
                    nesterov: true,
                };
                p.sgd_update_(&grad, &mut m, &step)
            }
        })
    }));
}
