#!/usr/bin/env bash
# Builds, on a machine with Rust (no GPU needed), every program `gpu-check.sh` runs on a GPU
# machine that has no Rust toolchain: the CUDA backend's unit tests and conformance suite,
# autograd's gradient checks, the examples' CPU-vs-CUDA agreement and allocator tests,
# `mnist_mlp` and the benchmark harness, all with the `cuda` feature, release, stripped, and
# packs them into target/gpu-bundle.tar.xz (about 25 MB; the programs are ~150 MB unpacked).
# Carry that file to the GPU machine with the working tree; `gpu-check.sh` unpacks and runs
# it when cargo is absent there.
#
#   backend-cuda/gpu-bundle.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/target/gpu-bundle
GRAD_TESTS=(grad_ops grad_elementwise grad_reduce grad_shape grad_norm grad_conv grad_attention grad_lstm)
cd "$ROOT"
rm -rf "$OUT" "$OUT.tar.xz" && mkdir -p "$OUT/bin"
export CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_RELEASE_DEBUG=0

# Runs cargo with `--message-format=json` and copies the executables it names: test
# harnesses (`test --no-run`) or the binaries named by `--bin` (`build`), as `<prefix><name>`.
collect() { # prefix, cargo args...
  local prefix=$1; shift
  cargo "$@" --release --message-format=json 2>/dev/null | python3 -c '
import json, shutil, sys
out, prefix, test = sys.argv[1], sys.argv[2], sys.argv[3] == "test"
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe = m.get("executable")
    if m.get("reason") != "compiler-artifact" or not exe or m["profile"]["test"] != test:
        continue
    name = "unit" if "lib" in m["target"]["kind"] else m["target"]["name"]
    shutil.copy(exe, f"{out}/{prefix}{name}")
' "$OUT/bin" "$prefix" "$1"
}

collect cuda- test --no-run -p lamina-backend-cuda --features cuda --lib --test conformance
collect autograd- test --no-run -p lamina-autograd --features lamina-backend-cuda/cuda \
  $(printf -- '--test %s ' "${GRAD_TESTS[@]}")
collect examples- test --no-run -p lamina-examples --features cuda --test device_agreement --test cuda_memory
collect "" build -p lamina-examples --features cuda --bin mnist_mlp --bin bench
(cd "$OUT/bin" && ls -1) >"$OUT/contents.txt"
tar -C "$ROOT/target" -cf - gpu-bundle | xz -6 -T0 >"$OUT.tar.xz"
echo "gpu-bundle: $(wc -l <"$OUT/contents.txt") programs ($(du -sh "$OUT" | cut -f1) unpacked) in" \
  "$OUT.tar.xz ($(du -h "$OUT.tar.xz" | cut -f1))"
rm -rf "$OUT"
