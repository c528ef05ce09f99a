"""Losses, called as Keras calls them: ``loss(y_true, y_pred, ...)`` -> a Tensor.

Each loss is one forward kernel giving a value per sample (the mean -- or, for cross-entropies,
the sum -- over the last axis, as Keras computes it) and one backward kernel giving
d loss / d y_pred from the per-sample upstream gradient; the reduction over samples
(``reduction="mean"`` -- Keras' ``"sum_over_batch_size"`` --, ``"sum"`` or ``"none"``) and
``sample_weight`` are applied between the two. Softmax cross-entropy from logits (categorical
with ``from_logits=True`` and sparse with ``from_logits=True``) is the fused one-pass kernel
whose gradient comes out of the forward pass.

``y_true`` may be an array or a Tensor (it gets no gradient); ``y_pred`` is normally a Tensor.
Functions (``mean_squared_error``, ...) and Keras' classes (``MeanSquaredError()``, ...) are both
here; ``get(name)`` finds either by Keras name for ``compile(loss=...)``.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from fastnn import ops
from fastnn.backend import array_module, is_cuda_array
from fastnn.tensor import Tensor

REDUCTIONS = ("mean", "sum_over_batch_size", "sum", "none", None)  # None: Keras 3's "none"
_ONE_HOT_KINDS = ("categorical_crossentropy",)


# --------------------------------------------------------------------------- operands

def _pred_array(y_pred, op):
    data = y_pred.data if isinstance(y_pred, Tensor) else y_pred
    if not is_cuda_array(data):
        data = np.asarray(data)
        if data.dtype != np.float32:
            data = data.astype(np.float32)
    if data.ndim == 0:
        raise ValueError(f"{op}: y_pred must have at least 1 dimension, got a scalar")
    return data if data.flags.c_contiguous else array_module(data).ascontiguousarray(data)


def _true_array(y_true, like, op):
    """y_true as an array on y_pred's device."""
    data = y_true.data if isinstance(y_true, Tensor) else y_true
    if is_cuda_array(like) and not is_cuda_array(data):
        import cupy

        with like.device:
            data = cupy.asarray(data)
    elif not is_cuda_array(like) and is_cuda_array(data):
        data = data.get()
    elif not is_cuda_array(data):
        data = np.asarray(data)
    return data if data.flags.c_contiguous else array_module(data).ascontiguousarray(data)


