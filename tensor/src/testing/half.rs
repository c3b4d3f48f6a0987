//! The half types (`F16`, `BF16`) against an independent f64 reference of IEEE rounding
//! ([`round_to`]: nearest, ties to even, gradual underflow, overflow to infinity) and the
//! `half` crate's conversions: casts, correctly rounded arithmetic, transcendental maps
//! within an ulp, sums and products that accumulate in f32, and type promotion.

use proptest::prelude::*;

use super::check::{fail, OrFail};
use super::Report;
use crate::{bf16, f16, DType, Device, Tensor};

/// A binary floating-point format: significand bits (with the hidden one), the smallest
/// normal exponent and the largest finite value.
#[derive(Clone, Copy, Debug)]
struct Format {
    precision: i32,
    min_exp: i32,
    max: f64,
}

const F16: Format = Format {
    precision: 11,
    min_exp: -14,
    max: 65504.0,
};
const BF16: Format = Format {
    precision: 8,
    min_exp: -126,
    max: 3.389_531_389_251_535_5e38,
};

fn format(dtype: DType) -> Format {
    match dtype {
        DType::F16 => F16,
        DType::BF16 => BF16,
        DType::F32 | DType::F64 | DType::I64 | DType::U32 | DType::Bool => {
            unreachable!("only the half types have a format here")
        }
    }
}

/// `x` rounded to `f` by the IEEE rule, computed in f64 from the definition: the spacing
/// of `f` at `x` (fixed below the normal range), nearest multiple, ties to the even one,
/// past the largest finite value (by half a spacing or more) infinity.
fn round_to(x: f64, f: Format) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let e = (x.abs().log2().floor() as i32).max(f.min_exp);
    let ulp = 2f64.powi(e - (f.precision - 1));
    let q = x / ulp;
    let (lo, frac) = (q.floor(), q - q.floor());
    let n = if frac > 0.5 || (frac == 0.5 && lo % 2.0 != 0.0) {
        lo + 1.0
    } else {
        lo
    };
    let r = n * ulp;
    if r.abs() > f.max {
        f64::INFINITY.copysign(x)
    } else {
        r.copysign(x)
    }
}

/// The values of a half tensor, exactly.
fn read(t: &Tensor) -> Result<Vec<f64>, TestCaseError> {
    t.to_f64_vec().or_fail("read back")
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
}

