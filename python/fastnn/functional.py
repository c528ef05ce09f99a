"""Differentiable ops on Tensors: each is one forward kernel call (``fastnn.ops`` -> ``fastnn._C``)
and a backward rule made of backward kernel calls (DESIGN.md §2, §7).

Every function takes Tensors (or arrays and Python numbers, used as constants) and returns a
Tensor; when an input requires a gradient and recording is on (not under ``fastnn.no_grad()``)
the result carries the Node that ``backward()`` follows. Shape-only ops (reshape, transpose,
indexing, device moves) move or view data and need no kernel. Losses live in
``fastnn.losses``, penalties in ``fastnn.regularizers``.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastnn import ops
from fastnn.conv_geometry import pair as _pair
from fastnn.conv_geometry import explicit_padding as _explicit_padding
from fastnn.conv_geometry import resolve_padding as _resolve_padding
from fastnn.backend import array_module, is_cuda_array
from fastnn.tensor import Tensor, is_grad_enabled

__all__ = [
    "add", "subtract", "multiply", "divide", "maximum", "minimum", "negative", "power",
    "matmul", "linear", "sum", "mean", "reshape", "transpose", "getitem", "to_device",
    "activation", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "sigmoid",
    "hard_sigmoid", "tanh", "softplus", "softsign", "exponential", "softmax", "log_softmax",
    "dropout", "penalty", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d",
    "batch_norm",
    "conv2d", "zero_pad2d",
]


# --------------------------------------------------------------------------- helpers

def _data(x):
    """The array behind a Tensor, an array operand as float32, or a Python number as is."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, numbers.Number) and not isinstance(x, bool):
        return float(x)
    arr = x if is_cuda_array(x) else np.asarray(x)
    return arr.astype(np.float32) if arr.dtype != np.float32 else arr


def _float_operand(x):
    """An arithmetic operand: integer / boolean tensors (labels, masks) act as float32
    constants, as arrays of those types do."""
    d = _data(x)
    if isinstance(x, Tensor) and d.dtype != np.float32:
        return d.astype(np.float32)
    return d


def _contiguous(arr):
    """Kernels read C-contiguous arrays (matmul also reads transposed views in place)."""
    if isinstance(arr, float) or arr.flags.c_contiguous:
        return arr
    return array_module(arr).ascontiguousarray(arr)


def _tensor_or_none(x):
    return x if isinstance(x, Tensor) else None


def _wants_grad(x) -> bool:
    return isinstance(x, Tensor) and x.requires_grad


def _shape(x) -> tuple:
    return () if isinstance(x, float) else tuple(x.shape)


def _broadcast_to(arr, shape):
    """``arr`` (broadcastable to ``shape``) copied out to ``shape`` (a contiguous array)."""
    if tuple(arr.shape) == tuple(shape):
        return arr
    out = array_module(arr).empty(shape, dtype=arr.dtype)
    out[...] = arr
    return out


def _normalize_axes(axis, ndim, op):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    norm = []
    for a in axes:
        if not isinstance(a, numbers.Integral) or not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a!r} is out of range for a tensor of {ndim} dimensions")
        norm.append(int(a) % max(ndim, 1))
    if len(set(norm)) != len(norm):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(norm))


# --------------------------------------------------------------------------- element-wise binary

def _binary_grad(op, side, grad, a, b):
    """d(a op b)/d(side) * grad, summed to the operand's shape (one fused kernel)."""
    operand = a if side == 0 else b
    if op == "add" or (op == "subtract" and side == 0):
        if _shape(operand) == tuple(grad.shape):
            return grad  # no kernel: the gradient passes through unchanged
    return ops.binary_backward(op, side, grad, a, b)