def _match_rank(y_true, y_pred):
    """Keras' squeeze_or_expand_to_same_rank: (n,) against (n, 1) and back."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        return y_true.reshape(y_true.shape[:-1])
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        return y_true.reshape(tuple(y_true.shape) + (1,))
    return y_true


def _one_hot_mismatch(op, y_true, y_pred):
    classes = y_pred.shape[-1]
    hint = ""
    if y_true.dtype.kind in "iu" or tuple(y_true.shape) in (tuple(y_pred.shape[:-1]), tuple(y_pred.shape[:-1]) + (1,)):
        hint = (" It looks like integer class labels: use sparse_categorical_crossentropy "
                f"(SparseCategoricalCrossentropy), or one-hot encode them with "
                f"fastnn.utils.to_categorical(y, {classes}).")
    return ValueError(f"{op}: y_true has shape {tuple(y_true.shape)} but y_pred has shape "
                      f"{tuple(y_pred.shape)}; one-hot targets must have y_pred's shape.{hint}")


def _sparse_labels(op, y_true, y_pred):
    rows_shape = tuple(y_pred.shape[:-1])
    if tuple(y_true.shape) == rows_shape + (1,):
        y_true = y_true.reshape(rows_shape)
    if tuple(y_true.shape) == tuple(y_pred.shape) and y_pred.shape[-1] != 1:
        raise ValueError(f"{op}: y_true has y_pred's shape {tuple(y_pred.shape)}, which looks like "
                         "one-hot targets: use categorical_crossentropy (CategoricalCrossentropy) "
                         "for them, or pass the integer labels (y.argmax(-1))")
    if tuple(y_true.shape) != rows_shape:
        raise ValueError(f"{op}: y_true must hold one integer label per sample, shape {rows_shape}, "
                         f"got {tuple(y_true.shape)} (y_pred {tuple(y_pred.shape)})")
    if y_true.dtype.kind == "f":
        xp = array_module(y_true)
        prechecked = xp is not np and getattr(_prechecked, "on", False)  # checked on the host: no GPU sync
        if y_true.size and not prechecked and not bool(xp.all(y_true == xp.floor(y_true))):  # NaN, inf, 2.5
            raise ValueError(f"{op}: y_true holds float labels that are not whole numbers (NaN, inf or "
                             "fractions); class labels must be integers")
        y_true = y_true.astype(np.int64)  # Keras casts float labels
    elif y_true.dtype.kind not in "iu":
        raise TypeError(f"{op}: y_true must hold integer class labels, got dtype {y_true.dtype}")
    elif y_true.dtype not in (np.int32, np.int64):
        y_true = y_true.astype(np.int64)
    return y_true


_prechecked = threading.local()  # .on: the labels reaching GPU losses were range-checked on the host


@contextlib.contextmanager
def labels_prechecked():
    """Inside, integer labels on the GPU are taken as already range-checked on the host (``fit``
    checks each batch's host copy with :func:`check_sparse_labels`), so a sparse loss never
    synchronises the GPU to check them. Out-of-range labels given anyway come out NaN."""
    previous = getattr(_prechecked, "on", False)
    _prechecked.on = True
    try:
        yield
    finally:
        _prechecked.on = previous


def is_sparse(loss) -> bool:
    """Whether ``loss`` (a function or Loss object from this module) takes integer class labels."""
    name = getattr(loss, "keras_name", None) or getattr(loss, "__name__", "")
    return name == "sparse_categorical_crossentropy"


def check_sparse_labels(y_true, y_pred):
    """The label checks of a sparse cross-entropy on host labels: the shapes, whole numbers, and
    every label in [0, classes); raises the loss's ValueError/TypeError. Returns the labels as
    the integer array the kernels take."""
    op = "sparse_categorical_crossentropy"
    yp = y_pred.data if isinstance(y_pred, Tensor) else y_pred
    labels = _sparse_labels(op, np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true), yp)
    _check_label_range(op, labels, yp.shape[-1])
    return labels


def _check_label_range(op, labels, classes):
    """The kernels' label check, on host labels: the first label outside [0, classes)."""
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        row = int(bad[0])
        raise ValueError(f"{op}: label {int(labels.reshape(-1)[row])} in row {row} is outside [0, {classes})")


def _weights(sample_weight, rows_shape, like, op):
    """sample_weight broadcast to the per-sample losses, after Keras' rank matching (a weight of
    shape (batch,) against losses (batch, steps) weighs each sample's steps alike)."""
    if sample_weight is None:
        return None
    w = _true_array(sample_weight, like, op).astype(np.float32, copy=False)
    if w.ndim > len(rows_shape) and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    while w.ndim < len(rows_shape):
        w = w.reshape(tuple(w.shape) + (1,))
    try:
        if np.broadcast_shapes(tuple(w.shape), rows_shape) != rows_shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"{op}: sample_weight of shape {tuple(np.shape(sample_weight))} does not match the "
                         f"per-sample losses of shape {rows_shape}") from None
    if tuple(w.shape) != rows_shape:
        out = array_module(w).empty(rows_shape, dtype=np.float32)
        out[...] = w
        w = out
    return w if w.flags.c_contiguous else array_module(w).ascontiguousarray(w)


def _check_finite(op, arrays):
    for name, arr in arrays:
        if arr.dtype.kind == "f" and not bool(array_module(arr).isfinite(arr).all()):
            raise ValueError(f"{op}: argument '{name}' holds NaN or infinity (check_finite=True)")


# --------------------------------------------------------------------------- the loss op

