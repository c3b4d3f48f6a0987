#!/usr/bin/env bash
# Makes the Python environment of bench/compare.py and bench/torch_workloads.py: a venv with
# PyTorch 2.15.0 (the PyPI wheel is ~3 GB with CUDA libraries that a CPU run never loads),
# NumPy and threadpoolctl, and scikit-learn 1.9.1 for data/tests/fixtures/make_sklearn_fixtures.py.
# Idempotent: an environment that already has torch 2.15.0, NumPy, threadpoolctl and
# scikit-learn 1.9.1 is left alone. The last line printed is the venv's Python.
#
#   bench/setup.sh                                  # venv at bench/.venv (git-ignored)
#   LAMINA_BENCH_VENV=/some/dir bench/setup.sh      # venv elsewhere
#   PYTHON=python3.12 bench/setup.sh                # base interpreter (default python3)
#
# pip's own variables apply, e.g. PIP_INDEX_URL for a mirror or another wheel index.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${LAMINA_BENCH_VENV:-$repo/bench/.venv}
torch_version=2.15.0
sklearn_version=1.9.1

ready() {
    "$venv/bin/python" - "$torch_version" "$sklearn_version" 2>/dev/null <<'PY'
import sys
import numpy, sklearn, threadpoolctl, torch
ok = torch.__version__.split("+")[0] == sys.argv[1] and sklearn.__version__ == sys.argv[2]
sys.exit(0 if ok else 1)
PY
}

if ! ready; then
    if [ ! -x "$venv/bin/python" ]; then
        "${PYTHON:-python3}" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --disable-pip-version-check -q \
        "torch==$torch_version" numpy threadpoolctl "scikit-learn==$sklearn_version"
    ready || { echo "setup.sh: $venv still lacks torch $torch_version, numpy, threadpoolctl or scikit-learn $sklearn_version" >&2; exit 1; }
fi
echo "$venv/bin/python"
