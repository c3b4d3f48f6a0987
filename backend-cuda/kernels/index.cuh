// Indexing: index_select, gather and scatter (overwrite and add). Included after
// prelude.cuh. An index outside its dim is not followed: the kernel records the first one
// it meets in `bad` (initialised to LAMINA_NO_BAD by the host), which the host reads
// back and turns into an error naming the index.

#define LAMINA_NO_BAD (-9223372036854775807ll - 1)

template <typename I> __device__ __forceinline__ bool index_ok(I id, long long size, long long* bad) {
    const long long v = (long long)id;
    if (v < 0 || v >= size) {
        atomicCAS((unsigned long long*)bad, (unsigned long long)LAMINA_NO_BAD, (unsigned long long)v);
        return false;
    }
    return true;
}

// y[o][j][r] = x[o][ids[j]][r]: src viewed as [outer, size, inner] in logical order.
template <typename T, typename I>
__device__ void index_select_impl(const T* x, const I* ids, T* y, const Strided& lx, const Strided& lids,
                                  unsigned long long outer, unsigned long long size,
                                  unsigned long long inner, long long* bad) {
    const unsigned long long n_ids = lids.n;
    const unsigned long long n = outer * n_ids * inner;
    LAMINA_FOR_EACH(i, n) {
        const unsigned long long r = i % inner, j = (i / inner) % n_ids, o = i / inner / n_ids;
        const I id = ids[elem_offset(lids, j)];
        if (index_ok(id, (long long)size, bad)) {
            y[i] = x[elem_offset(lx, (o * size + (unsigned long long)id) * inner + r)];
        }
    }
}

// The storage offset in `l` of the element at `ids`' multi-index of element i, with the
// coordinate along `dim` replaced by `id`.
__device__ __forceinline__ long long offset_with(const Strided& lids, const Strided& l, int dim,
                                                 unsigned long long i, long long id) {
    long long off = l.offset;
    for (int d = lids.rank - 1; d >= 0; --d) {
        const unsigned long long size = (unsigned long long)lids.dims[d];
        const long long c = (long long)(i % size);
        i /= size;
        off += (d == dim ? id : c) * l.strides[d];
    }
    return off;
}

// y (ids' shape, contiguous) = x at ids along dim.
template <typename T, typename I>
__device__ void gather_impl(const T* x, const I* ids, T* y, const Strided& lx, const Strided& lids,
                            int dim, long long* bad) {
    LAMINA_FOR_EACH(i, lids.n) {
        const I id = ids[elem_offset(lids, i)];
        if (index_ok(id, lx.dims[dim], bad)) {
            y[i] = x[offset_with(lids, lx, dim, i, (long long)id)];
        }
    }
}

