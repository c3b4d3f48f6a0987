//! Every element-wise CUDA kernel (`elementwise.cu`: each unary op with each of its
//! parameter samples, each binary op and comparison, every cast, `where` and the strided
//! copy, on every dtype it has) run on the host as `host` explains, against the CPU
//! backend on the same operands: a contiguous layout and a strided one (a transposed view
//! at an offset; for two and three operands, one of them broadcast), on values that
//! include ±0, ±inf, NaN, subnormal-free extremes and the integer limits. The CUDA
//! expressions of the op tables are checked this way without a GPU; what it cannot check
//! is the device's own math library and its PTX half conversions (the host's libm and
//! `_Float16` stand in for them). Without a C++ compiler it says "skipped: no C++ compiler".

mod host;

use std::fmt::Write as _;

use host::data::{agree, bytes, size_of, strided};
use host::Program;
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::source::{
    binary_kernel_name, binary_ops, binary_variants, c_type, elementwise_source, suffix,
    unary_kernel_name, unary_variants,
};
use lamina_tensor::{
    bf16, f16, Backend, BinaryOp, CmpOp, DType, HostData, Layout, Shape, StorageRef, UnaryOp,
};

/// The value the fill kernels write: rounds in f32 and the half types, truncates and
/// saturates in the integers.
const FILL: f64 = -3.3e9 - 0.7;

/// Elements in every operand's storage.
const LEN: usize = 24;

/// What a kernel computes, for the reference and the call.
#[derive(Clone, Debug)]
enum Kind {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Cmp(CmpOp),
    Cast(DType),
    /// `where` with this condition dtype.
    Where(DType),
    Copy,
    /// `fill` with the value `p0` (the job's first parameter).
    Fill,
}

#[derive(Clone, Debug)]
struct Kernel {
    name: String,
    kind: Kind,
    /// The (value) operands' dtype.
    dtype: DType,
}

impl Kernel {
    fn out_dtype(&self) -> DType {
        match self.kind {
            Kind::Cmp(_) => DType::Bool,
            Kind::Cast(to) => to,
            Kind::Unary(_) | Kind::Binary(_) | Kind::Where(_) | Kind::Copy | Kind::Fill => {
                self.dtype
            }
        }
    }

    /// The C++ call of this kernel on the job's buffers `b[]`, output `y` and layouts `L[]`.
    fn call(&self) -> String {
        let t = c_type(self.dtype);
        let n = &self.name;
        match &self.kind {
            Kind::Unary(_) => format!("{n}((const {t}*)b[0], ({t}*)y, L[0], p0, p1)"),
            Kind::Binary(_) => {
                format!("{n}((const {t}*)b[0], (const {t}*)b[1], ({t}*)y, L[0], L[1])")
            }
            Kind::Cmp(_) => {
                format!("{n}((const {t}*)b[0], (const {t}*)b[1], (bool*)y, L[0], L[1])")
            }
            Kind::Cast(to) => format!("{n}((const {t}*)b[0], ({}*)y, L[0])", c_type(*to)),
            Kind::Where(c) => format!(
                "{n}((const {}*)b[0], (const {t}*)b[1], (const {t}*)b[2], ({t}*)y, L[0], L[1], L[2])",
                c_type(*c)
            ),
            Kind::Copy => format!("{n}((const {t}*)b[0], ({t}*)y, L[0], L[1])"),
            Kind::Fill => format!("{n}(({t}*)y, (unsigned long long)L[0].n, p0)"),
        }
    }
}

/// Every element-wise kernel, with the unary ops once per parameter sample.
fn kernels() -> Vec<Kernel> {
    let mut v = Vec::new();
    for op in UnaryOp::samples() {
        for (d, _) in unary_variants(&op) {
            v.push(Kernel {
                name: unary_kernel_name(&op, d),
                kind: Kind::Unary(op),
                dtype: d,
            });
        }
    }
    for op in binary_ops() {
        for (d, _) in binary_variants(&op) {
            v.push(Kernel {
                name: binary_kernel_name(&op, d),
                kind: Kind::Binary(op),
                dtype: d,
            });
        }
    }
    for d in DType::ALL {
        let n = suffix(d);
        for op in CmpOp::ALL {
            v.push(Kernel {
                name: format!("cmp_{}_{n}", op.name()),
                kind: Kind::Cmp(op),
                dtype: d,
            });
        }
        for to in DType::ALL {
            v.push(Kernel {
                name: format!("cast_{n}_{}", suffix(to)),
                kind: Kind::Cast(to),
                dtype: d,
            });
            v.push(Kernel {
                name: format!("where_{n}_{}", suffix(to)),
                kind: Kind::Where(d),
                dtype: to,
            });
        }
        v.push(Kernel {
            name: format!("copy_{n}"),
            kind: Kind::Copy,
            dtype: d,
        });
        v.push(Kernel {
            name: format!("fill_{n}"),
            kind: Kind::Fill,
            dtype: d,
        });
    }
    v
}

