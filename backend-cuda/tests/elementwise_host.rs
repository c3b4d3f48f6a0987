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

use host::data::{bytes, compare, size_of};
use host::vm::{Arg, Vm};
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::source::{
    binary_kernel_name, binary_ops, binary_variants, elementwise_source, suffix, unary_kernel_name,
    unary_variants,
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
    let Some(vm) = Vm::build("elementwise_host", &elementwise_source()) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let mut script = vm.script();
    let mut expected = Vec::new();
    for k in kernels() {
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
            let want = reference(&k, &storages, &ls)
                .unwrap_or_else(|e| panic!("{}: the CPU refuses: {e}", k.name));
            let n = ls[0].elem_count();
            let want = bytes(
                &cpu.to_host(&*want, &Layout::contiguous(Shape::from(vec![n])))
                    .unwrap(),
            );
            // Buffers 0..3 the operands, 3 the output.
            for (i, h) in data.iter().enumerate() {
                script.buf(i, &bytes(h));
            }
            script.buf(3, &vec![0u8; n * size_of(k.out_dtype())]);
            let dst = Layout::contiguous(ls[0].shape().clone());
            let (b, y) = (|i| Arg::Buf(Some(i)), Arg::Buf(Some(3)));
            let args = match &k.kind {
                Kind::Unary(op) => {
                    let p = op.params();
                    vec![
                        b(0),
                        y,
                        Arg::Strided(&ls[0]),
                        Arg::Float(p.first().copied().unwrap_or(0.0)),
                        Arg::Float(p.get(1).copied().unwrap_or(0.0)),
                    ]
                }
                Kind::Binary(_) | Kind::Cmp(_) => {
                    vec![b(0), b(1), y, Arg::Strided(&ls[0]), Arg::Strided(&ls[1])]
                }
                Kind::Cast(_) => vec![b(0), y, Arg::Strided(&ls[0])],
                Kind::Where(_) => vec![
                    b(0),
                    b(1),
                    b(2),
                    y,
                    Arg::Strided(&ls[0]),
                    Arg::Strided(&ls[1]),
                    Arg::Strided(&ls[2]),
                ],
                Kind::Copy => vec![b(0), y, Arg::Strided(&ls[0]), Arg::Strided(&dst)],
                Kind::Fill => vec![y, Arg::Int(n as i64), Arg::Float(FILL)],
            };
            script.launch(&k.name, 2, 5, false, &args);
            script.read(3);
            let case = if strided_case {
                "strided"
            } else {
                "contiguous"
            };
            expected.push((
                format!("{} ({:?}) {case}", k.name, k.kind),
                k.out_dtype(),
                n,
                want,
            ));
        }
    }
    let got = script.run();
    let mut failures = Vec::new();
    for ((what, d, n, want), got) in expected.iter().zip(&got) {
        compare(got, want, *d, *n, what, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} kernel cases disagree with the CPU backend:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
    println!("{} kernel cases agree with the CPU backend", expected.len());
}
