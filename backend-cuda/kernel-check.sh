#!/usr/bin/env bash
# Compile-checks every kernel of the CUDA backend on a machine without a GPU or a CUDA
# toolkit: the generated sources (`cuda-kernel-sources`) go through NVRTC to PTX and
# through ptxas to SASS, for each architecture in archs.txt, with the NVRTC options the
# backend uses at run time (options.txt). An NVRTC warning, a ptxas warning or a register
# spill fails the check (local memory is only reported: CUDA's own sin/cos/tan keep their
# reduction of huge arguments there). Prints one summary line per source and architecture
# (kernels, most registers, kernels using local memory) and exits non-zero on a failure.
#
# The compilers come from pinned PyPI wheels: NVRTC and ptxas 13.0.x (PTX ISA 9.0, which a
# CUDA 13.0 driver loads) and the 13.0 runtime headers, installed once with pip into
# LAMINA_CUDA_TOOLS (default: target/cuda-tools in the repository).
#
#   backend-cuda/kernel-check.sh [--verbose]    # --verbose: one line per kernel
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${LAMINA_CUDA_TOOLS:-$ROOT/target/cuda-tools}
OUT=$ROOT/target/cuda-check
NVRTC_WHEEL=nvidia-cuda-nvrtc==13.0.88
NVCC_WHEEL=nvidia-cuda-nvcc==13.0.88
RUNTIME_WHEEL=nvidia-cuda-runtime==13.0.96
PYTHON=${PYTHON:-python3}

if [ ! -x "$TOOLS/nvidia/cu13/bin/ptxas" ] || [ ! -e "$TOOLS/nvidia/cu13/lib/libnvrtc.so.13" ]; then
  echo "kernel-check: installing $NVRTC_WHEEL $NVCC_WHEEL $RUNTIME_WHEEL into $TOOLS"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target "$TOOLS" \
    "$NVRTC_WHEEL" "$NVCC_WHEEL" "$RUNTIME_WHEEL"
  rm -f "$TOOLS"/nvidia/cu13/lib/*.alt.so*   # variants nothing here loads
fi

rm -rf "$OUT" && mkdir -p "$OUT"
(cd "$ROOT" && cargo run --quiet --release -p lamina-backend-cuda --bin cuda-kernel-sources -- "$OUT/src")

LD_LIBRARY_PATH="$TOOLS/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  "$PYTHON" - "$OUT" "$TOOLS/nvidia/cu13" "${1:-}" <<'PY'
import ctypes, pathlib, re, subprocess, sys

out, cu, verbose = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == "--verbose"
src_dir = out / "src"
options = [o for o in (src_dir / "options.txt").read_text().split("\n") if o]
archs = [a for a in (src_dir / "archs.txt").read_text().split("\n") if a]
nvrtc = ctypes.CDLL("libnvrtc.so.13")
nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p


def check(code, what):
    if code != 0:
        raise SystemExit(f"kernel-check: {what}: {nvrtc.nvrtcGetErrorString(code).decode()}")


def compile_ptx(path, arch):
    """(ok, log, ptx) of NVRTC on one source."""
    prog = ctypes.c_void_p()
    check(nvrtc.nvrtcCreateProgram(ctypes.byref(prog), path.read_bytes(), path.name.encode(),
                                   0, None, None), "nvrtcCreateProgram")
    opts = [f"--gpu-architecture={arch}", f"--include-path={cu / 'include'}", *options]
    argv = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
    code = nvrtc.nvrtcCompileProgram(prog, len(opts), argv)
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(prog, log)
    ptx = b""
    if code == 0:
        nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetPTX(prog, buf)
        ptx = buf.value
    nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))
    return code == 0, log.value.decode(errors="replace").strip(), ptx


major, minor = ctypes.c_int(), ctypes.c_int()
nvrtc.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
print(f"kernel-check: NVRTC {major.value}.{minor.value}, options {options}, archs {archs}")
failed = 0
for path in sorted(src_dir.glob("*.cu")):
    for arch in archs:
        ok, log, ptx = compile_ptx(path, arch)
        if not ok:
            print(f"FAIL {path.name} {arch}: NVRTC\n{log}")
            failed += 1
            continue
        if log:
            print(f"FAIL {path.name} {arch}: NVRTC warnings\n{log}")
            failed += 1
        stem = out / arch / path.stem
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".ptx").write_bytes(ptx)
        ptxas = subprocess.run(
            [str(cu / "bin" / "ptxas"), f"-arch={arch}", "-v", "--warn-on-spills",
             "--warning-as-error",
             str(stem.with_suffix(".ptx")), "-o", str(stem.with_suffix(".cubin"))],
            capture_output=True, text=True)
        if ptxas.returncode != 0:
            print(f"FAIL {path.name} {arch}: ptxas\n{ptxas.stderr}")
            failed += 1
            continue
        kernels = re.findall(r"Compiling entry function '(\w+)'.*?\n(.*?)(?=ptxas info\s+: Compiling entry|\Z)",
                             ptxas.stderr, re.S)
        regs, local = [], []
        for name, body in kernels:
            r = int((re.search(r"Used (\d+) registers", body) or [0, "0"])[1])
            stack = int((re.search(r"(\d+) bytes stack frame", body) or [0, "0"])[1])
            regs.append(r)
            if stack:
                local.append(f"{name} ({stack} B)")
            if verbose:
                print(f"ok   {arch} {name}: {r} registers, {stack} bytes stack frame")
        print(f"ok   {path.name} {arch}: {len(kernels)} kernels, at most {max(regs, default=0)} "
              f"registers, no spills; local memory: {', '.join(local) or 'none'}")
print(f"kernel-check: {'FAILED' if failed else 'passed'} ({failed} failure(s))")
sys.exit(1 if failed else 0)
PY
