//! The convolution kernels (`kernels/conv.cuh`), run on the host: the generated `conv.cu`
//! is compiled by the system's C++ compiler with the CUDA index built-ins emulated (every
//! block and thread of a launch in turn; the kernels are grid-stride loops with no
//! cross-thread communication, so the order cannot matter), and its patches go through the
//! three products exactly as `lamina_backend_cuda::conv::ConvPlan` lays them out for
//! cuBLAS (multiplied here by a naive strided matmul). Each result is checked against a
//! direct convolution written out from the definition: output, input gradient and weight
//! gradient, 1-D to 3-D, with stride, padding and dilation. No GPU needed; without a C++
//! compiler the test says "skipped: no C++ compiler".

use std::path::{Path, PathBuf};
use std::process::Command;

use lamina_backend_cuda::conv::{Cols, ConvDims, ConvPlan};
use lamina_backend_cuda::source::conv_source;
use lamina_tensor::{ConvGeometry, ConvSpec, Layout, MatmulSpec, Shape};

/// Emulates a 1-D launch: each (block, thread) calls the kernel with the built-ins set.
const DRIVER: &str = r#"
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <limits>
struct lamina_dim3 { unsigned x = 0, y = 0, z = 0; };
static lamina_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
"#;

const MAIN: &str = r#"
// argv: in-file out-file. In: i64 mode (0 im2col, 1 col2im; +2 for f32), ConvDims (20
// i64), sn, sck, in_len, out_len, blocks, threads, then in_len doubles. Out: out_len
// doubles, NaN where the kernel wrote nothing.
template <typename T>
static void run(long long mode, const ConvDims& g, long long sn, long long sck,
                const std::vector<double>& in, std::vector<double>& out, unsigned blocks,
                unsigned threads) {
    std::vector<T> x(in.begin(), in.end()), y(out.size(), std::numeric_limits<T>::quiet_NaN());
    gridDim.x = blocks;
    blockDim.x = threads;
    for (unsigned b = 0; b < blocks; ++b) {
        for (unsigned t = 0; t < threads; ++t) {
            blockIdx.x = b;
            threadIdx.x = t;
            if (mode == 0) {
                if constexpr (sizeof(T) == 8) im2col_f64(x.data(), y.data(), g, sn, sck);
                else im2col_f32(x.data(), y.data(), g, sn, sck);
            } else {
                if constexpr (sizeof(T) == 8) col2im_f64(x.data(), y.data(), g, sn, sck);
                else col2im_f32(x.data(), y.data(), g, sn, sck);
            }
        }
    }
    for (size_t i = 0; i < y.size(); ++i) out[i] = (double)y[i];
}

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    FILE* f = std::fopen(argv[1], "rb");
    if (!f) return 3;
    long long head[27];
    if (std::fread(head, 8, 27, f) != 27) return 4;
    ConvDims g;
    static_assert(sizeof(ConvDims) == 20 * 8, "ConvDims layout");
    std::memcpy(&g, head + 1, sizeof g);
    const long long sn = head[21], sck = head[22], in_len = head[23], out_len = head[24];
    std::vector<double> in(in_len), out(out_len);
    if ((long long)std::fread(in.data(), 8, in_len, f) != in_len) return 5;
    std::fclose(f);
    const long long mode = head[0];
    if (mode < 2) run<double>(mode, g, sn, sck, in, out, (unsigned)head[25], (unsigned)head[26]);
    else run<float>(mode - 2, g, sn, sck, in, out, (unsigned)head[25], (unsigned)head[26]);
    FILE* o = std::fopen(argv[2], "wb");
    if (!o || (long long)std::fwrite(out.data(), 8, out_len, o) != out_len) return 6;
    std::fclose(o);
    return 0;
}
"#;

/// The compiled driver, or `None` when no C++ compiler runs.
fn build(dir: &Path) -> Option<PathBuf> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let src = dir.join("conv_host.cpp");
    let text = format!("{DRIVER}#include <cstring>\n{}\n{MAIN}", conv_source());
    std::fs::write(&src, text).unwrap();
    let bin = dir.join("conv_host");
    let out = Command::new(&cxx)
        .args([
            "-std=c++17",
            "-O1",
            "-Wall",
            "-Wno-unknown-pragmas",
            "-Werror",
            "-o",
        ])
        .arg(&bin)
        .arg(&src)
        .output();
    match out {
        Err(_) => None,
        Ok(o) => {
            assert!(
                o.status.success(),
                "{cxx} failed on conv.cu:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            Some(bin)
        }
    }
}

