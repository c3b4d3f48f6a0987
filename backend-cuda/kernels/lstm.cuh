// The LSTM cell update (`Backend::lstm_cell`) and its backward, one thread per (row, unit),
// grid-stride, f32 and f64: the CPU kernel's arithmetic (backend-cpu kernels/lstm.rs) in
// the same order; the backward recomputes the activations from the pre-activation gates.
// Self-contained (no prelude), so the host test `lstm_host` compiles this file with a
// C++ compiler and runs it against the cell written out in f64.

#define LAMINA_CELL_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

template <typename T> __device__ __forceinline__ T cell_sigmoid(T x) {
    return T(1) / (T(1) + exp(-x));
}

// out[r] = [h_new (h), c_new (h)] from gates a[r] = [i, f, g, o] (4h, pre-activation) and
// c_prev[r] (h): c = σ(f) · c_prev + σ(i) · tanh(g), h = σ(o) · tanh(c).
template <typename T>
__device__ void lstm_cell_forward(const T* __restrict__ a, const T* __restrict__ cp,
                                  T* __restrict__ out, long long n, long long h) {
    LAMINA_CELL_STRIDE(e, n * h) {
        const long long r = e / h, j = e % h;
        const T* ar = a + r * 4 * h;
        const T i = cell_sigmoid(ar[j]), f = cell_sigmoid(ar[h + j]);
        const T g = tanh(ar[2 * h + j]), o = cell_sigmoid(ar[3 * h + j]);
        const T c = f * cp[e] + i * g;
        out[r * 2 * h + j] = o * tanh(c);
        out[r * 2 * h + h + j] = c;
    }
}

// The gates' gradient da[r] (4h) and c_prev's dc[r] (h) from grad[r] = [dh (h), dc (h)].
template <typename T>
__device__ void lstm_cell_backward(const T* __restrict__ grad, const T* __restrict__ a,
                                   const T* __restrict__ cp, T* __restrict__ da,
                                   T* __restrict__ dc, long long n, long long h) {
    const T one = T(1);
    LAMINA_CELL_STRIDE(e, n * h) {
        const long long r = e / h, j = e % h;
        const T* ar = a + r * 4 * h;
        const T i = cell_sigmoid(ar[j]), f = cell_sigmoid(ar[h + j]);
        const T g = tanh(ar[2 * h + j]), o = cell_sigmoid(ar[3 * h + j]);
        const T tc = tanh(f * cp[e] + i * g);
        const T gh = grad[r * 2 * h + j], gc = grad[r * 2 * h + h + j];
        const T total = gc + gh * o * (one - tc * tc);
        T* dr = da + r * 4 * h;
        dr[j] = total * g * i * (one - i);
        dr[h + j] = total * cp[e] * f * (one - f);
        dr[2 * h + j] = total * i * (one - g * g);
        dr[3 * h + j] = gh * tc * o * (one - o);
        dc[e] = total * f;
    }
}