def _binary(op, a, b):
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a, b = Tensor(_data(a)), b  # constants only: still return a Tensor
    ad, bd = _contiguous(_float_operand(a)), _contiguous(_float_operand(b))
    out = ops.binary(op, ad, bd)
    grad_a, grad_b = _wants_grad(a), _wants_grad(b)

    def backward(g):
        g = _contiguous(g)
        return (_binary_grad(op, 0, g, ad, bd) if grad_a else None,
                _binary_grad(op, 1, g, ad, bd) if grad_b else None)

    return Tensor._from_op(out, op, (_tensor_or_none(a), _tensor_or_none(b)), backward)


def add(a, b):
    """``a + b`` with NumPy broadcasting."""
    return _binary("add", a, b)


def subtract(a, b):
    """``a - b`` with NumPy broadcasting."""
    return _binary("subtract", a, b)


def multiply(a, b):
    """``a * b`` with NumPy broadcasting."""
    return _binary("multiply", a, b)


def divide(a, b):
    """``a / b`` with NumPy broadcasting."""
    return _binary("divide", a, b)


def maximum(a, b):
    """Element-wise maximum with broadcasting (ties share the gradient equally)."""
    return _binary("maximum", a, b)


def minimum(a, b):
    """Element-wise minimum with broadcasting (ties share the gradient equally)."""
    return _binary("minimum", a, b)


def negative(x):
    """``-x``."""
    return _binary("multiply", x, -1.0)


def power(x, exponent):
    """``x ** exponent`` for a non-negative integer exponent (products of ``x``)."""
    if isinstance(exponent, bool) or not isinstance(exponent, numbers.Integral) or exponent < 0:
        raise ValueError(f"power: the exponent must be a non-negative int, got {exponent!r} "
                         "(other powers are not supported yet)")
    if exponent == 0:
        xd = _data(x)
        return Tensor(array_module(xd).ones(_shape(xd), dtype=np.float32))
    result = x if isinstance(x, Tensor) else Tensor(_data(x))
    for _ in range(int(exponent) - 1):
        result = multiply(result, x)
    return result


# --------------------------------------------------------------------------- matrix products

def _gemm_operand(arr):
    """The GEMM reads row-major arrays and their transposes in place; other strided views
    (``x[:, ::2]``) are copied first."""
    if arr.flags.c_contiguous or (arr.ndim == 2 and arr.flags.f_contiguous):
        return arr
    return array_module(arr).ascontiguousarray(arr)


def _shaped(a, shape):
    """a reshaped only when its shape differs: a kernel's fresh output stays itself, not a view,
    so autograd hands it on as the gradient without a copy."""
    return a if a.shape == tuple(shape) else a.reshape(shape)


def matmul(a, b):
    """``a @ b``: 2-D @ 2-D, N-D @ 2-D (the leading axes are batch), 1-D operands as in NumPy.
    Transposed views (``x.T``) are read in place by the GEMM."""
    ad, bd = _data(a), _data(b)
    if isinstance(ad, float) or isinstance(bd, float):
        raise ValueError("matmul: operands must be arrays or tensors, not numbers (use *)")
    if bd.ndim > 2:
        raise ValueError(f"matmul: the right operand must be 1-D or 2-D, got shape {tuple(bd.shape)} "
                         "(batched products are not supported yet)")
    if ad.ndim == 0 or bd.ndim == 0:
        raise ValueError("matmul: operands must have at least 1 dimension")
    a_vec, b_vec = ad.ndim == 1, bd.ndim == 1
    a2 = _gemm_operand(ad.reshape(1, -1) if a_vec else ad)
    b2 = _gemm_operand(bd.reshape(-1, 1) if b_vec else bd)
    lead = tuple(a2.shape[:-1])
    if a2.ndim > 2:
        a2 = _contiguous(a2).reshape(-1, a2.shape[-1])
    if a2.shape[1] != b2.shape[0]:
        raise ValueError(f"matmul: inner dimensions differ: {tuple(ad.shape)} @ {tuple(bd.shape)}")
    out2 = ops.matmul(a2, b2)
    out_shape = (lead if not a_vec else ()) + ((b2.shape[1],) if not b_vec else ())
    out = out2.reshape(out_shape)
    grad_a, grad_b = _wants_grad(a), _wants_grad(b)

    def backward(g):
        g2 = _contiguous(g).reshape(out2.shape)
        ga = gb = None
        if grad_a:
            ga = _shaped(ops.matmul(g2, b2, transpose_b=True), ad.shape)
        if grad_b:
            gb = _shaped(ops.matmul(a2, g2, transpose_a=True), bd.shape)
        return ga, gb

    return Tensor._from_op(out, "matmul", (_tensor_or_none(a), _tensor_or_none(b)), backward)


