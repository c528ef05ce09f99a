"""Pooling and batch normalisation at the MNIST-CNN shapes (batch 128): fastnn vs the NumPy
reference and PyTorch.

Cases (float32, random normal inputs, NHWC for fastnn and the reference):

* max-pool 2x2 (stride 2, 'valid') on (128, 26, 26, 32) and (128, 11, 11, 64), forward alone
  and forward + backward (the input gradient from a random output gradient);
* batch norm forward (training: batch statistics, running statistics updated) + the fused
  backward (dx, dgamma, dbeta) on (128, 13, 13, 64) and (128, 256).

Systems:

* fastnn: ``fastnn.ops`` kernels (forward with saved argmax indices, or mean / invstd; then the
  backward kernel), the pooled output into a preallocated buffer;
* reference: ``fastnn.reference`` fed float32 (its max-pool backward recomputes the argmax);
* torch: ``torch.nn.functional.max_pool2d`` / ``batch_norm`` (training, momentum 0.01 = Keras'
  0.99), then autograd's backward, as a user runs them. For the 4-D cases torch is timed in
  NCHW and in channels_last (a few calls each when the item starts) and the faster layout is
  benchmarked (recorded in extra_info ``torch_layout``, with both pre-timings), as
  shared/BENCHMARKING.md asks.

Threads fixed for every system (``--bench-threads 2`` for the committed table). Report:
``python bench/report.py JSON`` (the "activation" table: ms per call, speed-ups per repetition,
targets ≥ 3× the reference and ≥ 1.0× torch).
"""

from __future__ import annotations

import time

import numpy as np

import bench_common as bench_conf

CASES = ("maxpool2x2 fwd 128x26x26x32", "maxpool2x2 fwd+bwd 128x26x26x32", "maxpool2x2 fwd 128x11x11x64",
         "maxpool2x2 fwd+bwd 128x11x11x64", "batchnorm fwd+bwd 128x13x13x64", "batchnorm fwd+bwd 128x256")
SYSTEMS = ("fastnn", "reference", "torch")
MOMENTUM, EPS = 0.99, 1e-3


def _shape(case):
    return tuple(int(v) for v in case.split()[-1].split("x"))


def _inputs(case):
    rng = np.random.default_rng(23)
    shape = _shape(case)
    x = rng.standard_normal(shape).astype(np.float32)
    if case.startswith("maxpool"):
        out = (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
        return x, rng.standard_normal(out).astype(np.float32)
    return x, rng.standard_normal(shape).astype(np.float32)


def _fastnn_call(case, x, g):
    ops = bench_conf.fastnn.ops
    c = x.shape[-1]
    if case.startswith("maxpool"):
        y = np.empty(g.shape, np.float32)
        if "bwd" not in case:
            return lambda: ops.max_pool2d(x, 2, out=y)

        def call():
            _, idx = ops.max_pool2d(x, 2, return_indices=True, out=y)
            ops.max_pool2d_backward(idx, g, x.shape, 2)
        return call
    gamma, beta = np.ones(c, np.float32), np.zeros(c, np.float32)
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    y = np.empty_like(x)

    def call():
        _, mean, invstd = ops.batch_norm_train(x, gamma, beta, rm, rv, MOMENTUM, EPS, out=y)
        ops.batch_norm_backward(x, g, mean, invstd, gamma)
    return call


def _reference_call(case, x, g):
    ref = bench_conf.fastnn.reference
    c = x.shape[-1]
    if case.startswith("maxpool"):
        if "bwd" not in case:
            return lambda: ref.max_pool2d(x, 2)
        return lambda: (ref.max_pool2d(x, 2), ref.max_pool2d_backward(x, g, 2))
    gamma, beta = np.ones(c, np.float32), np.zeros(c, np.float32)
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)

    def call():
        _, mean, invstd, _, _ = ref.batch_norm(x, gamma, beta, rm, rv, True, MOMENTUM, EPS)
        ref.batch_norm_backward(x, g, mean, invstd, gamma, True)
    return call


def _torch_call(case, x, g, layout):
    torch = bench_conf.torch
    F = torch.nn.functional
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    if x.ndim == 4:  # NHWC arrays as NCHW tensors, stored NCHW or channels_last
        xt, gt = xt.permute(0, 3, 1, 2), gt.permute(0, 3, 1, 2)
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        xt, gt = xt.contiguous(memory_format=fmt), gt.contiguous(memory_format=fmt)
    if case.startswith("maxpool"):
        if "bwd" not in case:
            def fwd():
                with torch.no_grad():
                    F.max_pool2d(xt, 2)
            return fwd
        xg = xt.detach().clone(memory_format=torch.preserve_format).requires_grad_()

        def call():
            xg.grad = None
            F.max_pool2d(xg, 2).backward(gt)
        return call
    c = x.shape[-1]
    xg = xt.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    w, b = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
    rm, rv = torch.zeros(c), torch.ones(c)

    def call():
        xg.grad = w.grad = b.grad = None
        F.batch_norm(xg, rm, rv, w, b, training=True, momentum=1 - MOMENTUM, eps=EPS).backward(gt)
    return call


def _pretime(call, n=5):
    call()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def pytest_generate_tests(metafunc):
    if "pool_item" in metafunc.fixturenames:
        metafunc.parametrize("pool_item", bench_conf.interleaved_params(metafunc.config, CASES, SYSTEMS))


_cache: dict = {}


def test_pooling(benchmark, pool_item, thread_control, pacer):
    threads, case, rep, system = pool_item
    thread_control.set(threads)
    if case not in _cache:
        _cache[case] = _inputs(case)
    x, g = _cache[case]
    extra = {}
    if system == "fastnn":
        call = _fastnn_call(case, x, g)
    elif system == "reference":
        call = _reference_call(case, x, g)
    else:
        layouts = ("nchw", "channels_last") if x.ndim == 4 else ("nchw",)
        timed = {lay: _pretime(_torch_call(case, x, g, lay)) for lay in layouts}
        best = min(timed, key=timed.get)
        call = _torch_call(case, x, g, best)
        extra = {"torch_layout": best, **{f"torch_pretime_{k}_ms": v * 1e3 for k, v in timed.items()}}
    pacer.before(system)
    call()
    benchmark.group = f"threads={threads} {case}"
    benchmark.extra_info.update(kind="activation", system=system, op=case, n=int(x.size), threads=threads,
                                repetition=rep, target_vs_reference=3.0, **extra)
    slow = system == "reference" and "bwd" in case and case.startswith("maxpool")
    benchmark.pedantic(call, rounds=3 if slow else 10, iterations=1, warmup_rounds=0 if slow else 1)
