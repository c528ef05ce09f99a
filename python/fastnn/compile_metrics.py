"""The metrics a model was compiled with (Keras 3's ``CompileMetrics``): builds ``Metric`` objects
from ``compile(metrics=..., weighted_metrics=...)``, updates them once per batch, and names their
results as Keras logs them.

- ``metrics`` ignore ``sample_weight`` / ``class_weight``; ``weighted_metrics`` receive them
  (Keras 3 passes the sample weights to ``weighted_metrics`` only).
- A string logs under that string (``"mse"`` -> ``mse``), a Metric under its ``name``
  (``Precision()`` -> ``precision``), a function under its ``__name__``. A repeated name gets
  ``_1``, ``_2``, ...; a weighted metric whose name is taken becomes ``weighted_<name>``.
- ``"accuracy"`` / ``"acc"`` become binary, sparse-categorical or categorical accuracy from the
  first batch's shapes (and the loss), logged under the string given.
"""

from __future__ import annotations

from fastnn import metrics as _metrics

__all__ = ["CompileMetrics"]

_ACCURACY = ("accuracy", "acc")


def _as_list(value, argument):
    if value is None:
        return []
    if isinstance(value, dict):
        raise NotImplementedError(f"compile: per-output {argument} (a dict) are not supported yet")
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (str, _metrics.Metric)) or callable(value):
        return [value]
    raise TypeError(f"compile: {argument} must be a list of metric names, Metric objects or callables, got "
                    f"{type(value).__name__}")


def _entry(identifier, argument):
    """(log name, Metric or None for a shape-resolved accuracy)."""
    if isinstance(identifier, str) and identifier.lower() in _ACCURACY:
        return identifier, None
    try:
        metric = _metrics.get(identifier)
    except (ValueError, TypeError) as e:
        raise type(e)(f"compile ({argument}): {e}") from None
    if metric is None:
        raise ValueError(f"compile: {argument} holds None; give metric names, Metric objects or callables")
    name = identifier if isinstance(identifier, str) else metric.name
    metric.name = name
    return name, metric


class CompileMetrics:
    """The compiled metrics of one model; ``update_state`` / ``result`` / ``reset_state``."""

    def __init__(self, metrics=None, weighted_metrics=None, loss=None):
        self._user_metrics = _as_list(metrics, "metrics")
        self._user_weighted = _as_list(weighted_metrics, "weighted_metrics")
        self._loss = loss
        self._entries = [(*_entry(m, "metrics"), False) for m in self._user_metrics] + \
                        [(*_entry(m, "weighted_metrics"), True) for m in self._user_weighted]
        self._shape_key = None  # the shapes the accuracies were resolved for
        self.names = self._log_names()

    @property
    def user_metrics(self) -> list:
        return list(self._user_metrics)

    @property
    def user_weighted_metrics(self) -> list:
        return list(self._user_weighted)

    @property
    def metrics(self) -> list:
        """The Metric objects (accuracies appear once resolved at the first batch)."""
        return [m for _, m, _ in self._entries if m is not None]

    def _log_names(self):
        names, seen = [], {}
        for name, _, weighted in self._entries:
            if name in seen:
                if weighted:
                    name = "weighted_" + name
                if name in seen:
                    seen[name] += 1
                    name = f"{name}_{seen[name] - 1}"
            seen.setdefault(name, 1)
            names.append(name)
        return names

    def _resolve(self, y_true, y_pred):
        key = (y_true.shape[1:], y_pred.shape[1:])
        if key == self._shape_key:
            return
        entries = []
        for name, metric, weighted in self._entries:
            if isinstance(name, str) and name.lower() in _ACCURACY:
                cls = _metrics.resolve_accuracy(y_true.shape, y_pred.shape, self._loss)
                if not isinstance(metric, cls):
                    metric = cls(name=name)
            entries.append((name, metric, weighted))
        self._entries = entries
        self._shape_key = key

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self._entries:
            return
        y_pred = _metrics._np(y_pred)  # one host copy shared by all metrics
        y_true = _metrics._np(y_true)
        self._resolve(y_true, y_pred)
        for _, metric, weighted in self._entries:
            metric.update_state(y_true, y_pred, sample_weight if weighted else None)

    def reset_state(self):
        for _, metric, _ in self._entries:
            if metric is not None:
                metric.reset_state()

    def result(self) -> dict:
        """{log name: value}; a metric not resolved yet (no batch seen) reads 0, as a fresh one."""
        return {log: (0.0 if metric is None else metric.result())
                for log, (_, metric, _) in zip(self.names, self._entries)}
