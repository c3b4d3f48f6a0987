//! The CUDA C++ source of the element-wise kernels, generated from the op tables: each
//! unary and binary op's row in `lamina-tensor` carries its kernel as a CUDA expression
//! (`UnaryOp::cuda_expr`, `BinaryOp::cuda_expr`, and the integer and bool variants), and
//! this module wraps every one in a device function and one entry point per dtype, after
//! the prelude (`kernels/prelude.cuh`: the [`StridedArg`](crate::launch::StridedArg)
//! layout and the helpers the expressions call). An op added to a table is compiled here
//! with no other change; a row without a CUDA expression does not compile.
//!
//! Entry points, one thread per output element (grid-stride):
//! - `unary_<op>_<dtype>(const T* x, T* y, Strided lx, double p0, double p1)`: `y`
//!   contiguous, `x` read through its layout, `p0`, `p1` the op's params (unused ones 0);
//! - `binary_<op>_<dtype>(const T* a, const T* b, T* y, Strided la, Strided lb)`: both
//!   operands broadcast to `y`'s shape by their layouts (stride 0 where broadcast).
//!
//! Nothing here needs a GPU: `kernel-check.sh` compiles this source with NVRTC and
//! assembles it with ptxas for every architecture the backend targets.

use std::fmt::Write;

use lamina_tensor::{BinaryOp, CmpOp, DType, ReduceOp, ScanOp, ScatterReduce, UnaryOp};

/// The NVRTC options every source is compiled with, besides the target architecture
/// (`--gpu-architecture=sm_XY`, the device's own at run time): C++17, IEEE float
/// arithmetic (no fast-math) and no contraction of `a * b + c` into one fused
/// multiply-add (`--fmad=false`; Rust never contracts), so the kernels round as the CPU
/// backend's do; warning 186 ("pointless comparison of unsigned integer with zero") off,
/// since the tables' integer expressions serve signed and unsigned types alike.
pub const NVRTC_OPTIONS: &[&str] = &["--std=c++17", "--fmad=false", "--diag-suppress=186"];

/// The architectures the compile check targets: Ampere (A100) and Hopper (H100, H200).
pub const CHECK_ARCHS: &[&str] = &["sm_80", "sm_90"];

/// The prelude every generated source starts with.
pub const PRELUDE: &str = include_str!("../kernels/prelude.cuh");

/// The scans' and argsort's device code.
pub const SCAN: &str = include_str!("../kernels/scan.cuh");

/// The indexing kernels' device code.
pub const INDEX: &str = include_str!("../kernels/index.cuh");

/// The fused kernels' device code (optimizer updates, normalisation, pooling, integer
/// matmul).
pub const FUSED: &str = include_str!("../kernels/fused.cuh");

/// The convolution's im2col and col2im (self-contained: no prelude).
pub const CONV: &str = include_str!("../kernels/conv.cuh");

/// The kernels a scatter with `reduce` runs after the index check, in order, each with
/// its `init` argument: `scatter_init_*` first when the targets' originals are excluded
/// (the reduction's identity), then the combining kernel, and for the mean
/// `scatter_count_*`; the `bool` says the mean's division (`scatter_mean_div_*`) follows.
pub fn scatter_passes(
    reduce: ScatterReduce,
    include_self: bool,
) -> (Vec<(&'static str, f64)>, bool) {
    let (init, combine) = match reduce {
        ScatterReduce::Replace => (None, "scatter"),
        ScatterReduce::Sum | ScatterReduce::Mean => (Some(0.0), "scatter_add"),
        ScatterReduce::Prod => (Some(1.0), "scatter_mul"),
        ScatterReduce::Amax => (Some(f64::NEG_INFINITY), "scatter_max"),
        ScatterReduce::Amin => (Some(f64::INFINITY), "scatter_min"),
    };
    let mut passes = Vec::new();
    if let (Some(v), false) = (init, include_self) {
        passes.push(("scatter_init", v));
    }
    passes.push((combine, 0.0));
    let mean = reduce == ScatterReduce::Mean;
    if mean {
        passes.push(("scatter_count", 0.0));
    }
    (passes, mean)
}

/// The LSTM cell's forward and backward (self-contained: no prelude).
pub const LSTM: &str = include_str!("../kernels/lstm.cuh");

/// The index dtypes.
pub const INDEX_DTYPES: [DType; 2] = [DType::I64, DType::U32];

/// The reductions' and softmax's device code (block reductions by warp shuffles).
pub const REDUCE: &str = include_str!("../kernels/reduce.cuh");

/// The number dtypes: what the reductions, scans and scatter's reductions run on (bool is
/// cast first, as on the CPU; the half types accumulate in float).
pub const NUMBER_DTYPES: [DType; 6] = [
    DType::F32,
    DType::F64,
    DType::I64,
    DType::U32,
    DType::F16,
    DType::BF16,
];

/// The half dtypes: stored in 16 bits, computed in float (`Compute` in the prelude), each
/// result rounded once to nearest even, as on the CPU.
pub const HALVES: [DType; 2] = [DType::F16, DType::BF16];

/// Whether `dtype` is a half type.
pub fn is_half(dtype: DType) -> bool {
    match dtype {
        DType::F16 | DType::BF16 => true,
        DType::F32 | DType::F64 | DType::I64 | DType::U32 | DType::Bool => false,
    }
}

/// The CUDA C++ type a dtype's elements are computed in: float for the half types, the
/// element type for the others.
pub fn compute_type(dtype: DType) -> &'static str {
    if is_half(dtype) {
        "float"
    } else {
        c_type(dtype)
    }
}

/// The CUDA C++ type of a dtype's elements.
pub fn c_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "float",
        DType::F64 => "double",
        DType::I64 => "long long",
        DType::U32 => "unsigned int",
        DType::Bool => "bool",
        // 16-bit structs of the prelude (no cuda_fp16.h under NVRTC without include paths).
        DType::F16 => "lamina_f16",
        DType::BF16 => "lamina_bf16",
    }
}