def linear(x, w, b=None, activation=None):
    """``activation(x @ w + b)`` with ``w`` shaped (in, out) as Keras stores a Dense kernel.
    One GEMM with the bias (and a relu) fused into its epilogue; other activations follow as
    their own op."""
    if activation in (None, "linear"):
        fused = None
    elif activation == "relu":
        fused = "relu"
    else:
        return globals()["activation"](linear(x, w, b), activation)
    xd, wd = _data(x), _data(w)
    bd = None if b is None else _contiguous(_data(b))
    if xd.ndim < 1 or wd.ndim != 2:
        raise ValueError(f"linear: expected x of shape (..., in) and w of shape (in, out), "
                         f"got {tuple(xd.shape)} and {tuple(wd.shape)}")
    if xd.shape[-1] != wd.shape[0]:
        raise ValueError(f"linear: x has {xd.shape[-1]} features but w expects {wd.shape[0]} "
                         f"(x {tuple(xd.shape)}, w {tuple(wd.shape)})")
    if bd is not None and tuple(bd.shape) != (wd.shape[1],):
        raise ValueError(f"linear: b must have shape ({wd.shape[1]},), got {tuple(bd.shape)}")
    lead = tuple(xd.shape[:-1])
    x2 = _contiguous(xd).reshape(-1, xd.shape[-1]) if xd.ndim != 2 else _gemm_operand(xd)
    wd = _gemm_operand(wd)
    y2 = ops.matmul(x2, wd, bias=bd, activation=fused)
    y = y2.reshape(lead + (wd.shape[1],))
    gx_, gw_, gb_ = _wants_grad(x), _wants_grad(w), _wants_grad(b)

    def backward(g):
        g2 = _contiguous(g).reshape(y2.shape)
        if fused == "relu":
            g2 = ops.activation_backward(y2, g2, "relu", from_output=True)  # y > 0 exactly where x @ w + b > 0
        gx = ops.matmul(g2, wd, transpose_b=True).reshape(xd.shape) if gx_ else None
        gw = ops.matmul(x2, g2, transpose_a=True) if gw_ else None
        gb = ops.reduce_sum(g2, axis=0) if gb_ else None
        return gx, gw, gb

    return Tensor._from_op(y, "linear", (_tensor_or_none(x), _tensor_or_none(w), _tensor_or_none(b)),
                           backward)


# --------------------------------------------------------------------------- convolution

