// Lamina's CUDA prelude: the layout every element-wise kernel reads its operands through,
// and the helpers the op tables' CUDA expressions call (`UnaryOp::cuda_expr`,
// `BinaryOp::cuda_expr` in lamina-tensor). Compiled by NVRTC with the generated kernels;
// no system header is included. Off the device (`__CUDA_ARCH__` undefined: the host tests
// in tests/host compile the sources with a C++ compiler) the PTX conversions call the
// tests' shim instead.

#define LAMINA_MAX_DIMS 8

// An operand's layout: element i (row-major over `dims`) sits at
// offset + sum(index_d * strides[d]); a broadcast dim has stride 0. `contiguous` marks the
// fast path where that is offset + i. Mirrors `StridedArg` in the backend's host code.
struct Strided {
    unsigned long long n;
    long long offset;
    int rank;
    int contiguous;
    long long dims[LAMINA_MAX_DIMS];
    long long strides[LAMINA_MAX_DIMS];
};

__device__ __forceinline__ long long elem_offset(const Strided& l, unsigned long long i) {
    if (l.contiguous) {
        return l.offset + (long long)i;
    }
    long long off = l.offset;
    for (int d = l.rank - 1; d >= 0; --d) {
        const unsigned long long dim = (unsigned long long)l.dims[d];
        off += (long long)(i % dim) * l.strides[d];
        i /= dim;
    }
    return off;
}

// The unsigned type of the same width, for wrapping arithmetic (signed overflow is
// undefined in C++, wrapping in Rust's `wrapping_*`).
template <typename T> struct Unsigned { typedef T type; };
template <> struct Unsigned<long long> { typedef unsigned long long type; };

template <typename T> __device__ __forceinline__ T wadd(T a, T b) {
    typedef typename Unsigned<T>::type U;
    return (T)((U)a + (U)b);
}
template <typename T> __device__ __forceinline__ T wsub(T a, T b) {
    typedef typename Unsigned<T>::type U;
    return (T)((U)a - (U)b);
}
template <typename T> __device__ __forceinline__ T wmul(T a, T b) {
    typedef typename Unsigned<T>::type U;
    return (T)((U)a * (U)b);
}
template <typename T> __device__ __forceinline__ T wneg(T a) {
    typedef typename Unsigned<T>::type U;
    return (T)((U)0 - (U)a);
}
// base^e wrapping, 0 for a negative exponent (rejected before dispatch), by squaring: the
// exact wrapped power for any 64-bit exponent.
template <typename T> __device__ __forceinline__ T wpow(T base, T e) {
    typedef typename Unsigned<T>::type U;
    if (e < T(0)) {
        return T(0);
    }
    U r = 1, b = (U)base;
    unsigned long long k = (unsigned long long)e;
    while (k) {
        if (k & 1ull) {
            r *= b;
        }
        b *= b;
        k >>= 1;
    }
    return (T)r;
}

template <typename T> __device__ __forceinline__ bool is_signed_() { return T(-1) < T(0); }

// Integer division and remainders as the CPU backend's: 0 for a zero divisor, MIN / -1
// wrapping to MIN (and MIN % -1 to 0).
template <typename T> __device__ __forceinline__ T div_trunc_int(T a, T b) {
    if (b == T(0)) return T(0);
    if (is_signed_<T>() && b == T(-1)) return wneg(a);
    return a / b;
}
template <typename T> __device__ __forceinline__ T rem_trunc_int(T a, T b) {
    if (b == T(0)) return T(0);
    if (is_signed_<T>() && b == T(-1)) return T(0);
    return a % b;
}
template <typename T> __device__ __forceinline__ T div_floor_int(T a, T b) {
    if (b == T(0)) return T(0);
    const T q = div_trunc_int(a, b), r = rem_trunc_int(a, b);
    return (r != T(0) && ((r < T(0)) != (b < T(0)))) ? wsub(q, T(1)) : q;
}
template <typename T> __device__ __forceinline__ T rem_floor_int(T a, T b) {
    if (b == T(0)) return T(0);
    const T r = rem_trunc_int(a, b);
    return (r != T(0) && ((r < T(0)) != (b < T(0)))) ? wadd(r, b) : r;
}

