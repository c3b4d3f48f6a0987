// Inclusive scans and the stable argsort along one axis, one thread per line: the host
// moves the axis last in the layout, so element j of line l is at elem_offset(lx, l*n + j),
// and the output (contiguous in the input's shape) puts it at (outer*n + j)*inner + in for
// l = outer*inner + in. Included after prelude.cuh.

// log(e^a + e^b) without overflow; -inf is its identity and NaN propagates.
template <typename T> __device__ __forceinline__ T log_add_exp(T a, T b) {
    if (a != a || b != b) return a + b;
    const T hi = a >= b ? a : b, lo = a >= b ? b : a;
    if (lo == lowest<T>() || hi == highest<T>()) return hi;
    return hi + log1p(exp(lo - hi));
}

template <typename T, int OP> __device__ __forceinline__ T scan_combine(T a, T b) {
    if constexpr (OP == 0) return wadd_any(a, b);
    else if constexpr (OP == 1) return wmul_any(a, b);
    else return log_add_exp(a, b);
}

template <typename T, int OP>
__device__ void scan_lines(const T* x, T* y, const Strided& lx, unsigned long long lines,
                           unsigned long long n, unsigned long long inner) {
    // Half lines accumulate in float and round each output once (as the CPU's).
    typedef Compute<T> K;
    typedef typename K::type C;
    LAMINA_FOR_EACH(line, lines) {
        const unsigned long long outer = line / inner, in = line % inner;
        C acc = K::load(x[elem_offset(lx, line * n)]);
        y[outer * n * inner + in] = K::store(acc);
        for (unsigned long long j = 1; j < n; ++j) {
            acc = scan_combine<C, OP>(acc, K::load(x[elem_offset(lx, line * n + j)]));
            y[(outer * n + j) * inner + in] = K::store(acc);
        }
    }
}

// NaN sorts after every number (PyTorch's order): -1, 0, 1 as a < b, a == b, a > b.
template <typename T> __device__ __forceinline__ int nan_last_cmp(T a, T b) {
    const bool an = a != a, bn = b != b;
    if (an || bn) return an == bn ? 0 : (an ? 1 : -1);
    return a < b ? -1 : (b < a ? 1 : 0);
}

// Stable bottom-up merge sort of each line's indices in `scratch` (2n per line).
template <typename T>
__device__ void argsort_lines(const T* x, long long* y, long long* scratch, const Strided& lx,
                              unsigned long long lines, unsigned long long n,
                              unsigned long long inner, int descending) {
    LAMINA_FOR_EACH(line, lines) {
        long long* a = scratch + line * 2 * n;
        long long* b = a + n;
        for (unsigned long long j = 0; j < n; ++j) a[j] = (long long)j;
        for (unsigned long long width = 1; width < n; width *= 2) {
            for (unsigned long long lo = 0; lo < n; lo += 2 * width) {
                const unsigned long long mid = lo + width < n ? lo + width : n;
                const unsigned long long hi = lo + 2 * width < n ? lo + 2 * width : n;
                unsigned long long i = lo, j = mid, k = lo;
                while (i < mid && j < hi) {
                    // Half values compare widened (exact).
                    const typename Compute<T>::type l =
                        Compute<T>::load(x[elem_offset(lx, line * n + (unsigned long long)a[i])]);
                    const typename Compute<T>::type r =
                        Compute<T>::load(x[elem_offset(lx, line * n + (unsigned long long)a[j])]);
                    // The right one first only if it sorts strictly before: stable.
                    const int c = descending ? nan_last_cmp(l, r) : nan_last_cmp(r, l);
                    b[k++] = c < 0 ? a[j++] : a[i++];
                }
                while (i < mid) b[k++] = a[i++];
                while (j < hi) b[k++] = a[j++];
            }
            long long* t = a;
            a = b;
            b = t;
        }
        const unsigned long long outer = line / inner, in = line % inner;
        for (unsigned long long j = 0; j < n; ++j) y[(outer * n + j) * inner + in] = a[j];
    }
}