/// The dtype's suffix in kernel names.
pub fn suffix(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::I64 => "i64",
        DType::U32 => "u32",
        DType::Bool => "bool",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
    }
}

/// The float dtypes every op has kernels for; integer dtypes where the op has an integer
/// kernel; bool where it has a bool kernel.
const FLOATS: [DType; 2] = [DType::F32, DType::F64];
const INTS: [DType; 2] = [DType::I64, DType::U32];

/// The dtypes `op` has a CUDA kernel for, each with its expression (the half types run the
/// float one: their entry points call the f32 device function).
pub fn unary_variants(op: &UnaryOp) -> Vec<(DType, &'static str)> {
    let mut v: Vec<_> = FLOATS.iter().map(|&d| (d, op.cuda_expr())).collect();
    v.extend(HALVES.iter().map(|&d| (d, op.cuda_expr())));
    if let Some(e) = op.cuda_int_expr() {
        v.extend(INTS.iter().map(|&d| (d, e)));
    }
    v
}

/// The dtypes `op` has a CUDA kernel for, each with its expression (the half types run the
/// float one, as `unary_variants`).
pub fn binary_variants(op: &BinaryOp) -> Vec<(DType, &'static str)> {
    let mut v: Vec<_> = FLOATS.iter().map(|&d| (d, op.cuda_expr())).collect();
    v.extend(HALVES.iter().map(|&d| (d, op.cuda_expr())));
    if let Some(e) = op.cuda_int_expr() {
        v.extend(INTS.iter().map(|&d| (d, e)));
    }
    if let Some(e) = op.cuda_bool_expr() {
        v.push((DType::Bool, e));
    }
    v
}

/// The entry point of `op` on `dtype`.
pub fn unary_kernel_name(op: &UnaryOp, dtype: DType) -> String {
    format!("unary_{}_{}", op.name(), suffix(dtype))
}

/// The entry point of `op` on `dtype`.
pub fn binary_kernel_name(op: &BinaryOp, dtype: DType) -> String {
    format!("binary_{}_{}", op.name(), suffix(dtype))
}

/// One op of each unary kind (the tables' samples list parametrised ops once per tested
/// parameter value; the kernel is the same).
pub fn unary_ops() -> Vec<UnaryOp> {
    let mut ops: Vec<UnaryOp> = Vec::new();
    for op in UnaryOp::samples() {
        if !ops.iter().any(|o| o.name() == op.name()) {
            ops.push(op);
        }
    }
    ops
}

/// Every binary op.
pub fn binary_ops() -> Vec<BinaryOp> {
    let mut ops: Vec<BinaryOp> = Vec::new();
    for op in BinaryOp::samples() {
        if !ops.contains(&op) {
            ops.push(op);
        }
    }
    ops
}

/// The whole element-wise source: the prelude, then per op its device function(s) and its
/// entry points.
pub fn elementwise_source() -> String {
    let mut s = String::from(PRELUDE);
    for op in unary_ops() {
        let params: String = op
            .param_names()
            .iter()
            .map(|p| format!(", double {p}"))
            .collect();
        let args: String = ["p0", "p1"][..op.param_names().len()]
            .iter()
            .map(|p| format!(", {p}"))
            .collect();
        for (dtype, expr) in unary_variants(&op) {
            let t = c_type(dtype);
            let kernel = unary_kernel_name(&op, dtype);
            if is_half(dtype) {
                // The f32 kernel between a widening and one rounding (the CPU's `Widened`).
                let f32_op = unary_kernel_name(&op, DType::F32);
                let _ = write!(
                    s,
                    "\nextern \"C\" __global__ void {kernel}(const {t}* __restrict__ x, \
                     {t}* __restrict__ y, const Strided lx, const double p0, const double p1) {{\n\
                     \x20   (void)p0; (void)p1;\n\
                     \x20   LAMINA_FOR_EACH(i, lx.n) {{ y[i] = narrow<{t}>({f32_op}_op(widen(x[elem_offset(lx, i)]){args})); }}\n\
                     }}\n"
                );
                continue;
            }
            // One device function per dtype: a float expression need not compile for
            // integers, nor the reverse.
            let _ = write!(
                s,
                "\n__device__ __forceinline__ {t} {kernel}_op({t} x{params}) {{\n\
                 \x20   typedef {t} T;\n\
                 \x20   return (T)({expr});\n\
                 }}\n\
                 extern \"C\" __global__ void {kernel}(const {t}* __restrict__ x, \
                 {t}* __restrict__ y, const Strided lx, const double p0, const double p1) {{\n\
                 \x20   (void)p0; (void)p1;\n\
                 \x20   LAMINA_FOR_EACH(i, lx.n) {{ y[i] = {kernel}_op(x[elem_offset(lx, i)]{args}); }}\n\
                 }}\n"
            );
        }
    }
    s.push_str(&data_source());
    for op in binary_ops() {
        for (dtype, expr) in binary_variants(&op) {
            let t = c_type(dtype);
            let kernel = binary_kernel_name(&op, dtype);
            if is_half(dtype) {
                // The f32 kernel between a widening and one rounding (the CPU's `Widened`).
                let f32_op = binary_kernel_name(&op, DType::F32);
                let _ = write!(
                    s,
                    "\nextern \"C\" __global__ void {kernel}(const {t}* __restrict__ a, \
                     const {t}* __restrict__ b, {t}* __restrict__ y, const Strided la, \
                     const Strided lb) {{\n\
                     \x20   LAMINA_FOR_EACH(i, la.n) {{ y[i] = narrow<{t}>({f32_op}_op(widen(a[elem_offset(la, i)]), widen(b[elem_offset(lb, i)]))); }}\n\
                     }}\n"
                );
                continue;
            }
            let _ = write!(
                s,
                "\n__device__ __forceinline__ {t} {kernel}_op({t} a, {t} b) {{\n\
                 \x20   typedef {t} T;\n\
                 \x20   return (T)({expr});\n\
                 }}\n\
                 extern \"C\" __global__ void {kernel}(const {t}* __restrict__ a, \
                 const {t}* __restrict__ b, {t}* __restrict__ y, const Strided la, \
                 const Strided lb) {{\n\
                 \x20   LAMINA_FOR_EACH(i, la.n) {{ y[i] = {kernel}_op(a[elem_offset(la, i)], b[elem_offset(lb, i)]); }}\n\
                 }}\n"
            );
        }
    }
    s
}

