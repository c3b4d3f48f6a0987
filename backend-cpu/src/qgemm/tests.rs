//! The int8 GEMM against plain i64 arithmetic, bit for bit, on every path; requantisation
//! against its formula in f64.

use super::*;

/// A 64-bit LCG (Knuth's MMIX constants); the high bits are the well-mixed ones.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 56) as u8
    }
    fn a(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next()).collect()
    }
    fn b(&mut self, len: usize) -> Vec<i8> {
        (0..len).map(|_| self.next() as i8).collect()
    }
}

/// `C = A · B` in i64, checked to fit i32: independent of every path's arithmetic.
fn reference(m: usize, k: usize, n: usize, a: &[u8], b: &[i8]) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let s: i64 = (0..k)
                .map(|kk| a[i * k + kk] as i64 * b[kk * n + j] as i64)
                .sum();
            c[i * n + j] = i32::try_from(s).expect("reference overflows i32");
        }
    }
    c
}

/// Every path's product against the reference, bit for bit, plus the column sums.
fn check(m: usize, k: usize, n: usize, a: &[u8], b: &[i8]) {
    let want = reference(m, k, n, a, b);
    let sums: Vec<i32> = (0..n)
        .map(|j| (0..k).map(|kk| b[kk * n + j] as i32).sum())
        .collect();
    for isa in Isa::ALL {
        let p = PackedI8::pack(isa, b, k, n, n, 1);
        let mut c = vec![i32::MIN; m * n];
        p.gemm(a, m, &mut c);
        assert!(c == want, "{} (asked {isa}): m {m} k {k} n {n}", p.isa());
        assert_eq!(p.col_sums(), &sums[..]);
    }
}

fn random(m: usize, k: usize, n: usize, seed: u64) {
    let mut g = Lcg(seed);
    let (a, b) = (g.a(m * k), g.b(k * n));
    check(m, k, n, &a, &b);
}

#[test]
fn qgemm_reports_its_path() {
    for isa in Isa::ALL {
        let got = PackedI8::pack(isa, &[1], 1, 1, 1, 1).isa();
        assert!(got <= isa && got.is_supported(), "{isa} -> {got}");
    }
    let vnni = cfg!(target_arch = "x86_64") && vnni_detected();
    let best = PackedI8::pack(Isa::Avx512, &[1], 1, 1, 1, 1).isa();
    assert_eq!(best == Isa::Avx512, vnni && Isa::Avx512.is_supported());
}

#[test]
fn qgemm_small_shapes_match_reference() {
    for m in 1..=33 {
        for n in 1..=33 {
            let k = (7 * m + 3 * n) % 33 + 1;
            random(m, k, n, (m * 100 + n) as u64);
        }
    }
    for k in 1..=33 {
        for (m, n) in [(1, 1), (8, 48), (9, 49), (3, 17), (33, 33)] {
            random(m, k, n, k as u64);
        }
    }
}

#[test]
fn qgemm_large_shapes_match_reference() {
    // Past one `MC × KC` block in both directions, partial panels, odd k; the last two
    // are large enough to run in parallel, over rows and over column panels.
    for (i, &(m, k, n)) in [
        (67, 259, 129),
        (130, 1030, 97),
        (160, 600, 100),
        (5, 1000, 2000),
    ]
    .iter()
    .enumerate()
    {
        random(m, k, n, 77 + i as u64);
    }
}

#[test]
fn qgemm_extremes_do_not_saturate() {
    // 255 · -128 and 255 · 127 in every product: a saturating pair sum (vpmaddubsw)
    // would be off by thousands.
    for &(m, k, n) in &[(9, 1030, 50), (3, 5, 17), (17, 66, 33)] {
        let a = vec![255u8; m * k];
        for b in [-128i8, 127] {
            check(m, k, n, &a, &vec![b; k * n]);
        }
        let alt: Vec<i8> = (0..k * n)
            .map(|i| if i % 3 == 0 { 127 } else { -128 })
            .collect();
        check(m, k, n, &a, &alt);
        let zeros_and_max: Vec<u8> = (0..m * k)
            .map(|i| if i % 2 == 0 { 255 } else { 0 })
            .collect();
        check(m, k, n, &zeros_and_max, &alt);
    }
}

