#!/usr/bin/env bash
# The CUDA backend's checks on a machine with an NVIDIA GPU, in one call that fits ten
# minutes: the device and libraries found; the backend's unit tests and the conformance
# suite on CUDA device 0; autograd's gradient checks on it (LAMINA_TEST_DEVICE=cuda); the
# examples' CPU-vs-CUDA agreement of their first steps and the caching allocator over 1,000
# training steps; one epoch of mnist_mlp with --device cuda; then W1 (sgemm), W3 (MLP step)
# and W5 (memory-bound ops, with the card's copy bandwidth) against PyTorch on the same
# card (bench/compare.py --device cuda). A short table last; logs in target/gpu-check/.
# Exits non-zero if a step failed or skipped for want of a GPU.
#
#   backend-cuda/gpu-check.sh
#
# The programs come from backend-cuda/gpu-bundle.sh: built here when cargo is present, else
# unpacked from target/gpu-bundle.tar.xz carried from a machine with Rust (GPU machines
# often have none). NVRTC and cuBLAS are found on LD_LIBRARY_PATH, the system's library
# cache, or PyTorch's pip-installed nvidia packages.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/target/gpu-check
BIN=$ROOT/target/gpu-bundle/bin
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
cd "$ROOT"
declare -a ROWS
status=0

step() { # name, log file, command...
  local name=$1 log=$2; shift 2
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    local result=ok
    # A suite that found no GPU passes by skipping: say so, and count it as a failure here.
    if grep -q "skipped: no CUDA device" "$log"; then result=SKIPPED; status=1; fi
    ROWS+=("$name|$result|$((SECONDS - t0)) s|$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | cut -c1-70)")
  else
    ROWS+=("$name|FAILED|$((SECONDS - t0)) s|see $log")
    status=1
  fi
}

# PyTorch's wheels carry libnvrtc and libcublas: put their folders on the loader's path.
NV=$("$PYTHON" -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
if [ -n "$NV" ]; then
  for d in "$NV"/*/lib; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
  export LD_LIBRARY_PATH
fi
export LAMINA_DATASETS=$ROOT/datasets
# A failing property test must not write regression files into the checkout.
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=true

{ nvidia-smi -L; ldconfig -p | grep -E 'libcuda\.|libnvrtc\.|libcublas\.'; echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; } \
  >"$OUT/device.log" 2>&1
echo "device and libraries:"; cat "$OUT/device.log"

if command -v cargo >/dev/null; then
  step "build the programs (gpu-bundle.sh)" "$OUT/build.log" backend-cuda/gpu-bundle.sh
fi
rm -rf "$ROOT/target/gpu-bundle"
step "unpack target/gpu-bundle.tar.xz" "$OUT/unpack.log" \
  "$PYTHON" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
  "$ROOT/target/gpu-bundle.tar.xz" "$ROOT/target"

step "backend unit tests" "$OUT/unit.log" "$BIN/cuda-unit"
step "conformance on cuda:0" "$OUT/conformance.log" "$BIN/cuda-conformance" --test-threads 1 --nocapture
grep -E "^test .*(FAILED|ok)$" "$OUT/conformance.log" | grep -c FAILED >"$OUT/conformance.failed" || true
for t in grad_ops grad_elementwise grad_reduce grad_shape grad_norm grad_conv grad_attention grad_lstm; do
  step "$t on cuda:0" "$OUT/$t.log" env LAMINA_TEST_DEVICE=cuda "$BIN/autograd-$t"
done
step "examples: CPU vs CUDA first steps" "$OUT/agreement.log" "$BIN/examples-device_agreement" --test-threads 1 --nocapture
step "allocator over 1000 steps" "$OUT/memory.log" "$BIN/examples-cuda_memory" --nocapture
step "mnist_mlp --device cuda, 1 epoch" "$OUT/mnist_mlp.log" \
  timeout 300 "$BIN/mnist_mlp" --device cuda --epochs 1 --quiet --checkpoint-dir "$(mktemp -d)"
step "W1 W3 W5 vs PyTorch on the card" "$OUT/compare.log" \
  timeout 240 "$PYTHON" bench/compare.py --device cuda --lamina-bin "$BIN/bench" --save "$OUT/compare.jsonl"

echo
sed -n '/^workload/,$p' "$OUT/compare.log"
echo
printf '%-36s %-7s %-7s %s\n' step result time "last line"
for r in "${ROWS[@]}"; do
  IFS='|' read -r a b c d <<<"$r"
  printf '%-36s %-7s %-7s %s\n' "$a" "$b" "$c" "$d"
done
echo "conformance tests failed: $(cat "$OUT/conformance.failed" 2>/dev/null || echo '?')"
exit $status
