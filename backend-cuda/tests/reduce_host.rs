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

use host::data::{bytes, compare, compare_scaled, data, size_of};
use host::vm::{Arg, Vm};
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::launch::reduce_plan;
use lamina_backend_cuda::source::{
    reduce_kernel_name, reduce_source, suffix, FLOATS_AND_HALVES, NUMBER_DTYPES,
};
use lamina_tensor::{Backend, DType, HostData, Layout, ReduceOp, Shape, StorageRef};

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
}

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
    let Some(vm) = Vm::build("reduce_host", &reduce_source()) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let mut script = vm.script();
    let mut jobs = Vec::new();
    // One launch as the backend makes it: buffers 0 and 1 the inputs, 2 the output.
    let mut push = |k: &Kernel,
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
        script.buf(0, &bytes(bufs[0]));
        script.buf(1, &bytes(bufs[1]));
        script.buf(2, &vec![0u8; n * size_of(k.out_dtype())]);
        let (b0, b1, y) = (Arg::Buf(Some(0)), Arg::Buf(Some(1)), Arg::Buf(Some(2)));
        let (a0, a1) = (Arg::Int(a0 as i64), Arg::Int(a1 as i64));
        let args = match k.kind {
            Kind::Reduce(_) => vec![b0, y, Arg::Strided(lx), a0, a1],
            Kind::Softmax { .. } => vec![b0, y, a0, a1],
            Kind::SoftmaxBackward { .. } => vec![b0, b1, y, a0, a1],
        };
        script.launch(&k.name, blocks as u32, 256, true, &args);
        script.read(2);
        jobs.push(Job {
            kernel: k.clone(),
            what,
            n,
            want,
        });
    };
    let empty = HostData::F32(vec![]);
    for k in &kernels {
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
    let got = script.run();
    let mut failures = Vec::new();
    for (job, got) in jobs.iter().zip(&got) {
        let (d, what) = (
            job.kernel.out_dtype(),
            format!("{} {}", job.kernel.name, job.what),
        );
        match job.kernel.kind {
            // Softmax's backward cancels (y (dy - s) with dy near s): relative to the
            // row's largest gradient.
            Kind::SoftmaxBackward { .. } => {
                compare_scaled(got, &job.want, d, job.n, &what, &mut failures)
            }
            Kind::Reduce(_) | Kind::Softmax { .. } => {
                compare(got, &job.want, d, job.n, &what, &mut failures)
            }
        }
    }
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
