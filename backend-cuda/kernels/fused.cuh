// Fused kernels: the optimizer updates, normalisation and its backward, max pooling's
// arg-max, and integer matmul. Included after prelude.cuh and reduce.cuh (block_all).
// Each computes what the CPU backend's kernel of the same name computes, in the same
// order of operations where the contract says the two agree bit for bit (the optimizer
// updates); the NVRTC options forbid contracting a * b + c into one rounding, as Rust does.

#define LAMINA_GRID_STRIDE(i, n) \
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; \
         i < (n); i += (unsigned long long)blockDim.x * gridDim.x)

// Adam, element by element, exactly as `AdamStep` documents: the `+ zero` terms mirror
// the composite's scalar maps (x * s + 0), which turn -0 into +0.
template <typename T>
__device__ void adam_elems(T* p, const T* g, T* m, T* v, unsigned long long n, double beta1,
                           double beta2, double eps, double step_size, double bc2_sqrt) {
    const double w = 1.0 - beta1;
    const T wt = (T)w, w1t = (T)(1.0 - w), b2 = (T)beta2, omb2 = (T)(1.0 - beta2);
    const T bc2 = (T)bc2_sqrt, ep = (T)eps, neg = (T)(-step_size), zero = T(0);
    LAMINA_GRID_STRIDE(i, n) {
        const T gi = g[i];
        T mi = m[i], vi = v[i];
        const T d = gi - mi;
        mi = w < 0.5 ? mi + (d * wt + zero) : gi - (d * w1t + zero);
        vi = (vi * b2 + zero) + ((gi * omb2 + zero) * gi);
        const T denom = (sqrt(vi) / bc2) * T(1) + ep;
        p[i] = p[i] + ((mi * neg + zero) / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

// SGD with momentum, element by element, exactly as `SgdStep` documents.
template <typename T>
__device__ void sgd_elems(T* p, const T* g, T* buf, unsigned long long n, double lr,
                          double momentum, double dampening, double weight_decay, int nesterov) {
    const T wd = (T)weight_decay, mu = (T)momentum, damp = (T)(1.0 - dampening);
    const T neg = (T)(-lr), zero = T(0);
    const bool decay = weight_decay != 0.0, dampen = dampening != 0.0;
    LAMINA_GRID_STRIDE(i, n) {
        const T gi = g[i];
        const T d = decay ? gi + (p[i] * wd + zero) : gi;
        const T d_in = dampen ? d * damp + zero : d;
        const T b = (buf[i] * mu + zero) + d_in;
        const T u = nesterov ? d + (b * mu + zero) : b;
        buf[i] = b;
        p[i] = p[i] + (u * neg + zero);
    }
}

// Element e of group k of x viewed as [outer, groups, inner]: x[(p · groups + k) · inner + i]
// for e = p · inner + i.
__device__ __forceinline__ unsigned long long group_elem(unsigned long long e, unsigned long long k,
                                                         unsigned long long groups,
                                                         unsigned long long inner) {
    return ((e / inner) * groups + k) * inner + e % inner;
}

// Each group's mean (0 without centring), biased variance (mean square) and
// 1 / sqrt(var + eps), accumulated in f64 in two passes as the CPU's; one block per group.
// S is the statistics' type: T for f32/f64, float for the half types (the CPU computes
// half norms in f32 and rounds only the results; the host rounds mean and var afterwards).
template <typename T, typename S>
__device__ void norm_stats(const T* x, S* mean, S* var, S* rstd, unsigned long long outer,
                           unsigned long long groups, unsigned long long inner, double eps,
                           int center) {
    const unsigned long long count = outer * inner;
    for (unsigned long long k = blockIdx.x; k < groups; k += gridDim.x) {
        double m = 0.0;
        if (center) {
            double s = 0.0;
            for (unsigned long long e = threadIdx.x; e < count; e += blockDim.x) {
                s += (double)Compute<T>::load(x[group_elem(e, k, groups, inner)]);
            }
            m = block_all<BlockSum<double>>(s) / (double)count;
        }
        double q = 0.0;
        for (unsigned long long e = threadIdx.x; e < count; e += blockDim.x) {
            const double d = (double)Compute<T>::load(x[group_elem(e, k, groups, inner)]) - m;
            q += d * d;
        }
        const double v = block_all<BlockSum<double>>(q) / (double)count;
        if (threadIdx.x == 0) {
            mean[k] = (S)m;
            var[k] = (S)v;
            rstd[k] = (S)(1.0 / sqrt(v + eps));
        }
    }
}

// y = (x - mean) · rstd of x's group, one thread per element (half: in float from the
// unrounded float statistics, one rounding).
template <typename T, typename S>
__device__ void norm_apply(const T* x, T* y, const S* mean, const S* rstd, unsigned long long n,
                           unsigned long long groups, unsigned long long inner) {
    LAMINA_GRID_STRIDE(i, n) {
        const unsigned long long k = (i / inner) % groups;
        y[i] = Compute<T>::store((Compute<T>::load(x[i]) - mean[k]) * rstd[k]);
    }
}

// Each group's mean(g) (0 without centring) and mean(g · y), in f64, as coef[2k], coef[2k+1].
template <typename T, typename S>
__device__ void norm_backward_sums(const T* g, const T* y, S* coef, unsigned long long outer,
                                   unsigned long long groups, unsigned long long inner, int center) {
    const unsigned long long count = outer * inner;
    for (unsigned long long k = blockIdx.x; k < groups; k += gridDim.x) {
        double s = 0.0, sy = 0.0;
        for (unsigned long long e = threadIdx.x; e < count; e += blockDim.x) {
            const unsigned long long at = group_elem(e, k, groups, inner);
            const double gv = (double)Compute<T>::load(g[at]);
            s += gv;
            sy += gv * (double)Compute<T>::load(y[at]);
        }
        s = block_all<BlockSum<double>>(s);
        sy = block_all<BlockSum<double>>(sy);
        if (threadIdx.x == 0) {
            coef[2 * k] = center ? (S)(s / (double)count) : S(0);
            coef[2 * k + 1] = (S)(sy / (double)count);
        }
    }
}

// dx = (g - mean(g) - y · mean(g · y)) · rstd of the element's group.
// (Half: in float, rstd widened from its half storage, one rounding, as the CPU's.)
template <typename T, typename S>
__device__ void norm_backward_apply(const T* g, const T* y, const S* coef, const T* rstd, T* dx,
                                    unsigned long long n, unsigned long long groups,
                                    unsigned long long inner) {
    typedef Compute<T> K;
    LAMINA_GRID_STRIDE(i, n) {
        const unsigned long long k = (i / inner) % groups;
        dx[i] = K::store((K::load(g[i]) - coef[2 * k] - K::load(y[i]) * coef[2 * k + 1]) * K::load(rstd[k]));
    }
}

// The flat plane index of each max-pooling window's maximum, one thread per output, by the
// CPU's rule (PyTorch's): strictly greater replaces, a NaN always replaces, the start is
// the window's first position inside the input. 1-D pooling arrives as height 1.
template <typename T>
__device__ void max_pool_idx(const T* x, long long* y, unsigned long long planes, long long h,
                             long long w, long long kh, long long kw, long long sh, long long sw,
                             long long ph, long long pw, long long oh, long long ow) {
    const unsigned long long per = (unsigned long long)(oh * ow);
    LAMINA_GRID_STRIDE(i, planes * per) {
        const unsigned long long plane = i / per, r = i % per;
        const long long oy = (long long)(r / ow), ox = (long long)(r % ow);
        const long long ys = oy * sh - ph, xs = ox * sw - pw;
        const long long y0 = ys > 0 ? ys : 0, y1 = ys + kh < h ? ys + kh : h;
        const long long x0 = xs > 0 ? xs : 0, x1 = xs + kw < w ? xs + kw : w;
        const T* xp = x + plane * (unsigned long long)(h * w);
        long long at = y0 * w + x0;
        // Half values compare widened (exact, as the CPU's).
        typedef typename Compute<T>::type C;
        C m = lowest<C>();
        bool m_nan = false;
        for (long long iy = y0; iy < y1; ++iy) {
            for (long long ix = x0; ix < x1; ++ix) {
                const C v = Compute<T>::load(xp[iy * w + ix]);
                const bool nan = v != v;
                if (nan || (!m_nan && v > m)) {
                    m = v;
                    m_nan = nan;
                    at = iy * w + ix;
                }
            }
        }
        y[i] = at;
    }
}

// Integer matmul with wrapping arithmetic (the CPU's), one thread per output element:
// y[b, i, j] = sum_p a[b, i, p] · b[b, p, j], the operands read through their layouts
// ([batch.., m, k] and [batch.., k, n], batch dims already broadcast).
template <typename T>
__device__ void matmul_int(const T* a, const T* b, T* y, const Strided& la, const Strided& lb,
                           unsigned long long batch, unsigned long long m, unsigned long long k,
                           unsigned long long n) {
    LAMINA_GRID_STRIDE(idx, batch * m * n) {
        const unsigned long long bi = idx / (m * n), r = idx % (m * n);
        const unsigned long long i = r / n, j = r % n;
        T acc = T(0);
        for (unsigned long long p = 0; p < k; ++p) {
            const T av = a[elem_offset(la, (bi * m + i) * k + p)];
            const T bv = b[elem_offset(lb, (bi * k + p) * n + j)];
            acc = wadd(acc, wmul(av, bv));
        }
        y[idx] = acc;
    }
}
