"""NumPy twin of the conv2d kernels (``csrc/fastnn/conv.h``): im2col + matmul.

NHWC inputs (N, H, W, Cin), kernels (KH, KW, Cin, Cout) as Keras stores them, outputs
(N, OH, OW, Cout). Computes in the dtype it is given (float64 in the tests, float32 in the
benchmarks). ``padding`` is 'valid', 'same' (Keras' rule) or explicit sizes
(``fastnn.conv_geometry``).

    conv2d(x, w, b, ...)                  y  = act(im2col(x) @ w.reshape(K, Cout) + b)
    conv2d_backward(x, w, dy, ...)        dx = col2im(dy @ w2.T), dw = im2col(x).T @ dy,
                                          db = dy summed over N, OH, OW

with K = KH * KW * Cin ordered (kh, kw, cin), the order of the kernel's flattening.
``conv2d_backward`` takes the gradient of the convolution's output before any activation
(apply ``activation_backward`` first).
"""

from __future__ import annotations

import numpy as np

from fastnn.conv_geometry import output_size, pair, resolve_padding


def _geometry(x, w, strides, padding, dilation):
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d: expected x (N, H, W, Cin) and w (KH, KW, Cin, Cout), got shapes "
                         f"{x.shape} and {w.shape}")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"conv2d: x has {x.shape[3]} channels but w expects {w.shape[2]}")
    s = pair("conv2d", "strides", strides)
    d = pair("conv2d", "dilation", dilation)
    pads = resolve_padding("conv2d", padding, x.shape[1:3], w.shape[:2], s, d)
    oh = output_size(x.shape[1], w.shape[0], s[0], d[0], *pads[0])
    ow = output_size(x.shape[2], w.shape[1], s[1], d[1], *pads[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: the dilated kernel does not fit the padded input (x {x.shape}, w {w.shape})")
    return s, d, pads, (oh, ow)


def _windows(xp, kh, kw, s, d, out_hw):
    """The (kh, kw) tap of every output position: xp[:, i*sh + kh*dh, j*sw + kw*dw, :]."""
    oh, ow = out_hw
    r0, c0 = kh * d[0], kw * d[1]
    return xp[:, r0:r0 + (oh - 1) * s[0] + 1:s[0], c0:c0 + (ow - 1) * s[1] + 1:s[1], :]


def im2col(x, k_hw, strides=1, padding="valid", dilation=1):
    """(N * OH * OW, KH * KW * Cin) patches of x, rows in NHWC output order, columns (kh, kw, cin)."""
    x = np.asarray(x)
    w_shape = np.empty((k_hw[0], k_hw[1], x.shape[3], 1))
    s, d, pads, out_hw = _geometry(x, w_shape, strides, padding, dilation)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    taps = [_windows(xp, i, j, s, d, out_hw) for i in range(k_hw[0]) for j in range(k_hw[1])]
    col = np.stack(taps, axis=3)  # (N, OH, OW, KH*KW, Cin)
    return col.reshape(-1, k_hw[0] * k_hw[1] * x.shape[3])


def conv2d(x, w, b=None, strides=1, padding="valid", dilation=1, activation=None):
    """``act(conv(x, w) + b)``, NHWC, in x's dtype. ``activation``: None, 'linear' or 'relu'."""
    x, w = np.asarray(x), np.asarray(w)
    if activation not in (None, "linear", "relu"):
        raise ValueError(f"conv2d: unknown activation {activation!r}; expected None, 'linear' or 'relu'")
    s, d, pads, out_hw = _geometry(x, w, strides, padding, dilation)
    col = im2col(x, w.shape[:2], s, pads, d)
    y = col @ w.reshape(-1, w.shape[3])
    if b is not None:
        y = y + np.asarray(b, dtype=y.dtype)
    if activation == "relu":
        y = np.maximum(y, 0)
    return y.reshape(x.shape[0], out_hw[0], out_hw[1], w.shape[3]).astype(x.dtype, copy=False)


def conv2d_backward(x, w, dy, strides=1, padding="valid", dilation=1, input_grad=True):
    """(dx, dw, db) of ``conv(x, w) + b`` given the output gradient ``dy`` (N, OH, OW, Cout);
    dx is None when ``input_grad`` is false (a first layer's input needs none)."""
    x, w, dy = np.asarray(x), np.asarray(w), np.asarray(dy)
    s, d, pads, out_hw = _geometry(x, w, strides, padding, dilation)
    n, h, wd, cin = x.shape
    kh, kw, _, cout = w.shape
    if dy.shape != (n, out_hw[0], out_hw[1], cout):
        raise ValueError(f"conv2d_backward: dy must have shape {(n, out_hw[0], out_hw[1], cout)}, got {dy.shape}")
    dy2 = dy.reshape(-1, cout)
    w2 = w.reshape(-1, cout)
    dw = (im2col(x, (kh, kw), s, pads, d).T @ dy2).reshape(w.shape)
    db = dy2.sum(axis=0)
    if not input_grad:
        return None, dw.astype(w.dtype, copy=False), db.astype(dy.dtype, copy=False)
    # col2im: scatter each tap's gradient back onto the padded input, then crop the padding.
    dcol = (dy2 @ w2.T).reshape(n, out_hw[0], out_hw[1], kh, kw, cin)
    dxp = np.zeros((n, h + pads[0][0] + pads[0][1], wd + pads[1][0] + pads[1][1], cin), dtype=dcol.dtype)
    for i in range(kh):
        for j in range(kw):
            _windows(dxp, i, j, s, d, out_hw)[...] += dcol[:, :, :, i, j, :]
    dx = dxp[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + wd, :]
    return dx.astype(x.dtype, copy=False), dw.astype(w.dtype, copy=False), db.astype(dy.dtype, copy=False)