/// The data-movement kernels, for every dtype (and pair of dtypes):
/// - `copy_<d>(const T* x, T* y, Strided lx, Strided ly)`: `y` through its own layout;
/// - `cast_<from>_<to>(const F* x, T* y, Strided lx)`: Rust's `as` (`Convert` in the
///   prelude), `y` contiguous;
/// - `fill_<d>(T* y, unsigned long long n, double v)`: `v as T`;
/// - `cmp_<op>_<d>(const T* a, const T* b, bool* y, Strided la, Strided lb)`;
/// - `where_<c>_<d>(const C* c, const T* t, const T* f, T* y, Strided lc, Strided lt,
///   Strided lf)`: `c != 0 ? t : f`.
pub fn data_source() -> String {
    let mut s = String::new();
    for d in DType::ALL {
        let (t, n) = (c_type(d), suffix(d));
        let _ = write!(
            s,
            "\nextern \"C\" __global__ void copy_{n}(const {t}* __restrict__ x, {t}* __restrict__ y, \
             const Strided lx, const Strided ly) {{\n\
             \x20   LAMINA_FOR_EACH(i, lx.n) {{ y[elem_offset(ly, i)] = x[elem_offset(lx, i)]; }}\n\
             }}\n\
             extern \"C\" __global__ void fill_{n}({t}* __restrict__ y, const unsigned long long n, \
             const double v) {{\n\
             \x20   const {t} value = sat<{t}>(v);\n\
             \x20   LAMINA_FOR_EACH(i, n) {{ y[i] = value; }}\n\
             }}\n"
        );
        for to in DType::ALL {
            let (tt, tn) = (c_type(to), suffix(to));
            let _ = write!(
                s,
                "extern \"C\" __global__ void cast_{n}_{tn}(const {t}* __restrict__ x, \
                 {tt}* __restrict__ y, const Strided lx) {{\n\
                 \x20   LAMINA_FOR_EACH(i, lx.n) {{ y[i] = Convert<{t}, {tt}>::run(x[elem_offset(lx, i)]); }}\n\
                 }}\n"
            );
            let _ = write!(
                s,
                "extern \"C\" __global__ void where_{n}_{tn}(const {t}* __restrict__ c, \
                 const {tt}* __restrict__ t, const {tt}* __restrict__ f, {tt}* __restrict__ y, \
                 const Strided lc, const Strided lt, const Strided lf) {{\n\
                 \x20   LAMINA_FOR_EACH(i, lc.n) {{\n\
                 \x20       y[i] = Convert<{t}, bool>::run(c[elem_offset(lc, i)]) ? t[elem_offset(lt, i)] : f[elem_offset(lf, i)];\n\
                 \x20   }}\n\
                 }}\n"
            );
        }
        // Half operands compare widened (exact).
        let ct = compute_type(d);
        for op in CmpOp::ALL {
            let (name, expr) = (op.name(), op.cuda_expr());
            let _ = write!(
                s,
                "extern \"C\" __global__ void cmp_{name}_{n}(const {t}* __restrict__ a, \
                 const {t}* __restrict__ b, bool* __restrict__ y, const Strided la, \
                 const Strided lb) {{\n\
                 \x20   LAMINA_FOR_EACH(i, la.n) {{\n\
                 \x20       const {ct} a_ = Compute<{t}>::load(a[elem_offset(la, i)]), b_ = Compute<{t}>::load(b[elem_offset(lb, i)]);\n\
                 \x20       y[i] = [](const {ct} a, const {ct} b) {{ return (bool)({expr}); }}(a_, b_);\n\
                 \x20   }}\n\
                 }}\n"
            );
        }
    }
    s
}

/// The entry point of reduction `op` on `dtype`.
pub fn reduce_kernel_name(op: ReduceOp, dtype: DType) -> String {
    format!("reduce_{}_{}", op.name(), suffix(dtype))
}

/// The reductions and the row-wise softmax:
/// - `reduce_<op>_<d>(const T* x, Out* y, Strided lx, unsigned long long outer,
///   unsigned long long inner)`: `y[o]` reduces `x(o, r)` over `r < inner`, read at
///   `elem_offset(lx, o·inner + r)` (the host moves the reduced axes last); `Out` is `T`,
///   `long long` for the arg-reductions; one block of 256 threads per output, grid-stride;
/// - `softmax_<d>`, `log_softmax_<d>(const T* x, T* y, rows, cols)` and
///   `softmax_backward_<d>`, `log_softmax_backward_<d>(const T* y, const T* dy, T* dx, rows,
///   cols)` over contiguous rows, f32 and f64, and f16 and bf16 in float (one rounding
///   per output, as the CPU's softmax through f32).
pub fn reduce_source() -> String {
    let mut s = format!("{PRELUDE}\n{REDUCE}");
    for d in NUMBER_DTYPES {
        let t = c_type(d);
        for op in ReduceOp::ALL {
            let f = op.cuda_functor();
            // Half elements reduce in float, the result rounded once (`Widened`).
            let f = if is_half(d) {
                format!("Widened<{t}, {f}<float>>")
            } else {
                format!("{f}<{t}>")
            };
            let _ = write!(
                s,
                "\nextern \"C\" __global__ void __launch_bounds__(LAMINA_REDUCE_THREADS) {}(\
                 const {t}* __restrict__ x, {f}::Out* __restrict__ y, const Strided lx, \
                 const unsigned long long outer, const unsigned long long inner) {{\n\
                 \x20   reduce_rows<{t}, {f}>(x, y, lx, outer, inner);\n\
                 }}\n",
                reduce_kernel_name(op, d)
            );
        }
    }
    for d in FLOATS_AND_HALVES {
        let (t, n) = (c_type(d), suffix(d));
        for (name, log) in [("softmax", false), ("log_softmax", true)] {
            let _ = write!(
                s,
                "\nextern \"C\" __global__ void __launch_bounds__(LAMINA_REDUCE_THREADS) {name}_{n}(\
                 const {t}* __restrict__ x, {t}* __restrict__ y, const unsigned long long rows, \
                 const unsigned long long cols) {{\n\
                 \x20   softmax_rows<{t}, {log}>(x, y, rows, cols);\n\
                 }}\n\
                 extern \"C\" __global__ void __launch_bounds__(LAMINA_REDUCE_THREADS) {name}_backward_{n}(\
                 const {t}* __restrict__ y, const {t}* __restrict__ dy, {t}* __restrict__ dx, \
                 const unsigned long long rows, const unsigned long long cols) {{\n\
                 \x20   softmax_backward_rows<{t}, {log}>(y, dy, dx, rows, cols);\n\
                 }}\n"
            );
        }
    }
    s
}

