#!/usr/bin/env python3
"""PyTorch counterparts of the workloads of Lamina's benchmark harness.

    python bench/torch_workloads.py W0 [W1 ...] [--quick] [--threads N] [--device cpu|cuda[:N]]
    python bench/torch_workloads.py INFO     # versions, CPU capability, threads (one JSON line)
    python bench/torch_workloads.py CHECK    # the data generator against bench/README.md's check values

Each measurement is one JSON line on stdout with the fields of
`cargo run --release -p lamina-examples --bin bench` (peer, build, workload, case, metric,
median, min, max, samples, inner, extras), so `bench/compare.py` can pair the two by
(workload, case). Workloads, data and measurement policy: bench/README.md. This file
implements exactly the workloads the Lamina harness implements (W0 to W8). On a CUDA
device W1, W3 and W5 run, with the harness's GPU sizes (sgemm n = 1024, 4096, 8192; the MLP
step at batch 128 and 4096; TF32 off, as Lamina's default), and every clock reading waits
for the device (torch.cuda.synchronize).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np

# ---------------------------------------------------------------------------------------
# Data generator: SplitMix64 draws u(s, i) = mix64(s + (i + 1) * GOLDEN), all mod 2^64.

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MUL1 = np.uint64(0xBF58476D1CE4E5B9)
MUL2 = np.uint64(0x94D049BB133111EB)


def draws(seed, n):
    """Draws 0..n-1 of stream `seed`, as a uint64 array (numpy wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * MUL1
        z = (z ^ (z >> np.uint64(27))) * MUL2
        return z ^ (z >> np.uint64(31))


def uniform(seed, n, lo, hi):
    """f32 `lo + (hi - lo) * f`, f = (u >> 40) * 2^-24; every operation in f32."""
    f = (draws(seed, n) >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    lo, hi = np.float32(lo), np.float32(hi)
    return (lo + (hi - lo) * f).astype(np.float32)


def labels(seed, n, k):
    """int64 `u mod k`."""
    return (draws(seed, n) % np.uint64(k)).astype(np.int64)


def glorot_kernel(seed, fan_in, fan_out):
    """Keras glorot_uniform kernel [fan_in, fan_out], limit sqrt(6 / (fan_in + fan_out)) in f32."""
    lim = np.sqrt(np.float32(6.0) / np.float32(fan_in + fan_out))
    return uniform(seed, fan_in * fan_out, -lim, lim).reshape(fan_in, fan_out)


def epoch_permutations(seed, n, epochs):
    """Fisher-Yates permutations of 0..n-1, one per epoch, consuming stream `seed` in order."""
    u = draws(seed, epochs * (n - 1)).tolist()
    out, k = [], 0
    for _ in range(epochs):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = u[k] % (i + 1)
            k += 1
            p[i], p[j] = p[j], p[i]
        out.append(p)
    return out


def check_generator():
    """The check values of bench/README.md; returns a list of failures."""
    bad = []

    def expect(name, got, want, tol=0.0):
        ok = np.allclose(got, want, rtol=0, atol=tol) if tol else list(got) == list(want)
        if not ok:
            bad.append(f"{name}: got {list(got)}, want {list(want)}")

    expect("u(0, 0..2)", [int(v) for v in draws(0, 2)], [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4])
    expect("uniform(42, 4, 0, 1)", uniform(42, 4, 0, 1), [0.74156487, 0.15991038, 0.27860111, 0.34419066], 5e-9)
    expect("uniform(1, 3, -1, 1)", uniform(1, 3, -1, 1), [0.13312304, 0.49156344, 0.94200540], 5e-9)
    expect("labels(4, 8, 10)", labels(4, 8, 10).tolist(), [8, 4, 7, 2, 1, 5, 4, 6])
    k1, k2 = glorot_kernel(43, 2, 3), glorot_kernel(44, 3, 1)
    expect("K1", k1.ravel(), [0.49991465, 0.24706995, -0.14742309, 0.72423446, -1.09170198, -0.88241076], 5e-8)
    expect("K2", k2.ravel(), [1.17948830, 0.16237092, -0.27191293], 5e-8)
    xs = uniform(42, 200, 0, 1).reshape(100, 2)
    expect("W2 positives", [int((xs[:, 0] + xs[:, 1] >= np.float32(0.5)).sum())], [88])
    p = epoch_permutations(45, 100, 2)
    expect("P_0[:10]", p[0][:10], [62, 1, 56, 10, 68, 33, 2, 37, 65, 49])
    expect("P_1[:5]", p[1][:5], [21, 87, 78, 75, 34])
    return bad


# ---------------------------------------------------------------------------------------
# Measurement: `warmup` untimed calls; one timed call sets `inner` (calls per sample) so a
# sample lasts at least `min_sample` seconds; then `samples` samples of `inner` calls.


# The device the workloads run on (--device) and the wait before every clock reading (a
# no-op on the CPU).
DEVICE = "cpu"


def sync():
    if DEVICE != "cpu":
        import torch

        torch.cuda.synchronize(DEVICE)


def gpu():
    return DEVICE != "cpu"


def on_device(array):
    """A numpy array as a tensor on the measured device."""
    import torch

    return torch.from_numpy(array).to(DEVICE)


def measure(call, warmup, samples, min_sample, quick):
    if quick:  # a smoke test, not a measurement (the harness's --quick does the same)
        warmup, samples, min_sample = 1, 3, min_sample / 5
    for _ in range(warmup):
        call()
    sync()
    t0 = time.perf_counter()
    call()
    sync()
    one = max(time.perf_counter() - t0, 1e-9)
    inner = max(1, math.ceil(min_sample / one))
    secs = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(inner):
            call()
        sync()
        secs.append((time.perf_counter() - t0) / inner)
    return secs, inner


BUILD = "torch"


def emit(workload, case, metric, values, inner, **extra):
    rec = {
        "peer": "torch",
        "build": BUILD,
        "workload": workload,
        "case": case,
        "metric": metric,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "samples": len(values),
        "inner": inner,
    }
    rec.update(extra)
    print(json.dumps(rec), flush=True)


def emit_rate(workload, case, metric, secs, inner, work):
    """A rate (work per second): the max is the fastest sample."""
    emit(workload, case, metric, [work / s for s in secs], inner)


def emit_time(workload, case, metric, secs, inner, scale):
    emit(workload, case, metric, [s * scale for s in secs], inner)


# ---------------------------------------------------------------------------------------
# Workloads


def w0(torch, quick):
    """Per-op overhead on 16-element f32 tensors."""
    a = torch.from_numpy(uniform(12, 16, -1, 1))
    b = torch.from_numpy(uniform(13, 16, -1, 1))
    s, i = measure(lambda: a + b, 1000, 15, 0.05, quick)
    emit_time("W0", "add16", "us/op", s, i, 1e6)

    # The add while autograd records it (Lamina: a tape watching `a`): `a` requires grad,
    # so each add builds a graph node, freed with its output.
    ag = a.clone().requires_grad_()
    s, i = measure(lambda: ag + b, 1000, 15, 0.05, quick)
    emit_time("W0", "add16 (with tape)", "us/op", s, i, 1e6)

    def mul_sum_backward():
        ag.grad = None  # fresh gradient every iteration, as Lamina's fresh tape
        (ag * b).sum().backward()

    s, i = measure(mul_sum_backward, 1000, 15, 0.05, quick)
    emit_time("W0", "mul-sum-backward16", "us/iter", s, i, 1e6)


def w1(torch, quick):
    """Square f32 sgemm, C freshly allocated each call."""
    for n in (1024, 4096, 8192) if gpu() else (256, 512, 1024, 2048):
        a = on_device(uniform(1, n * n, -1, 1).reshape(n, n))
        b = on_device(uniform(2, n * n, -1, 1).reshape(n, n))
        s, i = measure(lambda: torch.mm(a, b), 3, 9 if n >= 2048 else 15, 0.05, quick)
        emit_rate("W1", f"n={n}", "GFLOP/s", s, i, 2.0 * n**3 / 1e9)


def w2(torch, quick):
    """The seed MLP: 1000 epochs of 10 batches of 10 (50 epochs with --quick), 3 repeats."""
    nn = torch.nn
    epochs = 50 if quick else 1000
    xs = uniform(42, 200, 0, 1).reshape(100, 2)
    ys = (xs[:, 0] + xs[:, 1] >= np.float32(0.5)).astype(np.float32).reshape(100, 1)
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    k1, k2 = glorot_kernel(43, 2, 3), glorot_kernel(44, 3, 1)
    perms = torch.tensor(epoch_permutations(45, 100, epochs), dtype=torch.int64)
    # The loss from the logit, as Lamina's harness computes it (binary_cross_entropy_with_logits):
    # the same function as Sigmoid + BCELoss, one fused op.
    loss_fn = nn.BCEWithLogitsLoss()
    secs, accs, last_losses = [], [], []
    for _ in range(1 if quick else 3):
        model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        with torch.no_grad():
            model[0].weight.copy_(torch.from_numpy(k1.T.copy()))  # Linear.weight = kernel^T
            model[0].bias.zero_()
            model[2].weight.copy_(torch.from_numpy(k2.T.copy()))
            model[2].bias.zero_()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
        t0 = time.perf_counter()
        for e in range(epochs):
            perm = perms[e]
            for bi in range(10):
                idx = perm[10 * bi : 10 * bi + 10]
                opt.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
            last = loss.item()  # read back once per epoch
        secs.append(time.perf_counter() - t0)
        with torch.no_grad():
            accs.append(((model(x) >= 0).float() == y).float().mean().item())  # sigmoid(z) >= 0.5
        last_losses.append(last)
    emit(
        "W2",
        f"epochs={epochs}",
        "s/1000ep",
        [s * 1000.0 / epochs for s in secs],
        1,
        accuracy=round(accs[0], 3),
        final_batch_loss=round(last_losses[0], 5),
        us_per_step=round(statistics.median(secs) * 1e6 / (epochs * 10), 2),
        adam_eps=1e-7,
    )


def w3(torch, quick):
    """MNIST-shaped MLP training step, one fixed batch of 128 (and of 4096 on a GPU)."""
    for bs in (128, 4096) if gpu() else (128,):
        w3_batch(torch, bs, quick)


def w3_batch(torch, bs, quick):
    nn = torch.nn
    x = on_device(uniform(3, bs * 784, 0, 1).reshape(bs, 784))
    y = on_device(labels(4, bs, 10))
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10)).to(DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    ce = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = ce(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # Lamina's harness reads the loss back every step too

    first = step()
    s, i = measure(step, 5, 10, 0.3, quick)
    last = step()
    if not last < first:
        sys.exit(f"W3: loss did not fall: first {first}, last {last}")
    emit_rate("W3", f"bs={bs}", "steps/s", s, i, 1.0)


def w4(torch, quick):
    """LeNet-5 training step, one fixed batch of 64, plain SGD lr 0.01."""
    nn = torch.nn
    bs = 64
    x = torch.from_numpy(uniform(5, bs * 784, 0, 1).reshape(bs, 1, 28, 28))
    y = torch.from_numpy(labels(6, bs, 10))
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    ce = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = ce(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    first = step()
    s, i = measure(step, 3, 10, 0.3, quick)
    last = step()
    if not last < first:
        sys.exit(f"W4: loss did not fall: first {first}, last {last}")
    emit_rate("W4", "LeNet-5 bs=64", "steps/s", s, i, 1.0)
    w4_conv(torch, quick)


def w4_conv(torch, quick):
    """One conv2d forward + backward (input and weight gradients), [32, 64, 56, 56], 64 -> 64,
    3x3, pad 1, no bias; GFLOP/s counts 3 * 2 * N*Cout*H*W*Cin*9."""
    n, c, hw = 32, 64, 56
    x = torch.from_numpy(uniform(7, n * c * hw * hw, -1, 1).reshape(n, c, hw, hw)).requires_grad_()
    w = torch.from_numpy(uniform(8, c * c * 9, -0.05, 0.05).reshape(c, c, 3, 3)).requires_grad_()
    dy = torch.from_numpy(uniform(9, n * c * hw * hw, -1, 1).reshape(n, c, hw, hw))

    def step():
        y = torch.nn.functional.conv2d(x, w, padding=1)
        return torch.autograd.grad(y, (x, w), dy)

    step()
    s, i = measure(step, 2, 5, 0.3, quick)
    flops = 3.0 * 2.0 * n * c * hw * hw * c * 9
    emit_rate("W4", "conv2d 32x64x56x56 3x3 fwd+bwd", "GFLOP/s", s, i, flops / 1e9)


def w5(torch, quick):
    """Memory-bound ops; GB/s = minimum bytes an ideal one-pass kernel moves / time."""
    n = 16 * 1024 * 1024
    x = on_device(uniform(7, n, -1, 1))
    # The copy is the ceiling the other cases are read against (the memory's bandwidth).
    s, i = measure(lambda: x.clone(), 2, 15, 0.1, quick)
    emit_rate("W5", "copy 16M", "GB/s", s, i, 8.0 * n / 1e9)
    s, i = measure(lambda: torch.relu(x * 0.5 + -0.25), 2, 15, 0.1, quick)
    emit_rate("W5", "relu(a*x+b) 16M", "GB/s", s, i, 8.0 * n / 1e9)
    s, i = measure(lambda: x.sum(), 2, 15, 0.1, quick)
    emit_rate("W5", "sum 16M", "GB/s", s, i, 4.0 * n / 1e9)
    del x
    r, c = 4096, 1024
    m = on_device(uniform(8, r * c, -4, 4).reshape(r, c))
    dy = on_device(uniform(9, r * c, -1, 1).reshape(r, c))
    s, i = measure(lambda: torch.softmax(m, dim=1), 2, 15, 0.1, quick)
    emit_rate("W5", "softmax 4096x1024", "GB/s", s, i, 8.0 * r * c / 1e9)
    mg = m.clone().requires_grad_()
    yg = torch.softmax(mg, dim=1)
    s, i = measure(lambda: torch.autograd.grad(yg, mg, dy, retain_graph=True), 2, 15, 0.1, quick)
    emit_rate("W5", "softmax-bwd 4096x1024", "GB/s", s, i, 12.0 * r * c / 1e9)


def w6(torch, quick):
    """One LSTM layer, batch-first [32, 32, 64], hidden 128, zero state; loss = mean(h_T);
    a step is forward over 32 steps and backward to every parameter."""
    batch, seq, inp, hidden = 32, 32, 64, 128
    x = torch.from_numpy(uniform(10, batch * seq * inp, -1, 1).reshape(batch, seq, inp))
    lstm = torch.nn.LSTM(inp, hidden, batch_first=True)
    params = list(lstm.parameters())

    def step():
        _, (h, _) = lstm(x)
        loss = h.mean()
        torch.autograd.grad(loss, params)
        return loss.item()

    step()
    s, i = measure(step, 3, 10, 0.3, quick)
    emit_rate("W6", "LSTM bs=32 seq=32 h=128", "steps/s", s, i, 1.0)


def w7(torch, quick):
    """Pre-LN transformer block, d_model 128, 4 heads, FFN 512, exact GELU, input
    [16, 64, 128], causal, no dropout; loss = mean of the outputs; forward + backward to
    every parameter. Attention through F.scaled_dot_product_attention, then written out."""
    nn, F = torch.nn, torch.nn.functional
    b, t, d, heads, ff = 16, 64, 128, 4, 512
    hd = d // heads
    x = torch.from_numpy(uniform(11, b * t * d, -1, 1).reshape(b, t, d))
    ln1, ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
    qkv, wo, w1, w2 = nn.Linear(d, 3 * d), nn.Linear(d, d), nn.Linear(d, ff), nn.Linear(ff, d)
    params = [p for m in (ln1, ln2, qkv, wo, w1, w2) for p in m.parameters()]
    mask = torch.ones(t, t, dtype=torch.bool).tril()

    def step(written_out):
        a = qkv(ln1(x)).reshape(b, t, 3, heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = a[0], a[1], a[2]
        if written_out:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / hd ** 0.5)
            att = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v
        else:
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x1 = x + wo(att.permute(0, 2, 1, 3).reshape(b, t, d))
        loss = (x1 + w2(F.gelu(w1(ln2(x1))))).mean()
        torch.autograd.grad(loss, params)
        return loss.item()

    for written_out, case in ((False, "pre-LN block bs=16 seq=64 d=128 (sdpa)"),
                              (True, "pre-LN block bs=16 seq=64 d=128 (written out)")):
        step(written_out)
        s, i = measure(lambda: step(written_out), 3, 10, 0.3, quick)
        emit_rate("W7", case, "steps/s", s, i, 1.0)


def w8(torch, quick):
    """A 1024 -> 1024 linear layer on a batch of 1024, f32 and int8 (fbgemm: weights per
    channel, symmetric qint8; dynamic: torch.ao.nn.quantized.dynamic.Linear; static:
    torch.ao.nn.quantized.Linear on the input quantised with the fixed range [-1, 1] and its
    output dequantised, so f32 in and out as Lamina's)."""
    m = k = n = 1024
    torch.backends.quantized.engine = "fbgemm"
    x = torch.from_numpy(uniform(20, m * k, -1, 1).reshape(m, k))
    w = torch.from_numpy(uniform(21, n * k, -0.05, 0.05).reshape(n, k))
    b = torch.from_numpy(uniform(22, n, -0.1, 0.1))
    ops = 2.0 * m * n * k / 1e9
    s, i = measure(lambda: torch.nn.functional.linear(x, w, b), 3, 15, 0.05, quick)
    emit_rate("W8", "linear f32 1024", "GOP/s", s, i, ops)
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

    wobs = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    wobs(w)
    ws, wz = wobs.calculate_qparams()
    qw = torch.quantize_per_channel(w, ws, wz, 0, torch.qint8)
    dyn = torch.ao.nn.quantized.dynamic.Linear(k, n)
    dyn.set_weight_bias(qw, b)
    s, i = measure(lambda: dyn(x), 3, 15, 0.05, quick)
    emit_rate("W8", "linear int8 dynamic 1024", "GOP/s", s, i, ops)
    xobs = MinMaxObserver(dtype=torch.quint8)
    xobs(torch.tensor([-1.0, 1.0]))
    xs, xz = xobs.calculate_qparams()
    yobs = MinMaxObserver(dtype=torch.quint8)
    yobs(torch.nn.functional.linear(x, w, b))
    ys, yz = yobs.calculate_qparams()
    stat = torch.ao.nn.quantized.Linear(k, n)
    stat.set_weight_bias(qw, b)
    stat.scale, stat.zero_point = float(ys), int(yz)
    s, i = measure(lambda: stat(torch.quantize_per_tensor(x, float(xs), int(xz), torch.quint8)).dequantize(),
                   3, 15, 0.05, quick)
    emit_rate("W8", "linear int8 static 1024", "GOP/s", s, i, ops)


WORKLOADS = {"W0": w0, "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7, "W8": w8}


def threadpools():
    """The native thread pools loaded in this process (OpenMP, BLAS), as threadpoolctl sees them."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    keys = ("user_api", "internal_api", "version", "num_threads")
    return [{k: d.get(k) for k in keys} for d in threadpoolctl.threadpool_info()]


def default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="+", metavar="W", help="W0 to W8, INFO or CHECK")
    ap.add_argument("--quick", action="store_true", help="few samples: a smoke test, not a measurement")
    ap.add_argument("--threads", type=int, default=default_threads(),
                    help="torch.set_num_threads (default: the CPUs this process may run on)")
    ap.add_argument("--device", default="cpu",
                    help="cpu (default) or cuda[:N]: W1, W3 and W5 run on a GPU")
    args = ap.parse_args()
    names = [w.upper() for w in args.workloads]

    if names == ["CHECK"]:
        bad = check_generator()
        for b in bad:
            print("generator check failed: " + b, file=sys.stderr)
        print(json.dumps({"generator_check": "ok" if not bad else "failed", "failures": len(bad)}))
        return 1 if bad else 0
    unknown = [w for w in names if w not in WORKLOADS and w != "INFO"]
    if unknown:
        print(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}, INFO, CHECK",
              file=sys.stderr)
        return 2

    import torch

    global DEVICE
    DEVICE = "cuda:0" if args.device == "cuda" else args.device
    if gpu():
        if not torch.cuda.is_available():
            print(f"--device {args.device}: this torch sees no CUDA device", file=sys.stderr)
            return 1
        cpu_only = [w for w in names if w not in ("W1", "W3", "W5", "INFO")]
        if cpu_only:
            print(f"{', '.join(cpu_only)} run on the CPU only (W1, W3 and W5 run on a GPU)", file=sys.stderr)
            return 2
        torch.backends.cuda.matmul.allow_tf32 = False  # Lamina's default: full f32 products
    torch.set_num_threads(args.threads)
    cap = torch.backends.cpu.get_cpu_capability()
    where = torch.cuda.get_device_name(DEVICE) if gpu() else f"cpu capability: {cap}"
    BUILD = f"torch {torch.__version__} (device: {DEVICE}, {where}, threads: {torch.get_num_threads()})"
    for w in names:
        if w == "INFO":
            print(json.dumps({
                "peer": "torch",
                "build": BUILD,
                "python": sys.version.split()[0],
                "numpy": np.__version__,
                "torch": torch.__version__,
                "cpu_capability": cap,
                "threads": torch.get_num_threads(),
                "mkldnn": torch.backends.mkldnn.is_available(),
                "mkl": torch.backends.mkl.is_available(),
                "threadpools": threadpools(),
            }), flush=True)
        else:
            WORKLOADS[w](torch, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