def conv2d(x, w, b=None, strides=1, padding="valid", dilation=1, activation=None):
    """2-D convolution, NHWC (Keras' channels_last): x (N, H, W, Cin), w (KH, KW, Cin, Cout) as
    Keras stores a Conv2D kernel, b (Cout,) or None; returns (N, OH, OW, Cout).

    ``strides`` and ``dilation``: an int or a pair. ``padding``: 'valid', 'same' (Keras' rule:
    out = ceil(in / stride), the odd pixel after), an int, a pair (ph, pw) or
    ((top, bottom), (left, right)). The bias and a relu are fused into the kernel's epilogue;
    other activations follow as their own op (as in :func:`linear`).

    On the CPU, 3x3 stride-1 convolutions with at least 16 channels in and out run as Winograd
    convolutions (4x fewer multiplies): results differ from a direct sum by rounding, about
    1e-6 relative, and a NaN or infinity in x makes the outputs of its whole 4x4 (or 2x2) tile
    NaN."""
    op = "conv2d"
    if activation in (None, "linear"):
        fused = None
    elif activation == "relu":
        fused = "relu"
    else:
        return globals()["activation"](conv2d(x, w, b, strides, padding, dilation), activation)
    xd, wd = _data(x), _data(w)
    if isinstance(xd, float) or xd.ndim != 4:
        raise ValueError(f"{op}: x must be 4-D (batch, height, width, channels), got shape {_shape(xd)}")
    if isinstance(wd, float) or wd.ndim != 4:
        raise ValueError(f"{op}: w must be 4-D (kernel_h, kernel_w, in_channels, out_channels), "
                         f"got shape {_shape(wd)}")
    if xd.shape[3] != wd.shape[2]:
        raise ValueError(f"{op}: x has {xd.shape[3]} channels (last axis of {tuple(xd.shape)}) but w expects "
                         f"{wd.shape[2]} (w {tuple(wd.shape)})")
    s = _pair(op, "strides", strides)
    d = _pair(op, "dilation", dilation)
    (pt, pb), (pl, pr) = _resolve_padding(op, padding, xd.shape[1:3], wd.shape[:2], s, d)
    pads = (pt, pb, pl, pr)
    bd = None if b is None else _contiguous(_data(b))
    if bd is not None and tuple(bd.shape) != (wd.shape[3],):
        raise ValueError(f"{op}: b must have shape ({wd.shape[3]},), got {tuple(bd.shape)}")
    xd, wd = _contiguous(xd), _contiguous(wd)
    y = ops.conv2d(xd, wd, bias=bd, strides=s, padding=pads, dilation=d, activation=fused)
    gx_, gw_, gb_ = _wants_grad(x), _wants_grad(w), _wants_grad(b)

    def backward(g):
        # One fused kernel on the CPU; the relu mask comes from y (y > 0 exactly where the sum > 0).
        gx, gw, gb = ops.conv2d_backward(xd, wd, _contiguous(g), y=y if fused == "relu" else None, input_grad=gx_,
                                         bias_grad=gb_, strides=s, padding=pads, dilation=d)
        return gx, gw if gw_ else None, gb

    return Tensor._from_op(y, op, (_tensor_or_none(x), _tensor_or_none(w), _tensor_or_none(b)), backward)


def zero_pad2d(x, padding=1):
    """Zero padding of the spatial axes of an NHWC tensor (Keras' ZeroPadding2D): ``padding`` an
    int, a pair (ph, pw) or ((top, bottom), (left, right)). A data move: the backward rule slices
    the gradient back out."""
    xd = _data(x)
    if isinstance(xd, float) or xd.ndim != 4:
        raise ValueError(f"zero_pad2d: x must be 4-D (batch, height, width, channels), got shape {_shape(xd)}")
    (pt, pb), (pl, pr) = _explicit_padding("zero_pad2d", padding)
    n, h, w, c = xd.shape
    out = array_module(xd).zeros((n, h + pt + pb, w + pl + pr, c), dtype=xd.dtype)
    out[:, pt:pt + h, pl:pl + w, :] = xd

    def backward(g):
        return (_contiguous(g[:, pt:pt + h, pl:pl + w, :]),)

    return Tensor._from_op(out, "zero_pad2d", (_tensor_or_none(x),), backward)


# --------------------------------------------------------------------------- reductions and shapes

def sum(x, axis=None, keepdims: bool = False):  # noqa: A001  (the NumPy name)
    """Sum over ``axis`` (an int, a tuple, or None for all)."""
    xd = _contiguous(_data(x))
    axes = _normalize_axes(axis, xd.ndim, "sum")
    out = ops.reduce_sum(xd, axis=axes, keepdims=keepdims)
    kept = tuple(1 if i in axes else n for i, n in enumerate(xd.shape))

    def backward(g):
        return (_broadcast_to(g.reshape(kept), xd.shape),)

    return Tensor._from_op(out, "sum", (_tensor_or_none(x),), backward)