/// The indexing kernels, per value dtype `d` and index dtype `i` (all write the first
/// out-of-range index they meet to `bad`, and skip it):
/// - `index_select_<d>_<i>(const T* x, const I* ids, T* y, Strided lx, Strided lids,
///   outer, size, inner, long long* bad)`: `y[o][j][r] = x[o][ids[j]][r]` over `x` as
///   `[outer, size, inner]`;
/// - `gather_<d>_<i>(const T* x, const I* ids, T* y, Strided lx, Strided lids, int dim,
///   long long* bad)`;
/// - `scatter_<d>_<i>` (overwrite, every dtype) and, on f32, f64, i64 and u32,
///   `scatter_{add,mul,max,min}_<d>_<i>` (atomic), `scatter_init_<d>_<i>` (the targets set
///   to `init` first when the original values are excluded) and `scatter_count_<d>_<i>`
///   (values per target, for the mean) `(T* dst, const I* ids, const T* src, Strided ld,
///   Strided lids, Strided ls, int dim, double init, unsigned* counts, long long* bad)`;
/// - `scatter_mean_div_<d>(T* dst, const unsigned* counts, len, int include_self)`;
/// - `index_check_<i>(const I* ids, Strided lids, long long size, long long* bad)`: the
///   ids alone, checked before a scatter writes anything.
pub fn index_source() -> String {
    let mut s = format!("{PRELUDE}\n{INDEX}");
    for d in DType::ALL {
        let (t, n) = (c_type(d), suffix(d));
        for i in INDEX_DTYPES {
            let (it, is) = (c_type(i), suffix(i));
            let _ = write!(
                s,
                "\nextern \"C\" __global__ void index_select_{n}_{is}(const {t}* __restrict__ x, \
                 const {it}* __restrict__ ids, {t}* __restrict__ y, const Strided lx, \
                 const Strided lids, const unsigned long long outer, const unsigned long long size, \
                 const unsigned long long inner, long long* bad) {{\n\
                 \x20   index_select_impl<{t}, {it}>(x, ids, y, lx, lids, outer, size, inner, bad);\n\
                 }}\n\
                 extern \"C\" __global__ void gather_{n}_{is}(const {t}* __restrict__ x, \
                 const {it}* __restrict__ ids, {t}* __restrict__ y, const Strided lx, \
                 const Strided lids, const int dim, long long* bad) {{\n\
                 \x20   gather_impl<{t}, {it}>(x, ids, y, lx, lids, dim, bad);\n\
                 }}\n"
            );
            let mut modes = vec![("scatter", 0)];
            if NUMBER_DTYPES.contains(&d) {
                modes.extend([
                    ("scatter_add", 1),
                    ("scatter_mul", 2),
                    ("scatter_max", 3),
                    ("scatter_min", 4),
                    ("scatter_init", 5),
                    ("scatter_count", 6),
                ]);
            }
            for (name, mode) in modes {
                let _ = write!(
                    s,
                    "extern \"C\" __global__ void {name}_{n}_{is}({t}* dst, const {it}* __restrict__ ids, \
                     const {t}* src, const Strided ld, const Strided lids, const Strided ls, \
                     const int dim, const double init, unsigned int* counts, long long* bad) {{\n\
                     \x20   scatter_impl<{t}, {it}, {mode}>(dst, ids, src, ld, lids, ls, dim, init, counts, bad);\n\
                     }}\n"
                );
            }
        }
        if NUMBER_DTYPES.contains(&d) {
            let _ = write!(
                s,
                "extern \"C\" __global__ void scatter_mean_div_{n}({t}* dst, const unsigned int* counts, \
                 const unsigned long long len, const int include_self) {{\n\
                 \x20   scatter_mean_div_impl<{t}>(dst, counts, len, include_self);\n\
                 }}\n"
            );
        }
    }
    for i in INDEX_DTYPES {
        let (it, is) = (c_type(i), suffix(i));
        let _ = write!(
            s,
            "extern \"C\" __global__ void index_check_{is}(const {it}* __restrict__ ids, \
             const Strided lids, const long long size, long long* bad) {{\n\
             \x20   index_check_impl<{it}>(ids, lids, size, bad);\n\
             }}\n"
        );
    }
    s
}

/// The entry point of scan `op` on `dtype`.
pub fn scan_kernel_name(op: ScanOp, dtype: DType) -> String {
    format!("scan_{}_{}", op.name(), suffix(dtype))
}

/// The float dtypes, half ones included: `logcumsumexp`'s.
/// The float types with their half counterparts.
pub const FLOATS_AND_HALVES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

