"""Broadcasting binary ops, reduce_sum and dropout: fastnn vs NumPy, the NumPy reference and PyTorch.

Cases (float32, random normal inputs):

* add 1M, multiply 1M: two same-shape arrays of 2^20 elements;
* add bias: (128, 256) + (256,), a Dense layer's bias;
* sum axis 0: (1024, 784) summed over the batch axis (a bias gradient);
* dropout fwd+bwd 1M: rate 0.5 on 2^20 elements, forward then backward;
* penalty fwd+bwd 784x128, penalty fwd+bwd 1M: Keras' L1L2(0.01, 0.02) weight
  penalty ``l1 * sum|w| + l2 * sum w^2`` of a Dense kernel and of a 2^20
  weight, then its gradient ``l1 * sign(w) + 2 l2 w`` (upstream gradient 1).

Systems, each in its fastest ordinary form:

* fastnn: ``fastnn.ops`` into preallocated outputs (``out=``), as a layer's
  buffers would be; dropout draws a fresh (key, offset) per call;
* numpy: the same into preallocated outputs (``np.add(a, b, out=o)``,
  ``np.sum(x, 0, out=o)``); dropout as NumPy users write it, a float32
  uniform draw compared with the rate (mask kept for the backward);
* reference: ``fastnn.reference`` (allocates its results; its dropout
  evaluates Philox4x32-10 in NumPy, so it is slow by design);
* torch: ``torch.add(..., out=)``, ``torch.sum(..., out=)``, and dropout
  as a user runs it: ``F.dropout`` then autograd's backward; the penalty as
  ``l1 * w.abs().sum() + l2 * (w * w).sum()`` then autograd's backward.
  NumPy's penalty: abs, square, sign into preallocated buffers.

Threads are fixed for every system (NumPy's element-wise loops and sums use
one thread anyway). Report: ``python bench/report.py JSON``.
"""

from __future__ import annotations

import numpy as np

import bench_common as bench_conf

CASES = ("add 1M", "add bias 128x256+(256,)", "multiply 1M", "sum axis 0 of 1024x784", "dropout fwd+bwd 1M",
         "penalty fwd+bwd 784x128", "penalty fwd+bwd 1M")
SYSTEMS = ("fastnn", "numpy", "reference", "torch")
N = 1 << 20
RATE = 0.5
L1, L2 = 0.01, 0.02


def _inputs(case):
    rng = np.random.default_rng(17)
    if case in ("add 1M", "multiply 1M", "dropout fwd+bwd 1M"):
        return rng.standard_normal(N).astype(np.float32), rng.standard_normal(N).astype(np.float32)
    if case == "penalty fwd+bwd 784x128":
        return rng.standard_normal((784, 128)).astype(np.float32), None
    if case == "penalty fwd+bwd 1M":
        return rng.standard_normal(N).astype(np.float32), None
    if case.startswith("add bias"):
        return rng.standard_normal((128, 256)).astype(np.float32), rng.standard_normal(256).astype(np.float32)
    return rng.standard_normal((1024, 784)).astype(np.float32), None


