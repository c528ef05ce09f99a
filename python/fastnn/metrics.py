"""Metrics (first slice): accuracies with Keras' names, as per-sample NumPy values that a model
averages over an epoch (Keras' ``MeanMetricWrapper``). ``"accuracy"`` / ``"acc"`` in ``compile``
pick binary, sparse-categorical or categorical accuracy from the shapes and the loss, as Keras'
``compile_utils.get_metric`` does. The stateful metric classes, top-k, mse/mae and
precision/recall come with the rest of issue 4.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "get",
           "resolve_accuracy"]


def _np(a):
    a = getattr(a, "data", a)
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per sample: the mean over the last axis of (y_pred > threshold) == y_true."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true[..., None]
    hit = (y_true.astype(np.float32) == (y_pred > threshold).astype(np.float32)).astype(np.float32)
    return hit.mean(axis=-1)


def categorical_accuracy(y_true, y_pred):
    """Per sample: argmax(y_true) == argmax(y_pred) (one-hot targets)."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """Per sample: y_true == argmax(y_pred) (integer labels, shape (n,) or (n, 1))."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true.astype(np.int64) == y_pred.argmax(axis=-1)).astype(np.float32)


def accuracy(y_true, y_pred):
    """Keras' plain ``Accuracy``: exact equality, per sample."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    eq = (y_true == y_pred).astype(np.float32)
    return eq.reshape(len(eq), -1).mean(axis=-1) if eq.ndim > 1 else eq


_BY_NAME = {"binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
            "sparse_categorical_accuracy": sparse_categorical_accuracy}


def resolve_accuracy(y_true_shape, y_pred_shape, loss=None):
    """The accuracy Keras means by ``"accuracy"`` for these shapes and this loss."""
    loss_name = getattr(loss, "keras_name", None) or getattr(loss, "__name__", "")
    if loss_name == "binary_crossentropy" or (len(y_pred_shape) and y_pred_shape[-1] == 1):
        return binary_accuracy
    if loss_name == "sparse_categorical_crossentropy" or len(y_true_shape) < len(y_pred_shape) or \
            (len(y_true_shape) == len(y_pred_shape) and y_true_shape[-1] == 1):
        return sparse_categorical_accuracy
    return categorical_accuracy


def get(identifier):
    """A metric function from a Keras name or a callable(y_true, y_pred) -> per-sample values.
    ``"accuracy"`` / ``"acc"`` return None: the model resolves them from the shapes."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return None
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(f"metrics.get: unknown metric {identifier!r}; known: accuracy, acc, "
                             f"{', '.join(_BY_NAME)} (more metrics come later)")
        return fn
    raise TypeError(f"metrics.get: expected a metric name or a callable, got {type(identifier).__name__}")