/// The dtypes scan `op` has a kernel for: sums and products on the number types,
/// `logcumsumexp` on floats (the half types accumulate in float).
pub fn scan_dtypes(op: ScanOp) -> &'static [DType] {
    match op {
        ScanOp::Sum | ScanOp::Prod => &NUMBER_DTYPES,
        ScanOp::LogSumExp => &FLOATS_AND_HALVES,
    }
}

/// The scans and argsort, one thread per line along the axis (the host moves the axis
/// last in the layout `lx`; `lines · n` elements, `inner` the product of the dims after the
/// axis, for the contiguous output's order):
/// - `scan_<op>_<d>(const T* x, T* y, Strided lx, lines, n, inner)`;
/// - `argsort_<d>(const T* x, long long* y, long long* scratch, Strided lx, lines, n,
///   inner, int descending)`: a stable merge sort per line in `scratch` (`2 · lines · n`
///   indices), NaN after every number.
pub fn scan_source() -> String {
    let mut s = format!("{PRELUDE}\n{SCAN}");
    for op in [ScanOp::Sum, ScanOp::Prod, ScanOp::LogSumExp] {
        let code = match op {
            ScanOp::Sum => 0,
            ScanOp::Prod => 1,
            ScanOp::LogSumExp => 2,
        };
        for &d in scan_dtypes(op) {
            let t = c_type(d);
            let _ = write!(
                s,
                "\nextern \"C\" __global__ void {}(const {t}* __restrict__ x, {t}* __restrict__ y, \
                 const Strided lx, const unsigned long long lines, const unsigned long long n, \
                 const unsigned long long inner) {{\n\
                 \x20   scan_lines<{t}, {code}>(x, y, lx, lines, n, inner);\n\
                 }}\n",
                scan_kernel_name(op, d)
            );
        }
    }
    for d in DType::ALL {
        let (t, n) = (c_type(d), suffix(d));
        let _ = write!(
            s,
            "\nextern \"C\" __global__ void argsort_{n}(const {t}* __restrict__ x, long long* y, \
             long long* scratch, const Strided lx, const unsigned long long lines, \
             const unsigned long long n, const unsigned long long inner, const int descending) {{\n\
             \x20   argsort_lines<{t}>(x, y, scratch, lx, lines, n, inner, descending);\n\
             }}\n"
        );
    }
    s
}

/// The fused kernels, grid-stride: the optimizer updates on f32 and f64, normalisation
/// and max pooling's arg-max on f32, f64, f16 and bf16 (the half types in float), integer
/// matmul on i64 and u32:
/// - `adam_<d>(T* p, const T* g, T* m, T* v, n, double beta1, double beta2, double eps,
///   double step_size, double bc2_sqrt)` and `sgd_<d>(T* p, const T* g, T* buf, n,
///   double lr, double momentum, double dampening, double weight_decay, int nesterov)`,
///   contiguous, in place;
/// - `norm_stats_<d>(const T* x, S* mean, S* var, S* rstd, outer, groups, inner,
///   double eps, int center)` (one block per group) then `norm_apply_<d>(const T* x, T* y,
///   const S* mean, const S* rstd, n, groups, inner)`; the backward's
///   `norm_backward_sums_<d>(const T* g, const T* y, S* coef, outer, groups, inner,
///   int center)` then `norm_backward_apply_<d>(const T* g, const T* y, const S* coef,
///   const T* rstd, T* dx, n, groups, inner)`; `S`, the statistics' type, is `T`, or
///   float for the half types (the host rounds the returned mean and variance);
/// - `max_pool_indices_<d>(const T* x, long long* y, planes, h, w, kh, kw, sh, sw, ph, pw,
///   oh, ow)` (the sizes as `long long`; half values compared widened);
/// - `matmul_int_<d>(const T* a, const T* b, T* y, Strided la, Strided lb, batch, m, k, n)`.
pub fn fused_source() -> String {
    let mut s = format!("{PRELUDE}\n{REDUCE}\n{FUSED}");
    let u = "const unsigned long long";
    // No half optimizer kernels: half parameters take the composite (as on the CPU).
    for d in FLOATS {
        let (t, n) = (c_type(d), suffix(d));
        let _ = write!(
            s,
            "\nextern \"C\" __global__ void adam_{n}({t}* p, const {t}* g, {t}* m, {t}* v, {u} n, \
             const double beta1, const double beta2, const double eps, const double step_size, \
             const double bc2_sqrt) {{\n\
             \x20   adam_elems<{t}>(p, g, m, v, n, beta1, beta2, eps, step_size, bc2_sqrt);\n\
             }}\n\
             extern \"C\" __global__ void sgd_{n}({t}* p, const {t}* g, {t}* buf, {u} n, \
             const double lr, const double momentum, const double dampening, \
             const double weight_decay, const int nesterov) {{\n\
             \x20   sgd_elems<{t}>(p, g, buf, n, lr, momentum, dampening, weight_decay, nesterov);\n\
             }}\n"
        );
    }
    for d in FLOATS_AND_HALVES {
        let (t, n, st) = (c_type(d), suffix(d), compute_type(d));
        let _ = write!(
            s,
            "\nextern \"C\" __global__ void __launch_bounds__(LAMINA_REDUCE_THREADS) norm_stats_{n}(\
             const {t}* __restrict__ x, {st}* mean, {st}* var, {st}* rstd, {u} outer, {u} groups, \
             {u} inner, const double eps, const int center) {{\n\
             \x20   norm_stats<{t}, {st}>(x, mean, var, rstd, outer, groups, inner, eps, center);\n\
             }}\n\
             extern \"C\" __global__ void norm_apply_{n}(const {t}* __restrict__ x, \
             {t}* __restrict__ y, const {st}* mean, const {st}* rstd, {u} n, {u} groups, {u} inner) {{\n\
             \x20   norm_apply<{t}, {st}>(x, y, mean, rstd, n, groups, inner);\n\
             }}\n\
             extern \"C\" __global__ void __launch_bounds__(LAMINA_REDUCE_THREADS) \
             norm_backward_sums_{n}(const {t}* __restrict__ g, const {t}* __restrict__ y, \
             {st}* coef, {u} outer, {u} groups, {u} inner, const int center) {{\n\
             \x20   norm_backward_sums<{t}, {st}>(g, y, coef, outer, groups, inner, center);\n\
             }}\n\
             extern \"C\" __global__ void norm_backward_apply_{n}(const {t}* __restrict__ g, \
             const {t}* __restrict__ y, const {st}* coef, const {t}* rstd, {t}* __restrict__ dx, \
             {u} n, {u} groups, {u} inner) {{\n\
             \x20   norm_backward_apply<{t}, {st}>(g, y, coef, rstd, dx, n, groups, inner);\n\
             }}\n\
             extern \"C\" __global__ void max_pool_indices_{n}(const {t}* __restrict__ x, \
             long long* __restrict__ y, {u} planes, const long long h, const long long w, \
             const long long kh, const long long kw, const long long sh, const long long sw, \
             const long long ph, const long long pw, const long long oh, const long long ow) {{\n\
             \x20   max_pool_idx<{t}>(x, y, planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow);\n\
             }}\n"
        );
    }
    for d in INTS {
        let (t, n) = (c_type(d), suffix(d));
        let _ = write!(
            s,
            "\nextern \"C\" __global__ void matmul_int_{n}(const {t}* __restrict__ a, \
             const {t}* __restrict__ b, {t}* __restrict__ y, const Strided la, const Strided lb, \
             {u} batch, {u} m, {u} k, {u} n) {{\n\
             \x20   matmul_int<{t}>(a, b, y, la, lb, batch, m, k, n);\n\
             }}\n"
        );
    }
    s
}

