"""Metrics with Keras 3's names, defaults and streaming semantics.

Two forms, as in Keras:

- per-sample functions ``fn(y_true, y_pred) -> values`` (``binary_accuracy``,
  ``sparse_categorical_accuracy``, ``top_k_categorical_accuracy``, ``mean_squared_error``, ...);
- stateful ``Metric`` objects: ``update_state(y_true, y_pred, sample_weight=None)`` accumulates
  over batches, ``result()`` reads the value so far, ``reset_state()`` starts over. ``Mean``
  keeps a (weighted) running mean; ``MeanMetricWrapper`` streams the mean of a per-sample
  function (every accuracy, MSE and MAE class is one); ``Precision`` / ``Recall`` accumulate
  true/false positives and false negatives over all batches, so their result is the epoch's
  TP / (TP + FP), not a mean of per-batch ratios.

Metrics compute in NumPy on host copies of ``y_pred`` (a GPU tensor is copied once per batch):
they are cheap next to a training step. ``get(identifier)`` turns what ``compile(metrics=[...])``
accepts into a ``Metric``: Keras names (``"mse"``, ``"precision"``, ``"top_k_categorical_accuracy"``,
class names), ``Metric`` objects or classes, configs ``{"class_name", "config"}``, and plain
callables (wrapped in ``MeanMetricWrapper``). ``"accuracy"`` / ``"acc"`` inside ``compile`` are
resolved by the model from the shapes and the loss (``resolve_accuracy``), as Keras does.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanSquaredError",
           "MeanAbsoluteError", "Precision", "Recall", "accuracy", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
           "mean_squared_error", "mean_absolute_error", "get", "serialize", "deserialize", "resolve_accuracy"]


def _np(a):
    """A host NumPy array from an array, a Tensor (its ``.data``) or a CuPy array."""
    if isinstance(a, np.ndarray):
        return a
    if not hasattr(a, "__cuda_array_interface__"):
        a = getattr(a, "data", a)  # a fastnn Tensor
        if isinstance(a, np.ndarray):
            return a
    if hasattr(a, "get") and hasattr(a, "__cuda_array_interface__"):
        return a.get()
    return np.asarray(a)


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _shape_error(op, y_true, y_pred, expected):
    return ValueError(f"{op}: y_true has shape {tuple(y_true.shape)} and y_pred has shape {tuple(y_pred.shape)}; "
                      f"expected {expected}")


def _same_rank(op, y_true, y_pred):
    """Keras' squeeze_or_expand_to_same_rank ((n,) against (n, 1)), then the shapes must agree."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape + (1,))
    if y_true.shape != y_pred.shape:
        raise _shape_error(op, y_true, y_pred, "the same shape (or (n,) against (n, 1))")
    return y_true, y_pred


def _labels(op, y_true, y_pred):
    """Integer-class targets of shape y_pred.shape[:-1] (a trailing axis of 1 is dropped)."""
    rows = y_pred.shape[:-1]
    if y_pred.ndim == 0:
        raise ValueError(f"{op}: y_pred must have a class axis, got a scalar")
    if y_true.shape == rows + (1,):
        y_true = y_true.reshape(rows)
    if y_true.shape != rows:
        hint = " (one-hot targets? use the categorical form)" if y_true.shape == y_pred.shape else ""
        raise _shape_error(op, y_true, y_pred, f"one integer label per sample, shape {rows}{hint}")
    return y_true


def _per_sample(values):
    """The mean over all axes but the first (one value per sample)."""
    return values.reshape(len(values), -1).mean(axis=1) if values.ndim > 1 else values


# --------------------------------------------------------------------------- per-sample functions