// Atomic `*p += v` for each element type (the integer ones wrap, as the CPU's).
__device__ __forceinline__ void atomic_add_(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_(long long* p, long long v) {
    atomicAdd((unsigned long long*)p, (unsigned long long)v);
}
__device__ __forceinline__ void atomic_add_(unsigned int* p, unsigned int v) { atomicAdd(p, v); }

// The bits of a value, for compare-and-swap loops.
template <typename T> struct Bits;
template <> struct Bits<float> {
    typedef unsigned int U;
    __device__ static U to(float v) { return __float_as_uint(v); }
    __device__ static float from(U u) { return __uint_as_float(u); }
};
template <> struct Bits<double> {
    typedef unsigned long long U;
    __device__ static U to(double v) { return (U)__double_as_longlong(v); }
    __device__ static double from(U u) { return __longlong_as_double((long long)u); }
};
template <> struct Bits<long long> {
    typedef unsigned long long U;
    __device__ static U to(long long v) { return (U)v; }
    __device__ static long long from(U u) { return (long long)u; }
};
template <> struct Bits<unsigned int> {
    typedef unsigned int U;
    __device__ static U to(unsigned int v) { return v; }
    __device__ static unsigned int from(U u) { return u; }
};

// `*p = f(*p, v)` atomically, by compare-and-swap on the bits.
template <typename T, typename F> __device__ __forceinline__ void atomic_apply(T* p, T v, F f) {
    typedef typename Bits<T>::U U;
    U* addr = (U*)p;
    U old = *addr, assumed;
    do {
        assumed = old;
        old = atomicCAS(addr, assumed, Bits<T>::to(f(Bits<T>::from(assumed), v)));
    } while (old != assumed);
}

// Half targets: 16-bit values have no atomics of their own here, so the loop swaps the
// aligned 32-bit word holding one (blocks are 512-byte multiples, so the word is in the
// block), leaving the other half of the word as it finds it.
template <typename H, typename F> __device__ __forceinline__ void atomic_apply_half(H* p, H v, F f) {
    unsigned int* word = (unsigned int*)((unsigned long long)p & ~3ull);
    const unsigned int shift = ((unsigned long long)p & 2ull) ? 16u : 0u;
    unsigned int old = *word, assumed;
    do {
        assumed = old;
        H cur;
        cur.bits = (unsigned short)(assumed >> shift);
        const H next = f(cur, v);
        old = atomicCAS(word, assumed, (assumed & ~(0xffffu << shift)) | ((unsigned int)next.bits << shift));
    } while (old != assumed);
}
template <typename F> __device__ __forceinline__ void atomic_apply(lamina_f16* p, lamina_f16 v, F f) {
    atomic_apply_half(p, v, f);
}
template <typename F> __device__ __forceinline__ void atomic_apply(lamina_bf16* p, lamina_bf16 v, F f) {
    atomic_apply_half(p, v, f);
}
__device__ __forceinline__ void atomic_add_(lamina_f16* p, lamina_f16 v) {
    atomic_apply(p, v, [](lamina_f16 a, lamina_f16 b) { return wadd_any(a, b); });
}
__device__ __forceinline__ void atomic_add_(lamina_bf16* p, lamina_bf16 v) {
    atomic_apply(p, v, [](lamina_bf16 a, lamina_bf16 b) { return wadd_any(a, b); });
}
// The mean's division: floor division for integers, one rounding from double for the half
// types (the CPU's `div_count`).
template <typename T> __device__ __forceinline__ T mean_div(T x, unsigned int c) {
    if constexpr (T(1) / T(2) == T(0)) {
        return div_floor_int(x, (T)c);
    } else {
        return x / (T)c;
    }
}
__device__ __forceinline__ lamina_f16 mean_div(lamina_f16 x, unsigned int c) {
    return narrow_double<lamina_f16>((double)widen(x) / (double)c);
}
__device__ __forceinline__ lamina_bf16 mean_div(lamina_bf16 x, unsigned int c) {
    return narrow_double<lamina_bf16>((double)widen(x) / (double)c);
}
// Only checks the ids (the pass before any write, so an error leaves dst untouched).
template <typename I>
__device__ void index_check_impl(const I* ids, const Strided& lids, long long size, long long* bad) {
    LAMINA_FOR_EACH(i, lids.n) { index_ok(ids[elem_offset(lids, i)], size, bad); }
}

// dst at ids along dim from src at ids' own coordinates, by MODE: 0 overwrite (among
// repeated indices an arbitrary write wins, as on any GPU), 1 add, 2 multiply, 3 max,
// 4 min (NaN wins, as the CPU's), 5 set the targets to `init` (the start of a reduction
// that excludes the original values), 6 count the values per target into `counts`.
template <typename T, typename I, int MODE>
__device__ void scatter_impl(T* dst, const I* ids, const T* src, const Strided& ld, const Strided& lids,
                             const Strided& ls, int dim, double init, unsigned int* counts,
                             long long* bad) {
    LAMINA_FOR_EACH(i, lids.n) {
        const I id = ids[elem_offset(lids, i)];
        if (!index_ok(id, ld.dims[dim], bad)) continue;
        const long long at = offset_with(lids, ld, dim, i, (long long)id);
        T* target = dst + at;
        const T v = src[offset_with(lids, ls, -1, i, 0)];
        if constexpr (MODE == 0) {
            *target = v;
        } else if constexpr (MODE == 1) {
            atomic_add_(target, v);
        } else if constexpr (MODE == 2) {
            atomic_apply(target, v, [](T a, T b) { return wmul_any(a, b); });
        } else if constexpr (MODE == 3) {
            atomic_apply(target, v, [](T a, T b) { return max_nan(a, b); });
        } else if constexpr (MODE == 4) {
            atomic_apply(target, v, [](T a, T b) { return min_nan(a, b); });
        } else if constexpr (MODE == 5) {
            *target = sat<T>(init);
        } else {
            atomicAdd(counts + at, 1u);
        }
    }
}

// The mean's last pass: each counted target divided by its count (plus one with the
// original value), integers by floor division as the CPU's.
template <typename T>
__device__ void scatter_mean_div_impl(T* dst, const unsigned int* counts, unsigned long long n,
                                      int include_self) {
    LAMINA_FOR_EACH(i, n) {
        if (counts[i] != 0u) {
            dst[i] = mean_div(dst[i], counts[i] + (include_self ? 1u : 0u));
        }
    }
}
