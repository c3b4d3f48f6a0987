//! Fuzzed views (`reshape`, `view`, `permute`, ..., `narrow_step`, indexing with `i`) and
//! joins (`cat`, `stack`, `split`, `chunk`).

use super::draw::Draw;
use super::oracle::{self, ensure, wrap, wrap_existing, Item};
use super::{op, Call, Expect, FuzzOp};
use crate::testing::reference::numel;
use crate::{IndexItem, IntoIndexItem, Result, Tensor};

/// A reshape target: mostly the dims regrouped (merged neighbours, one maybe `-1`),
/// sometimes arbitrary sizes with `-1` and `-2`.
fn reshape_spec(g: &mut Draw, dims: &[usize]) -> Vec<isize> {
    let mut spec: Vec<isize> = if g.chance(60) {
        let mut out: Vec<isize> = Vec::new();
        for &d in dims {
            match out.last_mut() {
                Some(last) if g.chance(30) => *last *= d as isize,
                _ => out.push(d as isize),
            }
        }
        if g.chance(20) {
            out.insert(g.below(out.len() + 1), 1);
        }
        out
    } else {
        (0..g.below(4)).map(|_| g.extent() as isize).collect()
    };
    if !spec.is_empty() && g.chance(35) {
        let i = g.below(spec.len());
        spec[i] = if g.chance(85) { -1 } else { -2 };
    }
    if spec.len() >= 2 && g.chance(5) {
        spec[0] = -1;
        spec[1] = -1;
    }
    spec
}

/// An `expand` target: mostly the dims with some kept as `-1`, size-1 dims stretched and
/// leading dims added; sometimes arbitrary.
fn expand_spec(g: &mut Draw, dims: &[usize], minus_one: bool) -> Vec<isize> {
    if g.chance(20) {
        return (0..g.below(5))
            .map(|_| {
                if minus_one && g.chance(15) {
                    -1
                } else {
                    g.extent() as isize
                }
            })
            .collect();
    }
    let mut out: Vec<isize> = (0..g.pick(&[0, 0, 0, 1, 2]))
        .map(|_| g.extent() as isize)
        .collect();
    for &d in dims {
        out.push(match g.below(6) {
            0 if minus_one => -1,
            1 | 2 if d == 1 => g.extent() as isize,
            3 if g.chance(30) => g.extent() as isize,
            _ => d as isize,
        });
    }
    if minus_one && !out.is_empty() && g.chance(5) {
        out[0] = g.pick(&[-1, -2]);
    }
    out
}

/// A permutation of the dims, some written negative; or arbitrary dims.
fn perm(g: &mut Draw, rank: usize) -> Vec<isize> {
    if g.chance(30) {
        return g.dims(rank);
    }
    let mut p: Vec<isize> = (0..rank as isize).collect();
    for i in (1..rank).rev() {
        p.swap(i, g.below(i + 1));
    }
    for x in p.iter_mut() {
        if g.chance(25) {
            *x -= rank as isize;
        }
    }
    p
}

/// An index item for `Tensor::i`, as both Lamina's item and the oracle's.
struct Dyn(IndexItem);
impl IntoIndexItem for Dyn {
    fn into_item(self) -> IndexItem {
        self.0
    }
}

fn index_items(g: &mut Draw) -> Vec<(IndexItem, Item)> {
    let n = g.int(1, 5) as usize;
    (0..n)
        .map(|_| match g.below(10) {
            0..=3 => {
                let i = g.int(-4, 4);
                (IndexItem::Select(i), Item::Int(i))
            }
            4..=7 => {
                let bound = |g: &mut Draw| g.chance(70).then(|| g.int(-5, 6));
                let (s, e) = (bound(g), bound(g));
                let step = if g.chance(5) { 0 } else { g.int(1, 3) as usize };
                (
                    IndexItem::Slice {
                        start: s,
                        end: e,
                        step,
                    },
                    Item::Slice(s, e, step),
                )
            }
            8 => (IndexItem::NewAxis, Item::NewAxis),
            _ => (IndexItem::Ellipsis, Item::Ellipsis),
        })
        .collect()
}

