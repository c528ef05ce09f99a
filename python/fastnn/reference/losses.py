"""NumPy twin of the loss kernels (csrc/fastnn/loss.h): per-row Keras losses over
the last axis and their gradient with respect to y_pred. Computes in the dtype
of ``y_pred`` (float64 in the tests, float32 in the benchmarks).

Kinds are Keras' function names (``mean_squared_error``/``mse``,
``mean_absolute_error``/``mae``, ``huber``, ``log_cosh``, ``binary_crossentropy``,
``categorical_crossentropy``, ``sparse_categorical_crossentropy``). Probabilities
are clipped to [eps, 1 - eps] with eps = 1e-7 (Keras' backend.epsilon()), and
the gradient through a clip is 0 outside that range and passes at its ends
(TensorFlow's clip_by_value gradient). Categorical probabilities are divided by
their row sum first, as Keras does (for the sparse kind, as its JAX, torch and
NumPy backends do).
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7

_ALIASES = {
    "mean_squared_error": "mse",
    "mse": "mse",
    "mean_absolute_error": "mae",
    "mae": "mae",
    "huber": "huber",
    "log_cosh": "log_cosh",
    "logcosh": "log_cosh",
    "binary_crossentropy": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
}


def _kind(kind):
    try:
        return _ALIASES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {kind!r}; expected one of {', '.join(sorted(_ALIASES))}") from None


def _clip_bounds(dtype):
    eps = dtype.type(EPSILON)
    return eps, dtype.type(1) - eps


def _labels(y_true, y_pred):
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    n = y_pred.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {n})")
    return labels.astype(np.int64)


def _one_hot(labels, n, dtype):
    return (labels[..., None] == np.arange(n)).astype(dtype)


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _log_cosh(e):
    # log1p(2 sinh^2(e / 2)) keeps the e^2 / 2 of small errors; |e| - log 2 +
    # log1p(exp(-2 |e|)) past |e| = 8 (no overflow).
    a = np.abs(e)
    small = np.log1p(2 * np.sinh(np.minimum(a, 8) / 2) ** 2)
    large = a - np.log(a.dtype.type(2)) + np.log1p(np.exp(-2 * a))
    return np.where(a > 8, large, small)


def _smooth_binary(t, ls):
    return t * (1 - ls) + 0.5 * ls if ls else t


def _smooth_categorical(t, ls):
    return t * (1 - ls) + ls / t.shape[-1] if ls else t


def loss(kind, y_true, y_pred, from_logits=False, label_smoothing=0.0, delta=1.0):
    """Per-row loss, shape ``y_pred.shape[:-1]``."""
    kind = _kind(kind)
    p = np.asarray(y_pred)
    dt = p.dtype
    if kind == "sparse_categorical_crossentropy":
        labels = _labels(y_true, p)
        if from_logits:
            log_q = np.take_along_axis(_log_softmax(p), labels[..., None], axis=-1)[..., 0]
            return -log_q
        lo, hi = _clip_bounds(dt)
        u = np.take_along_axis(p, labels[..., None], axis=-1)[..., 0] / p.sum(axis=-1)
        return -np.log(np.clip(u, lo, hi))
    t = np.asarray(y_true).astype(dt)
    if kind == "mse":
        return ((p - t) ** 2).mean(axis=-1)
    if kind == "mae":
        return np.abs(p - t).mean(axis=-1)
    if kind == "huber":
        e = p - t
        a = np.abs(e)
        d = dt.type(delta)
        return np.where(a <= d, 0.5 * e * e, d * a - 0.5 * d * d).mean(axis=-1)
    if kind == "log_cosh":
        return _log_cosh(p - t).mean(axis=-1)
    if kind == "binary_crossentropy":
        t = _smooth_binary(t, label_smoothing)
        if from_logits:
            return (np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))).mean(axis=-1)
        lo, hi = _clip_bounds(dt)
        q = np.clip(p, lo, hi)
        return (-(t * np.log(q) + (1 - t) * np.log(1 - q))).mean(axis=-1)
    # categorical_crossentropy
    t = _smooth_categorical(t, label_smoothing)
    if from_logits:
        return -(t * _log_softmax(p)).sum(axis=-1)
    lo, hi = _clip_bounds(dt)
    q = np.clip(p / p.sum(axis=-1, keepdims=True), lo, hi)
    return -(t * np.log(q)).sum(axis=-1)


def loss_backward(kind, y_true, y_pred, grad_rows=1.0, from_logits=False, label_smoothing=0.0, delta=1.0):
    """d (sum_rows grad_rows[row] * loss[row]) / d y_pred, of ``y_pred``'s shape.

    ``grad_rows``: an array of shape ``y_pred.shape[:-1]`` or a number."""
    kind = _kind(kind)
    p = np.asarray(y_pred)
    dt = p.dtype
    n = p.shape[-1]
    g = np.asarray(grad_rows, dtype=dt)[..., None] if np.ndim(grad_rows) else dt.type(grad_rows)
    lo, hi = _clip_bounds(dt)
    if kind == "sparse_categorical_crossentropy":
        labels = _labels(y_true, p)
        onehot = _one_hot(labels, n, dt)
        if from_logits:
            return g * (np.exp(_log_softmax(p)) - onehot)
        s = p.sum(axis=-1, keepdims=True)
        pl = np.take_along_axis(p, labels[..., None], axis=-1)
        u = pl / s
        passes = (u >= lo) & (u <= hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = 1 / s - onehot / np.where(pl == 0, 1, pl)
        return g * np.where(passes, grad, 0)
    t = np.asarray(y_true).astype(dt)
    c = g / n
    if kind == "mse":
        return c * 2 * (p - t)
    if kind == "mae":
        return c * np.sign(p - t)
    if kind == "huber":
        d = dt.type(delta)
        return c * np.clip(p - t, -d, d)
    if kind == "log_cosh":
        return c * np.tanh(p - t)
    if kind == "binary_crossentropy":
        t = _smooth_binary(t, label_smoothing)
        if from_logits:
            return c * (_sigmoid(p) - t)
        q = np.clip(p, lo, hi)
        return c * np.where((p >= lo) & (p <= hi), (q - t) / (q * (1 - q)), 0)
    # categorical_crossentropy
    t = _smooth_categorical(t, label_smoothing)
    if from_logits:
        return g * (np.exp(_log_softmax(p)) * t.sum(axis=-1, keepdims=True) - t)
    s = p.sum(axis=-1, keepdims=True)
    u = p / s
    passes = (u >= lo) & (u <= hi)
    t_in = np.where(passes, t, 0).sum(axis=-1, keepdims=True)
    return g / s * (t_in - np.where(passes, t / np.where(passes, u, 1), 0))
