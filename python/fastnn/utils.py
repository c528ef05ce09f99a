"""Small array utilities with Keras' names and semantics."""

from __future__ import annotations

import numpy as np

from fastnn.backend import array_module


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encoding of integer class labels, as ``keras.utils.to_categorical``.

    ``y`` holds integers in [0, num_classes) (a NumPy or CuPy array, or anything
    NumPy converts); a trailing axis of size 1 is dropped, as Keras does, so
    labels of shape (rows,) or (rows, 1) both give (rows, num_classes).
    ``num_classes`` defaults to ``max(y) + 1``. Returns ``dtype`` (float32 by
    default: what the fastnn kernels take; Keras 3 returns float64) on the
    device of ``y``.
    """
    xp = array_module(y)
    y = xp.asarray(y)
    if y.dtype.kind not in "iub":
        if y.dtype.kind == "f" and y.size and bool((y == xp.floor(y)).all()):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"to_categorical: y must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    shape = tuple(y.shape)
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = y.reshape(-1)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    num_classes = int(num_classes)
    if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= num_classes):
        bad = int(flat.min()) if int(flat.min()) < 0 else int(flat.max())
        raise ValueError(f"to_categorical: label {bad} is outside [0, {num_classes}) for num_classes={num_classes}")
    out = xp.zeros((flat.size, num_classes), dtype=dtype)
    out[xp.arange(flat.size), flat] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (rows of norm 0 stay 0), as
    ``keras.utils.normalize``."""
    xp = array_module(x)
    x = xp.asarray(x)
    norm = xp.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norm = xp.where(norm == 0, 1, norm)
    return x / norm
