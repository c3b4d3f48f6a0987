#![allow(dead_code)]
//! Runs self-contained CUDA kernel sources on the host, for tests without a GPU: the
//! source is compiled by the system's C++ compiler (`$CXX`, else `c++`) after a shim that
//! makes the CUDA qualifiers empty and the index built-ins variables; [`SHIM`]'s `launch`
//! then calls a kernel once per block and thread of a 1-D grid, in turn. That is exact for
//! kernels whose threads never communicate (grid-stride loops without shared memory,
//! barriers or atomics), the only ones these tests compile. Data crosses as files of
//! little-endian `i64` header words and `f64` values.

pub mod data;
pub mod vm;

use std::path::PathBuf;
use std::process::Command;

/// The CUDA built-ins on the host, and the program's input, output and launch helpers:
/// `main` (in the test's own C++) calls `read_input`, `launch` and `write_output`.
pub const SHIM: &str = r#"
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>
struct lamina_dim3 { unsigned x = 0, y = 0, z = 0; };
static lamina_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#include <algorithm>
#include <cmath>
#include <cstdint>
using std::acos; using std::acosh; using std::asin; using std::asinh; using std::atan;
using std::atan2; using std::atanh; using std::ceil; using std::cos; using std::cosh;
using std::erf; using std::exp; using std::exp2; using std::expm1; using std::fabs;
using std::floor; using std::fmod; using std::log; using std::log10; using std::log1p;
using std::log2; using std::pow; using std::round; using std::rint; using std::sin;
using std::sinh; using std::sqrt; using std::tan; using std::tanh; using std::trunc;
using std::isnan; using std::isinf; using std::signbit; using std::copysign;
using std::fmax; using std::fmin; using std::nearbyint;

// The device intrinsics the prelude uses, by their definitions.
static inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
// f64 to f32 rounded toward zero.
static inline float __double2float_rz(double d) {
    float f = (float)d;
    if (d == d && std::fabs((double)f) > std::fabs(d)) f = std::nextafter(f, 0.0f);
    return f;
}
static inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
// Atomics by their definitions: threads run one at a time and never switch inside one.
template <typename T> static inline T atomicAdd(T* p, T v) { const T old = *p; *p = old + v; return old; }
template <typename T> static inline T atomicCAS(T* p, T compare, T v) {
    const T old = *p;
    if (old == compare) *p = v;
    return old;
}
// PTX's cvt.rn.f16.f64 and cvt.f32.f16: the compiler's _Float16 rounds once, to nearest
// even (NaN payloads may differ from the device's canonical NaN: tests compare NaN-ness).
static inline unsigned short lamina_host_double_to_f16(double d) {
    _Float16 h = (_Float16)d;
    unsigned short b;
    std::memcpy(&b, &h, 2);
    return b;
}
static inline float lamina_host_f16_to_float(unsigned short b) {
    _Float16 h;
    std::memcpy(&h, &b, 2);
    return (float)h;
}

// Every (block, thread) of a 1-D grid in turn.
template <typename F> static void launch(unsigned blocks, unsigned threads, F kernel) {
    gridDim.x = blocks;
    blockDim.x = threads;
    for (unsigned b = 0; b < blocks; ++b) {
        for (unsigned t = 0; t < threads; ++t) {
            blockIdx.x = b;
            threadIdx.x = t;
            kernel();
        }
    }
}

// ---- Cooperative launches: a block's threads as fibers ----
// For kernels whose threads meet (__syncthreads, warp shuffles, __shared__): each thread of
// a block runs on its own stack (ucontext) and yields at every barrier; the scheduler
// resumes the threads round-robin, setting threadIdx before each. Barriers count arrivals
// (the block's, or the 32 lanes' of a warp for a shuffle), so a barrier only some threads
// reach hangs here as it would on a GPU; a pass with every thread blocked aborts instead.
#include <ucontext.h>
#include <cstdlib>
#include <functional>
#define __shared__ static
#define __syncthreads() lamina_block_barrier()
static std::function<void()> lamina_kernel;
static std::vector<ucontext_t> lamina_ctx;
static std::vector<std::vector<char>> lamina_stacks;
static std::vector<char> lamina_done;
static ucontext_t lamina_sched;
static unsigned lamina_cur = 0;
static unsigned long long lamina_events = 0;  // barrier arrivals and finished threads
static int lamina_bar_count = 0;
static unsigned long long lamina_bar_gen = 0;
static int lamina_warp_count[32];
static unsigned long long lamina_warp_gen[32];
static unsigned long long lamina_slots[1024];