// Python's floor division and modulo on floats, as the CPU backend's `div_floor_real` and
// `rem_floor_real` (NumPy's algorithm: the quotient from the exact remainder).
template <typename T> __device__ __forceinline__ T div_floor_real(T a, T b) {
    if (b == T(0)) return a / b;
    const T m = fmod(a, b);
    T div = (a - m) / b;
    if (m != T(0) && ((b < T(0)) != (m < T(0)))) div = div - T(1);
    if (div != T(0)) {
        T f = floor(div);
        if (div - f > T(0.5)) f = f + T(1);
        return f;
    }
    return copysign(T(0), a / b);
}
template <typename T> __device__ __forceinline__ T rem_floor_real(T a, T b) {
    const T m = fmod(a, b);
    return (m != T(0) && ((b < T(0)) != (m < T(0)))) ? m + b : m;
}

// Rust's `v as T` from f64: saturating, NaN to 0 (to an integer type).
template <typename T> __device__ __forceinline__ T sat(double v) { return (T)v; }
template <> __device__ __forceinline__ long long sat<long long>(double v) {
    if (v != v) return 0;
    if (v <= -9223372036854775808.0) return (long long)(-9223372036854775807ll - 1);
    if (v >= 9223372036854775807.0) return 9223372036854775807ll;
    return (long long)v;
}
template <> __device__ __forceinline__ unsigned int sat<unsigned int>(double v) {
    if (v != v || v <= 0.0) return 0u;
    if (v >= 4294967295.0) return 4294967295u;
    return (unsigned int)v;
}
// Rust's `v as T` from i64: wrapping.
template <typename T> __device__ __forceinline__ T of_i64(long long v) { return (T)v; }

// NaN from either side wins (PyTorch's maximum/minimum).
template <typename T> __device__ __forceinline__ T max_nan(T a, T b) {
    if (a != a || b != b) return a + b;
    return a >= b ? a : b;
}
template <typename T> __device__ __forceinline__ T min_nan(T a, T b) {
    if (a != a || b != b) return a + b;
    return a <= b ? a : b;
}

// 1 / (1 + e^-x), stable on both sides.
template <typename T> __device__ __forceinline__ T sigmoid_(T x) {
    if (x >= T(0)) return T(1) / (T(1) + exp(-x));
    const T e = exp(x);
    return e / (T(1) + e);
}
// ln(1 + e^x) without overflow.
template <typename T> __device__ __forceinline__ T softplus_(T x) {
    return x > T(0) ? x + log1p(exp(-x)) : log1p(exp(x));
}

// One thread per output element, grid-stride.
#define LAMINA_FOR_EACH(i, n)                                                            \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; \
         i < (n); i += (unsigned long long)gridDim.x * blockDim.x)

// Rust's `v as bool` does not exist; a fill of bool takes any non-zero value as true.
template <> __device__ __forceinline__ bool sat<bool>(double v) { return v != 0.0; }

// Rust's `x as T` between element types (the CPU backend's casts): float to integer
// saturating with NaN to 0, anything to bool as `!= 0`, the rest as C converts.
template <typename F, typename T> struct Convert {
    __device__ __forceinline__ static T run(F x) { return (T)x; }
};
template <typename F> struct Convert<F, bool> {
    __device__ __forceinline__ static bool run(F x) { return x != F(0); }
};
template <> struct Convert<float, long long> {
    __device__ __forceinline__ static long long run(float x) { return sat<long long>((double)x); }
};
template <> struct Convert<double, long long> {
    __device__ __forceinline__ static long long run(double x) { return sat<long long>(x); }
};
template <> struct Convert<float, unsigned int> {
    __device__ __forceinline__ static unsigned int run(float x) { return sat<unsigned int>((double)x); }
};
template <> struct Convert<double, unsigned int> {
    __device__ __forceinline__ static unsigned int run(double x) { return sat<unsigned int>(x); }
};

// The identities of max and min: -inf / +inf for floats, the extremes for integers.
template <typename T> __device__ __forceinline__ T lowest();
template <> __device__ __forceinline__ float lowest<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double lowest<double>() { return -__longlong_as_double(0x7ff0000000000000ll); }
template <> __device__ __forceinline__ long long lowest<long long>() { return -9223372036854775807ll - 1; }
template <> __device__ __forceinline__ unsigned int lowest<unsigned int>() { return 0u; }
template <typename T> __device__ __forceinline__ T highest();
template <> __device__ __forceinline__ float highest<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double highest<double>() { return __longlong_as_double(0x7ff0000000000000ll); }
template <> __device__ __forceinline__ long long highest<long long>() { return 9223372036854775807ll; }
template <> __device__ __forceinline__ unsigned int highest<unsigned int>() { return 4294967295u; }