/// Convolution's data movement on f32 and f64 (the half types take the composite):
/// `im2col_<d>(const T* x, T* cols, ConvDims g, long long sn, long long sck)` and
/// `col2im_<d>(const T* cols, T* dx, ConvDims g, long long sn, long long sck)`, as
/// `kernels/conv.cuh` documents.
pub fn conv_source() -> String {
    let mut s = CONV.to_string();
    for d in FLOATS {
        let (t, n) = (c_type(d), suffix(d));
        for (k, from, to) in [("im2col", "x", "cols"), ("col2im", "cols", "dx")] {
            let _ = write!(
                s,
                "\nextern \"C\" __global__ void {k}_{n}(const {t}* __restrict__ {from}, \
                 {t}* __restrict__ {to}, const ConvDims g, const long long sn, const long long sck) {{\n\
                 \x20   {k}<{t}>({from}, {to}, g, sn, sck);\n\
                 }}\n"
            );
        }
    }
    s
}

/// The LSTM cell on f32 and f64 (the half types take the composite, as on the CPU):
/// `lstm_cell_<d>(const T* gates, const T* c_prev, T* out, long long n, long long h)` and
/// `lstm_cell_backward_<d>(const T* grad, const T* gates, const T* c_prev, T* dgates,
/// T* dc_prev, long long n, long long h)`, as `kernels/lstm.cuh` documents.
pub fn lstm_source() -> String {
    let mut s = LSTM.to_string();
    for d in FLOATS {
        let (t, n) = (c_type(d), suffix(d));
        let _ = write!(
            s,
            "\nextern \"C\" __global__ void lstm_cell_{n}(const {t}* __restrict__ a, \
             const {t}* __restrict__ cp, {t}* __restrict__ out, const long long n, \
             const long long h) {{\n\
             \x20   lstm_cell_forward<{t}>(a, cp, out, n, h);\n\
             }}\n\
             extern \"C\" __global__ void lstm_cell_backward_{n}(const {t}* __restrict__ grad, \
             const {t}* __restrict__ a, const {t}* __restrict__ cp, {t}* __restrict__ da, \
             {t}* __restrict__ dc, const long long n, const long long h) {{\n\
             \x20   lstm_cell_backward<{t}>(grad, a, cp, da, dc, n, h);\n\
             }}\n"
        );
    }
    s
}

/// The attention row kernels' device code (`kernels/attention.cuh`).
pub const ATTENTION: &str = include_str!("../kernels/attention.cuh");

/// The attention row kernels on f32 and f64 (the half types run the composite, as on the
/// CPU), one block of 256 threads per query row, grid-stride over `rows = batch · l`
/// (compile-checked only, never run on a GPU):
/// - `attention_weights_<d>(T* p, T* lse, const T* bias, Strided lb, int has_bias, rows,
///   l, s, double scale, int causal)`: the scores in `p` (`[rows, s]`, contiguous) become
///   the weights in place, `lse` (`[rows]`) each row's log-sum-exp;
/// - `attention_grad_<d>(T* p, T* ds, const T* g, const T* o, const T* lse,
///   const T* bias, Strided lb, int has_bias, rows, l, s, ev, double scale, int causal)`:
///   the scores in `p` become the weights and `dP = g vᵀ` in `ds` becomes
///   `dS · scale`, in place.
pub fn attention_source() -> String {
    let mut s = format!("{PRELUDE}\n{REDUCE}\n{ATTENTION}");
    let u = "const unsigned long long";
    for d in FLOATS {
        let (t, n) = (c_type(d), suffix(d));
        let _ = write!(
            s,
            "\nextern \"C\" __global__ void __launch_bounds__(LAMINA_REDUCE_THREADS) \
             attention_weights_{n}({t}* p, {t}* __restrict__ lse, const {t}* __restrict__ bias, \
             const Strided lb, const int has_bias, {u} rows, {u} l, {u} s, const double scale, \
             const int causal) {{\n\
             \x20   attention_weights_rows<{t}>(p, lse, bias, lb, has_bias, rows, l, s, scale, causal);\n\
             }}\n\
             extern \"C\" __global__ void __launch_bounds__(LAMINA_REDUCE_THREADS) \
             attention_grad_{n}({t}* p, {t}* ds, const {t}* __restrict__ g, \
             const {t}* __restrict__ o, const {t}* __restrict__ lse, const {t}* __restrict__ bias, \
             const Strided lb, const int has_bias, {u} rows, {u} l, {u} s, {u} ev, \
             const double scale, const int causal) {{\n\
             \x20   attention_grad_rows<{t}>(p, ds, g, o, lse, bias, lb, has_bias, rows, l, s, ev, scale, causal);\n\
             }}\n"
        );
    }
    s
}

