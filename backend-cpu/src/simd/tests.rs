//! Tests for every SIMD function on every path the CPU has, against f64 references.
//!
//! Paths are forced through the `Isa` methods, never the environment, so tests can run in
//! parallel. A path the CPU lacks is skipped with a note (its `Isa` method would silently run
//! a lower path, which `capped_paths_still_run` checks separately). The polynomial algorithms
//! are also checked one lane at a time through `Lane1`, which runs on any machine.

use super::math;
use super::vector::Lane1;
use super::*;

/// SplitMix64: deterministic inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f32 {
        (lo + (hi - lo) * self.unit()) as f32
    }
    /// Magnitude log-uniform over [2^lo, 2^hi], random sign if `signed`.
    fn log_uniform(&mut self, lo: f64, hi: f64, signed: bool) -> f32 {
        let m = (lo + (hi - lo) * self.unit()).exp2();
        let neg = signed && self.next_u64() & 1 == 1;
        (if neg { -m } else { m }) as f32
    }
}

fn paths() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_supported();
            if !ok {
                eprintln!("note: skipping the {} path: this CPU lacks it", isa.name());
            }
            ok
        })
        .collect()
}

/// erf in f64 via the all-positive series `2/sqrt(pi) e^-x^2 sum 2^n x^(2n+1) / (2n+1)!!`,
/// accurate to ~1e-15 with no cancellation.
fn erf_ref(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 6.0 {
        return x.signum();
    }
    let (mut term, mut total) = (a, a);
    let mut n = 0.0;
    while term > 1e-18 * total {
        n += 1.0;
        term *= 2.0 * a * a / (2.0 * n + 1.0);
        total += term;
    }
    let r = 2.0 / std::f64::consts::PI.sqrt() * (-a * a).exp() * total;
    r.min(1.0).copysign(x)
}