/// The program: the shim, the generated source and a `main` that runs a file of jobs.
fn main_source(kernels: &[Kernel]) -> String {
    let mut cases = String::new();
    for (i, k) in kernels.iter().enumerate() {
        let _ = writeln!(
            cases,
            "        case {i}: launch(2, 5, [&] {{ {}; }}); break;",
            k.call()
        );
    }
    format!(
        r#"
// A job: i64 kernel index, output elements, output element bytes; three Strided; f64 p0,
// p1; three buffers, each an i64 byte count and its bytes padded to 8. Its output: the
// bytes, padded to 8.
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
        Strided L[3];
        for (auto& l : L) {{ std::memcpy(&l, &in[at], sizeof(Strided)); at += sizeof(Strided); }}
        double p0, p1;
        std::memcpy(&p0, &in[at], 8);
        std::memcpy(&p1, &in[at + 8], 8);
        at += 16;
        std::vector<std::vector<unsigned long long>> bufs(3);
        const void* b[3];
        for (int i = 0; i < 3; ++i) {{
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

/// `LEN` values of `d`, rotated by `shift` (so two operands differ), integer zeros
/// replaced when `nonzero` (an integer division by zero is the CPU's error).
fn values(d: DType, shift: usize, nonzero: bool) -> HostData {
    let f: [f64; LEN] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -2.5,
        3.75,
        -0.3,
        1e-3,
        100.0,
        -100.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        2.0,
        0.25,
        7.5,
        -7.5,
        1e30,
        40.0,
        -40.0,
        1.5,
        -1.5,
        0.1,
    ];
    let i: [i64; LEN] = [
        0,
        1,
        -1,
        2,
        -3,
        7,
        -8,
        100,
        i64::MAX,
        i64::MIN,
        5,
        -5,
        13,
        63,
        64,
        3,
        9,
        -9,
        12,
        4,
        -4,
        6,
        31,
        1000,
    ];
    let u: [u32; LEN] = [
        0,
        1,
        2,
        3,
        7,
        8,
        100,
        u32::MAX,
        5,
        13,
        31,
        32,
        33,
        1000,
        4,
        6,
        9,
        12,
        63,
        64,
        65535,
        1 << 31,
        11,
        17,
    ];
    let rot = |k: usize| (k + shift) % LEN;
    match d {
        DType::F64 => HostData::F64((0..LEN).map(|k| f[rot(k)]).collect()),
        DType::F32 => HostData::F32((0..LEN).map(|k| f[rot(k)] as f32).collect()),
        DType::F16 => HostData::F16((0..LEN).map(|k| f16::from_f64(f[rot(k)])).collect()),
        DType::BF16 => HostData::BF16((0..LEN).map(|k| bf16::from_f64(f[rot(k)])).collect()),
        DType::I64 => HostData::I64(
            (0..LEN)
                .map(|k| match i[rot(k)] {
                    0 if nonzero => 3,
                    v => v,
                })
                .collect(),
        ),
        DType::U32 => HostData::U32(
            (0..LEN)
                .map(|k| match u[rot(k)] {
                    0 if nonzero => 3,
                    v => v,
                })
                .collect(),
        ),
        DType::Bool => HostData::Bool((0..LEN).map(|k| rot(k) % 3 == 1).collect()),
    }
}

/// A test's operand layouts: contiguous, or views of the `LEN`-element storages.
fn layouts(strided: bool, operands: usize) -> Vec<Layout> {
    if !strided {
        return vec![Layout::contiguous(Shape::from(vec![LEN])); operands];
    }
    let shape = Shape::from(vec![3, 4]);
    // A transposed view at offset 2; a broadcast row; a column view.
    let all = [
        Layout::new(shape.clone(), vec![1, 5], 2),
        Layout::new(shape.clone(), vec![0, 2], 1),
        Layout::new(shape, vec![7, 1], 3),
    ];
    all[..operands].to_vec()
}

fn reference(k: &Kernel, ops: &[StorageRef], ls: &[Layout]) -> lamina_tensor::Result<StorageRef> {
    let cpu = CpuBackend;
    match &k.kind {
        Kind::Unary(op) => cpu.unary(*op, &*ops[0], &ls[0]),
        Kind::Binary(op) => cpu.binary(*op, &*ops[0], &ls[0], &*ops[1], &ls[1]),
        Kind::Cmp(op) => cpu.cmp(*op, &*ops[0], &ls[0], &*ops[1], &ls[1]),
        Kind::Cast(to) => cpu.cast(&*ops[0], &ls[0], *to),
        Kind::Where(_) => cpu.where_cond(&*ops[0], &ls[0], &*ops[1], &ls[1], &*ops[2], &ls[2]),
        Kind::Copy => cpu.from_host(cpu.to_host(&*ops[0], &ls[0])?),
        Kind::Fill => cpu.full(ls[0].elem_count(), FILL, k.dtype),
    }
}

#[test]
fn elementwise_kernels_on_the_host() {
    let kernels = kernels();
    let Some(program) = Program::build(
        "elementwise_host",
        &elementwise_source(),
        &main_source(&kernels),
    ) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let mut job = Vec::new();
    let mut expected = Vec::new();
    for (index, k) in kernels.iter().enumerate() {
        let (operands, dtypes): (usize, Vec<DType>) = match k.kind {
            Kind::Unary(_) | Kind::Cast(_) | Kind::Copy | Kind::Fill => (1, vec![k.dtype]),
            Kind::Binary(_) | Kind::Cmp(_) => (2, vec![k.dtype, k.dtype]),
            Kind::Where(c) => (3, vec![c, k.dtype, k.dtype]),
        };
        let nonzero = matches!(k.kind, Kind::Binary(_));
        for strided_case in [false, true] {
            let ls = layouts(strided_case, operands);
            let data: Vec<HostData> = dtypes
                .iter()
                .enumerate()
                .map(|(i, &d)| values(d, 5 * i, nonzero && i == 1))
                .collect();
            let storages: Vec<StorageRef> = data
                .iter()
                .map(|h| cpu.from_host(h.clone()).unwrap())
                .collect();
            let want = reference(k, &storages, &ls)
                .unwrap_or_else(|e| panic!("{}: the CPU refuses: {e}", k.name));
            let n = ls[0].elem_count();
            let want = bytes(
                &cpu.to_host(&*want, &Layout::contiguous(Shape::from(vec![n])))
                    .unwrap(),
            );
            let size = size_of(k.out_dtype());
            for w in [index as i64, n as i64, size as i64] {
                job.extend(w.to_le_bytes());
            }
            let mut dst = ls.clone();
            if let Kind::Copy = k.kind {
                dst.push(Layout::contiguous(ls[0].shape().clone()));
            }
            for i in 0..3 {
                let l = dst
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| Layout::contiguous(Shape::from(vec![1])));
                job.extend(strided(&l));
            }
            let (p0, p1) = match &k.kind {
                Kind::Unary(op) => {
                    let p = op.params();
                    (
                        p.first().copied().unwrap_or(0.0),
                        p.get(1).copied().unwrap_or(0.0),
                    )
                }
                Kind::Fill => (FILL, 0.0),
                Kind::Binary(_) | Kind::Cmp(_) | Kind::Cast(_) | Kind::Where(_) | Kind::Copy => {
                    (0.0, 0.0)
                }
            };
            job.extend(p0.to_le_bytes());
            job.extend(p1.to_le_bytes());
            for i in 0..3 {
                let b = data.get(i).map(bytes).unwrap_or_default();
                job.extend((b.len() as i64).to_le_bytes());
                let padded = b.len().div_ceil(8) * 8;
                job.extend(&b);
                job.resize(job.len() + padded - b.len(), 0);
            }
            expected.push((k.clone(), strided_case, n, want));
        }
    }
    let out = program.run_bytes(&job);
    let mut at = 0;
    let mut failures = Vec::new();
    for (k, strided_case, n, want) in &expected {
        let d = k.out_dtype();
        let len = n * size_of(d);
        let got = &out[at..at + len];
        at += len.div_ceil(8) * 8;
        for i in 0..*n {
            if let Err(why) = agree(got, want, d, i) {
                let case = if *strided_case {
                    "strided"
                } else {
                    "contiguous"
                };
                failures.push(format!("{} ({:?}) {case} [{i}]: {why}", k.name, k.kind));
                break;
            }
        }
    }
    assert_eq!(at, out.len(), "output length");
    assert!(
        failures.is_empty(),
        "{} of {} kernel cases disagree with the CPU backend:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
    println!("{} kernel cases agree with the CPU backend", expected.len());
}
