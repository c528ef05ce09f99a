"""GPU fused optimizer step vs the NumPy reference (``pytest -m gpu``)."""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
from fastnn import reference as ref  # noqa: E402

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("kind,hyper,n_states", [
    ("sgd", dict(learning_rate=0.05, momentum=0.9, nesterov=True), 1),
    ("adam", dict(learning_rate=0.005, amsgrad=True, weight_decay=0.004), 3),
    ("rmsprop", dict(learning_rate=0.005, momentum=0.5, centered=True), 3),
    ("adagrad", dict(learning_rate=0.05, clip_value=0.5), 1),
])
def test_steps_match_reference(kind, hyper, n_states):
    rng = np.random.default_rng(3)
    shapes = [(1,), (7,), (2049,), (100_003,)] + [(5, 3)] * 70  # more than one 64-slot launch
    p = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    p64 = [a.astype(np.float64) for a in p]
    init = 0.1 if kind == "adagrad" else 0.0
    st = [[np.full(s, init, np.float32) if k < n_states else None for k in range(3)] for s in shapes]
    st64 = [[None if a is None else a.astype(np.float64) for a in s] for s in st]
    pd = [cp.asarray(a) for a in p]
    std = [[None if a is None else cp.asarray(a) for a in s] for s in st]
    for t in range(1, 21):
        g = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        fastnn.optimizer_step(kind, pd, [cp.asarray(a) for a in g], std, iteration=t, **hyper)
        ref.optimizer_step(kind, p64, [a.astype(np.float64) for a in g], st64, iteration=t, **hyper)
    for a, b in zip(pd, p64):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=1e-4, atol=1e-5)
    grads = [cp.asarray(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    want = np.sqrt(sum(float((cp.asnumpy(g).astype(np.float64) ** 2).sum()) for g in grads))
    assert fastnn.grad_global_norm(grads) == pytest.approx(want, rel=1e-12)


CLIP_KINDS = [
    ("sgd", dict(learning_rate=0.05, momentum=0.9), 1),
    ("adam", dict(learning_rate=0.005, amsgrad=True, weight_decay=0.004), 3),
    ("rmsprop", dict(learning_rate=0.005, momentum=0.5), 2),
    ("adagrad", dict(learning_rate=0.05), 1),
]
CLIPS = {
    "clip_norm": dict(clip_norm=1.0),
    "global_clip_norm": dict(global_clip_norm=5.0),
    "all": dict(grad_scale=0.5, clip_norm=20.0, global_clip_norm=30.0, clip_value=1.5),
}
# Norms from 0 (an all-zero gradient) and ~1 (one element) to ~300 (100_003 elements); the
# 70 small slots take a second 64-slot chunk, whose factors the global norm must include.
CLIP_SHAPES = [(1,), (7,), (2049,), (100_003,), (0,), (3,)] + [(5, 3)] * 70


def _clip_problem(rng, kind, n_states):
    p = [rng.standard_normal(s).astype(np.float32) for s in CLIP_SHAPES]
    init = 0.1 if kind == "adagrad" else 0.0
    st = [[np.full(s, init, np.float32) if k < n_states else None for k in range(3)] for s in CLIP_SHAPES]
    return p, st


@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("kind,hyper,n_states", CLIP_KINDS, ids=[k for k, _, _ in CLIP_KINDS])
def test_clipping_matches_reference(kind, hyper, n_states, clip):
    rng = np.random.default_rng(7)
    hyper = {**hyper, **CLIPS[clip]}
    p, st = _clip_problem(rng, kind, n_states)
    p64 = [a.astype(np.float64) for a in p]
    st64 = [[None if a is None else a.astype(np.float64) for a in s] for s in st]
    pd = [cp.asarray(a) for a in p]
    std = [[None if a is None else cp.asarray(a) for a in s] for s in st]
    for t in range(1, 21):
        g = [rng.standard_normal(s).astype(np.float32) for s in CLIP_SHAPES]
        g[5][:] = 0.0  # a zero gradient: factor 1, no 0/0
        fastnn.optimizer_step(kind, pd, [cp.asarray(a) for a in g], std, iteration=t, **hyper)
        ref.optimizer_step(kind, p64, [a.astype(np.float64) for a in g], st64, iteration=t, **hyper)
    for a, b in zip(pd, p64):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=1e-4, atol=1e-5)
    for sa, sb in zip(std, st64):
        for a, b in zip(sa, sb):
            if a is not None:
                np.testing.assert_allclose(cp.asnumpy(a), b, rtol=1e-4, atol=1e-5)


def test_clipping_non_finite_and_deterministic():
    g = [cp.asarray(np.array([np.inf, 1.0], np.float32)), cp.asarray(np.array([1.0, 2.0], np.float32))]
    p = [cp.zeros(2, cp.float32), cp.zeros(2, cp.float32)]
    fastnn.optimizer_step("sgd", p, g, [[None] * 3] * 2, learning_rate=1.0, global_clip_norm=1.0)
    assert bool(cp.isnan(p[0]).all()) and bool(cp.isnan(p[1]).all())
    rng = np.random.default_rng(1)
    grads = [cp.asarray(rng.standard_normal(s).astype(np.float32)) for s in CLIP_SHAPES]
    runs = []
    for _ in range(2):
        p = [cp.zeros(s, cp.float32) for s in CLIP_SHAPES]
        fastnn.optimizer_step("sgd", p, grads, [[None] * 3] * len(p), learning_rate=1.0, clip_norm=2.0,
                              global_clip_norm=5.0)
        runs.append([cp.asnumpy(a) for a in p])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)  # fixed summation order: bit-identical


