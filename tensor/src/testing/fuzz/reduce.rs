//! Fuzzed reductions (`sum` ... `logsumexp`, `norm`, `argmax`, the `*_all` forms,
//! `sum_to_shape`, the raw `reduce`), `softmax` and its backward, scans and order
//! statistics (`cumsum` ... `sort`, `topk`, `kthvalue`, `median`, `mode`, `max_dim`).

use super::oracle::{self, along, ensure, expands_to, reduce_nonempty, reduce_one, Why};
use super::{op, Call, Expect, FuzzOp};
use crate::testing::reference::numel;
use crate::{DType, ReduceOp, Result, Shape, Tensor};

type DimsOp = fn(&Tensor, Vec<isize>, bool) -> Result<Tensor>;
type DimOp = fn(&Tensor, isize, bool) -> Result<(Tensor, Tensor)>;

pub(super) fn ops(v: &mut Vec<FuzzOp>) {
    // (name, op, no identity (fails on an empty reduced dim), float only)
    let dims_ops: [(&str, DimsOp, bool, bool); 6] = [
        ("sum", |x, d, k| x.sum(d, k), false, false),
        ("prod", |x, d, k| x.prod(d, k), false, false),
        ("amax", |x, d, k| x.amax(d, k), true, false),
        ("amin", |x, d, k| x.amin(d, k), true, false),
        ("mean", |x, d, k| x.mean(d, k), false, true),
        ("logsumexp", |x, d, k| x.logsumexp(d, k), false, true),
    ];
    for (name, f, nonempty, float_only) in dims_ops {
        v.push(op("reduce", name, move |g| {
            let x = if float_only {
                g.mostly_float("x")
            } else {
                g.any("x")
            };
            let (dims, keep) = (g.dims(x.rank()), g.bool());
            let rule = if nonempty {
                reduce_nonempty(x.dims(), &dims, keep)
            } else {
                oracle::reduce(x.dims(), &dims, keep)
            };
            let strict = !float_only || x.dtype().is_float();
            // PyTorch's logsumexp fails on `dim=[]` (an internal shape error), where every
            // other reduction reduces all dims.
            let expect = if name == "logsumexp" && dims.is_empty() {
                Expect::Any
            } else {
                Expect::of(rule, strict)
            };
            Call::one(format!("dims={dims:?}, keepdim={keep}"), expect, || {
                f(&x, dims.clone(), keep)
            })
        }));
    }
    for name in ["var", "std"] {
        v.push(op("reduce", name, move |g| {
            let x = g.mostly_float("x");
            let (dims, unbiased, keep) = (g.dims(x.rank()), g.bool(), g.bool());
            let rule = oracle::reduce(x.dims(), &dims, keep);
            let expect = Expect::of(rule, x.dtype().is_float());
            Call::one(
                format!("dims={dims:?}, unbiased={unbiased}, keepdim={keep}"),
                expect,
                || {
                    if name == "var" {
                        x.var(dims.clone(), unbiased, keep)
                    } else {
                        x.std(dims.clone(), unbiased, keep)
                    }
                },
            )
        }));
    }
    v.push(op("reduce", "norm", |g| {
        let x = g.mostly_float("x");
        let p = g.pick(&[
            2.0,
            1.0,
            0.0,
            3.0,
            0.5,
            -1.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]);
        let (dims, keep) = (g.dims(x.rank()), g.bool());
        let rule = if p.is_nan() {
            Err(Why::Other)
        } else if p.is_infinite() {
            reduce_nonempty(x.dims(), &dims, keep)
        } else {
            oracle::reduce(x.dims(), &dims, keep)
        };
        let expect = Expect::of(rule, x.dtype().is_float());
        Call::one(
            format!("p={p}, dims={dims:?}, keepdim={keep}"),
            expect,
            || x.norm(p, dims.clone(), keep),
        )
    }));
    for name in ["argmax", "argmin"] {
        v.push(op("reduce", name, move |g| {
            let x = g.any("x");
            let (dim, keep) = (g.dim(x.rank()), g.bool());
            // PyTorch has no argmax of bool.
            let expect = Expect::of(reduce_one(x.dims(), dim, keep), x.dtype() != DType::Bool);
            Call::one(format!("dim={dim}, keepdim={keep}"), expect, || {
                if name == "argmax" {
                    x.argmax(dim, keep)
                } else {
                    x.argmin(dim, keep)
                }
            })
        }));
    }
    type All = fn(&Tensor) -> Result<Tensor>;
    let alls: [(&str, All); 4] = [
        ("sum_all", Tensor::sum_all),
        ("mean_all", Tensor::mean_all),
        ("max_all", Tensor::max_all),
        ("min_all", Tensor::min_all),
    ];
    for (name, f) in alls {
        v.push(op("reduce", name, move |g| {
            let x = g.any("x");
            let rule = match name {
                "max_all" | "min_all" => ensure(x.elem_count() > 0).map(|_| Vec::new()),
                _ => Ok(Vec::new()),
            };
            let strict = name != "mean_all" || x.dtype().is_float();
            Call::one(String::new(), Expect::of(rule, strict), || f(&x))
        }));
    }
    for name in ["any", "all"] {
        v.push(op("reduce", name, move |g| {
            let x = g.any("x");
            Call::value(String::new(), Expect::Ok(Vec::new()), || {
                if name == "any" {
                    x.any()
                } else {
                    x.all()
                }
            })
        }));
    }
    v.push(op("reduce", "sum_to_shape", |g| {
        let x = g.any("x");
        let target = g.partner_shape(x.dims());
        let rule = ensure(expands_to(&target, x.dims())).map(|_| target.clone());
        Call::one(format!("shape={target:?}"), Expect::of(rule, true), || {
            x.sum_to_shape(&Shape::from(target.clone()))
        })
    }));
    v.push(op("reduce", "reduce (raw axes)", |g| {
        let x = g.any("x");
        let r = g.pick(&[
            ReduceOp::Sum,
            ReduceOp::Prod,
            ReduceOp::Max,
            ReduceOp::Min,
            ReduceOp::ArgMax,
            ReduceOp::ArgMin,
        ]);
        let n = g.below(3);
        let axes: Vec<usize> = (0..n).map(|_| g.below(x.rank() + 1)).collect();
        let keep = g.bool();
        Call::one(
            format!("op={r:?}, axes={axes:?}, keepdim={keep}"),
            Expect::of(raw_reduce(x.dims(), r, &axes, keep), true),
            || x.reduce(r, &axes, keep),
        )
    }));
    softmax_ops(v);
    scan_ops(v);
}