// Addition and multiplication that wrap for integers and round for floats.
template <typename T> __device__ __forceinline__ T wadd_any(T a, T b) { return a + b; }
template <> __device__ __forceinline__ long long wadd_any<long long>(long long a, long long b) { return wadd(a, b); }
template <typename T> __device__ __forceinline__ T wmul_any(T a, T b) { return a * b; }
template <> __device__ __forceinline__ long long wmul_any<long long>(long long a, long long b) { return wmul(a, b); }

// ---- Half types (f16, bf16) ----
// Stored as 16 bits in two distinct structs, so templates tell f16 from bf16; no
// cuda_fp16.h / cuda_bf16.h, which NVRTC 13.0 does not have built in (the backend compiles
// at run time with no include path). Every op on a half value widens it exactly to float,
// computes in float and rounds once to nearest even, as the CPU backend's `Half` kernels.
struct lamina_f16 { unsigned short bits; };
struct lamina_bf16 { unsigned short bits; };

__device__ __forceinline__ float f16_to_float(unsigned short h) {
    float f;
#ifdef __CUDA_ARCH__
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
#else
    f = lamina_host_f16_to_float(h);  // the host test's shim (tests/host)
#endif
    return f;
}
__device__ __forceinline__ unsigned short float_to_f16(float f) {
    unsigned short h;
#ifdef __CUDA_ARCH__
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
#else
    h = lamina_host_double_to_f16((double)f);  // exact widening, so one rounding
#endif
    return h;
}
// Straight from double, one rounding (for f64 and integers, the CPU's `from_f64`). The
// half crate is not always correctly rounded there (with F16C it goes through f32; its
// fallback ignores the low 32 mantissa bits), so the two can differ by 1 ulp next to a tie.
__device__ __forceinline__ unsigned short double_to_f16(double d) {
    unsigned short h;
#ifdef __CUDA_ARCH__
    asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h) : "d"(d));
#else
    h = lamina_host_double_to_f16(d);
#endif
    return h;
}
// bf16 is the top half of an f32: widening is a shift.
__device__ __forceinline__ float bf16_to_float(unsigned short h) {
    return __uint_as_float(((unsigned int)h) << 16);
}
// Round to nearest even on the low 16 bits (overflow carries into the exponent and gives
// inf); NaN stays a quiet NaN with its sign, as `half::bf16::from_f32`.
__device__ __forceinline__ unsigned short float_to_bf16(float f) {
    const unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x0040u);
    return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
// double to bf16 with one rounding: to f32 toward zero with the lost bits kept as a sticky
// last bit (round to odd, 16 bits below bf16's last), then to nearest even; rounding
// through an f32 rounded to nearest would round twice.
__device__ __forceinline__ unsigned short double_to_bf16(double d) {
    const float f = __double2float_rz(d);
    unsigned int u = __float_as_uint(f);
    if (d == d && (double)f != d) u |= 1u;
    return float_to_bf16(__uint_as_float(u));
}

__device__ __forceinline__ float widen(lamina_f16 x) { return f16_to_float(x.bits); }
__device__ __forceinline__ float widen(lamina_bf16 x) { return bf16_to_float(x.bits); }
template <typename H> __device__ __forceinline__ H narrow(float v);
template <> __device__ __forceinline__ lamina_f16 narrow<lamina_f16>(float v) {
    lamina_f16 h;
    h.bits = float_to_f16(v);
    return h;
}
template <> __device__ __forceinline__ lamina_bf16 narrow<lamina_bf16>(float v) {
    lamina_bf16 h;
    h.bits = float_to_bf16(v);
    return h;
}
template <typename H> __device__ __forceinline__ H narrow_double(double v);
template <> __device__ __forceinline__ lamina_f16 narrow_double<lamina_f16>(double v) {
    lamina_f16 h;
    h.bits = double_to_f16(v);
    return h;
}
template <> __device__ __forceinline__ lamina_bf16 narrow_double<lamina_bf16>(double v) {
    lamina_bf16 h;
    h.bits = double_to_bf16(v);
    return h;
}