/// Casts into and out of the half types, arithmetic, maps, accumulation and promotion.
pub fn half_precision(dev: &Device) {
    let mut rep = Report::new("half_precision");
    for dt in [DType::F16, DType::BF16] {
        let f = format(dt);
        rep.case(&format!("{dt} casts from f32 and f64: ties, subnormals, overflow"), || {
            let ulp1 = 2f64.powi(1 - f.precision);
            let sub = 2f64.powi(f.min_exp - f.precision + 1);
            let values = [
                1.0 + ulp1 / 2.0,       // tie between 1 and 1 + ulp: to 1 (even)
                1.0 + 1.5 * ulp1,       // tie: to 1 + 2 ulp (even)
                1.0 + 0.75 * ulp1,      // above the tie: up
                -(1.0 + 0.25 * ulp1),   // below the tie: down
                sub,                    // smallest subnormal
                sub / 2.0,              // tie between 0 and it: to 0
                sub * 0.75,             // up to it
                3.0 * sub / 2.0,        // tie between 1 and 2 spacings: to 2
                2f64.powi(f.min_exp),   // smallest normal
                f.max,                  // largest finite
                f.max * (1.0 + ulp1 / 4.0), // below half a spacing past it: stays finite
                f.max * (1.0 + ulp1),   // past it: infinity
                -0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                0.1,
                -2.5e-3,
            ];
            for src in [DType::F64, DType::F32] {
                let host = crate::HostData::from_f64_vec(&values, src);
                let x = Tensor::from_host(host, [values.len()], dev).or_fail("x")?;
                let got = read(&x.to_dtype(dt).or_fail("to_dtype")?)?;
                let src_vals = read(&x)?;
                for (i, (&g, &v)) in got.iter().zip(&src_vals).enumerate() {
                    let want = round_to(v, f);
                    let lib = match dt {
                        DType::F16 => f16::from_f64(v).to_f64(),
                        _ => bf16::from_f64(v).to_f64(),
                    };
                    if !same(g, want) || !same(g, lib) {
                        return Err(fail(format!(
                            "{src} {v:e} (value {i}) to {dt}: got {g:e}, reference {want:e}, half crate {lib:e}"
                        )));
                    }
                }
            }
            // Back to f32 and f64: exact.
            let x = Tensor::from_vec(values.to_vec(), [values.len()], dev)
                .and_then(|t| t.to_dtype(dt))
                .or_fail("x")?;
            let h = read(&x)?;
            for back in [DType::F32, DType::F64] {
                let got = read(&x.to_dtype(back).or_fail("widen")?)?;
                if let Some(i) = (0..h.len()).find(|&i| !same(got[i], h[i])) {
                    return Err(fail(format!("{dt} {} to {back} gave {}", h[i], got[i])));
                }
            }
            // To integers as Rust's `as` from f32: truncation, saturation, NaN to 0.
            let x = Tensor::from_vec(vec![2.75f32, -3.5, 70000.0, f32::NAN], [4], dev)
                .and_then(|t| t.to_dtype(dt))
                .or_fail("x")?;
            let wide: Vec<f32> = read(&x)?.iter().map(|&v| v as f32).collect();
            let got = x
                .to_dtype(DType::I64)
                .and_then(|t| t.to_vec::<i64>())
                .or_fail("to i64")?;
            let want: Vec<i64> = wide.iter().map(|&v| v as i64).collect();
            if got != want {
                return Err(fail(format!("{dt} {wide:?} to i64: {got:?}, expected {want:?}")));
            }
            Ok(())
        });

        let d = *dev;
        let vals = move || {
            (-60.0..60.0f64)
                .prop_map(move |x| round_to(x, f))
                .prop_filter("non-zero", |x| *x != 0.0)
        };
        let s = proptest::collection::vec((vals(), vals()), 1..40);
        rep.prop(
            &format!("half/{dt} arithmetic correctly rounded"),
            s,
            move |pairs| {
                let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
                let n = a.len();
                let mk = |v: &[f64]| {
                    Tensor::from_host(crate::HostData::from_f64_vec(v, dt), [n], &d).or_fail("x")
                };
                let (x, y) = (mk(&a)?, mk(&b)?);
                type Op = (
                    &'static str,
                    fn(&Tensor, &Tensor) -> crate::Result<Tensor>,
                    fn(f64, f64) -> f64,
                );
                let ops: [Op; 4] = [
                    ("add", |x, y| x.add(y), |a, b| a + b),
                    ("sub", |x, y| x.sub(y), |a, b| a - b),
                    ("mul", |x, y| x.mul(y), |a, b| a * b),
                    ("div", |x, y| x.div(y), |a, b| a / b),
                ];
                for (name, op, exact) in ops {
                    let z = op(&x, &y).or_fail(name)?;
                    if z.dtype() != dt {
                        return Err(fail(format!("{name} of two {dt}: {}", z.dtype())));
                    }
                    let got = read(&z)?;
                    for i in 0..n {
                        // The f64 result is exact for add, sub, mul of half values; div's
                        // f64 rounding cannot move a half rounding (53 >= 2 * 11 + 2).
                        let want = round_to(exact(a[i], b[i]), f);
                        if !same(got[i], want) {
                            return Err(fail(format!(
                                "{dt} {} {name} {}: {}, expected {want}",
                                a[i], b[i], got[i]
                            )));
                        }
                    }
                }
                // Transcendental maps: the f32 kernel rounded once, within one spacing.
                type Map = (
                    &'static str,
                    fn(&Tensor) -> crate::Result<Tensor>,
                    Box<dyn Fn(f64) -> f64>,
                );
                let maps: [Map; 3] = [
                    ("tanh", |x| x.tanh(), Box::new(f64::tanh)),
                    // exp of x / 10 (rounded to the half type first, as the tensor op does).
                    (
                        "exp",
                        |x| x.mul_scalar(0.1)?.exp(),
                        Box::new(move |a| round_to(a * 0.1, f).exp()),
                    ),
                    (
                        "sqrt",
                        |x| x.abs()?.sqrt(),
                        Box::new(|a: f64| a.abs().sqrt()),
                    ),
                ];
                for (name, op, reference) in maps {
                    let got = read(&op(&x).or_fail(name)?)?;
                    for i in 0..n {
                        let want = reference(a[i]);
                        let spacing = 2f64.powi(
                            (want.abs().log2().floor() as i32).max(f.min_exp) - f.precision + 1,
                        );
                        if (got[i] - want).abs() > spacing {
                            return Err(fail(format!(
                                "{dt} {name}({}) = {}, reference {want}",
                                a[i], got[i]
                            )));
                        }
                    }
                }
                Ok(())
            },
        );

        rep.case(
            &format!("{dt} sums, products, means and matmuls accumulate in f32"),
            || {
                // Accumulated in bf16, 256 + 1 rounds back to 256 (f16: 2048 + 1 to 2048), so
                // a half accumulator stalls far below 4096.
                let n = 4096usize;
                let ones = Tensor::ones([n], dt, dev).or_fail("ones")?;
                let checks = [
                    ("sum", ones.sum_all().or_fail("sum")?, n as f64),
                    (
                        "mean of 2 * ones",
                        ones.mul_scalar(2.0)
                            .and_then(|t| t.mean_all())
                            .or_fail("mean")?,
                        2.0,
                    ),
                    (
                        "matmul [1, n] x [n, 1]",
                        ones.reshape([1, n])
                            .and_then(|a| a.matmul(&ones.reshape([n, 1])?))
                            .or_fail("matmul")?,
                        n as f64,
                    ),
                    (
                        "cumsum's last",
                        ones.cumsum(0)
                            .and_then(|c| c.narrow(0, n - 1, 1))
                            .or_fail("cumsum")?,
                        n as f64,
                    ),
                    (
                        "sum over a kept axis",
                        ones.reshape([n, 1])
                            .and_then(|t| t.expand([n, 3]))
                            .and_then(|t| t.sum([0], false))
                            .and_then(|t| t.narrow(0, 0, 1))
                            .or_fail("sum(0)")?,
                        n as f64,
                    ),
                ];
                for (name, t, want) in checks {
                    let got = read(&t)?;
                    if t.dtype() != dt || got.iter().any(|&g| g != want) {
                        return Err(fail(format!(
                            "{dt} {name}: {got:?} ({}), expected {want}",
                            t.dtype()
                        )));
                    }
                }
                Ok(())
            },
        );
    }
    rep.case("promotion with the half types", || {
        let t = |d: DType| Tensor::ones([2], d, dev);
        for (a, b, want) in [
            (DType::F16, DType::BF16, DType::F32),
            (DType::BF16, DType::F32, DType::F32),
            (DType::F16, DType::F64, DType::F64),
            (DType::I64, DType::BF16, DType::BF16),
            (DType::Bool, DType::F16, DType::F16),
        ] {
            let z = t(a).and_then(|x| x.add(&t(b)?)).or_fail("add")?;
            if z.dtype() != want || read(&z)? != vec![2.0, 2.0] {
                return Err(fail(format!(
                    "{a} + {b}: {} {:?}, expected {want}",
                    z.dtype(),
                    read(&z)?
                )));
            }
        }
        let z = t(DType::BF16)
            .and_then(|x| x.mul_scalar(2.5))
            .or_fail("mul_scalar")?;
        if z.dtype() != DType::BF16 {
            return Err(fail(format!("bf16 * 2.5 is {}, expected bf16", z.dtype())));
        }
        Ok(())
    });
    rep.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference against the half crate over every f16 value and its neighbours'
    /// midpoints, and spot values for bf16.
    #[test]
    fn round_to_agrees_with_the_half_crate() {
        for bits in 0..=u16::MAX {
            let h = f16::from_bits(bits);
            if h.is_nan() {
                continue;
            }
            let v = h.to_f64();
            assert_eq!(round_to(v, F16), v, "{v} is an f16 value");
            let next = f16::from_bits(bits.wrapping_add(1));
            if next.is_finite() && !next.is_nan() && next.to_f64().abs() > v.abs() {
                let mid = (v + next.to_f64()) / 2.0;
                assert!(
                    same(round_to(mid, F16), f16::from_f64(mid).to_f64()),
                    "midpoint {mid}"
                );
            }
        }
        for x in [1.0 + 2f64.powi(-8), 3.0e38, 1e-40, -7.7e-3] {
            assert!(same(round_to(x, BF16), bf16::from_f64(x).to_f64()), "{x}");
        }
    }
}