/// `x.i(items)` for 1 to 5 items.
fn index(x: &Tensor, items: Vec<IndexItem>) -> Result<Tensor> {
    let n = items.len();
    let mut it = items.into_iter().map(Dyn);
    let mut next = || it.next().expect("counted");
    match n {
        1 => x.i((next(),)),
        2 => x.i((next(), next())),
        3 => x.i((next(), next(), next())),
        4 => x.i((next(), next(), next(), next())),
        _ => x.i((next(), next(), next(), next(), next())),
    }
}

pub(super) fn ops(v: &mut Vec<FuzzOp>) {
    view_ops(v);
    join_ops(v);
}

fn view_ops(v: &mut Vec<FuzzOp>) {
    v.push(op("view", "reshape", |g| {
        let x = g.any("x");
        let spec = reshape_spec(g, x.dims());
        let rule = oracle::reshape(x.dims(), &spec);
        Call::one(format!("shape={spec:?}"), Expect::of(rule, true), || {
            x.reshape(spec.clone())
        })
    }));
    v.push(op("view", "view", |g| {
        let x = g.any("x");
        let spec = reshape_spec(g, x.dims());
        let strides = x.layout().strides().to_vec();
        let rule = oracle::reshape(x.dims(), &spec).and_then(|s| {
            ensure(oracle::view_strides(x.dims(), &strides, &s).is_some())?;
            Ok(s)
        });
        Call::one(
            format!("shape={spec:?} (input strides {strides:?})"),
            Expect::of(rule, true),
            || x.view(spec.clone()),
        )
    }));
    v.push(op("view", "permute", |g| {
        let x = g.any("x");
        let p = perm(g, x.rank());
        Call::one(
            format!("dims={p:?}"),
            Expect::of(oracle::permute(x.dims(), &p), true),
            || x.permute(p.clone()),
        )
    }));
    v.push(op("view", "transpose", |g| {
        let x = g.any("x");
        let (a, b) = (g.dim(x.rank()), g.dim(x.rank()));
        let rule = wrap(a, x.rank()).and_then(|i| {
            let j = wrap(b, x.rank())?;
            let mut s = x.dims().to_vec();
            if !s.is_empty() {
                s.swap(i, j);
            }
            Ok(s)
        });
        Call::one(format!("dims=({a}, {b})"), Expect::of(rule, true), || {
            x.transpose(a, b)
        })
    }));
    v.push(op("view", "t", |g| {
        let x = g.any("x");
        let rule = ensure(x.rank() <= 2).map(|_| x.dims().iter().rev().copied().collect());
        Call::one(String::new(), Expect::of(rule, true), || x.t())
    }));
    v.push(op("view", "squeeze", |g| {
        let x = g.any("x");
        let d = g.dim(x.rank());
        let rule = wrap(d, x.rank()).map(|i| {
            let mut s = x.dims().to_vec();
            if s.get(i) == Some(&1) {
                s.remove(i);
            }
            s
        });
        Call::one(format!("dim={d}"), Expect::of(rule, true), || x.squeeze(d))
    }));
    v.push(op("view", "squeeze_all", |g| {
        let x = g.any("x");
        let s: Vec<usize> = x.dims().iter().copied().filter(|&d| d != 1).collect();
        Call::one(String::new(), Expect::Ok(vec![s]), || x.squeeze_all())
    }));
    v.push(op("view", "unsqueeze", |g| {
        let x = g.any("x");
        let d = g.dim(x.rank() + 1);
        let rule = wrap(d, x.rank() + 1).map(|i| {
            let mut s = x.dims().to_vec();
            s.insert(i, 1);
            s
        });
        Call::one(format!("dim={d}"), Expect::of(rule, true), || {
            x.unsqueeze(d)
        })
    }));
    v.push(op("view", "expand", |g| {
        let x = g.any("x");
        let spec = expand_spec(g, x.dims(), true);
        Call::one(
            format!("shape={spec:?}"),
            Expect::of(oracle::expand(x.dims(), &spec), true),
            || x.expand(spec.clone()),
        )
    }));
    v.push(op("view", "broadcast_to", |g| {
        let x = g.any("x");
        let spec = expand_spec(g, x.dims(), false);
        let target: Vec<usize> = spec.iter().map(|&d| d.max(0) as usize).collect();
        Call::one(
            format!("shape={target:?}"),
            Expect::of(oracle::expand(x.dims(), &spec), true),
            || x.broadcast_to(target.clone()),
        )
    }));
    v.push(op("view", "narrow", |g| {
        let x = g.any("x");
        let d = g.dim(x.rank());
        let (start, len) = if g.chance(3) {
            (usize::MAX, 2)
        } else {
            (g.count(4), g.count(4))
        };
        Call::one(
            format!("dim={d}, start={start}, len={len}"),
            Expect::of(oracle::narrow(x.dims(), d, start, len), true),
            || x.narrow(d, start, len),
        )
    }));
    v.push(op("view", "narrow_step", |g| {
        let x = g.any("x");
        let d = g.dim(x.rank());
        let (start, len, step) = (g.count(4), g.count(3), g.count(3));
        Call::one(
            format!("dim={d}, start={start}, len={len}, step={step}"),
            Expect::of(oracle::narrow_step(x.dims(), d, start, len, step), true),
            || x.narrow_step(d, start, len, step),
        )
    }));
    v.push(op("view", "select", |g| {
        let x = g.any("x");
        let (d, i) = (g.dim(x.rank()), g.count(4));
        Call::one(
            format!("dim={d}, index={i}"),
            Expect::of(oracle::select(x.dims(), d, i), true),
            || x.select(d, i),
        )
    }));
    v.push(op("view", "flatten", |g| {
        let x = g.any("x");
        let (s, e) = (g.dim(x.rank()), g.dim(x.rank()));
        Call::one(
            format!("start={s}, end={e}"),
            Expect::of(oracle::flatten(x.dims(), s, e), true),
            || x.flatten(s, e),
        )
    }));
    v.push(op("view", "flatten_all", |g| {
        let x = g.any("x");
        let n = numel(x.dims());
        Call::one(String::new(), Expect::Ok(vec![vec![n]]), || x.flatten_all())
    }));
    v.push(op("view", "i (basic indexing)", |g| {
        let x = g.any("x");
        let (items, model): (Vec<IndexItem>, Vec<Item>) = index_items(g).into_iter().unzip();
        Call::one(
            format!("items={model:?}"),
            Expect::of(oracle::index(x.dims(), &model), true),
            || index(&x, items),
        )
    }));
    type Same = fn(&Tensor) -> Result<Tensor>;
    let same: [(&str, Same); 3] = [
        ("contiguous", Tensor::contiguous),
        ("copy", Tensor::copy),
        ("detach", |x| Ok(x.detach())),
    ];
    for (name, f) in same {
        v.push(op("view", name, move |g| {
            let x = g.any("x");
            Call::one(String::new(), Expect::Ok(vec![x.dims().to_vec()]), || f(&x))
        }));
    }
    v.push(op("view", "dim", |g| {
        let x = g.any("x");
        let d = g.dim(x.rank());
        let expect = Expect::of(wrap_existing(d, x.rank()).map(|_| Vec::new()), true);
        // A dim size, not a tensor: `Out::Value` has no shapes, so expect none.
        let expect = match expect {
            Expect::Ok(_) => Expect::Ok(Vec::new()),
            e => e,
        };
        Call::value(format!("dim={d}"), expect, || x.dim(d))
    }));
}

