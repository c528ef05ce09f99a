"""Element-wise activations, forward + backward on 1M float32: fastnn vs the NumPy reference and PyTorch.

One measurement = y = f(x) and dx = dy * f'(x) (torch: the op then autograd's
backward, as a user runs it). fastnn's backward is the one its autograd runs in
training: from the output y (`activation_backward(y, dy, name,
from_output=True)`, e.g. sigmoid's y (1 - y)) for the kinds in
`fastnn.ops.ACTIVATIONS_FROM_OUTPUT`, as torch does, and from x for the
others (gelu, gelu_tanh, silu, softsign). The reference recomputes f'(x) from
x throughout. Systems are interleaved within each repetition
(the system varies fastest in the parametrisation), threads are fixed for
every system (NumPy's element-wise ops use one thread anyway), inputs are
random normal * 3. Report: `python bench/report.py JSON`.
"""

from __future__ import annotations

import numpy as np
import pytest

import bench_common as bench_conf

N = 1 << 20
OPS = ("relu", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "sigmoid", "hard_sigmoid", "tanh",
       "softplus", "softsign", "exponential")
SYSTEMS = ("fastnn", "reference", "torch")


def _torch_fn(name):
    torch = bench_conf.torch
    F = torch.nn.functional
    return {
        "relu": torch.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.2), "elu": F.elu, "selu": F.selu,
        "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu,
        "sigmoid": torch.sigmoid, "hard_sigmoid": F.hardsigmoid, "tanh": torch.tanh, "softplus": F.softplus,
        "softsign": F.softsign, "exponential": torch.exp,
    }[name]


def make_call(system, name, x, dy):
    if system == "fastnn":
        fastnn = bench_conf.fastnn
        y, dx = np.empty_like(x), np.empty_like(x)  # preallocated, as a layer's buffers would be
        if name in fastnn.ops.ACTIVATIONS_FROM_OUTPUT:  # what functional.activation's backward rule does
            def call():
                fastnn.activation(x, name, out=y)
                fastnn.activation_backward(y, dy, name, out=dx, from_output=True)
            return call

        def call():
            fastnn.activation(x, name, out=y)
            fastnn.activation_backward(x, dy, name, out=dx)
        return call
    if system == "reference":
        ref = bench_conf.fastnn.reference
        return lambda: (ref.activation(x, name, bench_conf.fastnn.ops.ACTIVATIONS[name][1]),
                        ref.activation_backward(x, dy, name, bench_conf.fastnn.ops.ACTIVATIONS[name][1]))
    torch = bench_conf.torch
    xt = torch.from_numpy(x).requires_grad_()
    dyt = torch.from_numpy(dy)
    fn = _torch_fn(name)

    def call():
        xt.grad = None
        fn(xt).backward(dyt)
    return call


def _unavailable(system):
    if system == "reference":  # NumPy's element-wise ops: no BLAS threads to fix
        return None if bench_conf.fastnn is not None else "fastnn not importable"
    return bench_conf.system_unavailable(system)


def pytest_generate_tests(metafunc):
    if "act_item" in metafunc.fixturenames:
        metafunc.parametrize("act_item", bench_conf.interleaved_params(metafunc.config, OPS, SYSTEMS, _unavailable))


_inputs: dict = {}


def test_activation(benchmark, act_item, thread_control):
    threads, name, rep, system = act_item
    thread_control.set(threads)
    if "x" not in _inputs:
        rng = np.random.default_rng(7)
        _inputs["x"] = (rng.standard_normal(N) * 3).astype(np.float32)
        _inputs["dy"] = rng.standard_normal(N).astype(np.float32)
    x, dy = _inputs["x"], _inputs["dy"]
    call = make_call(system, name, x, dy)
    call()
    # The reference's gelu runs math.erfc per element (NumPy has no erfc): ~0.5 s a call.
    slow = system == "reference" and name == "gelu"
    benchmark.group = f"threads={threads} {name}"
    benchmark.extra_info.update(kind="activation", system=system, op=name, n=N, threads=threads, repetition=rep)
    benchmark.pedantic(call, rounds=2 if slow else 15, iterations=1, warmup_rounds=0 if slow else 1)
