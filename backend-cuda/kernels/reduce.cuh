// Reductions and row-wise softmax: block-level reductions by warp shuffles, one block per
// output row (grid-stride over rows). Included after prelude.cuh.

#define LAMINA_REDUCE_THREADS 256

// The reductions' combining functors (`ReduceOp::cuda_functor`): an accumulator type, the
// identity, lifting an element at index r, combining two partial results (associative and
// commutative, so any tree order gives the same answer for the arg-reductions; sums and
// products round in the tree's order), shuffling, and the value written out.
template <typename T> struct SumOp {
    typedef T Acc;
    typedef T Out;
    __device__ static Acc identity() { return T(0); }
    __device__ static Acc lift(T x, unsigned long long) { return x; }
    __device__ static Acc combine(Acc a, Acc b) { return a + b; }
    __device__ static Acc shfl(Acc a, int s) { return __shfl_down_sync(0xffffffffu, a, s); }
    __device__ static Out out(Acc a) { return a; }
};
template <> __device__ long long SumOp<long long>::combine(long long a, long long b) { return wadd(a, b); }
template <typename T> struct ProdOp {
    typedef T Acc;
    typedef T Out;
    __device__ static Acc identity() { return T(1); }
    __device__ static Acc lift(T x, unsigned long long) { return x; }
    __device__ static Acc combine(Acc a, Acc b) { return a * b; }
    __device__ static Acc shfl(Acc a, int s) { return __shfl_down_sync(0xffffffffu, a, s); }
    __device__ static Out out(Acc a) { return a; }
};
template <> __device__ long long ProdOp<long long>::combine(long long a, long long b) { return wmul(a, b); }
// Max and min propagate NaN, as the CPU backend's.
template <typename T> struct MaxOp {
    typedef T Acc;
    typedef T Out;
    __device__ static Acc identity() { return lowest<T>(); }
    __device__ static Acc lift(T x, unsigned long long) { return x; }
    __device__ static Acc combine(Acc a, Acc b) { return max_nan(a, b); }
    __device__ static Acc shfl(Acc a, int s) { return __shfl_down_sync(0xffffffffu, a, s); }
    __device__ static Out out(Acc a) { return a; }
};
template <typename T> struct MinOp {
    typedef T Acc;
    typedef T Out;
    __device__ static Acc identity() { return highest<T>(); }
    __device__ static Acc lift(T x, unsigned long long) { return x; }
    __device__ static Acc combine(Acc a, Acc b) { return min_nan(a, b); }
    __device__ static Acc shfl(Acc a, int s) { return __shfl_down_sync(0xffffffffu, a, s); }
    __device__ static Out out(Acc a) { return a; }
};
// (value, index): NaN wins (the first NaN), then the larger (smaller) value, then the
// smaller index: the first occurrence, as PyTorch.
template <typename T> struct Indexed {
    T v;
    long long i;
};
template <typename T, bool MAX> struct ArgOp {
    typedef Indexed<T> Acc;
    typedef long long Out;
    __device__ static Acc identity() { Acc a; a.v = MAX ? lowest<T>() : highest<T>(); a.i = -1; return a; }
    __device__ static Acc lift(T x, unsigned long long r) { Acc a; a.v = x; a.i = (long long)r; return a; }
    __device__ static Acc combine(Acc a, Acc b) {
        if (a.i < 0) return b;
        if (b.i < 0) return a;
        const bool an = a.v != a.v, bn = b.v != b.v;
        if (an || bn) return (an && bn) ? (a.i < b.i ? a : b) : (an ? a : b);
        if (a.v == b.v) return a.i < b.i ? a : b;
        return ((a.v > b.v) == MAX) ? a : b;
    }
    __device__ static Acc shfl(Acc a, int s) {
        Acc b;
        b.v = __shfl_down_sync(0xffffffffu, a.v, s);
        b.i = __shfl_down_sync(0xffffffffu, a.i, s);
        return b;
    }
    __device__ static Out out(Acc a) { return a.i < 0 ? 0 : a.i; }
};
template <typename T> struct ArgMaxOp : ArgOp<T, true> {};
template <typename T> struct ArgMinOp : ArgOp<T, false> {};

// A float reduction run on half elements: each widened exactly, accumulated in float and
// the result rounded once (the CPU reduces half tensors in f32); indices pass through.
template <typename H, typename O> struct HalfOut {
    typedef H type;
    __device__ static H run(O v) { return narrow<H>(v); }
};
template <typename H> struct HalfOut<H, long long> {
    typedef long long type;
    __device__ static long long run(long long v) { return v; }
};
template <typename H, typename Op> struct Widened {
    typedef typename Op::Acc Acc;
    typedef typename HalfOut<H, typename Op::Out>::type Out;
    __device__ static Acc identity() { return Op::identity(); }
    __device__ static Acc lift(H x, unsigned long long r) { return Op::lift(widen(x), r); }
    __device__ static Acc combine(Acc a, Acc b) { return Op::combine(a, b); }
    __device__ static Acc shfl(Acc a, int s) { return Op::shfl(a, s); }
    __device__ static Out out(Acc a) { return HalfOut<H, typename Op::Out>::run(Op::out(a)); }
};