struct Kernels {
    bin: PathBuf,
    dir: PathBuf,
    f32: bool,
}

impl Kernels {
    /// One emulated launch of `im2col` (`col2im` when `adjoint`) over `input`.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &self,
        adjoint: bool,
        d: &ConvDims,
        (sn, sck): (i64, i64),
        input: &[f64],
        out_len: usize,
        blocks: i64,
        threads: i64,
    ) -> Vec<f64> {
        let mode = i64::from(adjoint) + if self.f32 { 2 } else { 0 };
        let mut head = vec![mode, d.batch, d.channels];
        for a in [d.input, d.kernel, d.output, d.stride, d.padding, d.dilation] {
            head.extend(a);
        }
        head.extend([sn, sck, input.len() as i64, out_len as i64, blocks, threads]);
        let mut bytes: Vec<u8> = head.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes.extend(input.iter().flat_map(|v| v.to_le_bytes()));
        let (inp, outp) = (self.dir.join("in.bin"), self.dir.join("out.bin"));
        std::fs::write(&inp, bytes).unwrap();
        let status = Command::new(&self.bin)
            .arg(&inp)
            .arg(&outp)
            .status()
            .unwrap();
        assert!(status.success(), "driver: {status}");
        std::fs::read(&outp)
            .unwrap()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
}

/// A deterministic stream of values in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, f32: bool) -> Vec<f64> {
        // f32 runs get f32 values, so the only rounding is the kernels' own.
        (0..n)
            .map(|_| {
                let v = self.next();
                if f32 {
                    f64::from(v as f32)
                } else {
                    v
                }
            })
            .collect()
    }
}

/// The storage offset of `idx` in `layout`.
fn at(layout: &Layout, idx: &[usize]) -> usize {
    layout.offset()
        + idx
            .iter()
            .zip(layout.strides())
            .map(|(i, s)| i * s)
            .sum::<usize>()
}

/// `lhs · rhs` read through the layouts as cuBLAS would (batch dims first), contiguous.
fn matmul(a: &[f64], la: &Layout, b: &[f64], lb: &Layout, spec: &MatmulSpec) -> Vec<f64> {
    let batch = spec.batch.elem_count();
    let mut y = vec![0.0; batch * spec.m * spec.n];
    let rank = la.rank();
    for bi in 0..batch {
        let bidx: Vec<usize> = if rank == 3 { vec![bi] } else { vec![] };
        for i in 0..spec.m {
            for j in 0..spec.n {
                let mut s = 0.0;
                for p in 0..spec.k {
                    let ia = [bidx.as_slice(), &[i, p]].concat();
                    let ib = [bidx.as_slice(), &[p, j]].concat();
                    s += a[at(la, &ia)] * b[at(lb, &ib)];
                }
                y[(bi * spec.m + i) * spec.n + j] = s;
            }
        }
    }
    y
}

