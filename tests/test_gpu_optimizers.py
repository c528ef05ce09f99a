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