fn sigmoid_ref(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn gelu_ref(x: f64) -> f64 {
    0.5 * x * (1.0 + erf_ref(x / std::f64::consts::SQRT_2))
}

/// `0.5 x (1 + tanh u)` evaluated as the identical `x sigmoid(2u)`, which does not cancel.
fn gelu_tanh_ref(x: f64) -> f64 {
    let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    x * sigmoid_ref(2.0 * u)
}

/// `y` matches the f64 reference `r` within `rel * |r| + abs`, with special values exact.
fn close(y: f32, r: f64, rel: f64, abs: f64) -> bool {
    if r.is_nan() {
        return y.is_nan();
    }
    if (r as f32).is_infinite() {
        return y == r as f32;
    }
    y.is_finite() && ((y as f64) - r).abs() <= rel * r.abs() + abs
}

/// Distance from the reference in units of the f32 ulp at the reference.
fn ulps(y: f32, r: f64) -> f64 {
    // Subnormal results and flushed tails have no meaningful ulp scale.
    if y as f64 == r || y.is_nan() || y == 0.0 || r.abs() < f32::MIN_POSITIVE as f64 {
        return 0.0;
    }
    let rf = (r as f32).abs();
    let ulp = if rf < f32::MIN_POSITIVE {
        f32::from_bits(1) as f64
    } else {
        (f32::from_bits(rf.to_bits() + 1) - rf) as f64
    };
    ((y as f64) - r).abs() / ulp
}

type PathFn = fn(Isa, &[f32], &mut [f32]);

struct Case {
    name: &'static str,
    run: PathFn,
    lane1: fn(f32) -> f32,
    reference: fn(f64) -> f64,
    rel: f64,
    abs: f64,
    gen: fn(&mut Rng) -> f32,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "exp",
            run: Isa::exp,
            lane1: |x| math::exp_v(Lane1, x),
            reference: f64::exp,
            rel: 3e-7,
            abs: 3e-45,
            gen: |r| r.uniform(-106.0, 90.0),
        },
        Case {
            name: "log",
            run: Isa::log,
            lane1: |x| math::log_v(Lane1, x),
            reference: f64::ln,
            rel: 2.5e-7,
            abs: 0.0,
            gen: |r| r.log_uniform(-149.0, 127.9, false),
        },
        Case {
            name: "tanh",
            run: Isa::tanh,
            lane1: |x| math::tanh_v(Lane1, x),
            reference: f64::tanh,
            rel: 4e-7,
            abs: 0.0,
            gen: |r| r.log_uniform(-30.0, 5.0, true),
        },
        Case {
            name: "sigmoid",
            run: Isa::sigmoid,
            lane1: |x| math::sigmoid_v(Lane1, x),
            reference: sigmoid_ref,
            rel: 4e-7,
            abs: 3e-45,
            gen: |r| r.uniform(-110.0, 110.0),
        },
        Case {
            name: "silu",
            run: Isa::silu,
            lane1: |x| math::silu_v(Lane1, x),
            reference: |x| x * sigmoid_ref(x),
            rel: 5e-7,
            // exp(-|x|) goes subnormal below -87, where x * e keeps only e's few bits.
            abs: 1.2e-38,
            gen: |r| r.uniform(-110.0, 110.0),
        },
        Case {
            name: "erf",
            run: Isa::erf,
            lane1: |x| math::erf_v(Lane1, x),
            reference: erf_ref,
            rel: 4e-7,
            abs: 0.0,
            gen: |r| r.log_uniform(-30.0, 3.0, true),
        },
        Case {
            name: "gelu",
            run: Isa::gelu,
            lane1: |x| math::gelu_v(Lane1, x),
            reference: gelu_ref,
            rel: 1e-6,
            abs: 1e-7,
            gen: |r| r.uniform(-12.0, 12.0),
        },
        Case {
            name: "gelu_derivative",
            run: Isa::gelu_derivative,
            lane1: |x| math::gelu_derivative_v(Lane1, x),
            reference: |x| {
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                0.5 * (1.0 + erf_ref(x / std::f64::consts::SQRT_2)) + x * pdf
            },
            // Zero near x = -0.75 (and the tails cancel Phi against x phi): an absolute
            // bound there.
            rel: 1e-6,
            abs: 2e-7,
            gen: |r| r.uniform(-12.0, 12.0),
        },
        Case {
            name: "gelu_tanh",
            run: Isa::gelu_tanh,
            lane1: |x| math::gelu_tanh_v(Lane1, x),
            reference: gelu_tanh_ref,
            // x * sigmoid(inner): inner's own f32 rounding is amplified by |inner| in the
            // negative tail, which no f32 evaluation avoids; there the output is below 0.05 and
            // the absolute bound applies.
            rel: 1e-6,
            abs: 1e-7,
            gen: |r| r.uniform(-12.0, 12.0),
        },
    ]
}

fn check_slice(case: &Case, isa: Isa, x: &[f32], y: &[f32]) {
    for (i, (&xi, &yi)) in x.iter().zip(y).enumerate() {
        let r = (case.reference)(xi as f64);
        assert!(
            close(yi, r, case.rel, case.abs),
            "{} on {}: x[{i}] = {xi:e} gave {yi:e}, reference {r:e} (len {})",
            case.name,
            isa.name(),
            x.len()
        );
    }
}

const LONG_LENS: [usize; 2] = [1000, 4099];
const OFFSETS: [usize; 3] = [0, 1, 3];

fn lengths() -> impl Iterator<Item = usize> {
    (0..=33).chain(LONG_LENS)
}

#[test]
fn unary_every_length_offset_and_path() {
    let mut rng = Rng(1);
    for case in cases() {
        for isa in paths() {
            for len in lengths() {
                for off in OFFSETS {
                    let xbuf: Vec<f32> = (0..len + off).map(|_| (case.gen)(&mut rng)).collect();
                    let mut ybuf = vec![f32::MAX; len + off + 1];
                    (case.run)(isa, &xbuf[off..], &mut ybuf[off..off + len]);
                    check_slice(&case, isa, &xbuf[off..], &ybuf[off..off + len]);
                    // Nothing outside the output slice may be written (tails use a buffer).
                    assert!(ybuf[..off].iter().all(|&v| v == f32::MAX));
                    assert_eq!(ybuf[off + len], f32::MAX);
                }
            }
        }
    }
}