/// 1 to 3 tensors for `cat`: mostly `first`'s shape with `dim` resized, mostly its dtype.
fn cat_inputs(g: &mut Draw, stack: bool) -> Vec<Tensor> {
    const NAMES: [&str; 3] = ["t0", "t1", "t2"];
    let n = g.int(1, 3) as usize;
    let first = g.any(NAMES[0]);
    let d = g.below(first.rank().max(1));
    let mut out = vec![first];
    for name in &NAMES[1..n] {
        let mut s = out[0].dims().to_vec();
        if g.chance(25) {
            s = g.partner_shape(&s);
        } else if !stack && !s.is_empty() {
            s[d] = g.extent();
        }
        let dtype = if g.chance(85) {
            out[0].dtype()
        } else {
            g.dtype()
        };
        out.push(g.tensor(name, s, dtype));
    }
    out
}

fn join_ops(v: &mut Vec<FuzzOp>) {
    v.push(op("join", "cat", |g| {
        let ts = if g.chance(3) {
            Vec::new()
        } else {
            cat_inputs(g, false)
        };
        let dim = g.dim(ts.first().map_or(1, |t| t.rank()));
        let shapes: Vec<Vec<usize>> = ts.iter().map(|t| t.dims().to_vec()).collect();
        let same_dtype = ts.windows(2).all(|w| w[0].dtype() == w[1].dtype());
        let skipped = shapes.iter().filter(|s| **s == [0]).count();
        // PyTorch still skips 1-D empty tensors among others (legacy); Lamina refuses.
        let expect = if skipped > 0 && skipped < shapes.len() {
            Expect::Any
        } else {
            Expect::of(oracle::cat(&shapes, dim), same_dtype).loose()
        };
        let refs: Vec<&Tensor> = ts.iter().collect();
        Call::one(format!("dim={dim}"), expect, || Tensor::cat(&refs, dim))
    }));
    v.push(op("join", "stack", |g| {
        let ts = if g.chance(3) {
            Vec::new()
        } else {
            cat_inputs(g, true)
        };
        let dim = g.dim(ts.first().map_or(0, |t| t.rank()) + 1);
        let shapes: Vec<Vec<usize>> = ts.iter().map(|t| t.dims().to_vec()).collect();
        let same_dtype = ts.windows(2).all(|w| w[0].dtype() == w[1].dtype());
        let expect = Expect::of(oracle::stack(&shapes, dim), same_dtype).loose();
        let refs: Vec<&Tensor> = ts.iter().collect();
        Call::one(format!("dim={dim}"), expect, || Tensor::stack(&refs, dim))
    }));
    v.push(op("join", "split", |g| {
        let x = g.any("x");
        let (size, d) = (g.count(3), g.dim(x.rank()));
        Call::many(
            format!("size={size}, dim={d}"),
            Expect::of_many(oracle::split(x.dims(), size, d), true),
            || x.split(size, d),
        )
    }));
    v.push(op("join", "split_sizes", |g| {
        let x = g.any("x");
        let d = g.dim(x.rank());
        let n = wrap(d, x.rank())
            .ok()
            .and_then(|i| x.dims().get(i).copied());
        let sizes: Vec<usize> = match n {
            Some(mut n) if g.chance(70) => {
                let mut s = Vec::new();
                while n > 0 || g.chance(20) {
                    let k = g.below(n + 1);
                    s.push(k);
                    n -= k;
                }
                s
            }
            _ => (0..g.below(4)).map(|_| g.below(4)).collect(),
        };
        Call::many(
            format!("sizes={sizes:?}, dim={d}"),
            Expect::of_many(oracle::split_sizes(x.dims(), &sizes, d), true),
            || x.split_sizes(&sizes, d),
        )
    }));
    v.push(op("join", "chunk", |g| {
        let x = g.any("x");
        let (chunks, d) = (g.count(4), g.dim(x.rank()));
        Call::many(
            format!("chunks={chunks}, dim={d}"),
            Expect::of_many(oracle::chunk(x.dims(), chunks, d), true),
            || x.chunk(chunks, d),
        )
    }));
}