def mean(x, axis=None, keepdims: bool = False):
    """Mean over ``axis`` (an int, a tuple, or None for all)."""
    xd = _contiguous(_data(x))
    axes = _normalize_axes(axis, xd.ndim, "mean")
    count = 1
    for a in axes:
        count *= xd.shape[a]
    scale = 1.0 / count if count else float("nan")
    total = ops.reduce_sum(xd, axis=axes, keepdims=keepdims)
    out = ops.binary("multiply", total, scale)
    kept = tuple(1 if i in axes else n for i, n in enumerate(xd.shape))

    def backward(g):
        return (_broadcast_to(ops.binary("multiply", _contiguous(g), scale).reshape(kept), xd.shape),)

    return Tensor._from_op(out, "mean", (_tensor_or_none(x),), backward)


def reshape(x, shape):
    """The same elements in ``shape`` (one -1 allowed)."""
    xd = _data(x)
    try:
        out = xd.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(xd.shape)} "
                         f"({xd.size} elements) into {tuple(shape)}") from None

    def backward(g):
        return (g.reshape(xd.shape),)

    return Tensor._from_op(out, "reshape", (_tensor_or_none(x),), backward)


def transpose(x, axes=None):
    """Axes permuted (reversed when ``axes`` is None), as a view."""
    xd = _data(x)
    if axes is not None and sorted(int(a) % max(xd.ndim, 1) for a in axes) != list(range(xd.ndim)):
        raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of {xd.ndim} axes")
    out = xd.transpose(axes)
    inverse = None if axes is None else tuple(np.argsort([int(a) % xd.ndim for a in axes]))

    def backward(g):
        return (g.transpose(inverse),)

    return Tensor._from_op(out, "transpose", (_tensor_or_none(x),), backward)


def concatenate(tensors, axis: int = -1):
    """Joins tensors along ``axis`` (all other axes equal, one device); the gradient is split
    back into the pieces (contiguous copies: every backward rule may assume C order)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: expected a non-empty list of tensors, got an empty one")
    arrays = [_data(t) for t in tensors]
    ndim = arrays[0].ndim
    if ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
    ax = _normalize_axes(axis, ndim, "concatenate")[0]
    for i, a in enumerate(arrays):
        if a.ndim != ndim or a.shape[:ax] + a.shape[ax + 1:] != arrays[0].shape[:ax] + arrays[0].shape[ax + 1:]:
            raise ValueError(f"concatenate: every input must match the first one's shape {tuple(arrays[0].shape)} "
                             f"except on axis {axis}, but input {i} has shape {tuple(a.shape)}")
        if is_cuda_array(a) != is_cuda_array(arrays[0]):
            raise ValueError("concatenate: the inputs are on different devices (CPU and GPU); move them with .to()")
    xp = array_module(arrays[0])
    out = xp.concatenate(arrays, axis=ax)
    bounds = np.cumsum([0] + [a.shape[ax] for a in arrays])

    def backward(g):
        index = [slice(None)] * g.ndim
        pieces = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            index[ax] = slice(int(lo), int(hi))
            pieces.append(xp.ascontiguousarray(g[tuple(index)]))
        return tuple(pieces)

    return Tensor._from_op(out, "concatenate", tuple(_tensor_or_none(t) for t in tensors), backward)


def _is_basic_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, numbers.Integral)) for p in parts)


def getitem(x, index):
    """``x[index]``: slices, integers, None and Ellipsis give a view; integer or boolean arrays
    select (their gradient adds up repeated picks)."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    xd = _data(x)
    out = xd[index]
    basic = _is_basic_index(index)

    def backward(g):
        xp = array_module(xd)
        full = xp.zeros(xd.shape, dtype=g.dtype)
        if basic:
            full[index] = g
        elif xp is np:
            np.add.at(full, index, g)
        else:
            import cupyx

            cupyx.scatter_add(full, index, g)
        return (full,)

    return Tensor._from_op(out, "getitem", (_tensor_or_none(x),), backward)


