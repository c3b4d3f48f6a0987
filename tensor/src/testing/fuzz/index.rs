//! Fuzzed indexing by tensors: `index_select`, `gather`, the `scatter` family,
//! `index_add`, `index_copy`, `index_fill`, `masked_select`, `nonzero`, `one_hot`.
//!
//! PyTorch takes `I64` (and `I32`) indices: with `U32` indices, which Lamina takes too,
//! only the shape of an `Ok` is checked; float and bool indices must fail.

use super::draw::Draw;
use super::oracle::{self, broadcast, ensure, wrap, Rule, Why};
use super::{op, Call, Expect, FuzzOp};
use crate::testing::reference::numel;
use crate::{DType, ScatterReduce, Tensor};

/// The size of `dim` of `shape` as an index bound (1 for a 0-d tensor, 0 when `dim` is
/// out of range).
fn bound(shape: &[usize], dim: isize) -> usize {
    match wrap(dim, shape.len()) {
        Ok(_) if shape.is_empty() => 1,
        Ok(d) => shape[d],
        Err(_) => 0,
    }
}

/// Float and bool indices fail; `U32` ones may.
fn index_dtype(ids: &Tensor) -> (Rule<()>, bool) {
    match ids.dtype() {
        DType::I64 => (Ok(()), true),
        DType::U32 => (Ok(()), false),
        _ => (Err(Why::Other), true),
    }
}

/// An index of rank 1 mostly, 0-d or 2-D now and then.
fn ids_1d(g: &mut Draw, bound: usize) -> (Tensor, Vec<i64>) {
    let shape = match g.below(10) {
        0 => vec![],
        1 => vec![g.extent(), g.extent()],
        _ => vec![g.pick(&[0, 1, 1, 2, 2, 3, 4])],
    };
    g.ids("ids", shape, bound)
}

pub(super) fn ops(v: &mut Vec<FuzzOp>) {
    v.push(op("index", "index_select", |g| {
        let x = g.any("x");
        let dim = g.dim(x.rank());
        let (ids, vals) = ids_1d(g, bound(x.dims(), dim));
        let (dt, strict) = index_dtype(&ids);
        let rule = dt.and_then(|_| oracle::index_select(x.dims(), dim, ids.dims(), &vals));
        Call::one(
            format!("dim={dim}"),
            Expect::of(rule, strict).loose(),
            || x.index_select(dim, &ids),
        )
    }));
    v.push(op("index", "gather", |g| {
        let x = g.any("x");
        let dim = g.dim(x.rank());
        let shape = g.index_shape(x.dims(), wrap(dim, x.rank()).ok());
        let (ids, vals) = g.ids("ids", shape, bound(x.dims(), dim));
        let (dt, strict) = index_dtype(&ids);
        let expect = match dt {
            Err(w) => Expect::Err(w),
            // PyTorch skips every shape check for an empty index.
            Ok(()) if vals.is_empty() => {
                let rule = wrap(dim, x.rank()).map(|_| ids.dims().to_vec());
                Expect::of(rule, false)
            }
            Ok(()) => Expect::of(oracle::gather(x.dims(), dim, ids.dims(), &vals), strict),
        };
        Call::one(format!("dim={dim}"), expect.loose(), || x.gather(dim, &ids))
    }));
    let modes = [
        ("scatter", None),
        ("scatter_add", Some(ScatterReduce::Sum)),
        ("scatter_reduce(sum)", Some(ScatterReduce::Sum)),
        ("scatter_reduce(prod)", Some(ScatterReduce::Prod)),
        ("scatter_reduce(mean)", Some(ScatterReduce::Mean)),
        ("scatter_reduce(amax)", Some(ScatterReduce::Amax)),
        ("scatter_reduce(amin)", Some(ScatterReduce::Amin)),
        ("scatter_value", None),
    ];
    for (name, mode) in modes {
        v.push(op("index", name, move |g| scatter(g, name, mode)));
    }
    for copy in [false, true] {
        let name = if copy { "index_copy" } else { "index_add" };
        v.push(op("index", name, move |g| index_add_copy(g, copy)));
    }
    v.push(op("index", "index_fill", |g| {
        let x = g.any("x");
        let dim = g.dim(x.rank());
        let n = bound(x.dims(), dim);
        let (ids, vals) = ids_1d(g, n);
        let (dt, strict) = index_dtype(&ids);
        // index_fill takes negative indices, counted from the end.
        let rule = dt.and_then(|_| {
            wrap(dim, x.rank())?;
            ensure(ids.rank() <= 1)?;
            ensure(vals.iter().all(|&v| -(n as i64) <= v && v < n as i64))?;
            Ok(x.dims().to_vec())
        });
        // PyTorch fails inside (or checks nothing) when self is empty.
        let expect = if x.elem_count() == 0 {
            Expect::Any
        } else {
            Expect::of(rule, strict).loose()
        };
        Call::one(format!("dim={dim}, value=2"), expect, || {
            x.index_fill(dim, &ids, 2.0)
        })
    }));
    v.push(op("index", "masked_select", |g| {
        let x = g.any("x");
        let s = g.partner_shape(x.dims());
        let dtype = if g.chance(75) { DType::Bool } else { g.dtype() };
        let m = g.tensor("mask", s, dtype);
        let nnz = g.last_values().iter().filter(|&&v| v != 0.0).count();
        // Broadcasting repeats each mask element numel(out) / numel(mask) times.
        let rule = broadcast(x.dims(), m.dims()).map(|out| {
            let (n, k) = (numel(&out), numel(m.dims()));
            vec![nnz * n.checked_div(k).unwrap_or(0)]
        });
        let strict = m.dtype() == DType::Bool;
        Call::one(String::new(), Expect::of(rule, strict), || {
            x.masked_select(&m)
        })
    }));
    v.push(op("index", "nonzero", |g| {
        let x = g.any("x");
        let nnz = g.last_values().iter().filter(|&&v| v != 0.0).count();
        let want = vec![nnz, x.rank()];
        Call::one(String::new(), Expect::Ok(vec![want]), || x.nonzero())
    }));
    v.push(op("index", "one_hot", |g| {
        let classes = g.count(4);
        let shape = g.shape();
        let (x, vals) = g.ids("x", shape, classes);
        let (dt, strict) = index_dtype(&x);
        let rule = dt.and_then(|_| {
            ensure(vals.iter().all(|&v| 0 <= v && v < classes as i64))?;
            let mut s = x.dims().to_vec();
            s.push(classes);
            Ok(s)
        });
        // PyTorch reads classes = 0 as "infer" (and fails on an empty input).
        let expect = if classes == 0 {
            Expect::Any
        } else {
            Expect::of(rule, strict)
        };
        Call::one(format!("classes={classes}"), expect, || x.one_hot(classes))
    }));
}

