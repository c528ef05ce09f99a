"""NumPy twin of the 2-D pooling kernels (``csrc/fastnn/pool.h``), NHWC (Keras' channels_last).

Computes in the dtype it is given (float64 in the tests, float32 in the benchmarks).

Geometry (Keras / TensorFlow):

* ``'valid'``: out = (in - k) // s + 1, no padding (``in >= k`` required);
* ``'same'``: out = ceil(in / s), total padding = max((out - 1) * s + k - in, 0), of which
  total // 2 goes before (top / left) and the rest after.

Padded cells are ignored, never read as zeros: max-pool takes the max of the window's real
cells, average-pool divides by the number of real cells (as TensorFlow does). Every window
holds at least one real cell. Max-pool's gradient goes to the window's argmax; on ties, to the
first of the tied cells in row-major order of the window (the kernels use the same rule).
"""

from __future__ import annotations

import numpy as np


def pool_geometry(in_size, k, s, padding):
    """``(out, pad_before)`` along one axis; raises ValueError when the window does not fit."""
    if padding == "valid":
        if in_size < k:
            raise ValueError(f"pool window {k} is larger than the input size {in_size} with padding='valid'")
        return (in_size - k) // s + 1, 0
    if padding == "same":
        out = -(-in_size // s)
        total = max((out - 1) * s + k - in_size, 0)
        return out, total // 2
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _windows(shape, pool_size, strides, padding):
    """Yields ``(oh, ow, h0, h1, w0, w1)``: each output cell and its window clipped to the input."""
    _, h, w, _ = shape
    kh, kw = _pair(pool_size)
    sh, sw = _pair(strides if strides is not None else pool_size)
    oh_n, pt = pool_geometry(h, kh, sh, padding)
    ow_n, pl = pool_geometry(w, kw, sw, padding)
    for oh in range(oh_n):
        h0 = oh * sh - pt
        for ow in range(ow_n):
            w0 = ow * sw - pl
            yield oh, ow, max(h0, 0), min(h0 + kh, h), max(w0, 0), min(w0 + kw, w)


def _out_shape(shape, pool_size, strides, padding):
    n, h, w, c = shape
    kh, kw = _pair(pool_size)
    sh, sw = _pair(strides if strides is not None else pool_size)
    return n, pool_geometry(h, kh, sh, padding)[0], pool_geometry(w, kw, sw, padding)[0], c


def max_pool2d(x, pool_size, strides=None, padding="valid"):
    """Max over each window's real cells; x is (N, H, W, C)."""
    x = np.asarray(x)
    y = np.empty(_out_shape(x.shape, pool_size, strides, padding), x.dtype)
    for oh, ow, h0, h1, w0, w1 in _windows(x.shape, pool_size, strides, padding):
        y[:, oh, ow, :] = x[:, h0:h1, w0:w1, :].max(axis=(1, 2))
    return y


def max_pool2d_backward(x, grad, pool_size, strides=None, padding="valid"):
    """dx: each window's output gradient added to its argmax cell (the first maximum in the
    window's row-major order)."""
    x = np.asarray(x)
    grad = np.asarray(grad, dtype=x.dtype)
    n, _, _, c = x.shape
    dx = np.zeros_like(x)
    ni, ci = np.arange(n)[:, None], np.arange(c)[None, :]
    for oh, ow, h0, h1, w0, w1 in _windows(x.shape, pool_size, strides, padding):
        win = x[:, h0:h1, w0:w1, :].reshape(n, -1, c)
        arg = win.argmax(axis=1)  # first maximum (row-major over the clipped window)
        dh, dw = np.divmod(arg, w1 - w0)
        np.add.at(dx, (ni, h0 + dh, w0 + dw, ci), grad[:, oh, ow, :])
    return dx


def avg_pool2d(x, pool_size, strides=None, padding="valid"):
    """Mean over each window's real cells (padding not counted)."""
    x = np.asarray(x)
    y = np.empty(_out_shape(x.shape, pool_size, strides, padding), x.dtype)
    for oh, ow, h0, h1, w0, w1 in _windows(x.shape, pool_size, strides, padding):
        y[:, oh, ow, :] = x[:, h0:h1, w0:w1, :].mean(axis=(1, 2))
    return y


def avg_pool2d_backward(x_shape, grad, pool_size, strides=None, padding="valid"):
    """dx: each window's output gradient divided by its count of real cells, added to them."""
    grad = np.asarray(grad)
    dx = np.zeros(tuple(x_shape), grad.dtype)
    for oh, ow, h0, h1, w0, w1 in _windows(tuple(x_shape), pool_size, strides, padding):
        count = (h1 - h0) * (w1 - w0)
        dx[:, h0:h1, w0:w1, :] += (grad[:, oh, ow, :] / grad.dtype.type(count))[:, None, None, :]
    return dx


def global_avg_pool2d(x, keepdims=False):
    x = np.asarray(x)
    return x.mean(axis=(1, 2), keepdims=keepdims)


def global_max_pool2d(x, keepdims=False):
    x = np.asarray(x)
    return x.max(axis=(1, 2), keepdims=keepdims)
