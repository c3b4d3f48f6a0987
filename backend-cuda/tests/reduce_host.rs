//! The reduction and softmax kernels (`reduce.cu`: every `ReduceOp` on every number dtype,
//! softmax and log-softmax forward and backward on the float and half types) run on the
//! host as `host` explains: their blocks' 256 threads as fibers meeting at the
//! `__syncthreads` and warp-shuffle barriers, so the block and warp trees run as written.
//! Each is checked against the CPU backend on the same operands: rows shorter and longer
//! than a block, reductions over leading, trailing and several axes of strided views (the
//! layouts the backend's own `launch::reduce_plan` gives the kernels), empty reduced axes,
//! ±inf, NaN and ties for the arg-reductions. Without a C++ compiler it says "skipped: no
//! C++ compiler".

mod host;

use std::fmt::Write as _;

use host::data::{agree_at_scale, bytes, element, size_of, strided};
use host::Program;
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::launch::reduce_plan;
use lamina_backend_cuda::source::{
    c_type, reduce_kernel_name, reduce_source, suffix, NUMBER_DTYPES,
};
use lamina_tensor::{bf16, f16, Backend, DType, HostData, Layout, ReduceOp, Shape, StorageRef};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Reduce(ReduceOp),
    Softmax { log: bool },
    SoftmaxBackward { log: bool },
}

#[derive(Clone, Debug)]
struct Kernel {
    name: String,
    kind: Kind,
    dtype: DType,
}

impl Kernel {
    fn out_dtype(&self) -> DType {
        match self.kind {
            Kind::Reduce(ReduceOp::ArgMax | ReduceOp::ArgMin) => DType::I64,
            Kind::Reduce(ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min)
            | Kind::Softmax { .. }
            | Kind::SoftmaxBackward { .. } => self.dtype,
        }
    }

    fn call(&self) -> String {
        let (n, t) = (&self.name, c_type(self.dtype));
        let o = c_type(self.out_dtype());
        match self.kind {
            Kind::Reduce(_) => format!("{n}((const {t}*)b[0], ({o}*)y, L, a0, a1)"),
            Kind::Softmax { .. } => format!("{n}((const {t}*)b[0], ({t}*)y, a0, a1)"),
            Kind::SoftmaxBackward { .. } => {
                format!("{n}((const {t}*)b[0], (const {t}*)b[1], ({t}*)y, a0, a1)")
            }
        }
    }
}

const FLOATS_AND_HALVES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

fn kernels() -> Vec<Kernel> {
    let mut v = Vec::new();
    for d in NUMBER_DTYPES {
        for op in ReduceOp::ALL {
            v.push(Kernel {
                name: reduce_kernel_name(op, d),
                kind: Kind::Reduce(op),
                dtype: d,
            });
        }
    }
    for d in FLOATS_AND_HALVES {
        for log in [false, true] {
            let kind = if log { "log_softmax" } else { "softmax" };
            v.push(Kernel {
                name: format!("{kind}_{}", suffix(d)),
                kind: Kind::Softmax { log },
                dtype: d,
            });
            v.push(Kernel {
                name: format!("{kind}_backward_{}", suffix(d)),
                kind: Kind::SoftmaxBackward { log },
                dtype: d,
            });
        }
    }
    v
}

