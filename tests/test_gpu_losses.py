"""GPU loss kernels vs the float64 NumPy reference and vs the CPU kernels (``pytest -m gpu``).

Tolerances are those of tests/test_losses_kernels.py (the same float32 formulas;
the GPU sums in G-lane strided partial sums and a shuffle tree, within the same
(n / 16 + 34) EPS bound).
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
from fastnn import ops  # noqa: E402
from fastnn import reference as ref  # noqa: E402
from test_losses_kernels import (  # noqa: E402
    KIND_IDS, KINDS, SPARSE, as64, grad_rows_for, grad_tolerance, loss_tolerance, make_case, options,
)

pytestmark = pytest.mark.gpu

# Widths of every row layout: a thread per row (n <= 8), 8 lanes (<= 64), a warp (<= 4096), a block.
SHAPES = [(1, 1), (7, 1), (3000, 1), (5, 3), (33, 8), (33, 9), (128, 10), (4, 5, 64), (70, 65), (64, 1000),
          (3, 4096), (2, 4097), (2, 100_000)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind,from_logits", KINDS, ids=KIND_IDS)
def test_gpu_matches_reference(kind, from_logits, shape):
    rng = np.random.default_rng(sum(shape) + len(kind))
    t, p = make_case(rng, kind, from_logits, shape)
    ls, delta = options(kind, rng)
    g = grad_rows_for(rng, shape[:-1])
    kw = dict(from_logits=from_logits, label_smoothing=ls, delta=delta)
    gd = cp.asarray(g) if isinstance(g, np.ndarray) else g
    loss = ops.loss(kind, cp.asarray(t), cp.asarray(p), **kw)
    grad = ops.loss_backward(kind, cp.asarray(t), cp.asarray(p), gd, **kw)
    assert isinstance(loss, cp.ndarray) and isinstance(grad, cp.ndarray)
    loss, grad = cp.asnumpy(loss), cp.asnumpy(grad)
    t64, p64 = as64(t, p)
    g64 = g.astype(np.float64) if isinstance(g, np.ndarray) else g
    want_loss = ref.loss(kind, t64, p64, **kw)
    want_grad = ref.loss_backward(kind, t64, p64, g64, **kw)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    assert np.all(np.abs(loss - want_loss) <= loss_tolerance(kind, from_logits, t64, p64, ls, delta))
    assert np.all(np.abs(grad - want_grad) <= grad_tolerance(kind, from_logits, t64, p64, g64, ls, delta))
    # and the checked paths give the same numbers
    checked = ops.loss(kind, cp.asarray(t), cp.asarray(p), check_finite=True, **kw)
    np.testing.assert_array_equal(cp.asnumpy(checked), loss)


@pytest.mark.parametrize("backward", [False, True])
def test_gpu_label_check(backward):
    p = cp.full((4, 3), 1 / 3, dtype=cp.float32)
    call = ops.loss_backward if backward else ops.loss
    op = SPARSE + ("_backward" if backward else "")
    for dtype in (cp.int32, cp.int64):
        with pytest.raises(ValueError, match=rf"{op}: label 3 in row 2 is outside \[0, 3\)"):
            call(SPARSE, cp.asarray([0, 1, 3, 2], dtype=dtype), p)
        # unchecked: no sync, no error, NaN rows (and never an out-of-bounds read)
        out = cp.asnumpy(call(SPARSE, cp.asarray([0, 1, 3, 2], dtype=dtype), p, check_labels=False))
        assert np.isnan(out[2]).all() and np.isfinite(out[[0, 1, 3]]).all()
    big = cp.zeros(300_000, dtype=cp.int64)
    big[[200_000, 299_999]] = 5
    with pytest.raises(ValueError, match=rf"{op}: label 5 in row 200000 "):
        call(SPARSE, big, cp.full((300_000, 3), 1 / 3, dtype=cp.float32))


def test_gpu_check_finite():
    t = cp.zeros((4, 3), dtype=cp.float32)
    p = cp.full((4, 3), 0.5, dtype=cp.float32)
    p[3, 0] = cp.inf
    with pytest.raises(ValueError, match=r"huber: argument 'y_pred' holds NaN or inf \(first in row 3\)"):
        ops.loss("huber", t, p, check_finite=True)
    t[1, 2] = cp.nan
    with pytest.raises(ValueError, match=r"categorical_crossentropy_backward: argument 'y_true' holds NaN or inf "
                                         r"\(first in row 1\)"):
        ops.loss_backward("categorical_crossentropy", t, p, check_finite=True)


def test_gpu_mixed_devices_and_cpu_agreement():
    rng = np.random.default_rng(0)
    t, p = make_case(rng, "binary_crossentropy", True, (256, 300))
    with pytest.raises(ValueError, match=r"binary_crossentropy: argument 'y_true' is on cpu .* but 'y_pred' is on cuda"):
        ops.loss("binary_crossentropy", t, cp.asarray(p), from_logits=True)
    gpu = cp.asnumpy(ops.loss("binary_crossentropy", cp.asarray(t), cp.asarray(p), from_logits=True))
    cpu = ops.loss("binary_crossentropy", t, p, from_logits=True)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