/// The contract of Lamina's `Tensor::reduce` (raw axes: sorted, unique, in range; one for
/// an arg-reduction; none only for a 0-d tensor; no empty axis without an identity).
fn raw_reduce(shape: &[usize], op: ReduceOp, axes: &[usize], keep: bool) -> oracle::Rule {
    let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    let count_ok = if shape.is_empty() {
        axes.is_empty()
    } else if arg {
        axes.len() == 1
    } else {
        !axes.is_empty()
    };
    ensure(count_ok && axes.windows(2).all(|w| w[0] < w[1]))?;
    ensure(axes.iter().all(|&a| a < shape.len()))?;
    if !matches!(op, ReduceOp::Sum | ReduceOp::Prod) {
        ensure(axes.iter().all(|&a| shape[a] > 0))?;
    }
    Ok(oracle::reduced(shape, axes, keep))
}

fn softmax_ops(v: &mut Vec<FuzzOp>) {
    for log in [false, true] {
        let name = if log { "log_softmax" } else { "softmax" };
        v.push(op("reduce", name, move |g| {
            let x = g.mostly_float("x");
            let dim = g.dim(x.rank());
            let expect = Expect::of(along(x.dims(), dim), x.dtype().is_float());
            Call::one(format!("dim={dim}"), expect, || {
                if log {
                    x.log_softmax(dim)
                } else {
                    x.softmax(dim)
                }
            })
        }));
    }
    v.push(op("reduce", "softmax_backward", |g| {
        let y = g.mostly_float("y");
        let shape = if g.chance(80) {
            y.dims().to_vec()
        } else {
            g.partner_shape(y.dims())
        };
        let dtype = if g.chance(85) { y.dtype() } else { g.dtype() };
        let dy = g.tensor("dy", shape, dtype);
        let (dim, log) = (g.dim(y.rank()), g.bool());
        let rule = ensure(y.dtype() == dy.dtype() && y.dims() == dy.dims())
            .and_then(|_| along(y.dims(), dim));
        let expect = Expect::of(rule, y.dtype().is_float());
        Call::one(format!("dim={dim}, log={log}"), expect, || {
            y.softmax_backward(&dy, dim, log)
        })
    }));
}

