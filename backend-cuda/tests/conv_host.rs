//! The convolution kernels (`kernels/conv.cuh`), run on the host: the generated `conv.cu`
//! is compiled by the system's C++ compiler with the CUDA index built-ins emulated (every
//! block and thread of a launch in turn; the kernels are grid-stride loops with no
//! cross-thread communication, so the order cannot matter), and its patches go through the
//! three products exactly as `lamina_backend_cuda::conv::ConvPlan` lays them out for
//! cuBLAS (multiplied here by a naive strided matmul). Each result is checked against a
//! direct convolution written out from the definition: output, input gradient and weight
//! gradient, 1-D to 3-D, with stride, padding and dilation. No GPU needed; without a C++
//! compiler the test says "skipped: no C++ compiler".

mod host;

use host::{close, Lcg, Program};
use lamina_backend_cuda::conv::{Cols, ConvDims, ConvPlan};
use lamina_backend_cuda::source::conv_source;
use lamina_tensor::{ConvGeometry, ConvSpec, Layout, MatmulSpec, Shape};

/// Header: mode (0 im2col, 1 col2im; +2 for f32), `ConvDims` (20 words), sn, sck,
/// out_len, blocks, threads; then the input values.
const MAIN: &str = r#"
template <typename T>
static std::vector<T> run(long long adjoint, const ConvDims& g, long long sn, long long sck,
                          const std::vector<double>& in, size_t out_len, unsigned blocks,
                          unsigned threads) {
    std::vector<T> x(in.begin(), in.end());
    std::vector<T> y = nans<T>(out_len);
    launch(blocks, threads, [&] {
        if (adjoint == 0) {
            if constexpr (sizeof(T) == 8) im2col_f64(x.data(), y.data(), g, sn, sck);
            else im2col_f32(x.data(), y.data(), g, sn, sck);
        } else {
            if constexpr (sizeof(T) == 8) col2im_f64(x.data(), y.data(), g, sn, sck);
            else col2im_f32(x.data(), y.data(), g, sn, sck);
        }
    });
    return y;
}

int main(int, char** argv) {
    std::vector<long long> h;
    std::vector<double> in;
    if (!read_input(argv, h, 26, in)) return 3;
    ConvDims g;
    static_assert(sizeof(ConvDims) == 20 * 8, "ConvDims layout");
    std::memcpy(&g, h.data() + 1, sizeof g);
    const long long sn = h[21], sck = h[22];
    const size_t out_len = (size_t)h[23];
    const unsigned blocks = (unsigned)h[24], threads = (unsigned)h[25];
    const bool ok = h[0] < 2
        ? write_output(argv, run<double>(h[0], g, sn, sck, in, out_len, blocks, threads))
        : write_output(argv, run<float>(h[0] - 2, g, sn, sck, in, out_len, blocks, threads));
    return ok ? 0 : 4;
}
"#;

struct Kernels {
    program: Program,
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
        head.extend([sn, sck, out_len as i64, blocks, threads]);
        self.program.run(&head, input)
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

fn check(k: &Kernels, input: &[usize], weight: &[usize], spec: ConvSpec, seed: u64) {
    let geo = spec
        .geometry("conv", &Shape::from(input), &Shape::from(weight))
        .unwrap();
    let dims = ConvDims::new(&geo).unwrap();
    let plan = ConvPlan::new(&geo);
    let (n, c, o) = (geo.batch, geo.in_channels, geo.out_channels);
    let (kl, p, il) = (geo.kernel_len(), plan.p, plan.input_len);
    let mut rng = Lcg(seed);
    let x = rng.vec(n * c * il, 1.0, k.f32);
    let w = rng.vec(o * c * kl, 1.0, k.f32);
    let dy = rng.vec(n * o * p, 1.0, k.f32);
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
    let Some(program) = Program::build("conv_host", &conv_source(), MAIN) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let mut k = Kernels {
        program,
        f32: false,
    };
    for f32 in [false, true] {
        k.f32 = f32;
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