/// A dense sweep per function and path, reporting the worst error in ulps (visible with
/// `--nocapture`) and asserting the tolerance.
#[test]
fn unary_dense_sweep_max_error() {
    for case in cases() {
        let mut rng = Rng(7);
        let x: Vec<f32> = (0..200_000).map(|_| (case.gen)(&mut rng)).collect();
        let mut y = vec![0.0; x.len()];
        for isa in paths() {
            (case.run)(isa, &x, &mut y);
            check_slice(&case, isa, &x, &y);
            // Ulps are reported where the result is not tiny: the deep tails (subnormal
            // intermediates, amplified rounding of the argument) are covered by `abs` instead.
            let (mut worst_ulp, mut worst_abs) = (0.0f64, 0.0f64);
            for (&xi, &yi) in x.iter().zip(&y) {
                let r = (case.reference)(xi as f64);
                if r.abs() >= 1e-3 {
                    worst_ulp = worst_ulp.max(ulps(yi, r));
                }
                if r.abs() < 1.0 && yi.is_finite() {
                    worst_abs = worst_abs.max((yi as f64 - r).abs());
                }
            }
            eprintln!(
                "{:>10} {:>7}: max {worst_ulp:.2} ulp where |y| >= 1e-3, max abs error {worst_abs:.1e} where |y| < 1",
                case.name,
                isa.name()
            );
        }
    }
}

fn run_one(f: PathFn, isa: Isa, x: f32) -> f32 {
    // Long enough that the value lands in full vectors and in the padded tail.
    let xs = vec![x; 37];
    let mut ys = vec![0.0; 37];
    f(isa, &xs, &mut ys);
    for &y in &ys[1..] {
        assert!(y.to_bits() == ys[0].to_bits() || (y.is_nan() && ys[0].is_nan()));
    }
    ys[0]
}

#[test]
fn unary_edge_cases() {
    for isa in paths() {
        let exp = |x| run_one(Isa::exp, isa, x);
        assert_eq!(exp(88.8), f32::INFINITY);
        assert_eq!(exp(1000.0), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(88.72).is_finite());
        assert_eq!(exp(-104.0), 0.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        let sub = exp(-100.0);
        assert!(
            (0.0..f32::MIN_POSITIVE).contains(&sub),
            "exp(-100) = {sub:e}"
        );
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);

        let log = |x| run_one(Isa::log, isa, x);
        assert_eq!(log(0.0), f32::NEG_INFINITY);
        assert_eq!(log(-0.0), f32::NEG_INFINITY);
        assert!(log(-1.0).is_nan());
        assert!(log(f32::NEG_INFINITY).is_nan());
        assert!(log(f32::NAN).is_nan());
        assert_eq!(log(f32::INFINITY), f32::INFINITY);
        assert_eq!(log(1.0), 0.0);
        let tiny = f32::from_bits(1);
        assert!(close(log(tiny), (tiny as f64).ln(), 2.5e-7, 0.0));
        assert!(close(log(f32::MAX), (f32::MAX as f64).ln(), 2.5e-7, 0.0));

        let tanh = |x| run_one(Isa::tanh, isa, x);
        for (x, y) in [
            (50.0, 1.0),
            (-50.0, -1.0),
            (1e30, 1.0),
            (f32::INFINITY, 1.0),
        ] {
            assert_eq!(tanh(x), y);
            assert_eq!(tanh(-x), -y);
        }
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(tanh(0.0), 0.0);
        assert!(tanh(-0.0).is_sign_negative());
        assert_eq!(tanh(1e-30), 1e-30);

        let sigmoid = |x| run_one(Isa::sigmoid, isa, x);
        let s = sigmoid(-100.0);
        assert!((0.0..1e-40).contains(&s), "sigmoid(-100) = {s:e}");
        assert_eq!(sigmoid(100.0), 1.0);
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(f32::NAN).is_nan());

        for f in [Isa::silu, Isa::gelu, Isa::gelu_tanh] {
            assert_eq!(run_one(f, isa, 1e4), 1e4);
            let neg = run_one(f, isa, -1e4);
            assert!(neg == 0.0, "{neg:e}");
            assert_eq!(run_one(f, isa, 0.0), 0.0);
            assert!(run_one(f, isa, f32::NAN).is_nan());
            assert!(run_one(f, isa, 1e30).is_finite());
            assert!(!run_one(f, isa, -1e30).is_nan());
        }
    }
}