def test_clipping_step_is_capturable_in_a_cuda_graph():
    """No host synchronisation: the clipped step (pre-pass, scratch, step kernels) can be
    captured into a CUDA graph on a non-default stream and replayed."""
    rng = np.random.default_rng(2)
    shapes = [(1000,), (33, 7)]
    p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    g0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        p = [cp.asarray(a) for a in p0]
        g = [cp.asarray(a) for a in g0]
        st = [[cp.zeros(s, cp.float32), cp.zeros(s, cp.float32), None] for s in shapes]
        # Warm-up outside the capture on copies (loads the kernels: lazy module loading).
        fastnn.optimizer_step("adam", [a.copy() for a in p], g, [[a.copy() for a in s[:2]] + [None] for s in st],
                              learning_rate=0.01, iteration=1, global_clip_norm=1.0)
        stream.synchronize()
        stream.begin_capture()
        try:
            fastnn.optimizer_step("adam", p, g, st, learning_rate=0.01, iteration=1, global_clip_norm=1.0)
        finally:
            graph = stream.end_capture()
        graph.launch(stream)
        stream.synchronize()
    p64 = [a.astype(np.float64) for a in p0]
    st64 = [[np.zeros(s), np.zeros(s), None] for s in shapes]
    ref.optimizer_step("adam", p64, [a.astype(np.float64) for a in g0], st64, learning_rate=0.01, iteration=1,
                       global_clip_norm=1.0)
    for a, b in zip(p, p64):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=1e-5, atol=1e-6)


class _Param:
    def __init__(self, data):
        self.data = data
        self.grad = None


@pytest.mark.parametrize("cls,kwargs,kind,hyper", [
    ("Adam", dict(learning_rate=0.005, global_clipnorm=5.0), "adam", dict(global_clip_norm=5.0)),
    ("AdamW", dict(learning_rate=0.005, amsgrad=True, clipnorm=1.0), "adam",
     dict(amsgrad=True, weight_decay=0.004, clip_norm=1.0)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, clipvalue=0.5), "sgd", dict(momentum=0.9, clip_value=0.5)),
    ("RMSprop", dict(learning_rate=0.005, centered=True, global_clipnorm=5.0), "rmsprop",
     dict(centered=True, global_clip_norm=5.0)),
    ("Adagrad", dict(learning_rate=0.05, clipnorm=1.0), "adagrad", dict(clip_norm=1.0)),
])
def test_optimizer_classes_on_the_gpu(cls, kwargs, kind, hyper):
    from fastnn import optimizers

    rng = np.random.default_rng(4)
    shapes = [(1,), (2049,), (100_003,)] + [(5, 3)] * 70
    p = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = [_Param(cp.asarray(a)) for a in p]
    opt = getattr(optimizers, cls)(**kwargs)
    p64 = [a.astype(np.float64) for a in p]
    n_states = {"adam": 3 if hyper.get("amsgrad") else 2, "sgd": 1, "rmsprop": 3, "adagrad": 1}[kind]
    init = 0.1 if kind == "adagrad" else 0.0
    st64 = [[np.full(s, init) if k < n_states else None for k in range(3)] for s in shapes]
    for t in range(1, 11):
        g = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for q, a in zip(params, g):
            q.grad = cp.asarray(a)
        opt.step(params)
        ref.optimizer_step(kind, p64, [a.astype(np.float64) for a in g], st64, iteration=t,
                           learning_rate=kwargs["learning_rate"], **hyper)
    assert all(isinstance(a, cp.ndarray) for a in opt.variables)  # states made on the parameters' device
    for q, b in zip(params, p64):
        np.testing.assert_allclose(cp.asnumpy(q.data), b, rtol=1e-4, atol=1e-5)
    # state_dict round trip on the GPU, and a GPU state loaded by a CPU model.
    saved = opt.state_dict()
    clones = [_Param(q.data.copy()) for q in params]
    again = getattr(optimizers, cls).from_config(opt.get_config())
    again.load_state_dict(saved)
    cpu = [_Param(cp.asnumpy(q.data)) for q in params]
    on_cpu = getattr(optimizers, cls).from_config(opt.get_config())
    on_cpu.load_state_dict(saved)
    g = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    for group, o, conv in [(params, opt, cp.asarray), (clones, again, cp.asarray), (cpu, on_cpu, np.asarray)]:
        for q, a in zip(group, g):
            q.grad = conv(a)
        o.step(group)
    for a, b, c in zip(params, clones, cpu):
        np.testing.assert_array_equal(cp.asnumpy(a.data), cp.asnumpy(b.data))
        np.testing.assert_allclose(cp.asnumpy(a.data), c.data, rtol=1e-5, atol=1e-6)
