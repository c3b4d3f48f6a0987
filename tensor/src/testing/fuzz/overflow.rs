//! Fuzzed sizes whose element count overflows: creation (`zeros`, `full`, `rand`,
//! `from_vec`, `eye`, `arange`, `linspace`), views and copies that grow a tensor
//! (`reshape`, `view`, `expand`, `broadcast_to`, `repeat`, `tile`, `repeat_interleave`,
//! `diag`, `pad`) and out-of-range `narrow`s. PyTorch raises on each; Lamina must fail too.

use super::draw::Draw;
use super::oracle::Why;
use super::{op, Call, Expect, FuzzOp};
use crate::{DType, PadMode, Tensor};

/// Two extents whose product overflows `i64` (never a size that could be allocated: a
/// failed allocation would abort the test instead of failing it).
fn huge_pair(g: &mut Draw) -> [usize; 2] {
    g.pick(&[
        [1 << 33, 1 << 33],
        [usize::MAX, 2],
        [1 << 62, 4],
        [isize::MAX as usize, 3],
    ])
}

/// A shape of 2 to 4 dims, none 0, whose element count overflows.
fn huge_shape(g: &mut Draw) -> Vec<usize> {
    let mut s: Vec<usize> = (0..g.below(3)).map(|_| g.int(1, 3) as usize).collect();
    for h in huge_pair(g) {
        s.insert(g.below(s.len() + 1), h);
    }
    s
}

/// A float tensor of 1 to 3 dims with at least two elements and no empty dim (4 bytes
/// or more an element: an overflowing size then always overflows the byte count too).
fn small(g: &mut Draw) -> Tensor {
    let mut s: Vec<usize> = (0..g.int(1, 3)).map(|_| g.int(1, 3) as usize).collect();
    s[0] = 2;
    let d = g.float_dtype();
    g.tensor("x", s, d)
}

fn err() -> Expect {
    Expect::Err(Why::Other)
}

/// Sizes whose element count overflows: PyTorch raises ("numel: integer multiplication
/// overflow", "Storage size calculation overflowed"); Lamina must fail too, not panic.
pub(super) fn ops(v: &mut Vec<FuzzOp>) {
    for name in ["zeros", "full", "rand", "from_vec"] {
        v.push(op("overflow", name, move |g| {
            let (s, d, dev) = (huge_shape(g), g.float_dtype(), g.dev);
            Call::one(format!("shape={s:?}"), err(), || match name {
                "zeros" => Tensor::zeros(s.clone(), d, &dev),
                "full" => Tensor::full(1.0, s.clone(), d, &dev),
                "rand" => Tensor::rand(1, s.clone(), d, &dev),
                _ => Tensor::from_vec(Vec::<f32>::new(), s.clone(), &dev),
            })
        }));
    }
    v.push(op("overflow", "eye", |g| {
        let ([n, m], square, dev) = (huge_pair(g), g.bool(), g.dev);
        Call::one(format!("n={n}, m={m}, square={square}"), err(), || {
            if square {
                Tensor::eye(n.max(m), DType::F32, &dev)
            } else {
                Tensor::eye_nm(n, m, DType::F32, &dev)
            }
        })
    }));
    v.push(op("overflow", "arange / linspace", |g| {
        let (which, dev) = (g.below(3), g.dev);
        Call::one(format!("which={which}"), err(), || match which {
            0 => Tensor::linspace(0.0, 1.0, usize::MAX, DType::F32, &dev),
            1 => Tensor::arange(0.0, 1e30, 1.0, DType::F32, &dev),
            _ => Tensor::arange_of(i64::MIN, i64::MAX, 1, &dev),
        })
    }));
    v.push(op("overflow", "diag", |g| {
        let n = g.int(1, 3) as usize;
        let x = g.tensor("x", vec![n], DType::F32);
        let k = g.pick(&[isize::MAX, isize::MIN, 1 << 40]);
        Call::one(format!("k={k}"), err(), || x.diag(k))
    }));
    for name in [
        "reshape",
        "view",
        "expand",
        "broadcast_to",
        "repeat",
        "tile",
    ] {
        v.push(op("overflow", name, move |g| {
            let x = small(g);
            let mut s = huge_shape(g);
            if matches!(name, "expand" | "broadcast_to") {
                s.extend_from_slice(x.dims());
            }
            let signed: Vec<isize> = s
                .iter()
                .map(|&d| d.min(isize::MAX as usize) as isize)
                .collect();
            Call::one(format!("shape={s:?}"), err(), || match name {
                "reshape" => x.reshape(signed.clone()),
                "view" => x.view(signed.clone()),
                "expand" => x.expand(signed.clone()),
                "broadcast_to" => x.broadcast_to(s.clone()),
                "repeat" => x.repeat(&s),
                _ => x.tile(&s),
            })
        }));
    }
    v.push(op("overflow", "repeat_interleave", |g| {
        let x = small(g);
        let (r, dim) = (
            g.pick(&[usize::MAX, 1 << 63, 1 << 62]),
            g.pick(&[None, Some(0)]),
        );
        Call::one(format!("repeats={r}, dim={dim:?}"), err(), || {
            x.repeat_interleave(r, dim)
        })
    }));
    v.push(op("overflow", "narrow / narrow_step", |g| {
        let x = small(g);
        let (start, len, step) = (
            g.pick(&[usize::MAX, 1]),
            g.pick(&[usize::MAX, 2]),
            g.pick(&[usize::MAX, 1 << 63]),
        );
        Call::one(
            format!("start={start}, len={len}, step={step}"),
            err(),
            || {
                if step == 1 << 63 {
                    x.narrow(0, start, len)
                } else {
                    x.narrow_step(0, start, len, step)
                }
            },
        )
    }));
    v.push(op("overflow", "pad", |g| {
        let x = small(g);
        let p = g.pick(&[
            [isize::MAX, isize::MAX],
            [1 << 62, 1 << 62],
            [isize::MIN, 1],
            [1, isize::MIN],
        ]);
        let mode = g.pick(&[
            PadMode::Constant(0.0),
            PadMode::Replicate,
            PadMode::Circular,
            PadMode::Reflect,
        ]);
        Call::one(format!("pads={p:?}, mode={mode:?}"), err(), || {
            x.pad(&p, mode)
        })
    }));
}
