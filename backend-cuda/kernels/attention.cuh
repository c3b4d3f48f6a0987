// Scaled dot-product attention's row kernels (`Backend::attention` and its backward), f32
// and f64; the batched products around them (q kᵀ, P v, g vᵀ, Pᵀ g, dS k, dSᵀ q) run on
// cuBLAS. One block of LAMINA_REDUCE_THREADS threads per query row, grid-stride over the
// rows; the scores of a row are contiguous (row r of the [B.., L, S] product), query row r
// is query i = r % L of batch entry r / L. Included after prelude.cuh and reduce.cuh
// (block_all, BlockMax, BlockSum). Compile-checked only: these have not run on a GPU.
//
// The score of key j for row r is x_j = S[r, j] · scale + bias[r, j] (scale applied to
// q · k first, then the additive bias, as the CPU kernel and the composite), the bias read
// through its layout (stride 0 where broadcast; absent when has_bias is 0). With `causal`,
// key j is masked for query i when j > i (top-left aligned): the row sees keys 0..end.
// A row whose visible scores are all -inf (or that sees no key) has no weights: P = 0 and
// lse = -inf, as PyTorch's safe softmax.

// The keys query row r sees: 0..end.
__device__ __forceinline__ unsigned long long attn_key_end(unsigned long long r, unsigned long long l,
                                                           unsigned long long s, int causal) {
    if (!causal) return s;
    const unsigned long long i = r % l;
    return i + 1 < s ? i + 1 : s;
}

// The score of one visible key: qk · scale + bias (bias element at `at` when has_bias).
template <typename T>
__device__ __forceinline__ T attn_score(T qk, T scale, const T* bias, int has_bias, long long at) {
    const T x = qk * scale;
    return has_bias ? x + bias[at] : x;
}

// Forward: p holds the scores q kᵀ ([rows, s], contiguous) and is overwritten in place by
// the weights P = exp(x - max) / sum (0 for masked keys); lse[r] = max + log(sum), the
// row's log-sum-exp (-inf for a row with no weights, whose P is all 0). Each thread reads
// and then writes only its own columns, so the in-place update has no race.
template <typename T>
__device__ void attention_weights_rows(T* p, T* lse, const T* bias, const Strided& lb, int has_bias,
                                       unsigned long long rows, unsigned long long l,
                                       unsigned long long s, double scale_, int causal) {
    const T scale = (T)scale_;
    const T ninf = lowest<T>();
    for (unsigned long long r = blockIdx.x; r < rows; r += gridDim.x) {
        T* pr = p + r * s;
        const unsigned long long end = attn_key_end(r, l, s, causal);
        // Element (r, j) of the bias: the row's start plus j times the last dim's stride
        // (row-major index r · s + j has last-dim index j).
        long long b0 = 0, bcs = 0;
        if (has_bias) {
            b0 = elem_offset(lb, r * s);
            bcs = lb.strides[lb.rank - 1];
        }
        T m = ninf;
        for (unsigned long long j = threadIdx.x; j < end; j += blockDim.x) {
            m = max_nan(m, attn_score(pr[j], scale, bias, has_bias, b0 + (long long)j * bcs));
        }
        m = block_all<BlockMax<T>>(m);
        // Block-uniform (every thread holds the block's maximum).
        if (m == ninf) {
            for (unsigned long long j = threadIdx.x; j < s; j += blockDim.x) pr[j] = T(0);
            if (threadIdx.x == 0) lse[r] = ninf;
            continue;
        }
        T sum = T(0);
        for (unsigned long long j = threadIdx.x; j < end; j += blockDim.x) {
            sum += exp(attn_score(pr[j], scale, bias, has_bias, b0 + (long long)j * bcs) - m);
        }
        sum = block_all<BlockSum<T>>(sum);
        for (unsigned long long j = threadIdx.x; j < s; j += blockDim.x) {
            pr[j] = j < end
                        ? exp(attn_score(pr[j], scale, bias, has_bias, b0 + (long long)j * bcs) - m) / sum
                        : T(0);
        }
        if (threadIdx.x == 0) lse[r] = m + log(sum);
    }
}

// Backward: p holds the scores q kᵀ and ds the products dP = g vᵀ (both [rows, s],
// contiguous); g and o are the output gradient and the output ([rows, ev], contiguous),
// lse the forward's log-sum-exps ([rows]). With D = sum_e g[r, e] · o[r, e] (= sum_j P dP),
// overwrites in place P = exp(x - lse) and dS = (P · (dP - D)) · scale, both 0 for a masked
// key and for a row with lse = -inf. The scale is folded into dS, so dq = dS k and
// dk = dSᵀ q need no further scaling; dv = Pᵀ g.
template <typename T>
__device__ void attention_grad_rows(T* p, T* ds, const T* __restrict__ g, const T* __restrict__ o,
                                    const T* __restrict__ lse, const T* bias, const Strided& lb,
                                    int has_bias, unsigned long long rows, unsigned long long l,
                                    unsigned long long s, unsigned long long ev, double scale_,
                                    int causal) {
    const T scale = (T)scale_;
    const T ninf = lowest<T>();
    for (unsigned long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* gr = g + r * ev;
        const T* orow = o + r * ev;
        T d = T(0);
        for (unsigned long long c = threadIdx.x; c < ev; c += blockDim.x) d += gr[c] * orow[c];
        d = block_all<BlockSum<T>>(d);
        const T m = lse[r];
        const unsigned long long end = m == ninf ? 0ull : attn_key_end(r, l, s, causal);
        long long b0 = 0, bcs = 0;
        if (has_bias) {
            b0 = elem_offset(lb, r * s);
            bcs = lb.strides[lb.rank - 1];
        }
        T* pr = p + r * s;
        T* dr = ds + r * s;
        for (unsigned long long j = threadIdx.x; j < s; j += blockDim.x) {
            T pj = T(0), dj = T(0);
            if (j < end) {
                pj = exp(attn_score(pr[j], scale, bias, has_bias, b0 + (long long)j * bcs) - m);
                dj = (pj * (dr[j] - d)) * scale;
            }
            pr[j] = pj;
            dr[j] = dj;
        }
    }
}