def _loss(kind, y_true, y_pred, *, reduction="mean", sample_weight=None, from_logits=False,
          label_smoothing=0.0, delta=1.0, check_finite=False):
    op = kind
    if reduction is None:
        reduction = "none"
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of mean, sum_over_batch_size, sum, none, got {reduction!r}")
    yp = _pred_array(y_pred, op)
    rows_shape = tuple(yp.shape[:-1])
    fused = from_logits and kind in ("categorical_crossentropy", "sparse_categorical_crossentropy")
    check_labels = not getattr(_prechecked, "on", False)
    if kind == "sparse_categorical_crossentropy" and is_cuda_array(yp) and not is_cuda_array(
            y_true.data if isinstance(y_true, Tensor) else y_true):
        # Host labels for a GPU loss (what fit feeds): checked here, so the step never waits for
        # the GPU's own label check (a synchronisation between the forward and backward passes).
        yt, check_labels = _true_array(check_sparse_labels(y_true, yp), yp, op), False
    else:
        yt = _true_array(y_true, yp, op)

    if kind == "sparse_categorical_crossentropy":
        yt = _sparse_labels(op, yt, yp)
    else:
        yt = _match_rank(yt, yp)
        if tuple(yt.shape) != tuple(yp.shape):
            if kind in _ONE_HOT_KINDS:
                raise _one_hot_mismatch(op, yt, yp)
            raise ValueError(f"{op}: y_true has shape {tuple(yt.shape)} but y_pred has shape "
                             f"{tuple(yp.shape)}; they must match")
        if yt.dtype != np.float32:
            yt = yt.astype(np.float32)

    if fused:
        if check_finite:
            _check_finite(op, [("y_pred", yp), ("y_true", yt)])
        classes = yp.shape[-1]
        logits2 = yp.reshape(-1, classes)
        targets = yt.reshape(-1) if kind == "sparse_categorical_crossentropy" else yt.reshape(-1, classes)
        try:
            rows, dlogits = ops.softmax_cross_entropy(logits2, targets, label_smoothing=float(label_smoothing),
                                                      check_labels=check_labels)
        except ValueError as exc:  # name the loss the user called, not only the kernel
            raise ValueError(f"{op} (from_logits=True): {exc}") from None
        rows = rows.reshape(rows_shape)
    else:
        params = dict(from_logits=from_logits, label_smoothing=float(label_smoothing), delta=float(delta),
                      check_finite=check_finite, check_labels=check_labels)
        rows = ops.loss(kind, yt, yp, **params)

    w = _weights(sample_weight, rows_shape, yp, op)
    per_sample = rows if w is None else ops.binary("multiply", rows, w)
    count = int(np.prod(rows_shape)) if rows_shape else 1
    if reduction == "none":
        out, scale = per_sample, None
    else:
        out = ops.reduce_sum(per_sample.reshape(-1), axis=0)
        scale = 1.0 if reduction == "sum" else 1.0 / max(count, 1)
        if scale != 1.0:
            out = ops.binary("multiply", out, scale)

    def backward(g):
        # per-sample upstream gradient: d out / d rows
        if scale is None:
            g_rows = g if w is None else ops.binary("multiply", g, w)
        else:
            g_rows = ops.binary("multiply", g, scale)  # 0-d
            if w is not None:
                g_rows = ops.binary("multiply", w, g_rows)
        if fused:
            if g_rows.ndim == 0:
                dx = ops.binary("multiply", dlogits, g_rows)
            else:
                dx = ops.binary("multiply", dlogits, array_module(g_rows).ascontiguousarray(g_rows).reshape(-1, 1))
            return (dx.reshape(yp.shape),)
        if g_rows.ndim == 0 or tuple(g_rows.shape) != rows_shape:
            full = array_module(yp).empty(rows_shape, dtype=np.float32)
            full[...] = g_rows
            g_rows = full
        return (ops.loss_backward(kind, yt, yp, g_rows, **params),)

    return Tensor._from_op(out, kind, (y_pred if isinstance(y_pred, Tensor) else None,), backward)


# --------------------------------------------------------------------------- functions (Keras names)

def mean_squared_error(y_true, y_pred, *, reduction="mean", sample_weight=None, check_finite=False):
    """mean((y_pred - y_true)^2) over the last axis, then ``reduction`` over samples."""
    return _loss("mean_squared_error", y_true, y_pred, reduction=reduction, sample_weight=sample_weight,
                 check_finite=check_finite)


def mean_absolute_error(y_true, y_pred, *, reduction="mean", sample_weight=None, check_finite=False):
    """mean(|y_pred - y_true|) over the last axis, then ``reduction`` over samples."""
    return _loss("mean_absolute_error", y_true, y_pred, reduction=reduction, sample_weight=sample_weight,
                 check_finite=check_finite)


def huber(y_true, y_pred, delta=1.0, *, reduction="mean", sample_weight=None, check_finite=False):
    """Keras' Huber loss: quadratic within ``delta`` of the target, linear beyond."""
    return _loss("huber", y_true, y_pred, delta=delta, reduction=reduction, sample_weight=sample_weight,
                 check_finite=check_finite)


