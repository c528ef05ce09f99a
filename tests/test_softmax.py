"""softmax / log_softmax (forward, backward) and the fused softmax cross-entropy vs the NumPy reference."""

import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn import reference as ref
from conftest import AVAILABLE_ISAS

EPS = np.finfo(np.float32).eps
# Sizes: single class, odd widths around the 16-wide partial sums, MNIST's 10,
# ImageNet's 1000 and a long row; rows enough to split across threads.
SHAPES = [(1, 1), (3, 1), (5, 7), (128, 10), (33, 17), (64, 1000), (2, 4099), (700, 100)]


def logits(rng, shape, scale=8.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_forward_backward(rng, shape, threads, isa):
    fastnn.set_num_threads(threads)
    _C.set_cpu_isa(isa)
    x = logits(rng, shape)
    dy = rng.standard_normal(shape).astype(np.float32)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    classes = shape[-1]
    # Bounds, a few float32 roundings of the magnitudes involved: softmax
    # entries are <= 1 (exp ~2 ulp, one division, the row sum); log_softmax
    # is x - (max + log sum) and errs like those terms; a backward row sums
    # dy (times y), so it errs like eps * sum_j |dy_j|.
    y = fastnn.softmax(x)
    want = ref.softmax(x64)
    assert np.all(np.abs(y - want) <= 8 * EPS * (want + 1e-30) + 8 * EPS * want.max(axis=-1, keepdims=True))
    ly = fastnn.log_softmax(x)
    lwant = ref.softmax(x64, log=True)
    row_scale = np.abs(x64).max(axis=-1, keepdims=True) + np.log(classes) + 1
    assert np.all(np.abs(ly - lwant) <= 8 * EPS * (np.abs(x64) + row_scale))
    dy_scale = np.abs(dy64).sum(axis=-1, keepdims=True) + 1
    for log, out, exact in ((False, y, want), (True, ly, lwant)):
        got = fastnn.softmax_backward(out, dy, log=log)
        expect = ref.softmax_backward(exact, dy64, log=log)
        assert np.all(np.abs(got - expect) <= 16 * EPS * dy_scale), (log, np.abs(got - expect).max())


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("target_kind", ["int64", "int32", "probabilities"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy(rng, shape, threads, isa, target_kind, label_smoothing):
    fastnn.set_num_threads(threads)
    _C.set_cpu_isa(isa)
    x = logits(rng, shape)
    rows, classes = shape
    if target_kind == "probabilities":
        t = rng.random(shape).astype(np.float32)
        t /= t.sum(axis=-1, keepdims=True)
        t64 = t.astype(np.float64)
    else:
        t = rng.integers(0, classes, rows).astype(target_kind)
        t64 = t
    loss, grad = fastnn.softmax_cross_entropy(x, t, label_smoothing=label_smoothing, grad_scale=1 / rows)
    want_loss, want_grad = ref.cross_entropy(x.astype(np.float64), t64, label_smoothing, 1 / rows)
    # loss = lse * sum(t') - <t', x>: errs like eps * (|max| + log C + sum |t' x|).
    scale = np.abs(x).max(axis=-1) + np.log(classes) + 1
    assert np.all(np.abs(loss - want_loss) <= 16 * EPS * scale)
    # grad = (softmax * T - t') / rows: entries of size <= 1 / rows, a few roundings.
    assert np.all(np.abs(grad - want_grad) <= 8 * EPS / rows)
    loss_only, none = fastnn.softmax_cross_entropy(x, t, label_smoothing=label_smoothing, compute_grad=False)
    assert none is None
    np.testing.assert_array_equal(loss_only, loss)


def test_reference_gradients_match_finite_differences(rng):
    x = rng.standard_normal((4, 6))
    dy = rng.standard_normal((4, 6))
    labels = rng.integers(0, 6, 4)
    h = 1e-6
    for log in (False, True):
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[i] = h
            numeric[i] = ((ref.softmax(x + e, log) - ref.softmax(x - e, log)) * dy).sum() / (2 * h)
        np.testing.assert_allclose(ref.softmax_backward(ref.softmax(x, log), dy, log), numeric, rtol=1e-6, atol=1e-8)
    for targets in (labels, np.eye(6)[labels] * 0.7 + 0.05):
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[i] = h
            numeric[i] = (ref.cross_entropy(x + e, targets, 0.1)[0].sum() - ref.cross_entropy(x - e, targets, 0.1)[0].sum()) / (2 * h)
        np.testing.assert_allclose(ref.cross_entropy(x, targets, 0.1)[1], numeric, rtol=1e-6, atol=1e-8)


def test_extreme_logits_stay_finite():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], np.float32)
    assert np.isfinite(fastnn.softmax(x)).all() and np.isfinite(fastnn.log_softmax(x)).all()
    loss, grad = fastnn.softmax_cross_entropy(x, np.array([1, 2]))
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    assert loss[0] == pytest.approx(2e4) and loss[1] == pytest.approx(np.log(3), rel=1e-6)
    # a probability of exactly 0 in the targets never makes 0 * log 0 = NaN
    loss, _ = fastnn.softmax_cross_entropy(x, np.array([[0, 1, 0], [1, 0, 0]], np.float32))
    assert np.isfinite(loss).all()


def test_nan_propagates():
    x = np.array([[np.nan, 1.0, 2.0]], np.float32)
    assert np.isnan(fastnn.softmax(x)).all()
    assert np.isnan(fastnn.softmax_cross_entropy(x, np.array([1]))[0]).all()


def test_in_place_and_leading_axes(rng):
    x = logits(rng, (2, 3, 5))
    want = ref.softmax(x.astype(np.float64))
    assert fastnn.softmax(x, out=x) is x
    np.testing.assert_allclose(x, want, rtol=1e-6, atol=1e-7)


def test_bad_input():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: label 3 in row 2 is outside \[0, 3\)"):
        fastnn.softmax_cross_entropy(x, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: label -1 in row 0"):
        fastnn.softmax_cross_entropy(x, np.array([-1, 1, 1, 2], np.int32))
    with pytest.raises(TypeError, match=r"integer class labels must be int32 or int64.*for probabilities pass a \(rows, classes\)"):
        fastnn.softmax_cross_entropy(x, np.array([0.0, 1.0, 1.0, 2.0], np.float32))
    with pytest.raises(ValueError, match=r"'labels' must have one label per row of 'logits' \(4\)"):
        fastnn.softmax_cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"'targets' must have the shape of 'logits' \(4, 3\), got \(4, 10\)"):
        fastnn.softmax_cross_entropy(x, np.zeros((4, 10), np.float32))
    with pytest.raises(TypeError, match=r"softmax_cross_entropy: argument 'targets' must have dtype float32, got int64"):
        fastnn.softmax_cross_entropy(x, np.zeros((4, 3), np.int64))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        fastnn.softmax_cross_entropy(x, np.array([0, 1, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"softmax: only the last axis is supported"):
        fastnn.softmax(x, axis=0)
    with pytest.raises(ValueError, match=r"softmax_backward: argument 'out' shares memory with 'grad'"):
        fastnn.softmax_backward(fastnn.softmax(x), x, out=x)
    with pytest.raises(TypeError, match=r"softmax: argument 'x' must have dtype float32"):
        fastnn.softmax(x.astype(np.float64))