fn main_source(kernels: &[Kernel]) -> String {
    let mut cases = String::new();
    for (i, k) in kernels.iter().enumerate() {
        let _ = writeln!(
            cases,
            "        case {i}: launch_coop(blocks, LAMINA_REDUCE_THREADS, [&] {{ {}; }}); break;",
            k.call()
        );
    }
    format!(
        r#"
// A job: i64 kernel index, output elements, output element bytes, blocks; one Strided;
// u64 a0, a1 (outer and inner, or rows and cols); two buffers, each an i64 byte count and
// its bytes padded to 8. Its output: the bytes, padded to 8.
int main(int, char** argv) {{
    FILE* f = std::fopen(argv[1], "rb");
    if (!f) return 3;
    std::vector<unsigned char> in;
    for (int c; (c = std::fgetc(f)) != EOF;) in.push_back((unsigned char)c);
    std::fclose(f);
    FILE* o = std::fopen(argv[2], "wb");
    if (!o) return 4;
    size_t at = 0;
    auto word = [&] {{ long long v; std::memcpy(&v, &in[at], 8); at += 8; return v; }};
    while (at < in.size()) {{
        const long long k = word(), n = word(), size = word();
        const unsigned blocks = (unsigned)word();
        Strided L;
        std::memcpy(&L, &in[at], sizeof(Strided));
        at += sizeof(Strided);
        const unsigned long long a0 = (unsigned long long)word(), a1 = (unsigned long long)word();
        std::vector<std::vector<unsigned long long>> bufs(2);
        const void* b[2];
        for (int i = 0; i < 2; ++i) {{
            const long long bytes = word();
            bufs[i].assign((bytes + 7) / 8 + 1, 0);
            std::memcpy(bufs[i].data(), &in[at], bytes);
            at += (bytes + 7) / 8 * 8;
            b[i] = bufs[i].data();
        }}
        std::vector<unsigned long long> out((n * size + 7) / 8 + 1, 0);
        void* y = out.data();
        switch (k) {{
{cases}        default: return 5;
        }}
        if (std::fwrite(out.data(), 8, (n * size + 7) / 8, o) != (size_t)((n * size + 7) / 8)) return 6;
    }}
    return std::fclose(o) == 0 ? 0 : 7;
}}
"#
    )
}

/// `n` values of `d` from a pattern of f64s (integers take the values truncated).
fn data(d: DType, n: usize, pattern: impl Fn(usize) -> f64) -> HostData {
    let v = (0..n).map(pattern);
    match d {
        DType::F64 => HostData::F64(v.collect()),
        DType::F32 => HostData::F32(v.map(|x| x as f32).collect()),
        DType::F16 => HostData::F16(v.map(f16::from_f64).collect()),
        DType::BF16 => HostData::BF16(v.map(bf16::from_f64).collect()),
        DType::I64 => HostData::I64(v.map(|x| x as i64).collect()),
        DType::U32 => HostData::U32(v.map(|x| x.abs() as u32).collect()),
        DType::Bool => HostData::Bool(v.map(|x| x != 0.0).collect()),
    }
}

/// Specials: ±0, ±inf, NaN, huge and tied values (integers: the limits, wrapping).
fn specials(d: DType, n: usize) -> HostData {
    const F: [f64; 12] = [
        0.0,
        -0.0,
        2.5,
        -1.0,
        f64::INFINITY,
        2.5,
        f64::NAN,
        -7.25,
        1e30,
        f64::NEG_INFINITY,
        0.5,
        -2.5,
    ];
    match d {
        DType::I64 => HostData::I64(
            (0..n)
                .map(|k| [0, i64::MAX, -3, i64::MIN, 7, 7, -1, 1 << 40, 5, -9, 2, 3][k % 12])
                .collect(),
        ),
        DType::U32 => HostData::U32(
            (0..n)
                .map(|k| [0, u32::MAX, 3, 7, 7, 1, 1 << 31, 5, 9, 2, 3, 11][k % 12])
                .collect(),
        ),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 | DType::Bool => {
            data(d, n, |k| F[k % 12])
        }
    }
}

/// Quarter integers in [-5, 5] (exact sums in any order; ties for the arg-reductions).
fn quarters(d: DType, n: usize) -> HostData {
    data(d, n, |k| ((k * 7) % 41) as f64 / 4.0 - 5.0)
}

/// ±1, 2 and 1/2: products exact in any order, never overflowing.
fn powers(d: DType, n: usize) -> HostData {
    data(d, n, |k| [2.0, -1.0, 0.5, 1.0, -2.0, 0.5][k % 6])
}

