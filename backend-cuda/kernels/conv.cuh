// Convolution's data movement around cuBLAS: im2col (the patch matrix) and its adjoint
// col2im, one thread per element, grid-stride. Self-contained (no prelude): the host test
// `conv_kernels_on_the_host` compiles this file with a C++ compiler and runs it against a
// direct convolution, so it uses nothing but C++ and the CUDA index built-ins.
//
// The geometry always has three spatial dims: the host prepends size-1 dims (stride 1,
// padding 0, dilation 1) to a 1-D or 2-D convolution, which leaves every index unchanged.

#define LAMINA_CONV_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

// `ConvDims` in backend-cuda/src/conv.rs, field for field (plain i64s, no padding).
struct ConvDims {
    long long batch, channels;
    long long input[3], kernel[3], output[3], stride[3], padding[3], dilation[3];
};

// cols[n · sn + (c · K + kk) · sck + p] = x[n, c, o_p · stride − padding + k_kk · dilation]
// (0 outside the input), for the contiguous input x [N, C, in..], every channel c, kernel
// position kk (row-major over kernel[]) and output position p (row-major over output[]).
// sn = C·K·P, sck = P gives [N, C·K, P]; sn = P, sck = N·P gives [C·K, N·P].
template <typename T>
__device__ void im2col(const T* __restrict__ x, T* __restrict__ cols, const ConvDims g,
                       long long sn, long long sck) {
    const long long K = g.kernel[0] * g.kernel[1] * g.kernel[2];
    const long long P = g.output[0] * g.output[1] * g.output[2];
    const long long IN = g.input[0] * g.input[1] * g.input[2];
    const long long C = g.channels;
    LAMINA_CONV_STRIDE(e, g.batch * C * K * P) {
        const long long p = e % P, kk = (e / P) % K, c = (e / (P * K)) % C, n = e / (P * K * C);
        long long pr = p, kr = kk, at = 0, mult = 1;
        bool inside = true;
#pragma unroll
        for (int d = 2; d >= 0; --d) {
            const long long o = pr % g.output[d], q = kr % g.kernel[d];
            pr /= g.output[d];
            kr /= g.kernel[d];
            const long long i = o * g.stride[d] - g.padding[d] + q * g.dilation[d];
            inside = inside && i >= 0 && i < g.input[d];
            at += i * mult;
            mult *= g.input[d];
        }
        cols[n * sn + (c * K + kk) * sck + p] = inside ? x[(n * C + c) * IN + at] : T(0);
    }
}

// The adjoint of im2col: dx[n, c, i] = Σ over kernel positions kk (ascending) of
// cols[n · sn + (c · K + kk) · sck + p] for the output position p that reads input i
// through kk (i = o · stride − padding + k · dilation), gathered per input element, so
// no atomics and a fixed order.
template <typename T>
__device__ void col2im(const T* __restrict__ cols, T* __restrict__ dx, const ConvDims g,
                       long long sn, long long sck) {
    const long long K = g.kernel[0] * g.kernel[1] * g.kernel[2];
    const long long IN = g.input[0] * g.input[1] * g.input[2];
    const long long C = g.channels;
    LAMINA_CONV_STRIDE(e, g.batch * C * IN) {
        const long long ii = e % IN, c = (e / IN) % C, n = e / (IN * C);
        const long long i2 = ii % g.input[2], i1 = (ii / g.input[2]) % g.input[1],
                        i0 = ii / (g.input[2] * g.input[1]);
        const T* base = cols + n * sn + c * K * sck;
        T acc = T(0);
        for (long long q0 = 0; q0 < g.kernel[0]; ++q0) {
            const long long t0 = i0 + g.padding[0] - q0 * g.dilation[0];
            if (t0 < 0 || t0 % g.stride[0] != 0 || t0 / g.stride[0] >= g.output[0]) continue;
            for (long long q1 = 0; q1 < g.kernel[1]; ++q1) {
                const long long t1 = i1 + g.padding[1] - q1 * g.dilation[1];
                if (t1 < 0 || t1 % g.stride[1] != 0 || t1 / g.stride[1] >= g.output[1]) continue;
                for (long long q2 = 0; q2 < g.kernel[2]; ++q2) {
                    const long long t2 = i2 + g.padding[2] - q2 * g.dilation[2];
                    if (t2 < 0 || t2 % g.stride[2] != 0 || t2 / g.stride[2] >= g.output[2]) continue;
                    const long long kk = (q0 * g.kernel[1] + q1) * g.kernel[2] + q2;
                    const long long p =
                        ((t0 / g.stride[0]) * g.output[1] + t1 / g.stride[1]) * g.output[2] +
                        t2 / g.stride[2];
                    acc += base[kk * sck + p];
                }
            }
        }
        dx[e] = acc;
    }
}
