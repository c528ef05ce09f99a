"""One optimizer step over 2^20 parameters in 10 tensors: fastnn's fused kernel
vs the NumPy reference (float32) and torch.optim (its default implementation).

Each measurement is one step (Adam, and SGD with momentum for comparison);
parameters drift over the rounds, which changes no timing. Two more Adam cases:

* ``adam_class``: fastnn's ``fastnn.optimizers.Adam().step(params)`` (parameter
  objects with ``.data`` / ``.grad``), to show the class wrapper's overhead over
  the bare fused call (compare its fastnn time with the ``adam`` row); the
  reference and torch do the same work as in ``adam``;
* ``adam_global_clipnorm``: global-norm clipping (Keras' global_clipnorm=1.0)
  and the step: fastnn in its one call (the norm pass inside), the reference
  with its NumPy clipping, torch as ``clip_grad_norm_`` + ``Adam.step``.

Report: `python bench/report.py JSON`.
"""

from __future__ import annotations

import numpy as np

import bench_common as bench_conf
from test_bench_activation import _unavailable

SIZES = [1 << 17] * 6 + [1 << 16] * 4  # 10 tensors, 2^20 parameters
OPTIMIZERS = {
    "adam": dict(learning_rate=1e-3),
    "adam_class": dict(learning_rate=1e-3),
    "adam_global_clipnorm": dict(learning_rate=1e-3, global_clip_norm=1.0),
    "sgd_momentum": dict(learning_rate=1e-2, momentum=0.9),
}


class _Param:
    """The parameter duck type fastnn.optimizers works on."""

    def __init__(self, data, grad):
        self.data = data
        self.grad = grad
SYSTEMS = ("fastnn", "reference", "torch")


def make_call(system, name, params, grads):
    kind = "adam" if name.startswith("adam") else "sgd"
    hyper = OPTIMIZERS[name]
    n_states = 2 if kind == "adam" else 1
    if system == "fastnn" and name == "adam_class":
        from fastnn.optimizers import Adam  # not (yet) imported by fastnn/__init__

        opt = Adam(learning_rate=hyper["learning_rate"])
        objs = [_Param(p, g) for p, g in zip(params, grads)]
        return lambda: opt.step(objs)
    if system in ("fastnn", "reference"):
        states = [[np.zeros_like(p) if k < n_states else None for k in range(3)] for p in params]
        step_fn = bench_conf.fastnn.optimizer_step if system == "fastnn" else bench_conf.fastnn.reference.optimizer_step
        counter = [0]

        def call():
            counter[0] += 1
            step_fn(kind, params, grads, states, iteration=counter[0], **hyper)
        return call
    torch = bench_conf.torch
    tparams = [torch.from_numpy(p).requires_grad_() for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.from_numpy(g)
    if kind == "adam":
        opt = torch.optim.Adam(tparams, lr=hyper["learning_rate"])
    else:
        opt = torch.optim.SGD(tparams, lr=hyper["learning_rate"], momentum=hyper["momentum"])
    if "global_clip_norm" in hyper:
        clip = torch.nn.utils.clip_grad_norm_
        norm = hyper["global_clip_norm"]

        def call():
            clip(tparams, norm)
            opt.step()
        return call
    return opt.step


def pytest_generate_tests(metafunc):
    if "opt_item" in metafunc.fixturenames:
        metafunc.parametrize("opt_item", bench_conf.interleaved_params(metafunc.config, list(OPTIMIZERS), SYSTEMS,
                                                                        _unavailable))


def test_optimizer_step(benchmark, opt_item, thread_control):
    threads, name, rep, system = opt_item
    thread_control.set(threads)
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(n).astype(np.float32) for n in SIZES]
    grads = [rng.standard_normal(n).astype(np.float32) for n in SIZES]
    call = make_call(system, name, params, grads)
    call()
    benchmark.group = f"threads={threads} {name}"
    op = {"adam_class": "adam step (fastnn: the Adam class)", "adam_global_clipnorm": "adam step + global clipnorm"}
    benchmark.extra_info.update(kind="activation", system=system, op=f"{op.get(name, name + ' step')}, 10 tensors",
                                n=sum(SIZES),
                                threads=threads, repetition=rep,
                                target_vs_reference=5.0 if name.startswith("adam") else 3.0)  # issue 3 names Adam
    benchmark.pedantic(call, rounds=15, iterations=1, warmup_rounds=2)