// The type a kernel computes an element type in: itself, float for the half types (load
// widens exactly, store rounds once).
template <typename T> struct Compute {
    typedef T type;
    __device__ __forceinline__ static T load(T x) { return x; }
    __device__ __forceinline__ static T store(T x) { return x; }
};
template <> struct Compute<lamina_f16> {
    typedef float type;
    __device__ __forceinline__ static float load(lamina_f16 x) { return widen(x); }
    __device__ __forceinline__ static lamina_f16 store(float x) { return narrow<lamina_f16>(x); }
};
template <> struct Compute<lamina_bf16> {
    typedef float type;
    __device__ __forceinline__ static float load(lamina_bf16 x) { return widen(x); }
    __device__ __forceinline__ static lamina_bf16 store(float x) { return narrow<lamina_bf16>(x); }
};

// Fills: `v as half`, one rounding from the f64 value.
template <> __device__ __forceinline__ lamina_f16 sat<lamina_f16>(double v) { return narrow_double<lamina_f16>(v); }
template <> __device__ __forceinline__ lamina_bf16 sat<lamina_bf16>(double v) { return narrow_double<lamina_bf16>(v); }

// Casts from a half: widened exactly, then as from f32 (to integers saturating as f32 `as`).
template <typename T> struct Convert<lamina_f16, T> {
    __device__ __forceinline__ static T run(lamina_f16 x) { return Convert<float, T>::run(widen(x)); }
};
template <typename T> struct Convert<lamina_bf16, T> {
    __device__ __forceinline__ static T run(lamina_bf16 x) { return Convert<float, T>::run(widen(x)); }
};
// Casts to a half: through double (exact from f32 and u32, Rust's `as f64` from i64), then
// one rounding, as the CPU's `from_f64`.
template <typename F> struct Convert<F, lamina_f16> {
    __device__ __forceinline__ static lamina_f16 run(F x) { return narrow_double<lamina_f16>((double)x); }
};
template <typename F> struct Convert<F, lamina_bf16> {
    __device__ __forceinline__ static lamina_bf16 run(F x) { return narrow_double<lamina_bf16>((double)x); }
};
// The pairs two partial specializations above both match: spelled out.
template <> struct Convert<lamina_f16, bool> {
    __device__ __forceinline__ static bool run(lamina_f16 x) { return widen(x) != 0.0f; }
};
template <> struct Convert<lamina_bf16, bool> {
    __device__ __forceinline__ static bool run(lamina_bf16 x) { return widen(x) != 0.0f; }
};
template <> struct Convert<lamina_f16, lamina_f16> {
    __device__ __forceinline__ static lamina_f16 run(lamina_f16 x) { return x; }
};
template <> struct Convert<lamina_bf16, lamina_bf16> {
    __device__ __forceinline__ static lamina_bf16 run(lamina_bf16 x) { return x; }
};
template <> struct Convert<lamina_f16, lamina_bf16> {
    __device__ __forceinline__ static lamina_bf16 run(lamina_f16 x) { return narrow<lamina_bf16>(widen(x)); }
};
template <> struct Convert<lamina_bf16, lamina_f16> {
    __device__ __forceinline__ static lamina_f16 run(lamina_bf16 x) { return narrow<lamina_f16>(widen(x)); }
};

// The scatter reductions' combining steps on half values: in float, rounded once (the
// CPU's `Num` for half); max and min select exactly.
#define LAMINA_HALF_STEPS(H)                                                                   \
    template <> __device__ __forceinline__ H wadd_any<H>(H a, H b) { return narrow<H>(widen(a) + widen(b)); } \
    template <> __device__ __forceinline__ H wmul_any<H>(H a, H b) { return narrow<H>(widen(a) * widen(b)); } \
    template <> __device__ __forceinline__ H max_nan<H>(H a, H b) { return narrow<H>(max_nan(widen(a), widen(b))); } \
    template <> __device__ __forceinline__ H min_nan<H>(H a, H b) { return narrow<H>(min_nan(widen(a), widen(b))); }
LAMINA_HALF_STEPS(lamina_f16)
LAMINA_HALF_STEPS(lamina_bf16)