/// Every (output position, kernel position) → input position of a geometry, by the
/// definition: `i = o · stride − padding + k · dilation`, per spatial dim.
fn taps(geo: &ConvGeometry) -> Vec<(usize, usize, Option<usize>)> {
    let d = geo.input.len();
    let unravel = |mut i: usize, dims: &[usize]| {
        let mut v = vec![0; dims.len()];
        for a in (0..dims.len()).rev() {
            v[a] = i % dims[a];
            i /= dims[a];
        }
        v
    };
    let mut out = Vec::new();
    for p in 0..geo.output_len() {
        let o = unravel(p, &geo.output);
        for kk in 0..geo.kernel_len() {
            let k = unravel(kk, &geo.kernel);
            let mut flat = 0usize;
            let mut inside = true;
            for a in 0..d {
                let i = (o[a] * geo.spec.stride[a] + k[a] * geo.spec.dilation[a]) as i64
                    - geo.spec.padding[a] as i64;
                inside &= i >= 0 && (i as usize) < geo.input[a];
                flat = flat * geo.input[a] + i.max(0) as usize;
            }
            out.push((p, kk, inside.then_some(flat)));
        }
    }
    out
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

fn check(k: &Kernels, input: &[usize], weight: &[usize], spec: ConvSpec, seed: u64) {
    let geo = spec
        .geometry("conv", &Shape::from(input), &Shape::from(weight))
        .unwrap();
    let dims = ConvDims::new(&geo).unwrap();
    let plan = ConvPlan::new(&geo);
    let (n, c, o) = (geo.batch, geo.in_channels, geo.out_channels);
    let (kl, p, il) = (geo.kernel_len(), plan.p, plan.input_len);
    let mut rng = Lcg(seed);
    let x = rng.vec(n * c * il, k.f32);
    let w = rng.vec(o * c * kl, k.f32);
    let dy = rng.vec(n * o * p, k.f32);
    let tol = if k.f32 { 1e-5 } else { 1e-12 };
    let taps = taps(&geo);

    // Direct references, from the definition.
    let (mut y_ref, mut dx_ref, mut dw_ref) = (
        vec![0.0; n * o * p],
        vec![0.0; n * c * il],
        vec![0.0; o * c * kl],
    );
    for b in 0..n {
        for oc in 0..o {
            for ic in 0..c {
                for &(pp, kk, i) in &taps {
                    let Some(i) = i else { continue };
                    let (xi, wi, yi) = (
                        (b * c + ic) * il + i,
                        (oc * c + ic) * kl + kk,
                        (b * o + oc) * p + pp,
                    );
                    y_ref[yi] += w[wi] * x[xi];
                    dx_ref[xi] += w[wi] * dy[yi];
                    dw_ref[wi] += dy[yi] * x[xi];
                }
            }
        }
    }

    // A grid smaller than the work (the stride loop runs) and one larger.
    for (blocks, threads) in [(3, 7), (64, 128)] {
        let cols = k.launch(
            false,
            &dims,
            plan.cols_strides(Cols::BySample),
            &x,
            plan.cols_len(),
            blocks,
            threads,
        );
        let (lw, lc, s) = plan.forward(0);
        close(&matmul(&w, &lw, &cols, &lc, &s), &y_ref, tol, "output");

        let (lwt, ldy, s) = plan.input_grad(0, 0);
        let dcols = matmul(&w, &lwt, &dy, &ldy, &s);
        let dx = k.launch(
            true,
            &dims,
            plan.cols_strides(Cols::BySample),
            &dcols,
            x.len(),
            blocks,
            threads,
        );
        close(&dx, &dx_ref, tol, "input gradient");

        let cols = k.launch(
            false,
            &dims,
            plan.cols_strides(Cols::ByRow),
            &x,
            plan.cols_len(),
            blocks,
            threads,
        );
        let by_channel = plan.dy_by_channel(0);
        let dy2: Vec<f64> = by_channel.offsets().map(|i| dy[i]).collect();
        let (ld, lct, s) = plan.weight_grad();
        close(
            &matmul(&dy2, &ld, &cols, &lct, &s),
            &dw_ref,
            tol,
            "weight gradient",
        );
    }
}

#[test]
fn conv_kernels_on_the_host() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conv_host");
    std::fs::create_dir_all(&dir).unwrap();
    let Some(bin) = build(&dir) else {
        println!("skipped: no C++ compiler");
        return;
    };
    for f32 in [false, true] {
        let k = Kernels {
            bin: bin.clone(),
            dir: dir.clone(),
            f32,
        };
        check(
            &k,
            &[2, 3, 9],
            &[4, 3, 2],
            ConvSpec::new(&[2], &[1], &[2], 1),
            1,
        );
        check(
            &k,
            &[1, 1, 5, 6],
            &[2, 1, 3, 3],
            ConvSpec::new(&[1, 1], &[0, 0], &[1, 1], 1),
            2,
        );
        check(
            &k,
            &[3, 2, 7, 5],
            &[5, 2, 3, 2],
            ConvSpec::new(&[2, 1], &[1, 2], &[1, 2], 1),
            3,
        );
        // Padding wider than the kernel reach, stride past the kernel (skipped inputs).
        check(
            &k,
            &[2, 2, 4, 4],
            &[3, 2, 2, 1],
            ConvSpec::new(&[3, 2], &[2, 1], &[1, 1], 1),
            4,
        );
        check(
            &k,
            &[2, 2, 4, 3, 3],
            &[3, 2, 2, 2, 1],
            ConvSpec::new(&[1, 2, 1], &[0, 1, 0], &[1, 1, 2], 1),
            5,
        );
    }
}
