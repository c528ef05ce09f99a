"""Keras losses, per-row loss and gradient, vs the NumPy reference and PyTorch.

Cases of issue 3: mse on 128 x 10 and 4096 x 1000, binary crossentropy from
logits on 4096 x 1000, categorical crossentropy on probabilities on
4096 x 1000. One measurement = the per-row losses and d(mean loss)/d(y_pred):
fastnn's forward and backward kernels (outputs preallocated, as a layer's
buffers would be); the reference's loss and loss_backward in float32; torch's
F.mse_loss / F.binary_cross_entropy_with_logits, and Keras' formula for
probabilities (p / sum p, clamp to [1e-7, 1 - 1e-7], -sum t log p) written in
torch ops, each with autograd's backward, as a user runs them.
Report: `python bench/report.py JSON`.
"""

from __future__ import annotations

import numpy as np

import bench_common as bench_conf
from test_bench_activation import _unavailable

# name -> (loss kind, from_logits, rows, columns)
CASES = {
    "mse 128x10": ("mse", False, 128, 10),
    "mse 4096x1000": ("mse", False, 4096, 1000),
    "binary_crossentropy logits 4096x1000": ("binary_crossentropy", True, 4096, 1000),
    "categorical_crossentropy 4096x1000": ("categorical_crossentropy", False, 4096, 1000),
}
SYSTEMS = ("fastnn", "reference", "torch")


def make_inputs(kind, from_logits, rows, cols):
    rng = np.random.default_rng(13)
    if kind == "mse":
        return rng.standard_normal((rows, cols)).astype(np.float32), rng.standard_normal((rows, cols)).astype(np.float32)
    if from_logits:  # binary targets, logits
        return ((rng.random((rows, cols)) < 0.5).astype(np.float32),
                (rng.standard_normal((rows, cols)) * 3).astype(np.float32))
    x = rng.standard_normal((rows, cols)) * 2  # softmax outputs and one-hot targets
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.eye(cols, dtype=np.float32)[rng.integers(0, cols, rows)], p.astype(np.float32)


def make_call(system, kind, from_logits, t, p):
    rows = p.shape[0]
    if system == "fastnn":
        ops = bench_conf.fastnn.ops
        loss, grad = np.empty(rows, np.float32), np.empty_like(p)

        def call():
            ops.loss(kind, t, p, from_logits=from_logits, out=loss)
            ops.loss_backward(kind, t, p, 1.0 / rows, from_logits=from_logits, out=grad)
        return call
    if system == "reference":
        ref = bench_conf.fastnn.reference
        return lambda: (ref.loss(kind, t, p, from_logits=from_logits),
                        ref.loss_backward(kind, t, p, np.float32(1.0 / rows), from_logits=from_logits))
    torch = bench_conf.torch
    F = torch.nn.functional
    pt = torch.from_numpy(p).requires_grad_()
    tt = torch.from_numpy(t)
    if kind == "mse":
        fn = lambda: F.mse_loss(pt, tt)  # noqa: E731  (mean over everything = mean of the row means)
    elif from_logits:
        fn = lambda: F.binary_cross_entropy_with_logits(pt, tt)  # noqa: E731
    else:
        def fn():
            q = (pt / pt.sum(-1, keepdim=True)).clamp(1e-7, 1 - 1e-7)
            return -(tt * q.log()).sum(-1).mean()

    def call():
        pt.grad = None
        fn().backward()
    return call


def pytest_generate_tests(metafunc):
    if "loss_item" in metafunc.fixturenames:
        metafunc.parametrize("loss_item", bench_conf.interleaved_params(metafunc.config, list(CASES), SYSTEMS,
                                                                         _unavailable))


_inputs: dict = {}


def test_loss(benchmark, loss_item, thread_control):
    threads, case, rep, system = loss_item
    thread_control.set(threads)
    kind, from_logits, rows, cols = CASES[case]
    if case not in _inputs:
        _inputs[case] = make_inputs(kind, from_logits, rows, cols)
    t, p = _inputs[case]
    call = make_call(system, kind, from_logits, t, p)
    call()
    benchmark.group = f"threads={threads} {case}"
    benchmark.extra_info.update(kind="activation", system=system, op=f"loss {case}", n=rows * cols, threads=threads,
                                repetition=rep, target_vs_reference=3.0)
    iterations = 50 if rows * cols < 10_000 else 1
    benchmark.pedantic(call, rounds=15, iterations=iterations, warmup_rounds=1)