def _parse_device(device):
    if not isinstance(device, str):
        raise TypeError(f"to: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device == "cpu":
        return "cpu", None
    if device == "cuda":
        return "cuda", None
    if device.startswith("cuda:") and device[5:].isdigit():
        return "cuda", int(device[5:])
    raise ValueError(f"to: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def _move(arr, kind, index):
    if kind == "cpu":
        return arr.get() if is_cuda_array(arr) else arr
    from fastnn.backend import cuda_status

    usable, why = cuda_status()
    if not usable:
        raise RuntimeError(f"to('cuda'): no usable GPU: {why}")
    import cupy

    if is_cuda_array(arr) and (index is None or arr.device.id == index):
        return arr
    with cupy.cuda.Device(index if index is not None else cupy.cuda.Device().id):
        return cupy.asarray(arr)


def to_device(x, device: str):
    """A copy of ``x`` on ``device`` (``x`` itself when it is already there); the gradient
    goes back to ``x``'s device."""
    kind, index = _parse_device(device)
    xd = _data(x)
    out = _move(xd, kind, index)
    if out is xd:
        return x if isinstance(x, Tensor) else Tensor(xd)
    source = ("cuda", xd.device.id) if is_cuda_array(xd) else ("cpu", None)

    def backward(g):
        return (_move(g, *source),)

    return Tensor._from_op(out, "to", (_tensor_or_none(x),), backward)


# --------------------------------------------------------------------------- activations

def activation(x, name: str, alpha=None):
    """A Keras activation by name (``relu``, ``leaky_relu``, ``elu``, ``selu``, ``gelu``,
    ``gelu_tanh``, ``silu``/``swish``, ``sigmoid``, ``hard_sigmoid``, ``tanh``, ``softplus``,
    ``softsign``, ``exponential``, ``linear``), plus ``softmax`` / ``log_softmax`` on the last
    axis."""
    if name == "softmax":
        return softmax(x)
    if name == "log_softmax":
        return log_softmax(x)
    if name == "linear":
        return x if isinstance(x, Tensor) else Tensor(_data(x))
    xd = _contiguous(_data(x))
    out = ops.activation(xd, name, alpha=alpha)
    if _from_output(name, alpha):
        # f' from the output (sigmoid y (1 - y), tanh 1 - y^2, relu y > 0, ...): the rule keeps
        # only `out`, not x, and skips the exp that recomputing f'(x) would cost.
        def backward(g):
            return (ops.activation_backward(out, _contiguous(g), name, alpha=alpha, from_output=True),)
    else:
        def backward(g):
            return (ops.activation_backward(xd, _contiguous(g), name, alpha=alpha),)

    return Tensor._from_op(out, name, (_tensor_or_none(x),), backward)


def _from_output(name, alpha):
    """Whether activation()'s backward rule can work from the output (ops.ACTIVATIONS_FROM_OUTPUT;
    leaky_relu and elu only with alpha >= 0)."""
    if name not in ops.ACTIVATIONS_FROM_OUTPUT:
        return False
    if name in ("leaky_relu", "elu"):
        a = ops.ACTIVATIONS[name][1] if alpha is None else float(alpha)
        return a >= 0
    return True


def relu(x):
    return activation(x, "relu")


def leaky_relu(x, negative_slope: float = 0.2):
    """Keras' default slope (0.2; PyTorch's is 0.01)."""
    return activation(x, "leaky_relu", alpha=negative_slope)


def elu(x, alpha: float = 1.0):
    return activation(x, "elu", alpha=alpha)


def selu(x):
    return activation(x, "selu")


def gelu(x, approximate: bool = False):
    """Exact (erf) GELU, or the tanh approximation with ``approximate=True``."""
    return activation(x, "gelu_tanh" if approximate else "gelu")


def silu(x):
    return activation(x, "silu")


swish = silu


def sigmoid(x):
    return activation(x, "sigmoid")


def hard_sigmoid(x):
    return activation(x, "hard_sigmoid")


def tanh(x):
    return activation(x, "tanh")


def softplus(x):
    return activation(x, "softplus")


def softsign(x):
    return activation(x, "softsign")


def exponential(x):
    return activation(x, "exponential")


def _softmax(x, axis, log):
    xd = _data(x)
    name = "log_softmax" if log else "softmax"
    if xd.ndim == 0:
        raise ValueError(f"{name}: expected at least 1 dimension, got a scalar")
    axis = _normalize_axes(axis, xd.ndim, name)[0]
    last = axis == xd.ndim - 1
    xm = _contiguous(xd if last else array_module(xd).moveaxis(xd, axis, -1))
    y = ops.log_softmax(xm) if log else ops.softmax(xm)
    out = y if last else array_module(y).moveaxis(y, -1, axis)

    def backward(g):
        gm = _contiguous(g if last else array_module(g).moveaxis(g, axis, -1))
        dx = ops.softmax_backward(y, gm, log=log)
        return (dx if last else array_module(dx).moveaxis(dx, -1, axis),)

    return Tensor._from_op(out, name, (_tensor_or_none(x),), backward)


def softmax(x, axis: int = -1):
    return _softmax(x, axis, log=False)


def log_softmax(x, axis: int = -1):
    return _softmax(x, axis, log=True)


# --------------------------------------------------------------------------- dropout

def dropout(x, rate: float, training: bool = True):
    """Zeroes each element with probability ``rate`` and scales the rest by 1 / (1 - rate)
    when ``training``; the identity otherwise. The mask comes from the counter-based
    generator seeded by ``fastnn.manual_seed``, so CPU and GPU draw the same mask."""
    if not isinstance(rate, numbers.Real) or not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    if not training or rate == 0.0:
        return x if isinstance(x, Tensor) else Tensor(_data(x))
    xd = _contiguous(_data(x))
    out, key, offset = ops.dropout(xd, float(rate))

    def backward(g):
        return (ops.dropout_backward(_contiguous(g), float(rate), key, offset),)

    return Tensor._from_op(out, "dropout", (_tensor_or_none(x),), backward)


# --------------------------------------------------------------------------- weight penalty

def penalty(w, l1: float, l2: float):
    """Keras' L1/L2 weight penalty ``l1 * sum(|w|) + l2 * sum(w**2)`` as a 0-d Tensor, one fused
    kernel each way; the gradient is ``g * (l1 * sign(w) + 2 * l2 * w)`` with sign(0) = 0."""
    wd = _contiguous(_data(w))
    l1, l2 = float(l1), float(l2)
    out = ops.penalty(wd, l1, l2)

    def backward(g):
        return (ops.penalty_backward(wd, _contiguous(g), l1, l2),)

    return Tensor._from_op(out, "penalty", (_tensor_or_none(w),), backward)


# --------------------------------------------------------------------------- pooling (NHWC)

def _pool_input(x, op):
    xd = _contiguous(_data(x))
    if isinstance(xd, float) or xd.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (batch, height, width, channels), got shape {_shape(xd)}")
    return xd


def max_pool2d(x, pool_size, strides=None, padding: str = "valid"):
    """Max pooling over NHWC windows (Keras' MaxPooling2D): ``strides`` default to ``pool_size``;
    ``'same'`` pads as Keras / TensorFlow (out = ceil(in / stride), the extra cell after) and
    padded cells never win. The gradient goes to each window's argmax, the first cell in the
    window's row-major order on ties (indices saved by the forward kernel)."""
    xd = _pool_input(x, "max_pool2d")
    keep = _wants_grad(x) and is_grad_enabled()
    res = ops.max_pool2d(xd, pool_size, strides, padding, return_indices=keep)
    if not keep:
        return Tensor._from_op(res, "max_pool2d", (None,), None)
    y, indices = res

    def backward(g):
        return (ops.max_pool2d_backward(indices, _contiguous(g), xd.shape, pool_size, strides, padding),)

    return Tensor._from_op(y, "max_pool2d", (_tensor_or_none(x),), backward)


def avg_pool2d(x, pool_size, strides=None, padding: str = "valid"):
    """Average pooling over NHWC windows (Keras' AveragePooling2D); with ``'same'`` each window
    is divided by its count of real (unpadded) cells, as TensorFlow does."""
    xd = _pool_input(x, "avg_pool2d")
    y = ops.avg_pool2d(xd, pool_size, strides, padding)

    def backward(g):
        return (ops.avg_pool2d_backward(_contiguous(g), xd.shape, pool_size, strides, padding),)

    return Tensor._from_op(y, "avg_pool2d", (_tensor_or_none(x),), backward)


def _global(pool, x, keepdims, op):
    xd = _pool_input(x, op)
    n, h, w, c = xd.shape
    y = pool(x, (h, w)) if h and w else None
    if y is None:
        raise ValueError(f"{op}: the input's height and width must be >= 1, got shape {tuple(xd.shape)}")
    return y if keepdims else reshape(y, (n, c))


def global_avg_pool2d(x, keepdims: bool = False):
    """Mean over the height and width of an NHWC input: (N, C), or (N, 1, 1, C) with keepdims."""
    return _global(avg_pool2d, x, keepdims, "global_avg_pool2d")


def global_max_pool2d(x, keepdims: bool = False):
    """Max over the height and width of an NHWC input: (N, C), or (N, 1, 1, C) with keepdims."""
    return _global(max_pool2d, x, keepdims, "global_max_pool2d")


# --------------------------------------------------------------------------- batch normalisation

def _running(arr, name):
    if arr is None:
        return None
    if isinstance(arr, Tensor):
        return arr.data
    if not hasattr(arr, "shape"):
        raise TypeError(f"batch_norm: {name} must be an array or a Tensor updated in place, got {type(arr).__name__}")
    return arr


def batch_norm(x, gamma, beta, running_mean, running_var, training: bool, momentum: float = 0.99,
               epsilon: float = 1e-3):
    """Batch normalisation over every axis but the last (channels), Keras 3 semantics.

    ``training``: normalise with the batch mean and biased variance and update ``running_mean`` /
    ``running_var`` in place (arrays or Tensors; None to skip) as ``running * momentum + batch *
    (1 - momentum)`` -- Keras' convention, with the biased batch variance as Keras 3 uses it.
    Otherwise normalise with the running statistics. ``gamma`` / ``beta`` None mean 1 / 0 (Keras'
    scale=False / center=False). The backward is one fused kernel giving dx, dgamma and dbeta."""
    xd = _contiguous(_data(x))
    gd = None if gamma is None else _contiguous(_data(gamma))
    bd = None if beta is None else _contiguous(_data(beta))
    rm, rv = _running(running_mean, "running_mean"), _running(running_var, "running_var")
    keep = is_grad_enabled() and any(_wants_grad(t) for t in (x, gamma, beta))
    if training:
        y, mean, invstd = ops.batch_norm_train(xd, gd, bd, rm, rv, momentum, epsilon)
    else:
        if rm is None or rv is None:
            raise ValueError("batch_norm: inference (training=False) needs running_mean and running_var")
        mean = rm
        res = ops.batch_norm_infer(xd, gd, bd, rm, rv, epsilon, return_invstd=keep)
        y, invstd = res if keep else (res, None)
        if keep:
            mean = mean.copy()  # the running mean may change before the backward runs
    need = (_wants_grad(x), _wants_grad(gamma), _wants_grad(beta))

    def backward(g):
        return ops.batch_norm_backward(xd, _contiguous(g), mean, invstd, gd, training=bool(training),
                                       need_input=need[0], need_gamma=need[1], need_beta=need[2])

    return Tensor._from_op(y, "batch_norm", (_tensor_or_none(x), _tensor_or_none(gamma), _tensor_or_none(beta)),
                           backward)
