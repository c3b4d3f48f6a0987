//! The scan and sort kernels (`scan.cu`: cumulative sum, product and log-sum-exp on every
//! dtype each has; the stable argsort on every dtype, ascending and descending) run on the
//! host as `host` explains (one thread per line, so no cooperation), against the CPU
//! backend: lines along the last, first and a middle axis, a transposed view, lines longer
//! than the merge sort's first runs, ties (stability), NaN (the largest: last ascending,
//! first descending, as PyTorch), ±inf and integer limits, with the layouts
//! `launch::lines_along` gives the kernels. Without a C++ compiler it says "skipped: no
//! C++ compiler".

mod host;

use host::data::{bytes, compare, data, size_of};
use host::vm::{Arg, Vm};
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::launch::lines_along;
use lamina_backend_cuda::source::{scan_dtypes, scan_kernel_name, scan_source, suffix};
use lamina_tensor::{Backend, DType, HostData, Layout, ScanOp, Shape};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Scan(ScanOp),
    Argsort,
}

#[derive(Clone, Debug)]
struct Kernel {
    name: String,
    kind: Kind,
    dtype: DType,
}

fn kernels() -> Vec<Kernel> {
    let mut v = Vec::new();
    for op in [ScanOp::Sum, ScanOp::Prod, ScanOp::LogSumExp] {
        for &d in scan_dtypes(op) {
            v.push(Kernel {
                name: scan_kernel_name(op, d),
                kind: Kind::Scan(op),
                dtype: d,
            });
        }
    }
    for d in DType::ALL {
        v.push(Kernel {
            name: format!("argsort_{}", suffix(d)),
            kind: Kind::Argsort,
            dtype: d,
        });
    }
    v
}

/// Ties, ±0, ±inf, NaN (integers: limits and ties).
fn specials(d: DType, n: usize) -> HostData {
    const F: [f64; 10] = [
        1.5,
        -0.0,
        f64::NAN,
        0.0,
        1.5,
        f64::NEG_INFINITY,
        -2.0,
        f64::INFINITY,
        1.5,
        f64::NAN,
    ];
    match d {
        DType::I64 => HostData::I64(
            (0..n)
                .map(|k| [3, i64::MIN, 3, i64::MAX, -1, 0, 3, -7, 1 << 50, 2][k % 10])
                .collect(),
        ),
        DType::U32 => HostData::U32(
            (0..n)
                .map(|k| [3, u32::MAX, 3, 0, 1, 3, 9, 1 << 31, 2, 3][k % 10])
                .collect(),
        ),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 | DType::Bool => {
            data(d, n, |k| F[k % 10])
        }
    }
}

/// A case: shape, strides, offset, the axis and which values.
type Case = (Vec<usize>, Vec<usize>, usize, usize, &'static str);

#[test]
fn scan_and_sort_kernels_on_the_host() {
    let Some(vm) = Vm::build("scan_host", &scan_source()) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let mut script = vm.script();
    let mut jobs = Vec::new();
    // (shape, strides, offset, axis, values)
    let cases: Vec<Case> = vec![
        (vec![4, 6], vec![6, 1], 0, 1, "specials"),
        (vec![4, 6], vec![6, 1], 0, 0, "specials"),
        (vec![6, 4], vec![1, 6], 0, 1, "specials"),
        (vec![3, 5, 7], vec![35, 7, 1], 0, 1, "dense"),
        (vec![2, 300], vec![300, 1], 0, 1, "dense"),
        (vec![3, 37], vec![1, 3], 1, 1, "dense"),
    ];
    for k in kernels() {
        let d = k.dtype;
        for (dims, strides, offset, axis, values) in &cases {
            let layout = Layout::new(Shape::from(dims.clone()), strides.clone(), *offset);
            let len = layout.storage_extent();
            let host = match (*values, k.kind) {
                ("specials", _) => specials(d, len),
                // Products of ±1, 2 and 1/2 stay exact and finite along any line.
                (_, Kind::Scan(ScanOp::Prod)) => data(d, len, |k| [2.0, -1.0, 0.5, 1.0][k % 4]),
                _ => data(d, len, |k| ((k * 7) % 23) as f64 / 4.0 - 2.5),
            };
            let storage = cpu.from_host(host.clone()).unwrap();
            let (moved, lines, n, inner) = lines_along(&layout, *axis).unwrap();
            let count = layout.elem_count();
            for descending in [false, true] {
                let (want, out) = match k.kind {
                    Kind::Scan(op) => {
                        if descending {
                            continue;
                        }
                        (cpu.scan(op, &*storage, &layout, *axis).unwrap(), d)
                    }
                    Kind::Argsort => (
                        cpu.argsort(&*storage, &layout, *axis, descending).unwrap(),
                        DType::I64,
                    ),
                };
                let want = bytes(
                    &cpu.to_host(&*want, &Layout::contiguous(Shape::from(vec![count])))
                        .unwrap(),
                );
                // As the backend launches them: one thread per line; argsort's scratch
                // holds two index arrays per line.
                script.buf(0, &bytes(&host));
                script.buf(1, &vec![0u8; count * size_of(out)]);
                script.buf(2, &vec![0u8; 2 * lines * n * 8]);
                let (lx, l, nn, inn) = (
                    Arg::Strided(&moved),
                    Arg::Int(lines as i64),
                    Arg::Int(n as i64),
                    Arg::Int(inner as i64),
                );
                let (x, y) = (Arg::Buf(Some(0)), Arg::Buf(Some(1)));
                let args = match k.kind {
                    Kind::Scan(_) => vec![x, y, lx, l, nn, inn],
                    Kind::Argsort => {
                        let desc = Arg::Int(i64::from(descending));
                        vec![x, y, Arg::Buf(Some(2)), lx, l, nn, inn, desc]
                    }
                };
                script.launch(&k.name, 3, 4, false, &args);
                script.read(1);
                let what = format!("{dims:?} along {axis} ({values}, descending {descending})");
                jobs.push((k.clone(), what, count, out, want));
            }
        }
    }
    let got = script.run();
    let mut failures = Vec::new();
    for ((k, what, count, out, want), got) in jobs.iter().zip(&got) {
        compare(
            got,
            want,
            *out,
            *count,
            &format!("{} {what}", k.name),
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with the CPU backend:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n")
    );
    println!(
        "{} scan and sort cases agree with the CPU backend",
        jobs.len()
    );
}