fn scatter(g: &mut Draw, name: &str, mode: Option<ScatterReduce>) -> Call {
    let x = g.any("x");
    let dim = g.dim(x.rank());
    let shape = g.index_shape(x.dims(), wrap(dim, x.rank()).ok());
    let (ids, vals) = g.ids("ids", shape, bound(x.dims(), dim));
    let value = name == "scatter_value";
    let src = if value {
        None
    } else {
        let mut s = ids.dims().to_vec();
        if g.chance(30) {
            s.iter_mut().for_each(|d| *d += g.below(2));
        }
        if g.chance(10) {
            s = g.shape();
        }
        let dtype = if g.chance(85) { x.dtype() } else { g.dtype() };
        Some(g.tensor("src", s, dtype))
    };
    let src_shape = src
        .as_ref()
        .map_or(ids.dims().to_vec(), |s| s.dims().to_vec());
    let (dt, strict) = index_dtype(&ids);
    // Arithmetic reductions of bool tensors are not PyTorch's.
    let strict = strict && (mode.is_none() || x.dtype() != DType::Bool);
    let rule = dt.and_then(|_| {
        ensure(src.as_ref().is_none_or(|s| s.dtype() == x.dtype()))?;
        if vals.is_empty() {
            // PyTorch skips every shape check for an empty index.
            return wrap(dim, x.rank()).map(|_| x.dims().to_vec());
        }
        oracle::scatter(x.dims(), dim, ids.dims(), &vals, &src_shape)
    });
    let expect = if vals.is_empty() && rule.is_ok() {
        Expect::of(rule, false)
    } else {
        Expect::of(rule, strict).loose()
    };
    let include_self = g.bool();
    Call::one(
        format!("dim={dim}, include_self={include_self}"),
        expect,
        || match (mode, &src) {
            (_, None) => x.scatter_value(dim, &ids, 2.0),
            (None, Some(s)) => x.scatter(dim, &ids, s),
            (Some(ScatterReduce::Sum), Some(s)) if name == "scatter_add" => {
                x.scatter_add(dim, &ids, s)
            }
            (Some(r), Some(s)) => x.scatter_reduce(dim, &ids, s, r, include_self),
        },
    )
}

fn index_add_copy(g: &mut Draw, copy: bool) -> Call {
    let x = g.any("x");
    let dim = g.dim(x.rank());
    let n = bound(x.dims(), dim);
    let (ids, vals) = ids_1d(g, n);
    let mut want = x.dims().to_vec();
    if let Ok(d) = wrap(dim, x.rank()) {
        if d < want.len() {
            want[d] = vals.len();
        }
    }
    let s = if g.chance(80) {
        want.clone()
    } else {
        g.partner_shape(&want)
    };
    let dtype = if g.chance(85) { x.dtype() } else { g.dtype() };
    let src = g.tensor("src", s, dtype);
    let (dt, strict) = index_dtype(&ids);
    let strict = strict && (copy || x.dtype() != DType::Bool);
    let rule = dt.and_then(|_| {
        wrap(dim, x.rank())?;
        ensure(ids.rank() <= 1 && src.dims() == want.as_slice())?;
        ensure(src.dtype() == x.dtype())?;
        ensure(vals.iter().all(|&v| 0 <= v && v < n as i64))?;
        Ok(x.dims().to_vec())
    });
    // PyTorch's rules for a 0-d self or source differ between index_add and index_copy,
    // and with an empty self index_add checks no index where index_copy fails inside.
    let expect = if x.rank() == 0 || src.rank() == 0 || x.elem_count() == 0 {
        Expect::Any
    } else {
        Expect::of(rule, strict).loose()
    };
    let alpha = g.pick(&[1.0, 2.0, 1.5, -0.5]);
    Call::one(format!("dim={dim}, alpha={alpha}"), expect, || {
        if copy {
            x.index_copy(dim, &ids, &src)
        } else {
            x.index_add(dim, &ids, &src, alpha)
        }
    })
}