/// A generated source's file name and generator.
type Generator = (&'static str, fn() -> String);

/// The generated sources by file name.
const SOURCES: [Generator; 8] = [
    ("elementwise.cu", elementwise_source),
    ("reduce.cu", reduce_source),
    ("index.cu", index_source),
    ("scan.cu", scan_source),
    ("fused.cu", fused_source),
    ("conv.cu", conv_source),
    ("lstm.cu", lstm_source),
    ("attention.cu", attention_source),
];

/// Every generated source of the backend, `(file name, text)`: what the compile check
/// writes out and compiles.
pub fn all_sources() -> Vec<(&'static str, String)> {
    SOURCES.iter().map(|&(name, make)| (name, make())).collect()
}

/// The source named `file`, generated alone (the backend compiles one file at a time).
pub fn source_for(file: &str) -> Option<String> {
    SOURCES
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, make)| make())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_and_dtype_has_exactly_one_entry_point() {
        let src = elementwise_source();
        let mut names = Vec::new();
        for op in unary_ops() {
            for (d, _) in unary_variants(&op) {
                names.push(unary_kernel_name(&op, d));
            }
        }
        for op in binary_ops() {
            for (d, _) in binary_variants(&op) {
                names.push(binary_kernel_name(&op, d));
            }
        }
        // 53 unary and 12 binary ops in the tables today, each on f32 and f64 at least.
        assert!(names.len() >= 2 * (53 + 12), "{}", names.len());
        for d in DType::ALL {
            let n = suffix(d);
            names.push(format!("copy_{n}"));
            names.push(format!("fill_{n}"));
            for to in DType::ALL {
                names.push(format!("cast_{n}_{}", suffix(to)));
                names.push(format!("where_{n}_{}", suffix(to)));
            }
            for op in CmpOp::ALL {
                names.push(format!("cmp_{}_{n}", op.name()));
            }
        }
        for n in &names {
            let decl = format!("__global__ void {n}(");
            assert_eq!(src.matches(&decl).count(), 1, "{n}");
        }
        let reduce = reduce_source();
        let mut reductions = Vec::new();
        for d in NUMBER_DTYPES {
            for op in ReduceOp::ALL {
                reductions.push(reduce_kernel_name(op, d));
            }
        }
        for d in FLOATS_AND_HALVES {
            for k in [
                "softmax",
                "log_softmax",
                "softmax_backward",
                "log_softmax_backward",
            ] {
                reductions.push(format!("{k}_{}", suffix(d)));
            }
        }
        for n in &reductions {
            let decl = format!(" {n}(");
            assert_eq!(reduce.matches(&decl).count(), 1, "{n}");
        }
        names.extend(reductions);
        for k in ["index_check_i64", "index_check_u32"] {
            assert_eq!(index_source().matches(&format!(" {k}(")).count(), 1, "{k}");
        }
        let scan = scan_source();
        for op in [ScanOp::Sum, ScanOp::Prod, ScanOp::LogSumExp] {
            for &d in scan_dtypes(op) {
                let k = scan_kernel_name(op, d);
                assert_eq!(scan.matches(&format!(" {k}(")).count(), 1, "{k}");
                names.push(k);
            }
        }
        for d in DType::ALL {
            let k = format!("argsort_{}", suffix(d));
            assert_eq!(scan.matches(&format!(" {k}(")).count(), 1, "{k}");
            names.push(k);
        }
        let index = index_source();
        for d in DType::ALL {
            for i in INDEX_DTYPES {
                let (n, is) = (suffix(d), suffix(i));
                let mut kernels =
                    vec![format!("index_select_{n}_{is}"), format!("gather_{n}_{is}")];
                kernels.push(format!("scatter_{n}_{is}"));
                if NUMBER_DTYPES.contains(&d) {
                    for k in ["add", "mul", "max", "min", "init", "count"] {
                        kernels.push(format!("scatter_{k}_{n}_{is}"));
                    }
                }
                for k in kernels {
                    assert_eq!(index.matches(&format!(" {k}(")).count(), 1, "{k}");
                    names.push(k);
                }
            }
        }
        let fused = fused_source();
        for d in FLOATS_AND_HALVES {
            let optim: &[&str] = if is_half(d) { &[] } else { &["adam", "sgd"] };
            for k in optim.iter().chain(&[
                "norm_stats",
                "norm_apply",
                "norm_backward_sums",
                "norm_backward_apply",
                "max_pool_indices",
            ]) {
                let k = format!("{k}_{}", suffix(d));
                assert_eq!(fused.matches(&format!(" {k}(")).count(), 1, "{k}");
                names.push(k);
            }
        }
        for d in INTS {
            let k = format!("matmul_int_{}", suffix(d));
            assert_eq!(fused.matches(&format!(" {k}(")).count(), 1, "{k}");
            names.push(k);
        }
        let conv = conv_source();
        for d in FLOATS {
            for k in ["im2col", "col2im"] {
                let k = format!("{k}_{}", suffix(d));
                assert_eq!(conv.matches(&format!(" {k}(")).count(), 1, "{k}");
                names.push(k);
            }
        }
        let lstm = lstm_source();
        for d in FLOATS {
            for k in ["lstm_cell", "lstm_cell_backward"] {
                let k = format!("{k}_{}", suffix(d));
                assert_eq!(lstm.matches(&format!(" {k}(")).count(), 1, "{k}");
                names.push(k);
            }
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "kernel names collide");
    }

    #[test]
    fn half_kernels_run_the_f32_op_between_a_widening_and_one_rounding() {
        let src = elementwise_source();
        for (d, t) in [(DType::F16, "lamina_f16"), (DType::BF16, "lamina_bf16")] {
            let n = suffix(d);
            assert_eq!(c_type(d), t);
            // Every unary and binary op has a half entry point that calls the f32 device
            // function, so a half op can never drift from the f32 one.
            for op in unary_ops() {
                let k = unary_kernel_name(&op, d);
                let body = format!(
                    "y[i] = narrow<{t}>({}_op(widen(",
                    unary_kernel_name(&op, DType::F32)
                );
                let at = src
                    .find(&format!("void {k}("))
                    .unwrap_or_else(|| panic!("{k}"));
                let end = src[at..].find("\n}\n").map_or(src.len(), |e| at + e);
                assert!(src[at..end].contains(&body), "{k}");
            }
            for op in binary_ops() {
                let k = binary_kernel_name(&op, d);
                let body = format!(
                    "y[i] = narrow<{t}>({}_op(widen(",
                    binary_kernel_name(&op, DType::F32)
                );
                let at = src
                    .find(&format!("void {k}("))
                    .unwrap_or_else(|| panic!("{k}"));
                let end = src[at..].find("\n}\n").map_or(src.len(), |e| at + e);
                assert!(src[at..end].contains(&body), "{k}");
            }
            // Comparisons widen; reductions accumulate in float.
            assert!(src.contains(&format!(
                "const float a_ = Compute<{t}>::load(a[elem_offset(la, i)])"
            )));
            let reduce = reduce_source();
            assert!(reduce.contains(&format!(
                "reduce_sum_{n}(const {t}* __restrict__ x, Widened<{t}, SumOp<float>>::Out*"
            )));
            assert!(reduce.contains(&format!("reduce_rows<{t}, Widened<{t}, ArgMaxOp<float>>>")));
            // No half optimizer kernel: the host runs the composite.
            let fused = fused_source();
            for k in ["adam", "sgd"] {
                assert!(!fused.contains(&format!("void {k}_{n}(")), "{k}_{n}");
            }
            // Half norms keep their statistics in float.
            assert!(fused.contains(&format!(
                "norm_stats_{n}(const {t}* __restrict__ x, float* mean, float* var, float* rstd"
            )));
        }
        // The prelude needs no CUDA header (NVRTC has no include path at run time).
        assert!(!PRELUDE.contains("#include"));
    }

    #[test]
    fn attention_kernels_have_one_entry_point_per_float_dtype_and_none_for_halves() {
        let src = attention_source();
        for d in FLOATS {
            let (t, n) = (c_type(d), suffix(d));
            for k in ["attention_weights", "attention_grad"] {
                let decl = format!(" {k}_{n}(");
                assert_eq!(src.matches(&decl).count(), 1, "{k}_{n}");
            }
            // Each entry point calls its device function on its own dtype.
            assert_eq!(
                src.matches(&format!(
                    "attention_weights_rows<{t}>(p, lse, bias, lb, has_bias"
                ))
                .count(),
                1,
                "{n}"
            );
            assert_eq!(
                src.matches(&format!(
                    "attention_grad_rows<{t}>(p, ds, g, o, lse, bias, lb"
                ))
                .count(),
                1,
                "{n}"
            );
        }
        // Half attention runs the composite (as on the CPU): no half entry point.
        for d in HALVES {
            for k in ["attention_weights", "attention_grad"] {
                let k = format!("{k}_{}(", suffix(d));
                assert!(!src.contains(&k), "{k}");
            }
        }
        assert_eq!(source_for("attention.cu").as_deref(), Some(src.as_str()));
        assert!(all_sources()
            .iter()
            .any(|(name, _)| *name == "attention.cu"));
    }

    #[test]
    fn one_source_is_generated_alone_as_in_the_whole_set() {
        for (name, text) in all_sources() {
            assert_eq!(source_for(name).as_deref(), Some(text.as_str()), "{name}");
        }
        assert_eq!(source_for("missing.cu"), None);
    }

    #[test]
    fn integer_and_bool_kernels_follow_the_tables() {
        let relu = unary_ops()
            .into_iter()
            .find(|o| o.name() == "relu")
            .unwrap();
        let exp = unary_ops().into_iter().find(|o| o.name() == "exp").unwrap();
        let dtypes = |v: Vec<(DType, &str)>| v.into_iter().map(|(d, _)| d).collect::<Vec<_>>();
        assert_eq!(
            dtypes(unary_variants(&relu)),
            [
                DType::F32,
                DType::F64,
                DType::F16,
                DType::BF16,
                DType::I64,
                DType::U32
            ]
        );
        assert_eq!(dtypes(unary_variants(&exp)), FLOATS_AND_HALVES);
        let add = dtypes(binary_variants(&BinaryOp::Add));
        assert_eq!(
            add,
            [
                DType::F32,
                DType::F64,
                DType::F16,
                DType::BF16,
                DType::I64,
                DType::U32,
                DType::Bool
            ]
        );
        assert_eq!(dtypes(binary_variants(&BinaryOp::Atan2)), FLOATS_AND_HALVES);
        // The params of a parametrised op reach its device function by name.
        let clamp = unary_ops()
            .into_iter()
            .find(|o| o.name() == "clamp")
            .unwrap();
        let src = elementwise_source();
        assert!(src.contains("unary_clamp_f32_op(float x, double min, double max)"));
        assert!(src.contains("unary_clamp_f32_op(x[elem_offset(lx, i)], p0, p1)"));
        assert_eq!(clamp.param_names(), ["min", "max"]);
    }
}
