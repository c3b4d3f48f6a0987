//! The LSTM cell kernels (`kernels/lstm.cuh`), run on the host as `host` explains, against
//! the cell written out in f64 from its definition: `c = σ(f) c_prev + σ(i) tanh(g)`,
//! `h = σ(o) tanh(c)`, and the gradients of both states with respect to the four gates
//! and `c_prev` by central finite differences of that definition. f64 and f32, rows and
//! units that do not fill the grid, and a grid smaller than the work. No GPU needed;
//! without a C++ compiler the test says "skipped: no C++ compiler".

mod host;

use host::{close, Lcg, Program};
use lamina_backend_cuda::source::lstm_source;

/// Header: mode (0 forward, 1 backward; +2 for f32), n, h, blocks, threads; then the
/// values: the forward's gates `[n, 4h]` and `c_prev [n, h]`, the backward's `grad
/// [n, 2h]` before them. Out: `[n, 2h]`, or `dgates [n, 4h]` then `dc_prev [n, h]`.
const MAIN: &str = r#"
template <typename T>
static std::vector<T> run(long long backward, long long n, long long h,
                          const std::vector<double>& in, unsigned blocks, unsigned threads) {
    std::vector<T> v(in.begin(), in.end());
    if (!backward) {
        std::vector<T> out = nans<T>(n * 2 * h);
        const T *a = v.data(), *cp = a + n * 4 * h;
        launch(blocks, threads, [&] {
            if constexpr (sizeof(T) == 8) lstm_cell_f64(a, cp, out.data(), n, h);
            else lstm_cell_f32(a, cp, out.data(), n, h);
        });
        return out;
    }
    std::vector<T> out = nans<T>(n * 5 * h);
    const T *g = v.data(), *a = g + n * 2 * h, *cp = a + n * 4 * h;
    T *da = out.data(), *dc = da + n * 4 * h;
    launch(blocks, threads, [&] {
        if constexpr (sizeof(T) == 8) lstm_cell_backward_f64(g, a, cp, da, dc, n, h);
        else lstm_cell_backward_f32(g, a, cp, da, dc, n, h);
    });
    return out;
}

int main(int, char** argv) {
    std::vector<long long> k;
    std::vector<double> in;
    if (!read_input(argv, k, 5, in)) return 3;
    const unsigned blocks = (unsigned)k[3], threads = (unsigned)k[4];
    const bool ok = k[0] < 2 ? write_output(argv, run<double>(k[0], k[1], k[2], in, blocks, threads))
                             : write_output(argv, run<float>(k[0] - 2, k[1], k[2], in, blocks, threads));
    return ok ? 0 : 4;
}
"#;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One row's `(h, c)` per unit from its gates (`4h`) and previous cell state (`h`).
fn cell(a: &[f64], cp: &[f64], h: usize) -> (Vec<f64>, Vec<f64>) {
    (0..h)
        .map(|j| {
            let c = sigmoid(a[h + j]) * cp[j] + sigmoid(a[j]) * a[2 * h + j].tanh();
            (sigmoid(a[3 * h + j]) * c.tanh(), c)
        })
        .unzip()
}

/// `Σ grad · [h, c]` over the batch: its finite differences are the backward's outputs.
fn objective(grad: &[f64], a: &[f64], cp: &[f64], n: usize, h: usize) -> f64 {
    let mut s = 0.0;
    for r in 0..n {
        let (hn, cn) = cell(&a[r * 4 * h..(r + 1) * 4 * h], &cp[r * h..(r + 1) * h], h);
        let g = &grad[r * 2 * h..(r + 1) * 2 * h];
        s += (0..h).map(|j| g[j] * hn[j] + g[h + j] * cn[j]).sum::<f64>();
    }
    s
}

fn check(p: &Program, f32: bool, n: usize, h: usize, seed: u64) {
    let mut rng = Lcg(seed);
    // Pre-activations over ±3, so the gates reach into their flat tails.
    let a = rng.vec(n * 4 * h, 3.0, f32);
    let cp = rng.vec(n * h, 2.0, f32);
    let grad = rng.vec(n * 2 * h, 1.0, f32);
    let mode = if f32 { 2 } else { 0 };
    let tol = if f32 { 2e-6 } else { 1e-14 };

    let mut want = Vec::with_capacity(n * 2 * h);
    for r in 0..n {
        let (hn, cn) = cell(&a[r * 4 * h..(r + 1) * 4 * h], &cp[r * h..(r + 1) * h], h);
        want.extend(hn);
        want.extend(cn);
    }
    let eps = 1e-6;
    let fd = |v: &[f64], at: usize, a_side: bool| {
        let mut up = v.to_vec();
        let mut down = v.to_vec();
        up[at] += eps;
        down[at] -= eps;
        let (fu, fdn) = if a_side {
            (
                objective(&grad, &up, &cp, n, h),
                objective(&grad, &down, &cp, n, h),
            )
        } else {
            (
                objective(&grad, &a, &up, n, h),
                objective(&grad, &a, &down, n, h),
            )
        };
        (fu - fdn) / (2.0 * eps)
    };
    let mut dwant: Vec<f64> = (0..a.len()).map(|i| fd(&a, i, true)).collect();
    dwant.extend((0..cp.len()).map(|i| fd(&cp, i, false)));

    for (blocks, threads) in [(2, 5), (8, 256)] {
        let head = [mode, n as i64, h as i64, blocks, threads];
        let got = p.run(&head, &[a.as_slice(), &cp].concat());
        close(&got, &want, tol, "forward");
        let head = [mode + 1, n as i64, h as i64, blocks, threads];
        let got = p.run(&head, &[grad.as_slice(), &a, &cp].concat());
        // Finite differences of the f64 definition are good to about 1e-9.
        close(&got, &dwant, tol.max(1e-8), "backward");
    }
}

#[test]
fn lstm_cell_kernels_on_the_host() {
    let Some(p) = Program::build("lstm_host", &lstm_source(), MAIN) else {
        println!("skipped: no C++ compiler");
        return;
    };
    for f32 in [false, true] {
        check(&p, f32, 1, 1, 1);
        check(&p, f32, 3, 5, 2);
        check(&p, f32, 7, 16, 3);
    }
}