/// A reduction case: shape, strides, offset, reduced axes and which values.
type Case = (Vec<usize>, Vec<usize>, usize, Vec<usize>, &'static str);

struct Job {
    kernel: Kernel,
    what: String,
    n: usize,
    want: Vec<u8>,
}

#[test]
fn reduction_and_softmax_kernels_on_the_host() {
    let kernels = kernels();
    let Some(program) = Program::build("reduce_host", &reduce_source(), &main_source(&kernels))
    else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let mut input = Vec::new();
    let mut jobs = Vec::new();
    let mut push = |index: usize,
                    k: &Kernel,
                    what: String,
                    blocks: usize,
                    lx: &Layout,
                    (a0, a1): (usize, usize),
                    bufs: [&HostData; 2],
                    want: StorageRef,
                    n: usize| {
        let want = bytes(
            &cpu.to_host(&*want, &Layout::contiguous(Shape::from(vec![n])))
                .unwrap(),
        );
        let size = size_of(k.out_dtype());
        for w in [index, n, size, blocks] {
            input.extend((w as i64).to_le_bytes());
        }
        input.extend(strided(lx));
        input.extend((a0 as i64).to_le_bytes());
        input.extend((a1 as i64).to_le_bytes());
        for b in bufs {
            let b = bytes(b);
            input.extend((b.len() as i64).to_le_bytes());
            let padded = b.len().div_ceil(8) * 8;
            input.extend(&b);
            input.resize(input.len() + padded - b.len(), 0);
        }
        jobs.push(Job {
            kernel: k.clone(),
            what,
            n,
            want,
        });
    };
    let empty = HostData::F32(vec![]);
    for (index, k) in kernels.iter().enumerate() {
        let d = k.dtype;
        match k.kind {
            Kind::Reduce(op) => {
                // (shape, strides, offset, axes, values): contiguous rows, a transposed
                // view, several axes, rows past a block, a reduction down a strided column,
                // and an empty reduced axis.
                let cases: Vec<Case> = vec![
                    (vec![4, 6], vec![6, 1], 0, vec![1], "specials"),
                    (vec![6, 4], vec![1, 6], 0, vec![0], "specials"),
                    (vec![6, 4], vec![1, 6], 0, vec![0, 1], "specials"),
                    (vec![3, 700], vec![700, 1], 0, vec![1], "dense"),
                    (vec![700, 3], vec![3, 1], 0, vec![0], "dense"),
                    (vec![5, 7, 20], vec![140, 20, 1], 0, vec![0, 2], "dense"),
                    (vec![3, 40], vec![1, 3], 2, vec![1], "dense"),
                    (vec![3, 0], vec![1, 3], 0, vec![1], "dense"),
                ];
                for (dims, strides, offset, axes, values) in cases {
                    // An empty max, min or arg-reduction has no value: the tensor layer
                    // refuses it before any backend runs.
                    let sum_like = matches!(op, ReduceOp::Sum | ReduceOp::Prod);
                    if dims.contains(&0) && !sum_like {
                        continue;
                    }
                    // The arg-reductions take exactly one axis (the trait's contract).
                    let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
                    if arg && axes.len() > 1 {
                        continue;
                    }
                    let layout = Layout::new(Shape::from(dims.clone()), strides, offset);
                    let len = layout.storage_extent().max(1);
                    let host = match (values, op) {
                        ("specials", _) => specials(d, len),
                        (_, ReduceOp::Prod) => powers(d, len),
                        _ => quarters(d, len),
                    };
                    let storage = cpu.from_host(host.clone()).unwrap();
                    let want = cpu
                        .reduce(op, &*storage, &layout, &axes)
                        .unwrap_or_else(|e| panic!("{}: {dims:?} {axes:?}: {e}", k.name));
                    let (moved, outer, inner) = reduce_plan(&layout, &axes).unwrap();
                    let what = format!("{dims:?} over {axes:?} ({values})");
                    push(
                        index,
                        k,
                        what,
                        outer.clamp(1, 3),
                        &moved,
                        (outer, inner),
                        [&host, &empty],
                        want,
                        outer,
                    );
                }
            }
            Kind::Softmax { log } | Kind::SoftmaxBackward { log } => {
                for (rows, cols, values) in [(4, 6, "specials"), (3, 700, "dense"), (5, 1, "dense")]
                {
                    let n = rows * cols;
                    let x = if values == "specials" {
                        specials(d, n)
                    } else {
                        quarters(d, n)
                    };
                    let layout = Layout::contiguous(Shape::from(vec![rows, cols]));
                    let xs = cpu.from_host(x.clone()).unwrap();
                    let y = cpu.softmax_last_dim(&*xs, &layout, log).unwrap().unwrap();
                    let what = format!("[{rows}, {cols}] ({values})");
                    if let Kind::Softmax { .. } = k.kind {
                        push(
                            index,
                            k,
                            what,
                            rows.min(3),
                            &layout,
                            (rows, cols),
                            [&x, &empty],
                            y,
                            n,
                        );
                        continue;
                    }
                    let yh = cpu.to_host(&*y, &layout).unwrap();
                    let dy = data(d, n, |k| ((k * 3) % 17) as f64 / 8.0 - 1.0);
                    let dys = cpu.from_host(dy.clone()).unwrap();
                    let want =
                        match cpu.softmax_backward_last_dim(&*y, &layout, &*dys, &layout, log) {
                            Some(w) => w.unwrap(),
                            // No fused f64 kernel on the CPU: the definition, in f64.
                            None => {
                                let (HostData::F64(yv), HostData::F64(gv)) = (&yh, &dy) else {
                                    panic!("{}: no CPU reference", k.name)
                                };
                                let mut dx = vec![0.0; n];
                                for r in 0..rows {
                                    let (y, g) = (&yv[r * cols..][..cols], &gv[r * cols..][..cols]);
                                    let s: f64 = if log {
                                        g.iter().sum()
                                    } else {
                                        g.iter().zip(y).map(|(g, y)| g * y).sum()
                                    };
                                    for c in 0..cols {
                                        dx[r * cols + c] = if log {
                                            g[c] - y[c].exp() * s
                                        } else {
                                            y[c] * (g[c] - s)
                                        };
                                    }
                                }
                                cpu.from_host(HostData::F64(dx)).unwrap()
                            }
                        };
                    push(
                        index,
                        k,
                        what,
                        rows.min(3),
                        &layout,
                        (rows, cols),
                        [&yh, &dy],
                        want,
                        n,
                    );
                }
            }
        }
    }
    let out = program.run_bytes(&input);
    let mut at = 0;
    let mut failures = Vec::new();
    for job in &jobs {
        let d = job.kernel.out_dtype();
        let len = job.n * size_of(d);
        let got = &out[at..at + len];
        at += len.div_ceil(8) * 8;
        // Softmax's backward cancels (y (dy - s) with dy near s): relative to the row's
        // largest gradient.
        let scale = match job.kernel.kind {
            Kind::SoftmaxBackward { .. } => (0..job.n)
                .map(|i| element(&job.want, d, i).0.abs())
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max),
            Kind::Reduce(_) | Kind::Softmax { .. } => 0.0,
        };
        for i in 0..job.n {
            if let Err(why) = agree_at_scale(got, &job.want, d, i, scale) {
                failures.push(format!("{} {} [{i}]: {why}", job.kernel.name, job.what));
                break;
            }
        }
    }
    assert_eq!(at, out.len(), "output length");
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with the CPU backend:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n")
    );
    println!(
        "{} reduction and softmax cases agree with the CPU backend",
        jobs.len()
    );
}
