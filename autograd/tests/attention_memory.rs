//! A long sequence through the fused attention (`Tensor::attention` on the CPU kernels):
//! one causal head of L = S = 4096 queries and keys, E = 16, f32, forward and backward.
//! Its peak of live tensor memory stays far below the 64 MiB that one `[L, S]` f32 matrix
//! of scores takes, and rows of the output and of every gradient match the definition,
//! computed here in f64. One test in this binary, so the process-wide peak counter sees
//! nothing else.

use lamina_autograd::Tape;
use lamina_backend_cpu::alloc::{live_bytes, peak_live_bytes, reset_peak_live_bytes};
use lamina_tensor::{DType, Result, Tensor};

const N: usize = 4096;
const E: usize = 16;
const SCALE: f64 = 0.25;

/// The weights of query `l` over keys `0..=l` (causal) and its output, by the definition.
fn row(q: &[f32], k: &[f32], v: &[f32], l: usize) -> (Vec<f64>, Vec<f64>) {
    let dot = |a: &[f32], i: usize, b: &[f32], j: usize| -> f64 {
        (0..E)
            .map(|x| a[i * E + x] as f64 * b[j * E + x] as f64)
            .sum()
    };
    let s: Vec<f64> = (0..=l).map(|j| dot(q, l, k, j) * SCALE).collect();
    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
    let z: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|x| x / z).collect();
    let out = (0..E)
        .map(|x| (0..=l).map(|j| p[j] * v[j * E + x] as f64).sum())
        .collect();
    (p, out)
}

fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    let scale = want.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a as f64 - b).abs() <= 2e-4 * scale,
            "{what}[{i}]: {a} vs {b} (largest {scale})"
        );
    }
}

#[test]
fn a_long_sequence_needs_memory_linear_in_its_length() -> Result<()> {
    let d = lamina_backend_cpu::device();
    let q = Tensor::randn(1, [1, N, E], DType::F32, &d)?;
    let k = Tensor::randn(2, [1, N, E], DType::F32, &d)?;
    let v = Tensor::randn(3, [1, N, E], DType::F32, &d)?;
    let g = Tensor::randn(4, [1, N, E], DType::F32, &d)?;
    let base = live_bytes();
    reset_peak_live_bytes();
    let tape = Tape::new();
    for t in [&q, &k, &v] {
        tape.watch(t);
    }
    let y = q.attention(&k, &v, None, true, SCALE)?;
    let grads = tape.backward_with(&y, g.clone())?;
    let peak = peak_live_bytes().saturating_sub(base);
    println!("peak live bytes above the inputs: {peak}");
    // Inputs, output, gradients and statistics are ~256 KiB each; one score matrix would
    // be 64 MiB.
    assert!(peak < 8 << 20, "peak {peak} bytes");

    let host = |t: &Tensor| t.flatten_all()?.to_vec::<f32>();
    let (qh, kh, vh, gh, yh) = (host(&q)?, host(&k)?, host(&v)?, host(&g)?, host(&y)?);
    let [dq, dk, dv] = [&q, &k, &v].map(|t| host(grads.get(t).expect("watched")).unwrap());
    let gdot = |l: usize, b: &[f32], j: usize| -> f64 {
        (0..E)
            .map(|x| gh[l * E + x] as f64 * b[j * E + x] as f64)
            .sum()
    };
    // dS[l][s] = P[l][s] (g_l · v_s − g_l · out_l); out_l by the definition.
    let ds_row = |l: usize| -> Vec<f64> {
        let (p, out) = row(&qh, &kh, &vh, l);
        let d: f64 = (0..E).map(|x| gh[l * E + x] as f64 * out[x]).sum();
        (0..=l).map(|s| p[s] * (gdot(l, &vh, s) - d)).collect()
    };
    for l in [0, 1, 63, 64, 2000, N - 1] {
        let (_, out) = row(&qh, &kh, &vh, l);
        assert_close(&format!("out row {l}"), &yh[l * E..(l + 1) * E], &out);
        let ds = ds_row(l);
        let want: Vec<f64> = (0..E)
            .map(|x| SCALE * (0..=l).map(|s| ds[s] * kh[s * E + x] as f64).sum::<f64>())
            .collect();
        assert_close(&format!("dq row {l}"), &dq[l * E..(l + 1) * E], &want);
    }
    // Key s = 4000 is seen by queries 4000..N.
    let s = 4000;
    let (mut want_dk, mut want_dv) = (vec![0.0; E], vec![0.0; E]);
    for l in s..N {
        let (p, _) = row(&qh, &kh, &vh, l);
        let ds = ds_row(l);
        for x in 0..E {
            want_dv[x] += p[s] * gh[l * E + x] as f64;
            want_dk[x] += SCALE * ds[s] * qh[l * E + x] as f64;
        }
    }
    assert_close("dv row 4000", &dv[s * E..(s + 1) * E], &want_dv);
    assert_close("dk row 4000", &dk[s * E..(s + 1) * E], &want_dk);
    Ok(())
}
