#!/usr/bin/env python3
"""Lamina against PyTorch on the same workloads, side by side.

    python bench/compare.py [--workloads W0,W1,W2,W3,W4,W5] [--quick] [--runs N] [--device cuda]

Run it with the Python of the bench environment (bench/setup.sh prints its path). It builds
Lamina's harness (`cargo build --release -p lamina-examples --bin bench`) unless --lamina-bin
names one, then runs, for each workload in turn, the harness and bench/torch_workloads.py
(alternating which goes first from run to run), and prints one row per case: both medians
and Lamina's advantage, the ratio oriented so that above 1 means Lamina is faster (time
metrics are inverted). With --runs N the whole set is repeated N times and a row gives the
median over the runs of each side's median, and each run's advantage. See bench/README.md.
With --device cuda[:N] both sides run on that GPU (the harness built with `--features cuda`):
W1, W3 and W5, the default set there. Only the Python standard library is needed here; torch
is imported by torch_workloads.py.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
TORCH_SCRIPT = os.path.join(BENCH_DIR, "torch_workloads.py")
ALL_WORKLOADS = ["W0", "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"]
GPU_WORKLOADS = ["W1", "W3", "W5"]


def fail(msg):
    print(f"compare.py: {msg}", file=sys.stderr)
    sys.exit(1)


def lower_is_better(metric):
    """Time metrics (us/op, us/iter, s/1000ep) against rates (GFLOP/s, GB/s, steps/s)."""
    return not metric.endswith("/s")


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_description():
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        import platform

        model = platform.processor() or platform.machine() or model
    isa = [name for flag, name in (("avx512f", "AVX-512F"), ("avx2", "AVX2")) if flag in flags]
    return f"{model}, {cpu_count()} CPUs, {' + '.join(isa) if isa else 'neither AVX-512F nor AVX2'}"


def load_average():
    """The 1-minute load average (runnable processes), or None where /proc has none."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def build_harness(cuda):
    """`cargo build` of the harness (with the CUDA backend when `cuda`); returns the
    executable's path as cargo reports it."""
    cmd = ["cargo", "build", "--release", "-p", "lamina-examples", "--bin", "bench"]
    cmd += ["--features", "cuda"] if cuda else []
    cmd += ["--message-format=json-render-diagnostics"]
    print("building: " + " ".join(cmd[:-1]), file=sys.stderr, flush=True)
    try:
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        fail("cargo not found: install Rust (https://rustup.rs) or pass --lamina-bin")
    exe = None
    for line in p.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "bench" \
                and msg.get("executable"):
            exe = msg["executable"]
    if p.returncode != 0 or not exe:
        fail(f"building the harness failed (cargo exit {p.returncode})")
    return exe


def run_json(cmd, what):
    """Runs `cmd`; returns its JSON lines. Stops the comparison if it fails."""
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    recs = []
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    if p.returncode != 0 or not recs:
        tail = "\n".join(p.stderr.strip().splitlines()[-5:]) or "no JSON lines on stdout"
        fail(f"{what} failed (exit {p.returncode}):\n{tail}")
    return recs