#[test]
fn lane1_polynomials_match_references() {
    // The same algorithms, one lane at a time, so a machine without AVX still checks them.
    let mut rng = Rng(3);
    for case in cases() {
        for _ in 0..20_000 {
            let x = (case.gen)(&mut rng);
            let (y, r) = ((case.lane1)(x), (case.reference)(x as f64));
            assert!(
                close(y, r, case.rel, case.abs),
                "{}({x:e}) = {y:e}, ref {r:e}",
                case.name
            );
        }
    }
    assert_eq!(math::exp_v(Lane1, 1000.0), f32::INFINITY);
    assert_eq!(math::exp_v(Lane1, -1000.0), 0.0);
    assert!(math::exp_v(Lane1, f32::NAN).is_nan());
    assert!(math::log_v(Lane1, -1.0).is_nan());
    assert_eq!(math::log_v(Lane1, 0.0), f32::NEG_INFINITY);
    assert_eq!(math::gelu_v(Lane1, 10.0), 10.0);
    assert_eq!(math::erf_v(Lane1, f32::INFINITY), 1.0);
    assert_eq!(math::erf_v(Lane1, f32::NEG_INFINITY), -1.0);
    assert_eq!(math::erf_v(Lane1, 0.0), 0.0);
    assert!(math::erf_v(Lane1, -0.0).is_sign_negative());
    assert!(math::erf_v(Lane1, f32::NAN).is_nan());
}

fn sum_ref(x: &[f32]) -> (f64, f64) {
    let s: f64 = x.iter().map(|&v| v as f64).sum();
    let a: f64 = x.iter().map(|&v| (v as f64).abs()).sum();
    (s, a)
}

#[test]
fn reductions_every_length_offset_and_path() {
    let mut rng = Rng(11);
    for isa in paths() {
        for len in lengths() {
            for off in OFFSETS {
                let buf: Vec<f32> = (0..len + off).map(|_| rng.uniform(-10.0, 10.0)).collect();
                let other: Vec<f32> = (0..len + off).map(|_| rng.uniform(-10.0, 10.0)).collect();
                let x = &buf[off..];
                let (s, a) = sum_ref(x);
                let bound = (len as f64 + 1.0) * f32::EPSILON as f64 * a;
                let got = isa.sum(x) as f64;
                assert!((got - s).abs() <= bound, "{} sum len {len}", isa.name());

                let want_max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let want_min = x.iter().copied().fold(f32::INFINITY, f32::min);
                assert_eq!(isa.max(x), want_max, "{} max len {len}", isa.name());
                assert_eq!(isa.min(x), want_min, "{} min len {len}", isa.name());

                let b = &other[off..];
                let d: f64 = x.iter().zip(b).map(|(&p, &q)| p as f64 * q as f64).sum();
                let da: f64 = x
                    .iter()
                    .zip(b)
                    .map(|(&p, &q)| (p as f64 * q as f64).abs())
                    .sum();
                let got = isa.dot(x, b) as f64;
                let bound = (len as f64 + 2.0) * f32::EPSILON as f64 * da;
                assert!((got - d).abs() <= bound, "{} dot len {len}", isa.name());
            }
        }
    }
}

