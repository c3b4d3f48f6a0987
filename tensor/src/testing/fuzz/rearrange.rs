//! Fuzzed rearrangements: `flip`, `roll`, `repeat`, `tile`, `repeat_interleave` (by a
//! count and by a tensor), `pad`, `tril`, `triu`, `diag`, `diagonal`, `meshgrid`,
//! `slice_scatter`.

use super::draw::Draw;
use super::oracle::{self, ensure, wrap, wrap_all, wrap_existing, Why};
use super::{op, Call, Expect, FuzzOp};
use crate::testing::reference::numel;
use crate::{DType, Indexing, PadMode, Tensor};

pub(super) fn ops(v: &mut Vec<FuzzOp>) {
    v.push(op("rearrange", "flip", |g| {
        let x = g.any("x");
        let dims = g.dims(x.rank());
        let rule = wrap_all(&dims, x.rank()).map(|_| x.dims().to_vec());
        Call::one(format!("dims={dims:?}"), Expect::of(rule, true), || {
            x.flip(dims.clone())
        })
    }));
    v.push(op("rearrange", "roll", |g| {
        let x = g.any("x");
        let dims = g.dims(x.rank());
        let n = if g.chance(85) {
            dims.len().max(1)
        } else {
            g.below(3)
        };
        let shifts: Vec<isize> = (0..n).map(|_| g.int(-4, 4) as isize).collect();
        let rule = if dims.is_empty() {
            ensure(shifts.len() == 1)
        } else {
            ensure(shifts.len() == dims.len()).and_then(|_| {
                for &d in &dims {
                    wrap_existing(d, x.rank())?;
                }
                Ok(())
            })
        };
        Call::one(
            format!("shifts={shifts:?}, dims={dims:?}"),
            Expect::of(rule.map(|_| x.dims().to_vec()), true).loose(),
            || x.roll(&shifts, &dims),
        )
    }));
    for tile in [false, true] {
        v.push(op(
            "rearrange",
            if tile { "tile" } else { "repeat" },
            move |g| {
                let x = g.any("x");
                let n = if g.chance(70) {
                    x.rank() + g.below(2)
                } else {
                    g.below(4)
                };
                let sizes: Vec<usize> = (0..n).map(|_| g.below(3)).collect();
                let rule = if tile {
                    oracle::tile(x.dims(), &sizes)
                } else {
                    oracle::repeat(x.dims(), &sizes)
                };
                Call::one(format!("sizes={sizes:?}"), Expect::of(rule, true), || {
                    if tile {
                        x.tile(&sizes)
                    } else {
                        x.repeat(&sizes)
                    }
                })
            },
        ));
    }
    v.push(op("rearrange", "repeat_interleave", |g| {
        let x = g.any("x");
        let r = g.below(3);
        let dim = g.chance(70).then(|| g.dim(x.rank()));
        let expect = match dim {
            None => Expect::Ok(vec![vec![numel(x.dims()) * r]]),
            // PyTorch fails on a 0-d input with a dim (an internal unsqueeze); Lamina
            // takes it as a one-element line.
            Some(_) if x.rank() == 0 => Expect::Any,
            Some(d) => Expect::of(
                wrap(d, x.rank()).map(|i| {
                    let mut s = x.dims().to_vec();
                    s[i] *= r;
                    s
                }),
                true,
            ),
        };
        Call::one(format!("repeats={r}, dim={dim:?}"), expect, || {
            x.repeat_interleave(r, dim)
        })
    }));
    v.push(op(
        "rearrange",
        "repeat_interleave_tensor",
        repeat_interleave_tensor,
    ));
    v.push(op("rearrange", "pad", pad));
    for lower in [true, false] {
        v.push(op(
            "rearrange",
            if lower { "tril" } else { "triu" },
            move |g| {
                let x = g.any("x");
                let k = g.int(-3, 3) as isize;
                let rule = ensure(x.rank() >= 2).map(|_| x.dims().to_vec());
                Call::one(format!("k={k}"), Expect::of(rule, true), || {
                    if lower {
                        x.tril(k)
                    } else {
                        x.triu(k)
                    }
                })
            },
        ));
    }
    v.push(op("rearrange", "diag", |g| {
        let x = g.any("x");
        let k = g.int(-3, 3) as isize;
        Call::one(
            format!("k={k}"),
            Expect::of(oracle::diag(x.dims(), k), true),
            || x.diag(k),
        )
    }));
    v.push(op("rearrange", "diagonal", |g| {
        let x = g.any("x");
        let (off, a, b) = (g.int(-3, 3) as isize, g.dim(x.rank()), g.dim(x.rank()));
        Call::one(
            format!("offset={off}, dim1={a}, dim2={b}"),
            Expect::of(oracle::diagonal(x.dims(), off, a, b), true),
            || x.diagonal(off, a, b),
        )
    }));
    v.push(op("rearrange", "meshgrid", |g| {
        const NAMES: [&str; 3] = ["t0", "t1", "t2"];
        let dtype = g.dtype();
        let ts: Vec<Tensor> = NAMES[..g.below(4)]
            .iter()
            .map(|&name| {
                let rank = g.pick(&[0, 1, 1, 1, 1, 2]);
                let s = g.shape_of_rank(rank);
                let d = if g.chance(85) { dtype } else { g.dtype() };
                g.tensor(name, s, d)
            })
            .collect();
        let xy = g.bool();
        let shapes: Vec<Vec<usize>> = ts.iter().map(|t| t.dims().to_vec()).collect();
        let same_dtype = ts.windows(2).all(|w| w[0].dtype() == w[1].dtype());
        let expect = Expect::of_many(oracle::meshgrid(&shapes, xy), same_dtype);
        let refs: Vec<&Tensor> = ts.iter().collect();
        let indexing = if xy { Indexing::Xy } else { Indexing::Ij };
        Call::many(format!("indexing={indexing:?}"), expect, || {
            Tensor::meshgrid(&refs, indexing)
        })
    }));
    v.push(op("rearrange", "slice_scatter", |g| {
        let x = g.any("x");
        let d = g.dim(x.rank());
        let (start, step) = (g.count(3), g.count(2));
        let mut s = x.dims().to_vec();
        if let Ok(i) = wrap(d, x.rank()) {
            if i < s.len() {
                s[i] = g.below(4);
            }
        }
        if g.chance(20) {
            s = g.partner_shape(&s);
        }
        let dtype = g.dtype();
        let src = g.tensor("src", s, dtype);
        let rule = wrap_existing(d, x.rank()).and_then(|i| {
            ensure(src.rank() == x.rank())?;
            ensure((0..x.rank()).all(|k| k == i || src.dims()[k] == x.dims()[k]))?;
            oracle::narrow_step(x.dims(), d, start, src.dims()[i], step)?;
            Ok(x.dims().to_vec())
        });
        Call::one(
            format!("dim={d}, start={start}, step={step}"),
            Expect::of(rule, true).loose(),
            || x.slice_scatter(&src, d, start, step),
        )
    }));
}