def fmt(v):
    if v != v:  # NaN
        return "nan"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    right = {2, 3, 4}  # the numeric columns

    def line(r):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads",
                    help=f"comma-separated subset of {','.join(ALL_WORKLOADS)} (default: all; "
                         f"{','.join(GPU_WORKLOADS)} on a GPU)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: both sides on that GPU")
    ap.add_argument("--quick", action="store_true",
                    help="few samples per case: checks that everything runs, not a measurement")
    ap.add_argument("--runs", type=int, default=1, help="repeat the whole set N times (default 1)")
    ap.add_argument("--lamina-bin", help="a built harness to use instead of building one")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python with torch that runs torch_workloads.py (default: this one)")
    ap.add_argument("--threads", type=int,
                    help="PyTorch's thread count (default: the thread count Lamina's harness reports)")
    ap.add_argument("--save", metavar="FILE", help="also write every raw JSON record to FILE")
    a = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # the table after the progress lines, not before

    on_gpu = a.device != "cpu"
    known = GPU_WORKLOADS if on_gpu else ALL_WORKLOADS
    workloads = [w.strip().upper() for w in (a.workloads or ",".join(known)).split(",") if w.strip()]
    unknown = [w for w in workloads if w not in known]
    if unknown or not workloads:
        fail(f"unknown workload(s) {', '.join(unknown)}; on {a.device} the harness implements "
             f"{', '.join(known)}")
    if a.runs < 1:
        fail("--runs must be at least 1")
    quick = ["--quick"] if a.quick else []
    device = ["--device", a.device]

    # The PyTorch side first: a missing torch should stop us before a long build.
    probe = subprocess.run([a.python, "-c", "import torch, numpy"], stderr=subprocess.PIPE, text=True)
    if probe.returncode != 0:
        fail(f"{a.python} cannot import torch and numpy; make the environment with bench/setup.sh "
             "and run compare.py with the Python it prints")
    run_json([a.python, TORCH_SCRIPT, "CHECK"], "the data generator check (torch_workloads.py CHECK)")

    exe = a.lamina_bin or build_harness(on_gpu)
    if not os.path.isfile(exe):
        fail(f"no harness at {exe}")

    # Lamina's build string (GEMM, SIMD path, threads) comes with its first record; run 0
    # starts with Lamina, so PyTorch gets the same thread count from its first call on.
    load_before = load_average()
    lam, tor, raw = {}, {}, []
    lam_build = tor_build = None
    threads = a.threads
    for run in range(a.runs):
        for w in workloads:
            order = ["lamina", "torch"] if run % 2 == 0 else ["torch", "lamina"]
            for peer in order:
                if peer == "lamina":
                    recs = run_json([exe, w] + quick + device, f"Lamina's harness ({w})")
                    lam_build = lam_build or recs[0].get("build")
                    if threads is None:
                        m = re.search(r"threads: (\d+)", lam_build or "")
                        threads = int(m.group(1)) if m else None
                        threads = threads or cpu_count()
                    store = lam
                else:
                    recs = run_json([a.python, TORCH_SCRIPT, w, "--threads", str(threads)] + quick + device,
                                    f"torch_workloads.py {w}")
                    tor_build = tor_build or recs[0].get("build")
                    store = tor
                for r in recs:
                    r["run"] = run
                    raw.append(r)
                    store.setdefault((r["workload"], r["case"]), []).append(r)
            print(f"run {run + 1}/{a.runs}: {w} done", file=sys.stderr, flush=True)

    if a.save:
        with open(a.save, "w") as f:
            for r in raw:
                f.write(json.dumps(r) + "\n")

    load_after = load_average()
    print(f"CPU:     {cpu_description()}")
    print(f"Lamina:  {lam_build}")
    print(f"PyTorch: {tor_build}")
    print(f"runs: {a.runs}{' (--quick: smoke test, not a measurement)' if a.quick else ''}; "
          "advantage = Lamina / PyTorch for rates, PyTorch / Lamina for times (> 1: Lamina faster)")
    if load_before is not None and load_after is not None:
        cpus = cpu_count()
        busy = max(load_before, load_after) > 0.5 * cpus
        print(f"load average: {load_before:.2f} before, {load_after:.2f} after"
              + (f" -- other processes compete for the {cpus} CPUs: the timings are not representative"
                 " (PyTorch's waiting threads suffer most)" if busy else ""))
    print()
    header = ["workload", "case", "Lamina", "PyTorch", "advantage", "metric"]
    if a.runs > 1:
        header.append("per run")
    rows, unpaired = [], []
    for key, lrecs in lam.items():
        trecs = tor.get(key)
        if not trecs:
            unpaired.append(f"{key[0]} {key[1]} (Lamina only)")
            continue
        metric = lrecs[0]["metric"]
        lmed = statistics.median(r["median"] for r in lrecs)
        tmed = statistics.median(r["median"] for r in trecs)
        adv = (tmed / lmed) if lower_is_better(metric) else (lmed / tmed)
        row = [key[0], key[1], fmt(lmed), fmt(tmed), f"{adv:.2f}x", metric]
        if a.runs > 1:
            per = []
            for lr, tr in zip(lrecs, trecs):
                per.append(tr["median"] / lr["median"] if lower_is_better(metric) else lr["median"] / tr["median"])
            row.append(" / ".join(f"{p:.2f}" for p in per))
        rows.append(row)
    unpaired += [f"{k[0]} {k[1]} (PyTorch only)" for k in tor if k not in lam]
    print(table(rows, header))

    # W2 trains the same network from the same data, initial weights and shuffles: the two
    # runs should end at the same loss and accuracy (a check on the data generator and the
    # maths, not only a timing).
    for key, lrecs in lam.items():
        if key[0] == "W2" and key in tor:
            l, t = lrecs[0], tor[key][0]
            print(f"\nW2 {key[1]}: final batch loss Lamina {l.get('final_batch_loss')} / PyTorch "
                  f"{t.get('final_batch_loss')}, accuracy {l.get('accuracy')} / {t.get('accuracy')}, "
                  f"us/step {l.get('us_per_step')} / {t.get('us_per_step')}")
    if unpaired:
        print("\nno counterpart: " + "; ".join(unpaired))
    if a.save:
        print(f"\nraw records: {a.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