#[test]
fn qgemm_packs_transposed_weights_and_handles_empty() {
    let (m, k, n) = (5, 37, 19);
    let mut g = Lcg(5);
    let (a, w) = (g.a(m * k), g.b(n * k)); // `w` is [n, k], PyTorch's Linear weight
    let bt: Vec<i8> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect();
    let want = reference(m, k, n, &a, &bt);
    for isa in Isa::ALL {
        let mut c = vec![0; m * n];
        PackedI8::pack(isa, &w, k, n, 1, k).gemm(&a, m, &mut c);
        assert_eq!(c, want, "{isa}");
        let mut c = vec![7; 6];
        PackedI8::pack(isa, &[], 0, 3, 3, 1).gemm(&[], 2, &mut c);
        assert_eq!(c, [0; 6], "k = 0 on {isa}");
        PackedI8::pack(isa, &[1; 4], 4, 1, 1, 1).gemm(&[], 0, &mut []);
        PackedI8::pack(isa, &[], 4, 0, 0, 1).gemm(&[1; 8], 2, &mut []);
    }
    let mut c = vec![0; m * n];
    gemm_u8i8(m, k, n, &a, &bt, &mut c);
    assert_eq!(c, want);
}

/// [`requantize`]'s formula in f64.
fn real64(acc: i32, q: &Requant, j: usize) -> f64 {
    let centred = acc as f64 - q.a_zero as f64 * q.col_sums[j] as f64;
    let y = q.a_scale as f64 * q.b_scales[j] as f64 * centred + q.bias.map_or(0.0, |b| b[j] as f64);
    if q.relu {
        y.max(0.0)
    } else {
        y
    }
}

#[test]
fn qgemm_requantize_matches_f64() {
    let (m, k, n) = (7, 300, 23);
    let mut g = Lcg(11);
    let (a, b) = (g.a(m * k), g.b(k * n));
    let p = PackedI8::new(&b, k, n);
    let mut acc = vec![0; m * n];
    p.gemm(&a, m, &mut acc);
    let scales: Vec<f32> = (0..n).map(|j| 0.001 + 0.0007 * j as f32).collect();
    let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.37 - 4.0).collect();
    for (bias, relu) in [
        (None, false),
        (Some(&bias[..]), false),
        (Some(&bias[..]), true),
    ] {
        let q = Requant {
            a_scale: 0.02,
            a_zero: 128,
            b_scales: &scales,
            col_sums: p.col_sums(),
            bias,
            relu,
        };
        let mut y = vec![f32::NAN; m * n];
        requantize(&acc, &q, &mut y);
        let (out_scale, out_zero) = (0.05f32, 100);
        let mut yq = vec![0u8; m * n];
        requantize_u8(&acc, &q, out_scale, out_zero, &mut yq);
        for (i, (&x, (&y, &yq))) in acc.iter().zip(y.iter().zip(&yq)).enumerate() {
            let j = i % n;
            let want = real64(x, &q, j);
            let size = (q.a_scale * q.b_scales[j]) as f64
                * (x.unsigned_abs() as f64 + 128.0 * q.col_sums[j].unsigned_abs() as f64)
                + 4.0;
            assert!(
                (y as f64 - want).abs() <= 1e-6 * size,
                "{y} vs {want} at {i}"
            );
            assert!(!relu || y >= 0.0);
            let wq = (want / out_scale as f64 + out_zero as f64).clamp(0.0, 255.0);
            assert!((yq as f64 - wq).abs() <= 0.5 + 1e-3, "{yq} vs {wq} at {i}");
        }
        assert!(
            yq.iter().any(|&v| v == 0 || v == 255) || relu,
            "the test should reach a clamp"
        );
    }
}
