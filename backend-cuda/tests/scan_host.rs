//! The scan and sort kernels (`scan.cu`: cumulative sum, product and log-sum-exp on every
//! dtype each has; the stable argsort on every dtype, ascending and descending) run on the
//! host as `host` explains (one thread per line, so no cooperation), against the CPU
//! backend: lines along the last, first and a middle axis, a transposed view, lines longer
//! than the merge sort's first runs, ties (stability), NaN (the largest: last ascending,
//! first descending, as PyTorch), ±inf and integer limits, with the layouts
//! `launch::lines_along` gives the kernels. Without a C++ compiler it says "skipped: no
//! C++ compiler".

mod host;

use std::fmt::Write as _;

use host::data::{agree, bytes, size_of, strided};
use host::Program;
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::launch::lines_along;
use lamina_backend_cuda::source::{c_type, scan_dtypes, scan_kernel_name, scan_source, suffix};
use lamina_tensor::{bf16, f16, Backend, DType, HostData, Layout, ScanOp, Shape};

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

fn main_source(kernels: &[Kernel]) -> String {
    let mut cases = String::new();
    for (i, k) in kernels.iter().enumerate() {
        let (n, t) = (&k.name, c_type(k.dtype));
        let call = match k.kind {
            Kind::Scan(_) => format!("{n}((const {t}*)x.data(), ({t}*)y, L, lines, len, inner)"),
            Kind::Argsort => format!(
                "{n}((const {t}*)x.data(), (long long*)y, scratch.data(), L, lines, len, inner, desc)"
            ),
        };
        let _ = writeln!(
            cases,
            "        case {i}: launch(3, 4, [&] {{ {call}; }}); break;"
        );
    }
    format!(
        r#"
// A job: i64 kernel index, output elements, output element bytes, lines, n, inner,
// descending; one Strided; the input as an i64 byte count and its bytes padded to 8.
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
        const long long k = word(), count = word(), size = word();
        const unsigned long long lines = word(), len = word(), inner = word();
        const int desc = (int)word();
        Strided L;
        std::memcpy(&L, &in[at], sizeof(Strided));
        at += sizeof(Strided);
        const long long bytes = word();
        std::vector<unsigned long long> x((bytes + 7) / 8 + 1, 0);
        std::memcpy(x.data(), &in[at], bytes);
        at += (bytes + 7) / 8 * 8;
        std::vector<long long> scratch(2 * lines * len + 1, -1);
        std::vector<unsigned long long> out((count * size + 7) / 8 + 1, 0);
        void* y = out.data();
        switch (k) {{
{cases}        default: return 5;
        }}
        if (std::fwrite(out.data(), 8, (count * size + 7) / 8, o) != (size_t)((count * size + 7) / 8)) return 6;
    }}
    return std::fclose(o) == 0 ? 0 : 7;
}}
"#
    )
}

fn data(d: DType, n: usize, pattern: impl Fn(usize) -> f64) -> HostData {
    let v = (0..n).map(pattern);
    match d {
        DType::F64 => HostData::F64(v.collect()),
        DType::F32 => HostData::F32(v.map(|x| x as f32).collect()),
        DType::F16 => HostData::F16(v.map(f16::from_f64).collect()),
        DType::BF16 => HostData::BF16(v.map(bf16::from_f64).collect()),
        DType::I64 => HostData::I64(v.map(|x| x as i64).collect()),
        DType::U32 => HostData::U32(v.map(|x| x.abs() as u32).collect()),
        DType::Bool => HostData::Bool(v.map(|x| x > 0.0).collect()),
    }
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
    let kernels = kernels();
    let Some(program) = Program::build("scan_host", &scan_source(), &main_source(&kernels)) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let mut input = Vec::new();
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
    for (index, k) in kernels.iter().enumerate() {
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
                for w in [
                    index,
                    count,
                    size_of(out),
                    lines,
                    n,
                    inner,
                    usize::from(descending),
                ] {
                    input.extend((w as i64).to_le_bytes());
                }
                input.extend(strided(&moved));
                let b = bytes(&host);
                input.extend((b.len() as i64).to_le_bytes());
                let padded = b.len().div_ceil(8) * 8;
                input.extend(&b);
                input.resize(input.len() + padded - b.len(), 0);
                let what = format!("{dims:?} along {axis} ({values}, descending {descending})");
                jobs.push((k.clone(), what, count, out, want));
            }
        }
    }
    let got = program.run_bytes(&input);
    let mut at = 0;
    let mut failures = Vec::new();
    for (k, what, count, out, want) in &jobs {
        let len = count * size_of(*out);
        let g = &got[at..at + len];
        at += len.div_ceil(8) * 8;
        for i in 0..*count {
            if let Err(why) = agree(g, want, *out, i) {
                failures.push(format!("{} {what} [{i}]: {why}", k.name));
                break;
            }
        }
    }
    assert_eq!(at, got.len(), "output length");
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
