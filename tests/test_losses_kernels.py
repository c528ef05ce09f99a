"""The loss kernels (fastnn.ops.loss / loss_backward) vs the float64 NumPy reference.

Tolerances (float32 kernel vs the float64 reference fed the same float32
inputs; EPS = 2^-23). Each bound is a few roundings of the magnitudes the
formula touches, so cancellation inside a formula is allowed for and nothing
else (``loss_tolerance``, ``grad_tolerance``):

* a row's loss sums n per-element values v_j, in 16 partial sums over chunks
  of 256 plus a tail of at most 15 (the CPU) or in G-lane strided sums and a
  shuffle tree (CUDA): at most (n / 16 + 34) EPS sum_j |v_j|. Each v_j adds a
  few EPS relative to m_j, the magnitudes it is computed from: |v| for mse /
  mae, d |e| + d^2 / 2 for huber's linear branch, |x| (1 + |t'|) where the
  from-logits binary crossentropy cancels, the logs themselves for binary
  crossentropy (the smoothed target rounds). The categorical kinds divide by a
  row sum that errs by (n / 16 + 18) EPS, which shifts every log by that much,
  weighted by the target.
* binary crossentropy only: the kernel clips at float32's 1 - 1e-7, which is
  1 - 1.19e-7 (as Keras in float32), the float64 reference at 1 - 1e-7, so
  log(1 - q) of a probability clipped at the top differs by log(1.19) = 0.174.
* a gradient element errs by 16 EPS relative to the magnitude of the terms it
  is assembled from: e.g. (q + |t'|) / (q (1 - q)) for binary crossentropy,
  where q - t' cancels; the categorical gradients also carry the row sum's
  (n / 16 + 24) EPS. Results in float32's subnormal range keep only an
  absolute accuracy of a few 2^-149 (TINY).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import _C, ops
from fastnn import reference as ref
from fastnn.utils import to_categorical
from conftest import AVAILABLE_ISAS

EPS = float(np.finfo(np.float32).eps)
KINDS = [
    ("mse", False),
    ("mae", False),
    ("huber", False),
    ("log_cosh", False),
    ("binary_crossentropy", False),
    ("binary_crossentropy", True),
    ("categorical_crossentropy", False),
    ("categorical_crossentropy", True),
    ("sparse_categorical_crossentropy", False),
    ("sparse_categorical_crossentropy", True),
]
KIND_IDS = [f"{k}{'-logits' if fl else ''}" for k, fl in KINDS]
SPARSE = "sparse_categorical_crossentropy"
# Probabilities at and around the clip range [1e-7, 1 - 1e-7]: exact 0 and 1,
# far inside, far outside, and float32's neighbours of 1 - 1e-7.
BINARY_EXTREMES = np.array([0.0, 1.0, 1e-30, 1e-12, 1e-8, 1e-6, 0.999999, 0.99999994, 0.99999988, 0.5], np.float32)
# For the row-normalised kinds only values whose normalised size is far from
# the clip bounds whatever the row sum (exact 0, tiny, and 1).
CATEGORICAL_EXTREMES = np.array([0.0, 1e-30, 1e-20, 1.0], np.float32)
HI32 = float(np.float32(1) - np.float32(1e-7))  # 0.99999988: the kernel's upper clip bound
TINY = 1e-43  # results below float32's smallest normal (2^-126) keep only an absolute accuracy of a few 2^-149


def make_case(rng, kind, from_logits, shape, extremes=True):
    """(y_true, y_pred) float32 (sparse: int64 labels), with awkward values mixed in."""
    n = shape[-1]
    lead = shape[:-1]
    if kind in ("mse", "mae", "huber", "log_cosh"):
        t = (rng.standard_normal(shape) * 3).astype(np.float32)
        scale = 10.0 ** rng.uniform(-3, 1.5, shape)
        p = (t + rng.standard_normal(shape) * scale).astype(np.float32)
        if extremes and p.size:  # equal values (mae's kink: gradient 0) and big errors
            flat_p, flat_t = p.reshape(-1), t.reshape(-1)
            idx = rng.integers(0, p.size, max(1, p.size // 20))
            flat_p[idx[::2]] = flat_t[idx[::2]]
            flat_p[idx[1::2]] = flat_t[idx[1::2]] + np.float32(200.0)
        return t, p
    if from_logits:
        p = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-1, 1.3)).astype(np.float32)
        if extremes and p.size:
            flat = p.reshape(-1)
            idx = rng.integers(0, p.size, max(1, p.size // 50))
            flat[idx] = rng.choice(np.array([1e4, -1e4, 80.0, -80.0], np.float32), idx.size)
    elif kind == "binary_crossentropy":
        p = rng.random(shape).astype(np.float32)
        if extremes and p.size:
            flat = p.reshape(-1)
            idx = rng.integers(0, p.size, max(1, p.size // 10))
            flat[idx] = rng.choice(BINARY_EXTREMES, idx.size)
    else:
        p = (rng.random(shape) ** 3 + 1e-3).astype(np.float32)
        if extremes and p.size:
            flat = p.reshape(-1)
            idx = rng.integers(0, p.size, max(1, p.size // 10))
            flat[idx] = rng.choice(CATEGORICAL_EXTREMES, idx.size)
            p.reshape(-1, n)[:, rng.integers(0, n)] += np.float32(0.5)  # every row keeps some mass
        if rng.random() < 0.5:
            p /= p.sum(axis=-1, keepdims=True)  # softmax-like rows (most callers)
    if kind == SPARSE:
        return rng.integers(0, n, lead).astype(np.int64), p
    if kind == "binary_crossentropy":
        t = (rng.random(shape) < 0.5).astype(np.float32) if rng.random() < 0.5 else rng.random(shape).astype(np.float32)
        return t, p
    labels = rng.integers(0, n, lead)
    if rng.random() < 0.5:
        return np.eye(n, dtype=np.float32)[labels], p
    t = rng.random(shape).astype(np.float32)
    return t / t.sum(axis=-1, keepdims=True), p


def as64(y_true, y_pred):
    return (y_true if y_true.dtype.kind == "i" else y_true.astype(np.float64)), y_pred.astype(np.float64)


def smoothed(kind, t, ls, n):
    if kind == "binary_crossentropy":
        return t * (1 - ls) + 0.5 * ls
    return t * (1 - ls) + ls / n


def loss_tolerance(kind, from_logits, t, p, ls, delta):
    """Per-row bound on |kernel - reference| for the forward loss (see the module docstring)."""
    n = p.shape[-1]
    sum_factor = n / 16 + 34
    if from_logits and kind != "binary_crossentropy":
        # the fused softmax cross-entropy (tests/test_softmax.py's bound)
        return 16 * EPS * (np.abs(p).max(axis=-1) + np.log(n) + 1) + 16 * EPS * sum_factor * EPS
    if kind == SPARSE:
        v = ref.loss(kind, t, p)
        return EPS * ((n / 16 + 22) + 4 * np.abs(v))
    if kind == "categorical_crossentropy":
        ts = smoothed(kind, t, ls, n)
        q = np.clip(p / p.sum(axis=-1, keepdims=True), 1e-7, 1 - 1e-7)
        v = -ts * np.log(q)
        return EPS * (sum_factor * np.abs(v).sum(-1) + 4 * np.abs(v).sum(-1) + (n / 16 + 22) * np.abs(ts).sum(-1))
    e = p - t
    if kind == "mse":
        v, m = e * e, e * e
    elif kind == "mae":
        v = m = np.abs(e)
    elif kind == "huber":
        a = np.abs(e)
        v = np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta)
        m = v + delta * a + 0.5 * delta * delta
    elif kind == "log_cosh":
        a = np.abs(e)
        v = ref.losses._log_cosh(e)
        m = np.where(a > 8, a + 1, v)
    elif from_logits:  # binary
        ts = smoothed(kind, t, ls, n)
        v = np.maximum(p, 0) - p * ts + np.log1p(np.exp(-np.abs(p)))
        m = np.abs(p) * (1 + np.abs(ts)) + np.abs(v) + 1
    else:
        ts = smoothed(kind, t, ls, n)
        q = np.clip(p, 1e-7, 1 - 1e-7)
        v = -(ts * np.log(q) + (1 - ts) * np.log(1 - q))
        m = np.abs(v) + np.abs(np.log(q)) + np.abs(np.log(1 - q))
        # The kernel clips at float32's 1 - 1e-7 = 1 - 1.19e-7 (as Keras in float32), the float64 reference
        # at 1 - 1e-7: log(1 - q) of a probability clipped at the top differs by log(1.19) = 0.174.
        top = np.where(p > HI32, (1 - ts) * np.log((1 - HI32) / 1e-7), 0.0)
        return EPS * (sum_factor * np.abs(v).sum(-1) + 8 * m.sum(-1)) / n + top.sum(-1) / n
    return EPS * (sum_factor * np.abs(v).sum(-1) + 8 * m.sum(-1)) / n


def grad_tolerance(kind, from_logits, t, p, g, ls, delta):
    """Per-element bound on |kernel - reference| for the gradient (see the module docstring)."""
    n = p.shape[-1]
    g = np.abs(np.broadcast_to(np.asarray(g, np.float64), p.shape[:-1]))[..., None]
    if from_logits and kind != "binary_crossentropy":
        # grad_rows * (softmax * T - t'): entries of size <= 2 |grad_rows|
        return 16 * EPS * g * np.ones_like(p)
    if kind == SPARSE:
        s = p.sum(axis=-1, keepdims=True)
        pl = np.take_along_axis(p, t[..., None], axis=-1)
        with np.errstate(divide="ignore"):
            mag = g * (1 / s + np.where(pl > 0, 1 / pl, 0))
        return 16 * EPS * (n / 16 + 24) * mag
    if kind == "categorical_crossentropy":
        ts = smoothed(kind, t, ls, n)
        s = p.sum(axis=-1, keepdims=True)
        u = p / s
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(u > 0, ts / np.where(u > 0, u, 1), 0)
        mag = g / s * (np.abs(ts).sum(-1, keepdims=True) + ratio)
        return 16 * EPS * (n / 16 + 24) * mag
    c = g / n
    e = p - t
    if kind == "mse":
        mag = 2 * np.abs(e)
    elif kind == "mae":
        mag = np.ones_like(e)
    elif kind == "huber":
        mag = np.minimum(np.abs(e), delta)
    elif kind == "log_cosh":
        mag = np.abs(np.tanh(e))
    elif from_logits:
        ts = smoothed(kind, t, ls, n)
        mag = ref.losses._sigmoid(p) + np.abs(ts)
    else:
        ts = smoothed(kind, t, ls, n)
        q = np.clip(p, 1e-7, 1 - 1e-7)
        mag = (q + np.abs(ts)) / (q * (1 - q))
    return 16 * EPS * c * mag + TINY


def run_both(kind, from_logits, t, p, g, ls=0.0, delta=1.0):
    kw = dict(from_logits=from_logits, label_smoothing=ls, delta=delta)
    return fastnn.ops.loss(kind, t, p, **kw), fastnn.ops.loss_backward(kind, t, p, g, **kw)


def check_against_reference(kind, from_logits, t, p, g, ls=0.0, delta=1.0):
    loss, grad = run_both(kind, from_logits, t, p, g, ls, delta)
    t64, p64 = as64(t, p)
    g64 = g.astype(np.float64) if isinstance(g, np.ndarray) else g
    kw = dict(from_logits=from_logits, label_smoothing=ls, delta=delta)
    want_loss = ref.loss(kind, t64, p64, **kw)
    want_grad = ref.loss_backward(kind, t64, p64, g64, **kw)
    assert loss.shape == p.shape[:-1] and loss.dtype == np.float32
    assert grad.shape == p.shape and grad.dtype == np.float32
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    ltol = loss_tolerance(kind, from_logits, t64, p64, ls, delta)
    gtol = grad_tolerance(kind, from_logits, t64, p64, g64, ls, delta)
    lerr, gerr = np.abs(loss - want_loss), np.abs(grad - want_grad)
    assert np.all(lerr <= ltol), f"loss off by {lerr.max()} (allowed {ltol.reshape(-1)[lerr.argmax()]})"
    assert np.all(gerr <= gtol), f"grad off by {gerr.max()} (allowed {gtol.reshape(-1)[gerr.argmax()]})"


def options(kind, rng):
    ls = float(rng.choice([0.0, 0.1, 1.0])) if kind in ("binary_crossentropy", "categorical_crossentropy") else 0.0
    delta = float(rng.choice([1.0, 0.25, 4.0])) if kind == "huber" else 1.0
    return ls, delta


def grad_rows_for(rng, lead):
    if rng.random() < 0.3:
        return float(rng.choice([1.0, 0.01]))
    return (rng.standard_normal(lead) * 2).astype(np.float32)


# ---- kernel vs reference ------------------------------------------------------------------------

@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lead=st.lists(st.integers(1, 17), min_size=0, max_size=2).filter(lambda d: int(np.prod(d)) <= 300)
    | st.integers(1, 300).map(lambda r: [r]),
    n=st.integers(1, 40) | st.integers(41, 1000),
    seed=st.integers(0, 2**32 - 1),
)
@pytest.mark.parametrize("kind,from_logits", KINDS, ids=KIND_IDS)
def test_kernel_matches_reference(kind, from_logits, lead, n, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(lead) + (n,)
    t, p = make_case(rng, kind, from_logits, shape)
    ls, delta = options(kind, rng)
    check_against_reference(kind, from_logits, t, p, grad_rows_for(rng, tuple(lead)), ls, delta)


SHAPES = [(1, 1), (7, 1), (300, 1), (5, 3), (33, 17), (128, 10), (4, 5, 16), (64, 1000), (2, 4099)]


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind,from_logits", KINDS, ids=KIND_IDS)
def test_every_isa(kind, from_logits, shape, isa):
    _C.set_cpu_isa(isa)
    rng = np.random.default_rng(sum(shape))
    t, p = make_case(rng, kind, from_logits, shape)
    ls, delta = options(kind, rng)
    check_against_reference(kind, from_logits, t, p, grad_rows_for(rng, shape[:-1]), ls, delta)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("kind,from_logits", KINDS, ids=KIND_IDS)
def test_one_and_two_threads_identical(kind, from_logits, isa):
    _C.set_cpu_isa(isa)
    rng = np.random.default_rng(7)
    t, p = make_case(rng, kind, from_logits, (300, 999))
    g = rng.standard_normal(300).astype(np.float32)
    ls, delta = options(kind, rng)
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        results.append(run_both(kind, from_logits, t, p, g, ls, delta))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_grad_rows_forms_and_out(rng):
    t, p = make_case(rng, "huber", False, (6, 5))
    full = ops.loss_backward("huber", t, p, np.full(6, 0.5, np.float32))
    np.testing.assert_array_equal(ops.loss_backward("huber", t, p, 0.5), full)
    np.testing.assert_array_equal(ops.loss_backward("huber", t, p), 2 * full)  # default: ones
    out = np.empty_like(p)
    assert ops.loss_backward("huber", t, p, 0.5, out=out) is out
    np.testing.assert_array_equal(out, full)
    rows = np.empty(6, np.float32)
    assert ops.loss("huber", t, p, out=rows) is rows
    # 1-D y_pred: one row, a 0-D loss (Keras' mean over the last axis)
    loss = ops.loss("mse", t[0], p[0])
    assert loss.shape == () and loss == pytest.approx(float(((p[0] - t[0]) ** 2).mean()), rel=1e-6)


def test_keras_documented_values():
    # The examples of keras/src/losses/losses.py's docstrings.
    f = np.float32
    np.testing.assert_allclose(ops.loss("binary_crossentropy", np.array([[0, 1], [0, 0]], f),
                                        np.array([[0.6, 0.4], [0.4, 0.6]], f)), [0.916, 0.714], atol=1e-3)
    probs = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], f)
    np.testing.assert_allclose(ops.loss("categorical_crossentropy", np.array([[0, 1, 0], [0, 0, 1]], f), probs),
                               [0.0513, 2.303], atol=1e-3)
    np.testing.assert_allclose(ops.loss("sparse_categorical_crossentropy", np.array([1, 2]), probs),
                               [0.0513, 2.303], atol=1e-3)
    assert ops.loss("huber", np.array([[0, 1], [0, 0]], f), np.array([[0.6, 0.4], [0.4, 0.6]], f)).mean() == \
        pytest.approx(0.155, abs=1e-3)
    assert ops.loss("log_cosh", np.array([[0, 1], [0, 0]], f), np.array([[1, 1], [0, 0]], f)).mean() == \
        pytest.approx(0.108, abs=1e-3)


def test_aliases_and_dense_targets_of_other_dtypes(rng):
    t, p = make_case(rng, "mse", False, (4, 6))
    np.testing.assert_array_equal(ops.loss("mse", t, p), ops.loss("mean_squared_error", t, p))
    np.testing.assert_array_equal(ops.loss("mae", t, p), ops.loss("mean_absolute_error", t, p))
    np.testing.assert_array_equal(ops.loss("logcosh", t, p), ops.loss("log_cosh", t, p))
    # Keras casts y_true to y_pred's dtype: int / float64 targets are fine
    probs = rng.random((4, 6)).astype(np.float32)
    onehot = np.eye(6, dtype=np.int64)[[0, 5, 2, 2]]
    np.testing.assert_array_equal(ops.loss("categorical_crossentropy", onehot, probs),
                                  ops.loss("categorical_crossentropy", onehot.astype(np.float32), probs))
    np.testing.assert_array_equal(ops.loss("mse", t.astype(np.float64), p), ops.loss("mse", t, p))


# ---- reference gradients by finite differences (float64) -----------------------------------------

@pytest.mark.parametrize("kind,from_logits", KINDS, ids=KIND_IDS)
def test_reference_backward_matches_finite_differences(kind, from_logits):
    rng = np.random.default_rng(3)
    shape, n = (3, 2, 5), 5
    lead = shape[:-1]
    if kind in ("mse", "mae", "huber", "log_cosh"):
        t = rng.standard_normal(shape)
        # errors away from 0 (mae's kink) and from +-delta (huber's), on both branches
        e = rng.choice([-1, 1], shape) * rng.choice([0.3, 0.6, 1.7, 3.0], shape)
        p = t + e
    elif from_logits:
        p = rng.standard_normal(shape) * 3
        t = rng.random(shape) if kind == "binary_crossentropy" else None
    else:
        p = rng.uniform(0.05, 0.95, shape)  # inside the clip range, also after normalising (n = 5)
        t = rng.random(shape) if kind == "binary_crossentropy" else None
    if kind == SPARSE:
        t = rng.integers(0, n, lead)
    elif kind == "categorical_crossentropy":
        t = rng.random(shape)
        t /= t.sum(-1, keepdims=True)
    ls = 0.1 if kind in ("binary_crossentropy", "categorical_crossentropy") else 0.0
    delta = 1.0
    g = rng.standard_normal(lead)
    kw = dict(from_logits=from_logits, label_smoothing=ls, delta=delta)
    h = 1e-6
    numeric = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        d = np.zeros_like(p)
        d[i] = h
        numeric[i] = ((ref.loss(kind, t, p + d, **kw) - ref.loss(kind, t, p - d, **kw)) * g).sum() / (2 * h)
    np.testing.assert_allclose(ref.loss_backward(kind, t, p, g, **kw), numeric, rtol=1e-6, atol=1e-8)


# ---- numerics at the edges ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["binary_crossentropy", "categorical_crossentropy", SPARSE])
def test_extreme_logits_stay_finite(kind):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], np.float32)
    if kind == SPARSE:
        t = np.array([1, 2, 0])
    elif kind == "categorical_crossentropy":
        t = np.eye(3, dtype=np.float32)[[1, 2, 0]]
    else:
        t = np.array([[1, 0, 0.5], [0, 1, 1], [0, 1, 0]], np.float32)
    loss, grad = run_both(kind, True, t, x, 1.0, ls=0.1 if kind != SPARSE else 0.0)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    if kind == "binary_crossentropy":
        # a confidently wrong logit costs its size: row 0 = (0 + (1e4 * 0.95 - ...)) / 3, all finite
        want = ref.loss(kind, t.astype(np.float64), x.astype(np.float64), from_logits=True, label_smoothing=0.1)
        np.testing.assert_allclose(loss, want, rtol=1e-6)


@pytest.mark.parametrize("kind", ["binary_crossentropy", "categorical_crossentropy", SPARSE])
def test_probabilities_of_exactly_zero_and_one(kind):
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    t = {SPARSE: np.array([1, 2, 2]),
         "categorical_crossentropy": np.eye(3, dtype=np.float32)[[1, 2, 2]],
         "binary_crossentropy": np.array([[0, 1, 0], [0, 1, 1], [0, 0, 1]], np.float32)}[kind]
    loss, grad = run_both(kind, False, t, p, 1.0)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    # right with certainty: -log(1 - 1e-7) ~ 1e-7; wrong with certainty: -log(1e-7) ~ 16.1
    assert loss[0] < 1e-6 and loss[1] > 5
    # every probability is clipped, so no gradient flows (TensorFlow's clip gradient)
    np.testing.assert_array_equal(grad, 0.0)
    t64 = t if kind == SPARSE else t.astype(np.float64)
    # The kernel clips at float32's 1 - 1e-7 = 1 - 1.19e-7, the float64 reference at 1 - 1e-7: -log(1 - q)
    # of a top-clipped q is 15.94 vs 16.12 (binary), -log(q) is 1.19e-7 vs 1.0e-7.
    rtol = 0.012 if kind == "binary_crossentropy" else 1e-5
    np.testing.assert_allclose(loss, ref.loss(kind, t64, p.astype(np.float64)), rtol=rtol, atol=3e-8)


def test_gradient_at_the_clip_bounds():
    # clip_by_value passes the gradient at eps and 1 - eps themselves, not beyond
    eps, top = np.float32(1e-7), np.float32(1) - np.float32(1e-7)
    below, above = np.nextafter(eps, np.float32(0)), np.nextafter(top, np.float32(1))
    p = np.array([[eps, top, below, above]], np.float32)
    t = np.array([[1, 0, 1, 0]], np.float32)
    grad = ops.loss_backward("binary_crossentropy", t, p)
    assert grad[0, 0] < -1e5 and grad[0, 1] > 1e5
    assert grad[0, 2] == 0 and grad[0, 3] == 0


def test_label_smoothing_values(rng):
    t = np.array([[0, 1, 1, 0]], np.float32)
    p = np.array([[0.1, 0.8, 0.6, 0.3]], np.float32)
    for ls in (0.0, 0.2, 1.0):
        ts = t * (1 - ls) + 0.5 * ls  # Keras: towards 0.5
        want = -(ts * np.log(p) + (1 - ts) * np.log(1 - p)).mean()
        assert ops.loss("binary_crossentropy", t, p, label_smoothing=ls)[0] == pytest.approx(want, rel=1e-6)
        ts = t * (1 - ls) + ls / 4  # categorical: towards uniform
        q = p / p.sum()
        want = -(ts * np.log(q)).sum()
        assert ops.loss("categorical_crossentropy", t, p, label_smoothing=ls)[0] == pytest.approx(want, rel=1e-6)


def test_log_cosh_small_and_large_errors():
    e = np.array([[1e-4, -3e-3, 0.5, 9.0, -50.0, 1e20]], np.float32)
    zeros = np.zeros_like(e)
    got = ops.loss_backward("log_cosh", zeros, e, 6.0)
    np.testing.assert_allclose(got, np.tanh(e.astype(np.float64)), rtol=4 * EPS)
    # per element through 1-element rows: log cosh(1e-4) = 5e-9 keeps its digits
    rows = ops.loss("log_cosh", zeros.reshape(-1, 1), e.reshape(-1, 1))
    want = ref.losses._log_cosh(e.astype(np.float64).reshape(-1))
    np.testing.assert_allclose(rows, want, rtol=8 * EPS)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
def test_own_logs_are_accurate(isa):
    # The CPU kernels' log (a division-free polynomial) and log1p, through one-element rows:
    # binary crossentropy with t = 1 is -log(p); from logits with t = 0 and x < 0 it is log1p(exp(x)).
    _C.set_cpu_isa(isa)
    p = np.unique(np.concatenate([np.geomspace(1e-7, 1, 200_000, dtype=np.float32),
                                  np.linspace(0.5, 0.99999988, 100_000, dtype=np.float32)]))
    p = p[(p >= np.float32(1e-7)) & (p <= HI32)].reshape(-1, 1)
    got = ops.loss("binary_crossentropy", np.ones_like(p), p)
    want = -np.log(p.astype(np.float64))[:, 0]
    assert np.all(np.abs(got - want) <= 2 * EPS * np.abs(want) + 1e-45)  # the log: < 2 ulp
    x = -np.geomspace(1e-6, 80, 100_000, dtype=np.float32).reshape(-1, 1)
    got = ops.loss("binary_crossentropy", np.zeros_like(x), x, from_logits=True)
    want = np.log1p(np.exp(x.astype(np.float64)))[:, 0]
    assert np.all(np.abs(got - want) <= 6 * EPS * want)  # exp (2 ulp) then log1p


def test_nan_propagates_without_check_finite():
    p = np.array([[np.nan, 1.0], [0.5, 0.5]], np.float32)
    t = np.zeros_like(p)
    for kind in ("mse", "mae", "huber", "log_cosh", "binary_crossentropy"):
        loss, grad = run_both(kind, False, t, p, 1.0)
        assert np.isnan(loss[0]) and np.isfinite(loss[1]), kind
        assert np.isnan(grad[0, 0]), kind


# ---- user mistakes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("backward", [False, True])
def test_label_out_of_range(dtype, backward):
    p = np.full((4, 3), 1 / 3, np.float32)
    call = (lambda t, x, **kw: ops.loss_backward(SPARSE, t, x, **kw)) if backward else \
        (lambda t, x, **kw: ops.loss(SPARSE, t, x, **kw))
    op = SPARSE + ("_backward" if backward else "")
    with pytest.raises(ValueError, match=rf"{op}: label 3 in row 2 is outside \[0, 3\)"):
        call(np.array([0, 1, 3, 2], dtype), p)
    with pytest.raises(ValueError, match=rf"{op}: label -1 in row 0 is outside \[0, 3\)"):
        call(np.array([-1, 1, 1, 7], dtype), p)
    # the first bad row is reported whatever the threads: rows split over 2 threads
    fastnn.set_num_threads(2)
    big = np.full((20000, 3), 1 / 3, np.float32)
    labels = np.zeros(20000, dtype)
    labels[[15000, 19999]] = 9
    with pytest.raises(ValueError, match=rf"{op}: label 9 in row 15000 "):
        call(labels, big)
    # (rows, 1) labels are fine, as in Keras
    call(np.array([[0], [1], [2], [2]], dtype), p)
    # from logits: the fused kernel, same check
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: label 3 in row 2 is outside \[0, 3\)"):
        call(np.array([0, 1, 3, 2], dtype), p, from_logits=True)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("labels_shape", [(5,), (5, 1)])
def test_integer_labels_given_to_a_one_hot_loss(from_logits, labels_shape):
    p = np.full((5, 4), 0.25, np.float32)
    labels = np.array([0, 3, 1, 1, 2]).reshape(labels_shape)
    with pytest.raises(ValueError, match=r"categorical_crossentropy: y_true has shape .* but y_pred has shape "
                                         r"\(5, 4\).*'sparse_categorical_crossentropy'.*fastnn\.utils\.to_categorical"):
        ops.loss("categorical_crossentropy", labels, p, from_logits=from_logits)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*to_categorical"):
        ops.loss_backward("categorical_crossentropy", labels, p, from_logits=from_logits)
    # and the advice works
    np.testing.assert_allclose(ops.loss("categorical_crossentropy", to_categorical(labels, 4), p,
                                        from_logits=from_logits),
                               ops.loss(SPARSE, labels, p, from_logits=from_logits), rtol=1e-6)
    # one-hot targets given to the sparse loss
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: .*one-hot.*'categorical_crossentropy'"):
        ops.loss(SPARSE, to_categorical(labels, 4), p, from_logits=from_logits)
    # the kernel itself says the same for other dense losses
    with pytest.raises(ValueError, match=r"mean_squared_error: 'y_true' must have the shape of 'y_pred' \(5, 4\), "
                                         r"got .*sparse_categorical_crossentropy.*to_categorical"):
        ops.loss("mse", labels.astype(np.float32), p)


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), np.eye(3, dtype=np.float32)[[0, 2, 1]])
    got = to_categorical(np.array([[1], [0]]), num_classes=4)
    assert got.shape == (2, 4) and got.dtype == np.float32
    np.testing.assert_array_equal(got, [[0, 1, 0, 0], [1, 0, 0, 0]])
    assert to_categorical(np.array([[1, 2], [0, 0]]), 3).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"to_categorical: label 5 is outside \[0, 3\)"):
        to_categorical([0, 5], 3)
    with pytest.raises(ValueError, match=r"to_categorical: y must hold integer class labels"):
        to_categorical([0.5, 1.0])


@pytest.mark.parametrize("backward", [False, True])
def test_check_finite(backward):
    t = np.zeros((4, 3), np.float32)
    p = np.full((4, 3), 0.5, np.float32)
    call = ops.loss_backward if backward else ops.loss
    suffix = "_backward" if backward else ""
    bad_t = t.copy()
    bad_t[2, 1] = np.nan
    bad_p = p.copy()
    bad_p[3, 0] = np.inf
    for kind in ("mse", "huber", "binary_crossentropy", "categorical_crossentropy"):
        name = ops._LOSS_NAMES[ops.LOSSES[kind]] + suffix
        with pytest.raises(ValueError, match=rf"{name}: argument 'y_true' holds NaN or inf \(first in row 2\)"):
            call(kind, bad_t, p, check_finite=True)
        with pytest.raises(ValueError, match=rf"{name}: argument 'y_pred' holds NaN or inf \(first in row 3\)"):
            call(kind, t, bad_p, check_finite=True)
        call(kind, bad_t, p)  # not asked: no error (NaN or clipped values come out)
    with pytest.raises(ValueError, match=rf"{SPARSE}{suffix}: argument 'y_pred' holds NaN or inf \(first in row 3\)"):
        call(SPARSE, np.zeros(4, np.int64), bad_p, check_finite=True)
    with pytest.raises(ValueError, match=r"argument 'y_pred' holds NaN or inf"):
        call("categorical_crossentropy", np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], bad_p, from_logits=True,
             check_finite=True)
    # 1-element rows take the flat path; the check still names the row
    with pytest.raises(ValueError, match=r"argument 'y_pred' holds NaN or inf \(first in row 3\)"):
        call("mse", t[:, :1].copy(), bad_p[:, :1].copy(), check_finite=True)


def test_bad_input():
    t = np.zeros((4, 3), np.float32)
    p = np.full((4, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"loss: unknown loss 'cross_entropy'; expected one of .*binary_crossentropy"
                                         r".*mean_squared_error.*sparse_categorical_crossentropy"):
        ops.loss("cross_entropy", t, p)
    with pytest.raises(TypeError, match=r"mean_squared_error: argument 'y_pred' must have dtype float32, got float64"):
        ops.loss("mse", t, p.astype(np.float64))
    with pytest.raises(ValueError, match=r"huber: 'y_true' must have the shape of 'y_pred' \(4, 3\), got \(4, 2\)$"):
        ops.loss("huber", t[:, :2].copy(), p)
    with pytest.raises(ValueError, match=r"huber_backward: argument 'y_pred' must be C-contiguous"):
        ops.loss_backward("huber", t[:, :2], p[:, :2])
    with pytest.raises(ValueError, match=r"mean_absolute_error: argument 'y_pred' must have at least 1 dimension"):
        ops.loss("mae", np.array(0, np.float32), np.array(1, np.float32))
    with pytest.raises(ValueError, match=r"mean_squared_error: argument 'out' must have shape \(4,\)"):
        ops.loss("mse", t, p, out=np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"mean_squared_error_backward: argument 'grad_rows' must have shape \(4,\)"):
        ops.loss_backward("mse", t, p, np.ones(5, np.float32))
    with pytest.raises(ValueError, match=r"mean_squared_error_backward: argument 'out' shares memory with 'y_pred'"):
        ops.loss_backward("mse", t, p, out=p)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        ops.loss("binary_crossentropy", t, p, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"label_smoothing applies to binary_crossentropy and categorical_crossentropy"):
        ops.loss("mse", t, p, label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"label_smoothing applies to .*sparse_categorical_crossentropy"):
        ops.loss(SPARSE, np.zeros(4, np.int64), p, label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"huber: huber's delta must be a finite number > 0, got -1"):
        ops.loss("huber", t, p, delta=-1.0)
    with pytest.raises(ValueError, match=r"log_cosh: from_logits=True for log_cosh is the fused softmax"):
        ops.loss("log_cosh", t, p, from_logits=True)
    with pytest.raises(TypeError, match=r"sparse_categorical_crossentropy: 'y_true' must hold int32 or int64 class "
                                        r"labels, got float32"):
        ops.loss(SPARSE, np.zeros(4, np.float32), p)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: 'y_true' must hold one label per row"):
        ops.loss(SPARSE, np.zeros(5, np.int64), p)
    with pytest.raises(ValueError, match=r"mean_squared_error: .* needs at least one element on the last axis"):
        ops.loss("mse", np.zeros((4, 0), np.float32), np.zeros((4, 0), np.float32))
    with pytest.raises(ValueError, match=r"mean_squared_error_backward: argument 'out' is read-only"):
        ro = np.empty_like(p)
        ro.flags.writeable = False
        ops.loss_backward("mse", t, p, out=ro)
    with pytest.raises(TypeError, match=r"binary_crossentropy: argument 'y_true' must be a numpy.ndarray"):
        ops.loss("binary_crossentropy", [[0.0] * 3] * 4, p)
    # empty batches are fine
    assert ops.loss("mse", np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)).shape == (0,)


def test_mixed_devices_are_refused():
    class FakeCudaArray:
        def __init__(self, shape):
            self.shape = shape
            self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "data": (0, False), "version": 3}

    p = np.full((4, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"mean_squared_error: argument 'y_true' is on cuda .* but 'y_pred' is on cpu"):
        ops.loss("mse", FakeCudaArray((4, 3)), p)
    if not fastnn.cuda_available():
        with pytest.raises(RuntimeError, match=r"built without CUDA|need CuPy|CUDA error|no usable CUDA"):
            ops.loss("mse", FakeCudaArray((4, 3)), FakeCudaArray((4, 3)))
