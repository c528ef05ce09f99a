"""fastnn.losses as a Keras user calls them: values against Keras' formulas written out here in
float64, reductions and sample weights, gradients through the Tensor graph, the fused
from-logits path, and the mistakes users make.

Tolerances: the kernels compute in float32 with per-row sums over <= 1000 terms, so values
match the float64 formulas to rtol 1e-5 (plus atol 1e-6 near 0); gradients likewise.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn import Tensor, losses

EPS = 1e-7  # Keras' epsilon for clipping probabilities
rng = np.random.default_rng(0)


def probs(rows, classes):
    z = rng.standard_normal((rows, classes))
    e = np.exp(z - z.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def keras_formula(kind, t, p, **kw):
    """Per-sample values as Keras 3 computes them (float64)."""
    t, p = t.astype(np.float64), p.astype(np.float64)
    if kind == "mse":
        return ((p - t) ** 2).mean(-1)
    if kind == "mae":
        return np.abs(p - t).mean(-1)
    if kind == "huber":
        d = kw.get("delta", 1.0)
        e = np.abs(p - t)
        return np.where(e <= d, 0.5 * e ** 2, d * e - 0.5 * d ** 2).mean(-1)
    if kind == "bce":
        ls = kw.get("label_smoothing", 0.0)
        t = t * (1 - ls) + 0.5 * ls
        if kw.get("from_logits"):
            return (np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))).mean(-1)
        q = np.clip(p, EPS, 1 - EPS)
        return -(t * np.log(q) + (1 - t) * np.log(1 - q)).mean(-1)
    if kind == "cce":
        ls = kw.get("label_smoothing", 0.0)
        t = t * (1 - ls) + ls / t.shape[-1]
        if kw.get("from_logits"):
            z = p - p.max(-1, keepdims=True)
            logq = z - np.log(np.exp(z).sum(-1, keepdims=True))
            return -(t * logq).sum(-1)
        q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
        return -(t * np.log(q)).sum(-1)
    raise ValueError(kind)


def one_hot(labels, classes):
    out = np.zeros((labels.size, classes), np.float32)
    out[np.arange(labels.size), labels] = 1
    return out


CASES = [
    ("mse", losses.mean_squared_error, {}),
    ("mae", losses.mean_absolute_error, {}),
    ("huber", losses.huber, {"delta": 0.7}),
    ("bce", losses.binary_crossentropy, {}),
    ("bce", losses.binary_crossentropy, {"from_logits": True, "label_smoothing": 0.1}),
    ("cce", losses.categorical_crossentropy, {}),
    ("cce", losses.categorical_crossentropy, {"from_logits": True, "label_smoothing": 0.2}),
]


@pytest.mark.parametrize("kind,fn,kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_values_and_gradients_match_keras(kind, fn, kw, reduction):
    rows, cols = 37, 11
    if kind == "cce":
        t = one_hot(rng.integers(0, cols, rows), cols)
        p = rng.standard_normal((rows, cols)).astype(np.float32) if kw.get("from_logits") else probs(rows, cols)
    elif kind == "bce":
        t = rng.integers(0, 2, (rows, cols)).astype(np.float32)
        p = rng.standard_normal((rows, cols)).astype(np.float32) if kw.get("from_logits") else \
            rng.uniform(0.02, 0.98, (rows, cols)).astype(np.float32)
    else:
        t, p = rng.standard_normal((2, rows, cols)).astype(np.float32)
    per_sample = keras_formula(kind, t, p, **kw)
    want = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
    y_pred = Tensor(p, requires_grad=True)
    out = fn(t, y_pred, reduction=reduction, **kw)
    np.testing.assert_allclose(out.data, want, rtol=1e-5, atol=1e-6)
    # gradient of sum(out * v) against central differences of the float64 formula
    v = rng.standard_normal(np.shape(want))
    (out * Tensor(v.astype(np.float32))).sum().backward()
    h = 1e-6
    num = np.zeros(p.shape)
    p64 = p.astype(np.float64)
    for idx in np.ndindex(p.shape):
        for sign in (1, -1):
            q = p64.copy()
            q[idx] += sign * h
            ps = keras_formula(kind, t, q, **kw)
            val = {"mean": ps.mean(), "sum": ps.sum(), "none": ps}[reduction]
            num[idx] += sign * float((np.asarray(val) * v).sum()) / (2 * h)
    np.testing.assert_allclose(y_pred.grad, num, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_matches_categorical_on_one_hot(from_logits):
    labels = rng.integers(0, 10, 64)
    p = rng.standard_normal((64, 10)).astype(np.float32) if from_logits else probs(64, 10)
    a = Tensor(p, requires_grad=True)
    b = Tensor(p, requires_grad=True)
    la = losses.sparse_categorical_crossentropy(labels, a, from_logits=from_logits)
    lb = losses.categorical_crossentropy(one_hot(labels, 10), b, from_logits=from_logits)
    np.testing.assert_allclose(la.data, lb.data, rtol=1e-6)
    la.backward()
    lb.backward()
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-5, atol=1e-8)
    # labels as (n, 1) and as floats, as Keras accepts them
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels[:, None].astype(np.float32), p,
                                                                      from_logits=from_logits).data, la.data, rtol=1e-6)


def test_classes_and_sample_weight():
    t, p = rng.standard_normal((2, 8, 3)).astype(np.float32)
    w = rng.uniform(0, 2, 8).astype(np.float32)
    per = keras_formula("mse", t, p)
    mse = losses.MeanSquaredError()
    np.testing.assert_allclose(mse(t, p).data, per.mean(), rtol=1e-6)
    np.testing.assert_allclose(mse(t, p, sample_weight=w).data, (per * w).mean(), rtol=1e-6)  # Keras: / batch size
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="sum")(t, p, sample_weight=w).data,
                               (per * w).sum(), rtol=1e-6)
    y = Tensor(p, requires_grad=True)
    losses.MeanSquaredError()(t, y, sample_weight=w).backward()
    np.testing.assert_allclose(y.grad, 2 * (p - t) / 3 * w[:, None] / 8, rtol=1e-5, atol=1e-7)
    assert losses.get("mse") is losses.mean_squared_error
    assert isinstance(losses.get("CategoricalCrossentropy"), losses.CategoricalCrossentropy)
    assert losses.Huber(delta=2.0).get_config()["delta"] == 2.0


def test_rank_is_matched_like_keras():
    t = rng.integers(0, 2, 16).astype(np.float32)
    p = rng.uniform(0.1, 0.9, (16, 1)).astype(np.float32)
    np.testing.assert_allclose(losses.binary_crossentropy(t, p).data,
                               keras_formula("bce", t[:, None], p).mean(), rtol=1e-6)


def test_extreme_logits_and_zero_probabilities_stay_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], np.float32)
    x = Tensor(logits, requires_grad=True)
    loss = losses.sparse_categorical_crossentropy(np.array([1, 0]), x, from_logits=True)
    assert np.isfinite(loss.data) and loss.data > 1e3
    loss.backward()
    assert np.isfinite(x.grad).all()
    p = Tensor(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32), requires_grad=True)
    loss = losses.categorical_crossentropy(one_hot(np.array([0, 0]), 3), p)
    assert np.isfinite(loss.data)
    loss.backward()
    assert np.isfinite(p.grad).all()
    b = losses.binary_crossentropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]], np.float32))
    assert np.isfinite(b.data) and b.data > 10


def test_mistakes_get_clear_errors():
    p = probs(8, 10)
    with pytest.raises(ValueError, match=r"categorical_crossentropy: y_true has shape \(8,\).*sparse_categorical_crossentropy.*to_categorical"):
        losses.categorical_crossentropy(rng.integers(0, 10, 8), p)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy: y_true has y_pred's shape"):
        losses.sparse_categorical_crossentropy(one_hot(rng.integers(0, 10, 8), 10), p)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.sparse_categorical_crossentropy(np.array([0, 1, 2, 3, 4, 5, 6, 10]), p, from_logits=True)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.sparse_categorical_crossentropy(np.array([0, 1, 2, 3, 4, 5, 6, 10]), p)
    with pytest.raises(ValueError, match="mean_squared_error: y_true has shape"):
        losses.mean_squared_error(np.zeros((8, 3)), np.zeros((8, 4), np.float32))
    bad = p.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        losses.categorical_crossentropy(one_hot(np.zeros(8, int), 10), bad, check_finite=True)
    with pytest.raises(ValueError, match="NaN"):
        losses.sparse_categorical_crossentropy(np.zeros(8, int), bad, from_logits=True, check_finite=True)
    with pytest.raises(ValueError, match="reduction"):
        losses.mean_squared_error(p, p, reduction="avg")
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        losses.get("msee")


def test_integer_and_tensor_targets():
    t = Tensor(rng.integers(0, 2, (4, 3)))
    p = rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32)
    np.testing.assert_allclose(losses.binary_crossentropy(t, p).data,
                               keras_formula("bce", t.data.astype(np.float32), p).mean(), rtol=1e-6)
    assert fastnn.losses.mse is losses.mean_squared_error