static inline void lamina_yield() {
    swapcontext(&lamina_ctx[lamina_cur], &lamina_sched);
}
static inline void lamina_block_barrier() {
    const unsigned long long g = lamina_bar_gen;
    ++lamina_events;
    if (++lamina_bar_count == (int)blockDim.x) {
        lamina_bar_count = 0;
        ++lamina_bar_gen;
    } else {
        while (lamina_bar_gen == g) lamina_yield();
    }
}
static inline void lamina_warp_barrier() {
    const unsigned w = threadIdx.x / 32;
    const int lanes = (int)std::min(32u, blockDim.x - w * 32);
    const unsigned long long g = lamina_warp_gen[w];
    ++lamina_events;
    if (++lamina_warp_count[w] == lanes) {
        lamina_warp_count[w] = 0;
        ++lamina_warp_gen[w];
    } else {
        while (lamina_warp_gen[w] == g) lamina_yield();
    }
}
// Lane + delta's value, or the caller's own past the warp (CUDA's __shfl_down_sync).
template <typename T> static inline T __shfl_down_sync(unsigned, T v, int delta) {
    static_assert(sizeof(T) <= 8, "one slot per lane");
    const unsigned t = threadIdx.x;
    std::memcpy(&lamina_slots[t], &v, sizeof(T));
    lamina_warp_barrier();
    T r = v;
    if ((t % 32) + delta < 32 && t + delta < blockDim.x) std::memcpy(&r, &lamina_slots[t + delta], sizeof(T));
    lamina_warp_barrier();
    return r;
}
static inline void lamina_fiber(int t) {
    lamina_kernel();
    lamina_done[t] = 1;
    ++lamina_events;
}
static inline void launch_coop(unsigned blocks, unsigned threads, const std::function<void()>& kernel) {
    lamina_kernel = kernel;
    gridDim.x = blocks;
    blockDim.x = threads;
    lamina_ctx.resize(threads);
    lamina_stacks.resize(threads);
    for (unsigned b = 0; b < blocks; ++b) {
        blockIdx.x = b;
        lamina_done.assign(threads, 0);
        lamina_bar_count = 0;
        for (int& c : lamina_warp_count) c = 0;
        for (unsigned t = 0; t < threads; ++t) {
            lamina_stacks[t].resize(1 << 16);
            getcontext(&lamina_ctx[t]);
            lamina_ctx[t].uc_stack.ss_sp = lamina_stacks[t].data();
            lamina_ctx[t].uc_stack.ss_size = lamina_stacks[t].size();
            lamina_ctx[t].uc_link = &lamina_sched;
            makecontext(&lamina_ctx[t], (void (*)())lamina_fiber, 1, (int)t);
        }
        // A pass in which no thread arrives at a barrier or finishes can never end.
        for (bool running = true; running;) {
            running = false;
            const unsigned long long before = lamina_events;
            for (unsigned t = 0; t < threads; ++t) {
                if (lamina_done[t]) continue;
                running = true;
                lamina_cur = t;
                threadIdx.x = t;
                swapcontext(&lamina_sched, &lamina_ctx[t]);
            }
            if (running && lamina_events == before) {
                std::fprintf(stderr, "launch_coop: every thread waits at a barrier\n");
                std::abort();
            }
        }
    }
}

// argv[1]: `words` i64 header words, then f64 values to the end of the file.
static inline bool read_input(char** argv, std::vector<long long>& head, size_t words,
                       std::vector<double>& data) {
    FILE* f = std::fopen(argv[1], "rb");
    if (!f) return false;
    head.resize(words);
    if (std::fread(head.data(), 8, words, f) != words) return false;
    double v;
    while (std::fread(&v, 8, 1, f) == 1) data.push_back(v);
    std::fclose(f);
    return true;
}

// argv[2]: the values as f64.
template <typename T> static bool write_output(char** argv, const std::vector<T>& out) {
    FILE* o = std::fopen(argv[2], "wb");
    if (!o) return false;
    for (T x : out) {
        const double v = (double)x;
        if (std::fwrite(&v, 8, 1, o) != 1) return false;
    }
    return std::fclose(o) == 0;
}

template <typename T> static std::vector<T> nans(size_t n) {
    return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}
"#;

/// A program compiled from [`SHIM`], the kernel `source` and `main`.
pub struct Program {
    bin: PathBuf,
    dir: PathBuf,
}

impl Program {
    /// Compiles into a directory of the test target's, or `None` when no C++ compiler
    /// runs (the caller says "skipped"; with `LAMINA_REQUIRE_CXX=1`, as CI sets it, a
    /// missing compiler fails instead); a compiler that runs and fails panics with its
    /// messages.
    pub fn build(name: &str, source: &str, main: &str) -> Option<Program> {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        let src = dir.join(format!("{name}.cpp"));
        std::fs::write(&src, format!("{SHIM}\n{source}\n{main}")).unwrap();
        let bin = dir.join(name);
        let out = Command::new(&cxx)
            .args([
                "-std=c++17",
                "-O1",
                "-Wall",
                "-Wno-unknown-pragmas",
                "-Werror",
                "-o",
            ])
            .arg(&bin)
            .arg(&src)
            .output();
        let out = match out {
            Ok(out) => out,
            Err(e) if std::env::var("LAMINA_REQUIRE_CXX").as_deref() == Ok("1") => {
                panic!("LAMINA_REQUIRE_CXX=1 but the C++ compiler {cxx:?} does not run: {e}")
            }
            Err(_) => return None,
        };
        assert!(
            out.status.success(),
            "{cxx} failed on {name}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Program { bin, dir })
    }

    /// Runs the program on `head` and `input`; its output values.
    pub fn run(&self, head: &[i64], input: &[f64]) -> Vec<f64> {
        let mut bytes: Vec<u8> = head.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes.extend(input.iter().flat_map(|v| v.to_le_bytes()));
        self.run_bytes(&bytes)
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// Runs the program on an input file of `bytes`; its output file's bytes.
    pub fn run_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let (inp, outp) = (self.dir.join("in.bin"), self.dir.join("out.bin"));
        std::fs::write(&inp, bytes).unwrap();
        let status = Command::new(&self.bin)
            .arg(&inp)
            .arg(&outp)
            .status()
            .unwrap();
        assert!(status.success(), "{}: {status}", self.bin.display());
        std::fs::read(&outp).unwrap()
    }
}

/// A deterministic stream of values in [-1, 1).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    /// `n` values times `scale`, rounded to f32 when `f32` (so an f32 run's only
    /// roundings are the kernel's own).
    pub fn vec(&mut self, n: usize, scale: f64, f32: bool) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let v = self.next() * scale;
                if f32 {
                    f64::from(v as f32)
                } else {
                    v
                }
            })
            .collect()
    }
}

/// Each of `got` within `tol · (1 + |want|)` of `want`.
pub fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}