// The block's combined accumulator, in thread 0 (others get partial results).
template <typename Op> __device__ typename Op::Acc block_reduce(typename Op::Acc acc) {
    __shared__ typename Op::Acc warps[LAMINA_REDUCE_THREADS / 32];
    for (int s = 16; s > 0; s >>= 1) acc = Op::combine(acc, Op::shfl(acc, s));
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) warps[warp] = acc;
    __syncthreads();
    if (warp == 0) {
        acc = lane < (int)(blockDim.x / 32) ? warps[lane] : Op::identity();
        for (int s = 16; s > 0; s >>= 1) acc = Op::combine(acc, Op::shfl(acc, s));
    }
    __syncthreads();
    return acc;
}

// y[o] = reduction of x over r for x(o, r) = x[elem_offset(lx, o * inner + r)]: the host
// permutes the layout so the reduced axes come last.
template <typename T, typename Op>
__device__ void reduce_rows(const T* x, typename Op::Out* y, const Strided& lx,
                            unsigned long long outer, unsigned long long inner) {
    for (unsigned long long o = blockIdx.x; o < outer; o += gridDim.x) {
        typename Op::Acc acc = Op::identity();
        for (unsigned long long r = threadIdx.x; r < inner; r += blockDim.x) {
            acc = Op::combine(acc, Op::lift(x[elem_offset(lx, o * inner + r)], r));
        }
        acc = block_reduce<Op>(acc);
        if (threadIdx.x == 0) y[o] = Op::out(acc);
    }
}

template <typename T> struct BlockSum {
    typedef T Acc;
    __device__ static Acc identity() { return T(0); }
    __device__ static Acc combine(Acc a, Acc b) { return a + b; }
    __device__ static Acc shfl(Acc a, int s) { return __shfl_down_sync(0xffffffffu, a, s); }
};
template <typename T> struct BlockMax {
    typedef T Acc;
    __device__ static Acc identity() { return lowest<T>(); }
    __device__ static Acc combine(Acc a, Acc b) { return max_nan(a, b); }
    __device__ static Acc shfl(Acc a, int s) { return __shfl_down_sync(0xffffffffu, a, s); }
};

// The block's reduction broadcast to every thread.
template <typename Op> __device__ typename Op::Acc block_all(typename Op::Acc acc) {
    __shared__ typename Op::Acc result;
    acc = block_reduce<Op>(acc);
    if (threadIdx.x == 0) result = acc;
    __syncthreads();
    acc = result;
    __syncthreads();
    return acc;
}

// Softmax (log-softmax with LOG) of each contiguous row of `cols` values. Half rows are
// computed in float and each output rounded once (the CPU runs them through f32).
template <typename T, bool LOG>
__device__ void softmax_rows(const T* x, T* y, unsigned long long rows, unsigned long long cols) {
    typedef Compute<T> K;
    typedef typename K::type C;
    for (unsigned long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        C m = lowest<C>();
        for (unsigned long long c = threadIdx.x; c < cols; c += blockDim.x) m = max_nan(m, K::load(xr[c]));
        m = block_all<BlockMax<C>>(m);
        C s = C(0);
        for (unsigned long long c = threadIdx.x; c < cols; c += blockDim.x) s += exp(K::load(xr[c]) - m);
        s = block_all<BlockSum<C>>(s);
        const C ls = log(s);
        for (unsigned long long c = threadIdx.x; c < cols; c += blockDim.x) {
            const C v = K::load(xr[c]);
            yr[c] = K::store(LOG ? v - m - ls : exp(v - m) / s);
        }
    }
}

// The input gradient from the output y and its gradient dy: softmax
// dx = y (dy - sum(dy y)); log-softmax dx = dy - exp(y) sum(dy).
template <typename T, bool LOG>
__device__ void softmax_backward_rows(const T* y, const T* dy, T* dx, unsigned long long rows,
                                      unsigned long long cols) {
    // Half rows in float, each output rounded once, as the forward.
    typedef Compute<T> K;
    typedef typename K::type C;
    for (unsigned long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* yr = y + r * cols;
        const T* gr = dy + r * cols;
        T* dr = dx + r * cols;
        C s = C(0);
        for (unsigned long long c = threadIdx.x; c < cols; c += blockDim.x) {
            s += LOG ? K::load(gr[c]) : K::load(gr[c]) * K::load(yr[c]);
        }
        s = block_all<BlockSum<C>>(s);
        for (unsigned long long c = threadIdx.x; c < cols; c += blockDim.x) {
            const C yv = K::load(yr[c]), gv = K::load(gr[c]);
            dr[c] = K::store(LOG ? gv - exp(yv) * s : yv * (gv - s));
        }
    }
}