fn scan_ops(v: &mut Vec<FuzzOp>) {
    type Scan = fn(&Tensor, isize) -> Result<Tensor>;
    let scans: [(&str, Scan); 3] = [
        ("cumsum", Tensor::cumsum),
        ("cumprod", Tensor::cumprod),
        ("logcumsumexp", Tensor::logcumsumexp),
    ];
    for (name, f) in scans {
        v.push(op("scan", name, move |g| {
            let x = g.any("x");
            let dim = g.dim(x.rank());
            let strict = name != "logcumsumexp" || x.dtype().is_float();
            Call::one(
                format!("dim={dim}"),
                Expect::of(along(x.dims(), dim), strict),
                || f(&x, dim),
            )
        }));
    }
    v.push(op("scan", "argsort", |g| {
        let x = g.any("x");
        let (dim, desc) = (g.dim(x.rank()), g.bool());
        let expect = Expect::of(along(x.dims(), dim), true);
        Call::one(format!("dim={dim}, descending={desc}"), expect, || {
            x.argsort(dim, desc)
        })
    }));
    v.push(op("scan", "sort", |g| {
        let x = g.any("x");
        let (dim, desc) = (g.dim(x.rank()), g.bool());
        let expect = Expect::of_many(along(x.dims(), dim).map(|s| vec![s.clone(), s]), true);
        Call::pair(format!("dim={dim}, descending={desc}"), expect, || {
            x.sort(dim, desc)
        })
    }));
    v.push(op("scan", "topk", |g| {
        let x = g.any("x");
        let (k, dim, largest) = (g.count(4), g.dim(x.rank()), g.bool());
        let rule = oracle::topk(x.dims(), k, dim).map(|s| vec![s.clone(), s]);
        let expect = Expect::of_many(rule, x.dtype() != DType::Bool);
        Call::pair(
            format!("k={k}, dim={dim}, largest={largest}"),
            expect,
            || x.topk(k, dim, largest),
        )
    }));
    v.push(op("scan", "kthvalue", |g| {
        let x = g.any("x");
        let (k, dim, keep) = (g.count(4), g.dim(x.rank()), g.bool());
        let rule = oracle::kthvalue(x.dims(), k, dim, keep).map(|s| vec![s.clone(), s]);
        let expect = Expect::of_many(rule, x.dtype() != DType::Bool);
        Call::pair(format!("k={k}, dim={dim}, keepdim={keep}"), expect, || {
            x.kthvalue(k, dim, keep)
        })
    }));
    let by_dim: [(&str, DimOp); 4] = [
        ("median", Tensor::median),
        ("mode", Tensor::mode),
        ("max_dim", Tensor::max_dim),
        ("min_dim", Tensor::min_dim),
    ];
    for (name, f) in by_dim {
        v.push(op("scan", name, move |g| {
            let x = g.any("x");
            let (dim, keep) = (g.dim(x.rank()), g.bool());
            let rule = reduce_one(x.dims(), dim, keep).map(|s| vec![s.clone(), s]);
            let expect = Expect::of_many(rule, x.dtype() != DType::Bool);
            Call::pair(format!("dim={dim}, keepdim={keep}"), expect, || {
                f(&x, dim, keep)
            })
        }));
    }
    v.push(op("scan", "median_all", |g| {
        let x = g.any("x");
        // The median of nothing is NaN in PyTorch (for integers, some value).
        let strict = x.dtype().is_float() || numel(x.dims()) > 0 && x.dtype() != DType::Bool;
        Call::one(String::new(), Expect::of(Ok(Vec::new()), strict), || {
            x.median_all()
        })
    }));
}
