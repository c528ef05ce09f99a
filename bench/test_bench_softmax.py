"""Fused softmax cross-entropy, loss and gradient, vs the NumPy reference and PyTorch.

Shapes of the issue: batch 128 x 10 classes (MNIST) and 4096 x 1000. One
measurement = per-row loss and d(mean loss)/d(logits): fastnn's one-pass
kernel; the reference's log-softmax formulation in float32; torch's
F.cross_entropy (mean) and autograd's backward, as a user runs it.
Report: `python bench/report.py JSON`.
"""

from __future__ import annotations

import numpy as np

import bench_common as bench_conf
from test_bench_activation import _unavailable

SHAPES = {"128x10": (128, 10), "4096x1000": (4096, 1000)}
SYSTEMS = ("fastnn", "reference", "torch")


def make_call(system, x, labels):
    rows = x.shape[0]
    if system == "fastnn":
        fastnn = bench_conf.fastnn
        return lambda: fastnn.softmax_cross_entropy(x, labels, grad_scale=1.0 / rows)
    if system == "reference":
        ref = bench_conf.fastnn.reference
        return lambda: ref.cross_entropy(x, labels, 0.0, 1.0 / rows)
    torch = bench_conf.torch
    xt = torch.from_numpy(x).requires_grad_()
    lt = torch.from_numpy(labels)

    def call():
        xt.grad = None
        torch.nn.functional.cross_entropy(xt, lt).backward()
    return call


def pytest_generate_tests(metafunc):
    if "ce_item" in metafunc.fixturenames:
        metafunc.parametrize("ce_item", bench_conf.interleaved_params(metafunc.config, list(SHAPES), SYSTEMS,
                                                                       _unavailable))


_inputs: dict = {}


def test_softmax_cross_entropy(benchmark, ce_item, thread_control):
    threads, shape_name, rep, system = ce_item
    thread_control.set(threads)
    if shape_name not in _inputs:
        rng = np.random.default_rng(11)
        rows, classes = SHAPES[shape_name]
        _inputs[shape_name] = ((rng.standard_normal((rows, classes)) * 3).astype(np.float32),
                               rng.integers(0, classes, rows).astype(np.int64))
    x, labels = _inputs[shape_name]
    call = make_call(system, x, labels)
    call()
    rows, classes = SHAPES[shape_name]
    benchmark.group = f"threads={threads} {shape_name}"
    benchmark.extra_info.update(kind="activation", system=system, op=f"softmax_cross_entropy {shape_name}",
                                n=rows * classes, threads=threads, repetition=rep, target_vs_reference=5.0)
    iterations = 50 if rows * classes < 10_000 else 1
    benchmark.pedantic(call, rounds=15, iterations=iterations, warmup_rounds=1)