#[test]
fn max_min_propagate_nan_at_every_position() {
    for isa in paths() {
        for len in 1..=40 {
            for pos in 0..len {
                let mut x: Vec<f32> = (0..len).map(|i| i as f32).collect();
                x[pos] = f32::NAN;
                assert!(isa.max(&x).is_nan(), "{} len {len} pos {pos}", isa.name());
                assert!(isa.min(&x).is_nan(), "{} len {len} pos {pos}", isa.name());
            }
        }
        assert_eq!(isa.max(&[]), f32::NEG_INFINITY);
        assert_eq!(isa.min(&[]), f32::INFINITY);
        assert_eq!(isa.sum(&[]), 0.0);
        assert_eq!(isa.dot(&[], &[]), 0.0);
        let x = [1.0, f32::INFINITY, -f32::INFINITY, 3.0];
        assert_eq!(isa.max(&x), f32::INFINITY);
        assert_eq!(isa.min(&x), f32::NEG_INFINITY);
    }
}

#[test]
fn long_sum_is_no_worse_than_sequential() {
    // Many similar positive terms: sequential f32 summation drifts badly, blocked does not.
    let x: Vec<f32> = (0..1_000_000)
        .map(|i| 0.1 + (i % 7) as f32 * 1e-3)
        .collect();
    let (exact, _) = sum_ref(&x);
    let naive = x.iter().fold(0.0f32, |a, &v| a + v) as f64;
    for isa in paths() {
        let err = (isa.sum(&x) as f64 - exact).abs();
        assert!(err <= (naive - exact).abs(), "{}: {err:e}", isa.name());
    }
}