def log_cosh(y_true, y_pred, *, reduction="mean", sample_weight=None, check_finite=False):
    """mean(log(cosh(y_pred - y_true))) over the last axis."""
    return _loss("log_cosh", y_true, y_pred, reduction=reduction, sample_weight=sample_weight,
                 check_finite=check_finite)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, *, reduction="mean",
                        sample_weight=None, check_finite=False):
    """Binary cross-entropy of probabilities (clipped to [1e-7, 1 - 1e-7] as Keras does) or,
    with ``from_logits``, of logits (computed stably)."""
    return _loss("binary_crossentropy", y_true, y_pred, from_logits=from_logits,
                 label_smoothing=label_smoothing, reduction=reduction, sample_weight=sample_weight,
                 check_finite=check_finite)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, *,
                             reduction="mean", sample_weight=None, check_finite=False):
    """Cross-entropy against one-hot (or soft) targets of y_pred's shape; probabilities, or
    logits with ``from_logits`` (the fused softmax cross-entropy)."""
    _last_axis_only("categorical_crossentropy", axis, y_pred)
    return _loss("categorical_crossentropy", y_true, y_pred, from_logits=from_logits,
                 label_smoothing=label_smoothing, reduction=reduction, sample_weight=sample_weight,
                 check_finite=check_finite)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, *, reduction="mean",
                                    sample_weight=None, check_finite=False):
    """Cross-entropy against integer class labels (one per sample); probabilities, or logits
    with ``from_logits`` (the fused softmax cross-entropy)."""
    _last_axis_only("sparse_categorical_crossentropy", axis, y_pred)
    return _loss("sparse_categorical_crossentropy", y_true, y_pred, from_logits=from_logits,
                 reduction=reduction, sample_weight=sample_weight, check_finite=check_finite)


def _last_axis_only(op, axis, y_pred):
    ndim = (y_pred.data if isinstance(y_pred, Tensor) else np.asarray(y_pred)).ndim
    if axis not in (-1, ndim - 1):
        raise ValueError(f"{op}: only the last axis holds the classes (axis=-1), got axis={axis}")


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


# --------------------------------------------------------------------------- classes (Keras names)

class Loss:
    """Base of the loss classes: ``loss(y_true, y_pred, sample_weight=None)``."""

    fn = None  # the function above
    keras_name = ""

    def __init__(self, reduction="sum_over_batch_size", name=None, **options):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of mean, sum_over_batch_size, "
                             f"sum, none, got {reduction!r}")
        self.reduction = reduction
        self.name = name or self.keras_name
        self.options = options

    def __call__(self, y_true, y_pred, sample_weight=None):
        reduction = "mean" if self.reduction == "sum_over_batch_size" else self.reduction
        return type(self).fn(y_true, y_pred, reduction=reduction, sample_weight=sample_weight, **self.options)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, **self.options}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}(reduction={self.reduction!r}{opts})"


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)
    keras_name = "mean_squared_error"


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)
    keras_name = "mean_absolute_error"


class Huber(Loss):
    fn = staticmethod(huber)
    keras_name = "huber_loss"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, delta=float(delta))


class LogCosh(Loss):
    fn = staticmethod(log_cosh)
    keras_name = "log_cosh"


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)
    keras_name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=bool(from_logits), label_smoothing=float(label_smoothing))


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)
    keras_name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name=None):
        super().__init__(reduction, name, from_logits=bool(from_logits), label_smoothing=float(label_smoothing),
                         axis=axis)


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)
    keras_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=bool(from_logits))


_BY_NAME = {
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "huber": huber, "huber_loss": huber, "log_cosh": log_cosh, "logcosh": log_cosh,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
_CLASSES = {cls.__name__: cls for cls in (MeanSquaredError, MeanAbsoluteError, Huber, LogCosh,
                                          BinaryCrossentropy, CategoricalCrossentropy,
                                          SparseCategoricalCrossentropy)}


def get(identifier):
    """A loss from a Keras name (``"mse"``, ``"categorical_crossentropy"``, ...), a class name
    (``"MeanSquaredError"``), a Loss object or any callable(y_true, y_pred)."""
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        fn = _BY_NAME.get(identifier.lower())
        if fn is not None:
            return fn
        known = sorted(set(_BY_NAME) | set(_CLASSES))
        raise ValueError(f"losses.get: unknown loss {identifier!r}; known: {', '.join(known)}")
    raise TypeError(f"losses.get: expected a loss name or a callable, got {type(identifier).__name__}")

