"""2-D convolution: fastnn vs PyTorch CPU (NCHW and channels_last) and the NumPy reference.

Cases: the two convolutions of the classic MNIST CNN (Conv32-Pool-Conv64-Pool-Dense128-Dense10)
at batch 128, each with its relu, float32, random normal inputs and Glorot-sized weights:

* conv1: 28x28x1 -> 26x26x32, 3x3, valid (GEMM M = 86528, K = 9, N = 32);
* conv2: 13x13x32 -> 11x11x64, 3x3, valid (M = 15488, K = 288, N = 64).

Passes: ``fwd`` (relu(conv(x) + b)) and ``fwd+bwd`` (the forward, then the gradients a network
needs given an upstream gradient: dw and db, plus dx for conv2 only -- conv1 is the first layer,
whose input needs no gradient, so no system computes it there).

Systems, each as a user runs it:

* fastnn: ``fastnn.functional.conv2d(..., activation="relu")`` (NHWC, bias and relu fused) and
  ``Tensor.backward(g)`` through its autograd rule;
* torch_nchw / torch_cl: ``torch.nn.functional.conv2d`` + ``relu`` and autograd's backward, on
  NCHW tensors and on channels_last (NHWC in memory) tensors; the report compares fastnn with
  the faster of the two per repetition (BENCHMARKING.md). Torch is timed as a user gets it by
  default (no GLIBC_TUNABLES);
* reference: ``fastnn.reference.conv2d`` / ``conv2d_backward`` fed float32 (im2col + NumPy
  matmul on OpenBLAS), with the relu mask applied by NumPy.

Threads are fixed for every system (fastnn, torch, NumPy's BLAS); systems interleave within each
repetition. Report: ``python bench/report.py JSON`` (the "conv" section).
"""

from __future__ import annotations

import time

import numpy as np

import bench_common as bench_conf

BATCH = 128
CASES = {
    # name: (H, W, Cin, Cout, k)
    "conv1 28x28x1->32 3x3": (28, 28, 1, 32, 3),
    "conv2 13x13x32->64 3x3": (13, 13, 32, 64, 3),
}
PASSES = ("fwd", "fwd+bwd")
SYSTEMS = ("fastnn", "torch_nchw", "torch_cl", "reference")
TARGET_S = 0.3  # timed work per measurement


def _items():
    return [f"{case} {p}" for case in CASES for p in PASSES]


def _split(item):
    case, _, p = item.rpartition(" ")
    return case, p


def _inputs(case):
    h, w, cin, cout, k = CASES[case]
    rng = np.random.default_rng(11)
    x = rng.standard_normal((BATCH, h, w, cin)).astype(np.float32)
    limit = np.sqrt(6.0 / (k * k * cin + k * k * cout))
    wt = rng.uniform(-limit, limit, (k, k, cin, cout)).astype(np.float32)
    b = rng.uniform(-0.1, 0.1, cout).astype(np.float32)
    oh, ow = h - k + 1, w - k + 1
    g = rng.standard_normal((BATCH, oh, ow, cout)).astype(np.float32)
    return x, wt, b, g


def make_call(system, case, p, x, w, b, g):
    need_dx = case.startswith("conv2")
    backward = p == "fwd+bwd"
    if system == "fastnn":
        fastnn = bench_conf.fastnn
        F = fastnn.functional
        if not backward:
            return lambda: F.conv2d(x, w, b, activation="relu")
        xt = fastnn.Tensor(x, requires_grad=need_dx)
        wt, bt = fastnn.Parameter(w), fastnn.Parameter(b)

        def call():
            wt.grad = bt.grad = xt.grad = None
            F.conv2d(xt, wt, bt, activation="relu").backward(g)
        return call
    if system == "reference":
        ref = bench_conf.fastnn.reference

        def call():
            y = ref.conv2d(x, w, b, activation="relu")
            if backward:
                dz = g * (y > 0)
                ref.conv2d_backward(x, w, dz, input_grad=need_dx)
            return y
        return call
    torch = bench_conf.torch
    cl = system == "torch_cl"
    fmt = torch.channels_last if cl else torch.contiguous_format
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).contiguous(memory_format=fmt)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).contiguous(memory_format=fmt)
    bt = torch.from_numpy(b.copy())
    gt = torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2))).contiguous(memory_format=fmt)
    fn = torch.nn.functional
    if not backward:
        def call():
            with torch.no_grad():
                return fn.relu(fn.conv2d(xt, wt, bt))
        return call
    xt.requires_grad_(need_dx)
    wt.requires_grad_(True)
    bt.requires_grad_(True)

    def call():
        wt.grad = bt.grad = xt.grad = None
        fn.relu(fn.conv2d(xt, wt, bt)).backward(gt)
    return call


def _unavailable(system):
    if system.startswith("torch"):
        return bench_conf.system_unavailable("torch")
    return bench_conf.system_unavailable(system)


def pytest_generate_tests(metafunc):
    if "conv_item" in metafunc.fixturenames:
        metafunc.parametrize("conv_item", bench_conf.interleaved_params(metafunc.config, _items(), SYSTEMS,
                                                                        _unavailable))


_cache: dict = {}
_checked: set = set()


def _check(system, case, p, call, inputs):
    """Repetition 0: the forward result must match the reference (a wrong answer fails the item)."""
    if p != "fwd" or (system, case) in _checked:
        return
    x, w, b, _ = inputs
    got = call()
    if hasattr(got, "permute"):  # torch, NCHW
        got = got.permute(0, 2, 3, 1).contiguous().numpy()
    elif hasattr(got, "numpy"):  # a fastnn Tensor
        got = got.numpy()
    want = bench_conf.fastnn.reference.conv2d(x.astype(np.float64), w.astype(np.float64), b, activation="relu")
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=1e-3, atol=1e-3)
    _checked.add((system, case))


def test_conv(benchmark, conv_item, thread_control, pacer):
    threads, item, rep, system = conv_item
    case, p = _split(item)
    thread_control.set(threads)
    if case not in _cache:
        _cache[case] = _inputs(case)
    inputs = _cache[case]
    call = make_call(system, case, p, *inputs)
    _check(system, case, p, call, inputs)
    call()  # warm-up: workspaces, torch's primitive cache
    t0 = time.perf_counter()
    call()
    probe = time.perf_counter() - t0
    rounds = int(min(40, max(3, TARGET_S / max(probe, 1e-6))))
    pacer.before("reference" if system == "reference" else system)
    h, w, cin, cout, k = CASES[case]
    benchmark.group = f"threads={threads} {item}"
    benchmark.extra_info.update(kind="conv", system=system, op=case, case=case, pass_=p, threads=threads,
                                repetition=rep, batch=BATCH, gemm_m=BATCH * (h - k + 1) * (w - k + 1),
                                gemm_k=k * k * cin, gemm_n=cout)
    benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=1)