def accuracy(y_true, y_pred):
    """Keras' plain ``Accuracy``: exact equality, the mean per sample."""
    y_true, y_pred = _same_rank("accuracy", _np(y_true), _np(y_pred))
    return _per_sample((y_true == y_pred).astype(np.float32))


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per sample: the mean over the last axes of (y_pred > threshold) == y_true."""
    y_true, y_pred = _same_rank("binary_accuracy", _np(y_true), _np(y_pred))
    return _per_sample((y_true == (y_pred > threshold)).astype(np.float32))


def categorical_accuracy(y_true, y_pred):
    """Per sample: argmax(y_true) == argmax(y_pred) (one-hot targets, y_pred's shape)."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.shape != y_pred.shape or y_pred.ndim == 0:
        raise _shape_error("categorical_accuracy", y_true, y_pred,
                           "one-hot targets of y_pred's shape (integer labels: sparse_categorical_accuracy)")
    return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """Per sample: y_true == argmax(y_pred) (integer labels, shape (n,) or (n, 1))."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    y_true = _labels("sparse_categorical_accuracy", y_true, y_pred)
    return (y_true == y_pred.argmax(axis=-1)).astype(np.float32)


def _in_top_k(op, labels, y_pred, k):
    """Keras' in_top_k: the label's score counts as top-k when fewer than k scores beat it
    strictly (ties favour the label); a NaN score never does; k >= classes always hits."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{op}: k must be a positive int, got {k!r}")
    classes = y_pred.shape[-1]
    if labels.dtype.kind == "f":
        if labels.size and not np.all(labels == np.floor(labels)):
            raise ValueError(f"{op}: y_true holds labels that are not whole numbers")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{op}: y_true holds labels outside [0, {classes}) (min {labels.min()}, max {labels.max()})")
    if k >= classes:
        return np.ones(labels.shape, np.float32)
    at_label = np.take_along_axis(y_pred, labels[..., None], axis=-1)
    at_label = np.where(np.isnan(at_label), -np.inf, at_label)
    beaten_by = (y_pred > at_label).sum(axis=-1)
    return (beaten_by < k).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per sample: whether argmax(y_true) is among the k highest scores of y_pred."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.shape != y_pred.shape or y_pred.ndim == 0:
        raise _shape_error("top_k_categorical_accuracy", y_true, y_pred, "one-hot targets of y_pred's shape "
                           "(integer labels: sparse_top_k_categorical_accuracy)")
    return _in_top_k("top_k_categorical_accuracy", y_true.argmax(axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """Per sample: whether the integer label is among the k highest scores of y_pred. With
    ``from_sorted_ids`` y_pred holds class ids sorted by score (best first), as Keras allows."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    y_true = _labels("sparse_top_k_categorical_accuracy", y_true, y_pred)
    if from_sorted_ids:
        return (y_pred[..., :k] == y_true[..., None]).any(axis=-1).astype(np.float32)
    return _in_top_k("sparse_top_k_categorical_accuracy", y_true, y_pred, k)


def mean_squared_error(y_true, y_pred):
    """Per sample: the mean over the last axis of (y_true - y_pred)**2."""
    y_true, y_pred = _same_rank("mean_squared_error", _np(y_true), _np(y_pred))
    d = y_pred.astype(np.float64) - y_true
    return (d * d).mean(axis=-1) if d.ndim > 1 else d * d


def mean_absolute_error(y_true, y_pred):
    """Per sample: the mean over the last axis of |y_true - y_pred|."""
    y_true, y_pred = _same_rank("mean_absolute_error", _np(y_true), _np(y_pred))
    d = np.abs(y_pred.astype(np.float64) - y_true)
    return d.mean(axis=-1) if d.ndim > 1 else d


_FUNCTIONS = {f.__name__: f for f in (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                                      top_k_categorical_accuracy, sparse_top_k_categorical_accuracy,
                                      mean_squared_error, mean_absolute_error)}
_BY_NAME = _FUNCTIONS  # the per-sample functions by name (what saving looks up)


# --------------------------------------------------------------------------- base classes

class Metric:
    """A streaming metric: ``update_state`` accumulates, ``result`` reads, ``reset_state`` clears.
    Subclasses set their state in ``reset_state`` and call it from ``__init__``. Calling the
    metric, ``m(y_true, y_pred)``, updates it and returns the result (Keras 3)."""

    def __init__(self, name=None, dtype=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a str, got {type(name).__name__}")
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _to_same_rank(values, weights):
    """Keras' squeeze_or_expand_to_same_rank for values against sample weights."""
    if values.ndim == weights.ndim + 1 and values.shape[-1] == 1:
        if weights.ndim == 1:
            weights = weights[:, None]
        else:
            values = values[..., 0]
    elif weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
        if values.ndim == 1:
            values = values[:, None]
        else:
            weights = weights[..., 0]
    return values, weights


class Mean(Metric):
    """The (weighted) mean of the values given so far: sum(values * w) / sum(w), 0 before any
    value. Values of rank > 1 are averaged per sample first; weights broadcast to the values
    after Keras' rank matching (a weight per sample weighs all its entries)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = _np(values)
        if sample_weight is not None:
            w = _np(sample_weight).astype(np.float64, copy=False)
            values, w = _to_same_rank(values, w)
            if values.ndim > w.ndim:  # reduce the values to the weights' rank
                values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
            try:
                w = np.broadcast_to(w, values.shape)
            except ValueError:
                raise ValueError(f"{self.name} ({type(self).__name__}).update_state: sample_weight of shape "
                                 f"{tuple(np.shape(sample_weight))} does not broadcast to the values' shape "
                                 f"{tuple(values.shape)}") from None
            values = values * w
            if w.ndim > 1:
                w = w.mean(axis=tuple(range(1, w.ndim)))
            count = float(np.sum(w))
        else:
            count = float(len(values)) if values.ndim >= 1 else 1.0
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(np.sum(values, dtype=np.float64))
        self.count += count

    def result(self):
        return self.total / self.count if self.count else 0.0  # divide_no_nan


class MeanMetricWrapper(Mean):
    """Streams the mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    _direction = None  # "up" / "down": which way is better (EarlyStopping's mode="auto" reads it)

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: fn must be a callable(y_true, y_pred), got {type(fn).__name__}")
        super().__init__(name=name or getattr(fn, "__name__", None) or _snake(type(fn).__name__), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        try:
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        except ValueError as e:
            raise ValueError(f"metric {self.name!r} ({type(self).__name__}): {e}") from None
        values = _np(values)
        shape = tuple(getattr(y_pred, "shape", None) or np.shape(y_pred))
        n = shape[0] if shape else 1
        if values.ndim == 0 or len(values) != n:
            raise ValueError(f"metric {self.name!r} ({type(self).__name__}): the metric function must return one "
                             f"value per sample ({n}), got shape {tuple(values.shape)}")
        super().update_state(values, sample_weight)

    def get_config(self):
        config = super().get_config()
        if type(self) is MeanMetricWrapper:
            fn_name = getattr(self._fn, "__name__", None)
            if _FUNCTIONS.get(fn_name) is not self._fn:
                raise TypeError(f"MeanMetricWrapper.get_config: the function {self._fn!r} is not a fastnn.metrics "
                                "function and cannot be serialised by name")
            config["fn"] = fn_name
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if cls is MeanMetricWrapper:
            fn = _FUNCTIONS.get(config.pop("fn", None))
            if fn is None:
                raise ValueError(f"MeanMetricWrapper.from_config: unknown fn; known: {', '.join(_FUNCTIONS)}")
            return cls(fn, **config)
        return cls(**config)


# --------------------------------------------------------------------------- accuracy / regression classes

class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly."""

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals the 0/1 target."""

    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals argmax of the one-hot target."""

    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals the integer label."""

    _direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target's class is among the k highest scores."""

    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the k highest scores."""

    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)


class MeanSquaredError(MeanMetricWrapper):
    """The mean over samples of the per-sample mean squared error."""

    _direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean over samples of the per-sample mean absolute error."""

    _direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


# --------------------------------------------------------------------------- precision / recall

class _ConfusionCounts(Metric):
    """True positives, false positives and false negatives accumulated over every entry of
    y_pred (multi-label entries count alike), per threshold: an entry is predicted positive when
    y_pred > threshold, actually positive when y_true is non-zero (Keras' rule). ``top_k`` keeps
    only each row's k highest scores as candidates; ``class_id`` looks at one column only."""

    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        what = type(self).__name__
        self.init_thresholds = thresholds
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise ValueError(f"{what}: top_k must be a positive int or None, got {top_k!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer))
                                     or class_id < 0):
            raise ValueError(f"{what}: class_id must be a non-negative int or None, got {class_id!r}")
        self.top_k, self.class_id = top_k, class_id
        default = 0.5 if top_k is None else -math.inf  # with top_k every kept entry is a candidate
        values = [default] if thresholds is None else \
            ([thresholds] if isinstance(thresholds, (int, float, np.floating, np.integer)) else list(thresholds))
        for t in values:
            if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or \
                    (thresholds is not None and not 0.0 <= float(t) <= 1.0):
                raise ValueError(f"{what}: threshold values must be numbers in [0, 1], got thresholds={thresholds!r}")
        if not values:
            raise ValueError(f"{what}: thresholds must hold at least one value, got {thresholds!r}")
        self.thresholds = np.asarray(values, dtype=np.float64)
        self._scalar = thresholds is None or not isinstance(thresholds, (list, tuple, np.ndarray))
        self.reset_state()

    def reset_state(self):
        t = len(self.thresholds)
        self.true_positives = np.zeros(t)
        self.false_positives = np.zeros(t)
        self.false_negatives = np.zeros(t)

    def update_state(self, y_true, y_pred, sample_weight=None):
        op = f"metric {self.name!r} ({type(self).__name__})"
        y_true, y_pred = _same_rank(op, _np(y_true), _np(y_pred))
        w = None
        if sample_weight is not None:
            w = _np(sample_weight).astype(np.float64, copy=False)
            _, w = _to_same_rank(y_pred, w)
            while w.ndim < y_pred.ndim:
                w = w[..., None]
            try:
                w = np.broadcast_to(w, y_pred.shape)
            except ValueError:
                raise ValueError(f"{op}: sample_weight of shape {tuple(np.shape(sample_weight))} does not match "
                                 f"y_pred of shape {tuple(y_pred.shape)}") from None
        if self.top_k is not None:
            y_pred = self._keep_top_k(y_pred)
        if self.class_id is not None:
            if y_pred.ndim == 0 or self.class_id >= y_pred.shape[-1]:
                raise ValueError(f"{op}: class_id={self.class_id} is out of range for y_pred of shape "
                                 f"{tuple(y_pred.shape)}")
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
            w = None if w is None else w[..., self.class_id]
        actual = (y_true != 0).reshape(1, -1)
        predicted = y_pred.reshape(1, -1) > self.thresholds[:, None]
        w = np.ones(actual.shape[1]) if w is None else w.reshape(-1)
        self.true_positives += (predicted & actual) @ w
        self.false_positives += (predicted & ~actual) @ w
        self.false_negatives += (~predicted & actual) @ w

    def _keep_top_k(self, y_pred):
        if self.top_k >= y_pred.shape[-1]:
            return y_pred
        order = np.argsort(-y_pred, axis=-1, kind="stable")[..., self.top_k:]
        kept = y_pred.astype(np.float64, copy=True)
        np.put_along_axis(kept, order, -np.inf, axis=-1)
        return kept

    def _ratio(self, num, den):
        out = np.divide(num, den, out=np.zeros_like(num), where=den != 0)  # 0 when undefined, as Keras
        return float(out[0]) if self._scalar else out

    def get_config(self):
        config = {"thresholds": self.init_thresholds, "top_k": self.top_k, "class_id": self.class_id}
        config.update(super().get_config())
        return config


class Precision(_ConfusionCounts):
    """TP / (TP + FP) over all batches since the last reset (0 when nothing was predicted
    positive). ``thresholds``: one float (default 0.5) or a list (the result is then an array)."""

    def result(self):
        return self._ratio(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionCounts):
    """TP / (TP + FN) over all batches since the last reset (0 when there were no positives)."""

    def result(self):
        return self._ratio(self.true_positives, self.true_positives + self.false_negatives)


# --------------------------------------------------------------------------- lookup

_CLASSES = {c.__name__: c for c in (Mean, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                                    MeanSquaredError, MeanAbsoluteError, Precision, Recall)}
_NAMES = {_snake(n): c for n, c in _CLASSES.items()}  # "top_k_categorical_accuracy" -> TopKCategoricalAccuracy
_NAMES.update({"acc": Accuracy, "mse": MeanSquaredError, "mae": MeanAbsoluteError})
_NAMES.pop("mean_metric_wrapper")  # needs a function: not constructible from a name


def resolve_accuracy(y_true_shape, y_pred_shape, loss=None):
    """The accuracy class Keras means by ``"accuracy"`` for these shapes (and this loss)."""
    loss_name = getattr(loss, "keras_name", None) or getattr(loss, "__name__", "")
    if loss_name == "binary_crossentropy" or (len(y_pred_shape) and y_pred_shape[-1] == 1):
        return BinaryAccuracy
    if loss_name == "sparse_categorical_crossentropy" or len(y_true_shape) < len(y_pred_shape) or \
            (len(y_true_shape) == len(y_pred_shape) and y_true_shape[-1] == 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def serialize(metric):
    """``{"class_name", "config"}`` for a fastnn Metric (what ``model.save`` records)."""
    if not isinstance(metric, Metric):
        raise TypeError(f"metrics.serialize: expected a Metric, got {type(metric).__name__}")
    if _CLASSES.get(type(metric).__name__) is not type(metric):
        raise TypeError(f"metrics.serialize: {type(metric).__name__} is not a fastnn.metrics class")
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config, custom_objects=None):
    """The Metric a ``serialize`` config describes (only known classes and ``custom_objects``)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"metrics.deserialize: expected {{'class_name': ..., 'config': {{...}}}}, got {config!r}")
    cls = dict(_CLASSES, **(custom_objects or {})).get(config["class_name"])
    if cls is None:
        raise ValueError(f"metrics.deserialize: unknown metric class {config['class_name']!r}; known: "
                         f"{', '.join(_CLASSES)}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """A ``Metric`` from a name (Keras' snake-case names, class names, ``"mse"``, ``"mae"``,
    ``"acc"``), a Metric object (returned as is) or class, a serialized config, or a callable
    ``fn(y_true, y_pred)`` returning per-sample values (wrapped in ``MeanMetricWrapper``).
    ``None`` gives None. Note that ``compile`` reads ``"accuracy"`` / ``"acc"`` from the shapes;
    here they mean the plain ``Accuracy`` (exact equality), as in Keras."""
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if cls is None or cls is MeanMetricWrapper:
            raise ValueError(f"metrics.get: unknown metric {identifier!r}; known names: {', '.join(sorted(_NAMES))} "
                             "(or a class name, a Metric object, or a callable(y_true, y_pred))")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type):
        if issubclass(identifier, Metric):
            return identifier()
        raise TypeError(f"metrics.get: expected a Metric class, got the class {identifier.__name__}")
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"metrics.get: expected a metric name, a Metric, or a callable(y_true, y_pred), got "
                    f"{type(identifier).__name__}")