def make_call(system, case, a, b):
    op = {"add 1M": "add", "multiply 1M": "multiply"}.get(case, "add")
    if system == "fastnn":
        ops = bench_conf.fastnn.ops
        if case.startswith("penalty"):
            value, dw, g = np.empty((), np.float32), np.empty_like(a), np.array(1.0, np.float32)

            def call():
                ops.penalty(a, L1, L2, out=value)
                ops.penalty_backward(a, g, L1, L2, out=dw)
            return call
        if case.startswith("sum"):
            out = np.empty(a.shape[1], np.float32)
            return lambda: ops.reduce_sum(a, 0, out=out)
        if case.startswith("dropout"):
            y, dx = np.empty_like(a), np.empty_like(a)

            def call():
                _, key, offset = ops.dropout(a, RATE, out=y)
                ops.dropout_backward(b, RATE, key, offset, out=dx)
            return call
        out = np.empty(np.broadcast_shapes(a.shape, b.shape), np.float32)
        return lambda: ops.binary(op, a, b, out=out)
    if system == "numpy":
        if case.startswith("penalty"):
            t, dw = np.empty_like(a), np.empty_like(a)
            l1, l2x2 = np.float32(L1), np.float32(2 * L2)

            def call():
                value = np.float32(L1) * np.abs(a, out=t).sum() + np.float32(L2) * np.multiply(a, a, out=t).sum()
                np.sign(a, out=dw)
                np.multiply(dw, l1, out=dw)
                np.multiply(a, l2x2, out=t)
                np.add(dw, t, out=dw)
                return value
            return call
        if case.startswith("sum"):
            out = np.empty(a.shape[1], np.float32)
            return lambda: np.sum(a, axis=0, out=out)
        if case.startswith("dropout"):
            rng = np.random.default_rng(5)
            y, dx, u = np.empty_like(a), np.empty_like(a), np.empty_like(a)
            scale = np.float32(1 / (1 - RATE))

            def call():
                rng.random(out=u, dtype=np.float32)
                mask = (u >= RATE) * scale
                np.multiply(a, mask, out=y)
                np.multiply(b, mask, out=dx)
            return call
        fn = np.add if op == "add" else np.multiply
        out = np.empty(np.broadcast_shapes(a.shape, b.shape), np.float32)
        return lambda: fn(a, b, out=out)
    if system == "reference":
        ref = bench_conf.fastnn.reference
        if case.startswith("penalty"):
            return lambda: (ref.penalty(a, L1, L2), ref.penalty_backward(a, 1.0, L1, L2))
        if case.startswith("sum"):
            return lambda: ref.reduce_sum(a, axis=0)
        if case.startswith("dropout"):
            return lambda: (ref.dropout(a, RATE, 1, 0), ref.dropout_backward(b, RATE, 1, 0))
        return lambda: ref.binary(op, a, b)
    torch = bench_conf.torch
    ta = torch.from_numpy(a)
    if case.startswith("penalty"):
        wt = ta.clone().requires_grad_()

        def call():
            wt.grad = None
            (L1 * wt.abs().sum() + L2 * (wt * wt).sum()).backward()
        return call
    if case.startswith("sum"):
        out = torch.empty(a.shape[1])
        return lambda: torch.sum(ta, 0, out=out)
    tb = torch.from_numpy(b)
    if case.startswith("dropout"):
        xt = ta.clone().requires_grad_()

        def call():
            xt.grad = None
            torch.nn.functional.dropout(xt, RATE, training=True).backward(tb)
        return call
    fn = torch.add if op == "add" else torch.mul
    out = torch.empty(np.broadcast_shapes(a.shape, b.shape))
    return lambda: fn(ta, tb, out=out)


def _unavailable(system):
    if system in ("numpy", "reference"):  # element-wise NumPy: no BLAS threads to fix
        return None if bench_conf.fastnn is not None else "fastnn not importable"
    return bench_conf.system_unavailable(system)


def pytest_generate_tests(metafunc):
    if "ew_item" in metafunc.fixturenames:
        metafunc.parametrize("ew_item", bench_conf.interleaved_params(metafunc.config, CASES, SYSTEMS, _unavailable))


_cache: dict = {}


def test_elementwise(benchmark, ew_item, thread_control):
    threads, case, rep, system = ew_item
    thread_control.set(threads)
    if case not in _cache:
        _cache[case] = _inputs(case)
    a, b = _cache[case]
    call = make_call(system, case, a, b)
    call()
    slow = system == "reference" and case.startswith("dropout")  # NumPy Philox: ~0.1 s a call
    small = case.startswith("add bias")
    benchmark.group = f"threads={threads} {case}"
    benchmark.extra_info.update(kind="activation", system=system, op=case, n=int(a.size), threads=threads,
                                repetition=rep, target_vs_reference=1.0)
    benchmark.pedantic(call, rounds=3 if slow else 15, iterations=50 if small else 1,
                       warmup_rounds=0 if slow else 1)
