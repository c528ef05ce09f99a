"""GPU softmax family and fused cross-entropy vs the float64 NumPy reference (``pytest -m gpu``)."""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
from fastnn import reference as ref  # noqa: E402

pytestmark = pytest.mark.gpu
EPS = np.finfo(np.float32).eps


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (128, 10), (33, 1000), (3, 1025), (2, 100_000)])
def test_softmax_and_cross_entropy(shape):
    rng = np.random.default_rng(shape[1])
    x = (rng.standard_normal(shape) * 8).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    xd = cp.asarray(x)
    scale = np.abs(x64).max(axis=-1, keepdims=True) + np.log(shape[1]) + 1
    for log in (False, True):
        y = (fastnn.log_softmax if log else fastnn.softmax)(xd)
        want = ref.softmax(x64, log)
        assert np.all(np.abs(cp.asnumpy(y) - want) <= 8 * EPS * (np.abs(x64) + scale))
        dx = fastnn.softmax_backward(y, cp.asarray(dy), log=log)
        want_dx = ref.softmax_backward(want, dy64, log)
        assert np.all(np.abs(cp.asnumpy(dx) - want_dx) <= 16 * EPS * (np.abs(dy64).sum(axis=-1, keepdims=True) + 1))
    labels = rng.integers(0, shape[1], shape[0])
    for target in (labels, labels.astype(np.int32), np.eye(shape[1], dtype=np.float32)[labels] * 0.9 + 0.1 / shape[1]):
        loss, grad = fastnn.softmax_cross_entropy(xd, cp.asarray(target), label_smoothing=0.1, grad_scale=0.5)
        want_loss, want_grad = ref.cross_entropy(x64, target if target.ndim == 1 else target.astype(np.float64), 0.1, 0.5)
        assert np.all(np.abs(cp.asnumpy(loss) - want_loss) <= 16 * EPS * scale[:, 0])
        assert np.all(np.abs(cp.asnumpy(grad) - want_grad) <= 8 * EPS)


def test_extreme_logits_and_bad_labels():
    x = cp.asarray(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], np.float32))
    loss, grad = fastnn.softmax_cross_entropy(x, cp.asarray(np.array([1, 2])))
    assert np.isfinite(cp.asnumpy(loss)).all() and np.isfinite(cp.asnumpy(grad)).all()
    # Out-of-range labels raise as on the CPU (a small check kernel and one synchronisation) ...
    for dtype in (np.int64, np.int32):
        with pytest.raises(ValueError, match=r"softmax_cross_entropy: label 5 in row 0 is outside \[0, 3\)"):
            fastnn.softmax_cross_entropy(x, cp.asarray(np.array([5, 0], dtype)))
    # ... or, unchecked, give NaN rows without a synchronisation.
    loss, _ = fastnn.softmax_cross_entropy(x, cp.asarray(np.array([5, 0])), check_labels=False)
    assert np.isnan(cp.asnumpy(loss)[0]) and np.isfinite(cp.asnumpy(loss)[1])