fn repeat_interleave_tensor(g: &mut Draw) -> Call {
    let x = g.any("x");
    let dim = g.chance(70).then(|| g.dim(x.rank()));
    let base = match dim {
        None => Ok(vec![numel(x.dims())]),
        Some(d) => wrap(d, x.rank()).map(|_| x.dims().to_vec()),
    };
    let at = dim.and_then(|d| wrap(d, x.rank()).ok()).unwrap_or(0);
    let n = base
        .as_ref()
        .ok()
        .and_then(|b| b.get(at).copied())
        .unwrap_or(1);
    let rshape = g.pick(&[
        vec![],
        vec![1],
        vec![n],
        vec![n],
        vec![n],
        vec![n + 1],
        vec![2, 2],
    ]);
    let rdtype = g.pick(&[DType::I64, DType::I64, DType::I64, DType::U32, DType::F32]);
    let counts: Vec<f64> = (0..numel(&rshape))
        .map(|_| {
            if g.chance(5) && rdtype != DType::U32 {
                -1.0
            } else {
                g.below(3) as f64
            }
        })
        .collect();
    let spec =
        crate::testing::strategies::TensorSpec::contiguous(rshape.clone(), rdtype, counts.clone());
    let reps = g.build("repeats", spec);
    let rule = base.and_then(|mut b| {
        ensure(!rdtype.is_float() && rshape.len() <= 1)?;
        let c = numel(&rshape);
        ensure(c == 1 || c == n)?;
        // An empty dim repeats nothing: PyTorch checks no count then.
        ensure(n == 0 || counts.iter().all(|&c| c >= 0.0))?;
        if !b.is_empty() {
            b[at] = if c == 1 {
                n * counts[0] as usize
            } else {
                counts.iter().sum::<f64>() as usize
            };
        }
        Ok(b)
    });
    let expect = match dim {
        Some(_) if x.rank() == 0 => Expect::Any,
        _ => Expect::of(rule, rdtype == DType::I64).loose(),
    };
    Call::one(format!("dim={dim:?}"), expect, || {
        x.repeat_interleave_tensor(&reps, dim)
    })
}

fn pad(g: &mut Draw) -> Call {
    let x = g.any("x");
    let n = if g.chance(90) {
        2 * g.below(x.rank() + 2)
    } else {
        1
    };
    let pads: Vec<isize> = (0..n)
        .map(|_| if g.chance(20) { g.int(-3, -1) } else { g.int(0, 3) } as isize)
        .collect();
    let mode = g.pick(&[
        PadMode::Constant(1.5),
        PadMode::Constant(0.0),
        PadMode::Reflect,
        PadMode::Replicate,
        PadMode::Circular,
    ]);
    let rule = oracle::pad(x.dims(), &pads);
    let expect = match mode {
        PadMode::Constant(_) => Expect::of(rule, true),
        // PyTorch's other modes take only some ranks and sizes; check the shape of an
        // `Ok`, and that malformed pads fail.
        _ if rule == Err(Why::Other) && (n % 2 == 1 || n / 2 > x.rank()) => Expect::Err(Why::Other),
        _ if pads.iter().any(|&p| p < 0) => Expect::Any,
        _ => Expect::of(rule, false),
    };
    Call::one(format!("pads={pads:?}, mode={mode:?}"), expect, || {
        x.pad(&pads, mode)
    })
}