fn softmax_ref(x: &[f32]) -> Vec<f64> {
    let m = x
        .iter()
        .map(|&v| v as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|&v| (v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[test]
fn softmax_rows_every_length_offset_and_path() {
    let mut rng = Rng(5);
    for isa in paths() {
        for len in lengths() {
            for off in OFFSETS {
                let buf: Vec<f32> = (0..len + off).map(|_| rng.uniform(-30.0, 30.0)).collect();
                let gbuf: Vec<f32> = (0..len + off).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let (x, dy) = (&buf[off..], &gbuf[off..]);
                let p = softmax_ref(x);
                let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut y = vec![0.0; len + off];
                isa.softmax(x, &mut y[off..]);
                for (i, (&g, &r)) in y[off..].iter().zip(&p).enumerate() {
                    // The f32 rounding of x - max is amplified by exp: allow for it.
                    let rel = 5e-7 + (x[i] - m).abs() as f64 * f32::EPSILON as f64;
                    assert!(
                        close(g, r, rel, 1e-37),
                        "{} softmax len {len} [{i}]",
                        isa.name()
                    );
                }
                let mut ly = vec![0.0; len + off];
                isa.log_softmax(x, &mut ly[off..]);
                for (&g, &r) in ly[off..].iter().zip(&p) {
                    // Absolute: log-softmax is a difference of O(|x|) terms.
                    assert!(
                        close(g, r.ln(), 1e-6, 1e-5),
                        "{} log_softmax len {len}",
                        isa.name()
                    );
                }

                // Backward against f64 formulas evaluated on the f32 forward outputs.
                let yv = &y[off..];
                let d: f64 = yv.iter().zip(dy).map(|(&a, &b)| a as f64 * b as f64).sum();
                let mut dx = vec![0.0; len + off];
                isa.softmax_backward(yv, dy, &mut dx[off..]);
                for ((&g, &a), &b) in dx[off..].iter().zip(yv).zip(dy) {
                    let r = a as f64 * (b as f64 - d);
                    assert!(
                        close(g, r, 1e-5, 1e-6),
                        "{} softmax_backward len {len}",
                        isa.name()
                    );
                }
                let lv = &ly[off..];
                let t: f64 = dy.iter().map(|&b| b as f64).sum();
                isa.log_softmax_backward(lv, dy, &mut dx[off..]);
                for ((&g, &a), &b) in dx[off..].iter().zip(lv).zip(dy) {
                    let r = b as f64 - (a as f64).exp() * t;
                    assert!(
                        close(g, r, 1e-5, 1e-5),
                        "{} log_softmax_bwd len {len}",
                        isa.name()
                    );
                }
            }
        }
    }
}

#[test]
fn softmax_extreme_inputs_stay_finite() {
    for isa in paths() {
        for len in [1, 2, 9, 17, 40] {
            let x: Vec<f32> = (0..len)
                .map(|i| if i % 2 == 0 { 1e4 } else { -1e4 })
                .collect();
            let mut y = vec![0.0; len];
            isa.softmax(&x, &mut y);
            assert!(y.iter().all(|v| v.is_finite()), "{} {y:?}", isa.name());
            assert!((isa.sum(&y) - 1.0).abs() < 1e-6);
            let mut ly = vec![0.0; len];
            isa.log_softmax(&x, &mut ly);
            assert!(ly.iter().all(|v| v.is_finite()), "{} {ly:?}", isa.name());
            let dy = vec![1.0; len];
            let mut dx = vec![0.0; len];
            isa.softmax_backward(&y, &dy, &mut dx);
            assert!(dx.iter().all(|v| v.is_finite()));
            isa.log_softmax_backward(&ly, &dy, &mut dx);
            assert!(dx.iter().all(|v| v.is_finite()));
        }
    }
}

#[test]
#[should_panic(expected = "lengths differ")]
fn mismatched_lengths_panic() {
    let mut y = [0.0; 3];
    exp(&[1.0, 2.0], &mut y);
}

#[test]
fn f64_reductions() {
    let mut rng = Rng(13);
    for len in lengths() {
        let x: Vec<f64> = (0..len).map(|_| rng.unit() * 20.0 - 10.0).collect();
        let exact: f64 = x.iter().sum();
        let a: f64 = x.iter().map(|v| v.abs()).sum();
        assert!((sum_f64(&x) - exact).abs() <= len as f64 * f64::EPSILON * a);
        assert_eq!(
            max_f64(&x),
            x.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        );
        assert_eq!(min_f64(&x), x.iter().copied().fold(f64::INFINITY, f64::min));
        for pos in 0..len {
            let mut y = x.clone();
            y[pos] = f64::NAN;
            assert!(
                max_f64(&y).is_nan() && min_f64(&y).is_nan(),
                "len {len} pos {pos}"
            );
        }
    }
    assert_eq!(max_f64(&[]), f64::NEG_INFINITY);
    assert_eq!(min_f64(&[]), f64::INFINITY);
}

#[test]
fn isa_names_and_detection() {
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
        assert_eq!(Isa::from_name(&isa.name().to_uppercase()), Some(isa));
    }
    assert_eq!(Isa::from_name("sse"), None);
    assert!(Isa::Scalar.is_supported());
    assert!(isa().is_supported());
    assert!(Isa::best_supported().is_supported());
    eprintln!(
        "best path on this CPU: {}, active: {}",
        Isa::best_supported(),
        isa()
    );
}

#[test]
fn capped_paths_still_run() {
    // Asking for a path the CPU lacks must run a lower one, never the unsupported code.
    let x: Vec<f32> = (0..50).map(|i| i as f32 * 0.1 - 2.0).collect();
    let mut want = vec![0.0; 50];
    Isa::Scalar.tanh(&x, &mut want);
    for isa in Isa::ALL {
        let mut y = vec![0.0; 50];
        isa.tanh(&x, &mut y);
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() <= 5e-7);
        }
        assert!((isa.sum(&x) - Isa::Scalar.sum(&x)).abs() < 1e-4);
    }
}

#[test]
fn sum_rows_equals_the_row_order_loop_bit_for_bit() {
    // Widths below, at and past the lane and block widths; row counts across the tile.
    for isa in paths() {
        for &w in &[1usize, 3, 8, 16, 17, 128, 130, 512, 600] {
            for &rows in &[0usize, 1, 2, 127, 128, 129, 300] {
                let xs: Vec<f32> = (0..rows * w)
                    .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1.37e-3)
                    .collect();
                let start: Vec<f32> = (0..w).map(|j| j as f32 * 0.25).collect();
                let mut want = start.clone();
                for row in xs.chunks_exact(w) {
                    for (y, &v) in want.iter_mut().zip(row) {
                        *y += v;
                    }
                }
                let mut got = start.clone();
                isa.sum_rows(&mut got, &xs);
                assert_eq!(got, want, "{isa:?} w{w} rows{rows}");
            }
        }
    }
}
