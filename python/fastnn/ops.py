"""Array-level entry points to the kernels.

Each function takes NumPy or CuPy arrays, allocates its output on the
inputs' device (the C++ side owns no memory), and calls one kernel of
``fastnn._C``. Argument checking happens in the kernel, which raises
ValueError / TypeError / RuntimeError naming the op. These wrappers sit on
the hot path of small layers, so they do as little as possible.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastnn import _C
from fastnn import random as _random
from fastnn.backend import CUDA_BUILT, array_module, cuda_stream, device_of, is_cuda_array

_GEMM_EPILOGUES = {None: 0, "linear": 0, "relu": 1}  # activations fused into gemm
_ndarray = np.ndarray
_float32 = np.float32
_np_empty = np.empty
_host_empty = _C.host_empty
_CACHED_BYTES = 1 << 18  # from 256 KiB up, host outputs come from the block cache (no page faults)


def _empty(shape, dtype=_float32):
    """An uninitialised host array: large ones from fastnn's host block cache (their pages were
    touched by an earlier step and are reused), small ones from NumPy."""
    count = 1
    for d in shape:
        count *= d
    if count * 4 >= _CACHED_BYTES:  # the ops make 4-byte elements (float32, int32)
        return _host_empty(shape, np.dtype(dtype))
    return _np_empty(shape, dtype)


def host_cache_stats() -> dict:
    """The host block cache: ``cached_bytes`` / ``cached_blocks`` (free, kept for reuse),
    ``live_bytes`` (lent to arrays), ``hits``, ``misses``, ``limit_bytes``
    (``FASTNN_HOST_CACHE_MB``, default 1024)."""
    return dict(_C.host_cache_stats())


def empty_host_cache() -> None:
    """Frees the cached blocks no array uses (as ``torch.cuda.empty_cache`` does on the GPU)."""
    _C.host_cache_release()


def _launch(op, ref, out, out_shape, call):
    """Runs ``call(out, stream)`` on the device of ``ref``, allocating ``out``
    (float32, ``out_shape``) there when it is None; returns ``out``.

    CUDA kernels launch on the current device and CuPy's current stream, so
    both are taken from ``ref``'s device. Anything that is not a CUDA array
    goes to the CPU path, where the kernel's checks name what is wrong.
    """
    if type(ref) is _ndarray or not is_cuda_array(ref):  # NumPy (tested first: the common case)
        if out is None:
            out = _empty(out_shape, _float32)
        call(out, 0)
        return out
    if not CUDA_BUILT:
        raise RuntimeError(
            f"{op}: the arguments are CUDA arrays but fastnn was built without CUDA "
            "(reinstall with nvcc on PATH, or FASTNN_CUDA=ON to require it)"
        )
    with device_of(ref):
        if out is None:
            out = array_module(ref).empty(out_shape, dtype=_float32)
        call(out, cuda_stream(ref))
    return out


def _gemm(a, b, transpose_a, transpose_b, alpha, beta, out, bias, activation):
    code = _GEMM_EPILOGUES.get(activation) if isinstance(activation, (str, type(None))) else None
    if code is None:
        raise ValueError(f"gemm: unknown activation {activation!r}; expected None, 'linear' or 'relu'")
    shape = None
    if out is None:
        if beta != 0.0:
            raise ValueError("gemm: beta != 0 accumulates into 'out', so 'out' must be given")
        try:
            shape = (a.shape[1 if transpose_a else 0], b.shape[0 if transpose_b else 1])
        except (AttributeError, IndexError, TypeError):
            shape = (0, 0)  # not a matrix: the kernel names the real problem
    # A column-major operand (x.T) is read in place: the kernel flips it to
    # its row-major transpose.
    return _launch(
        "gemm", a, out, shape,
        lambda c, stream: _C.gemm(a, b, c, transpose_a, transpose_b, alpha, beta, bias, code, stream),
    )


def gemm(
    a,
    b,
    *,
    transpose_a: bool = False,
    transpose_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    out=None,
    bias=None,
    activation=None,
):
    """``alpha * op(a) @ op(b) + beta * out``, then ``+ bias`` and the activation.

    ``op(x)`` is ``x.T`` when the matching ``transpose_*`` flag is set (the
    transpose is read in place, never copied; so is a column-major operand
    such as ``x.T``). ``a``, ``b``, ``out`` are 2-D float32 arrays on one
    device (NumPy or CuPy); ``bias`` has one entry per output column;
    ``activation`` is None or ``"relu"``. With ``beta != 0`` the existing
    contents of ``out`` are accumulated into. Returns ``out`` (a new array
    when not given).
    """
    return _gemm(a, b, transpose_a, transpose_b, alpha, beta, out, bias, activation)


def matmul(a, b, *, transpose_a: bool = False, transpose_b: bool = False, out=None, bias=None, activation=None):
    """``op(a) @ op(b)`` in float32 on our GEMM, with an optional fused bias and relu.

    Same arguments as :func:`gemm` with ``alpha=1, beta=0``: ``out`` is
    overwritten, never accumulated into.
    """
    return _gemm(a, b, transpose_a, transpose_b, 1.0, 0.0, out, bias, activation)


# name -> (kernel code, default alpha) for the element-wise activations; codes
# follow csrc/fastnn/activation.h. Defaults are Keras' (leaky_relu's
# negative_slope 0.2, elu's alpha 1.0).
ACTIVATIONS = {
    "linear": (0, 0.0),
    "relu": (1, 0.0),
    "leaky_relu": (2, 0.2),
    "elu": (3, 1.0),
    "selu": (4, 0.0),
    "gelu": (5, 0.0),
    "gelu_tanh": (6, 0.0),
    "silu": (7, 0.0),
    "swish": (7, 0.0),
    "sigmoid": (8, 0.0),
    "hard_sigmoid": (9, 0.0),
    "tanh": (10, 0.0),
    "softplus": (11, 0.0),
    "softsign": (12, 0.0),
    "exponential": (13, 0.0),
}


# The activations whose derivative is a cheap function of their output y = f(x)
# (csrc/fastnn/activation.h): activation_backward(y, ..., from_output=True).
# gelu, gelu_tanh, silu/swish and softsign are not here.
ACTIVATIONS_FROM_OUTPUT = frozenset({
    "linear", "relu", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus", "exponential",
})


def _activation_code(op, name, alpha):
    try:
        code, default = ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{op}: unknown activation {name!r}; expected one of {', '.join(sorted(ACTIVATIONS))}"
        ) from None
    return code, default if alpha is None else float(alpha)


def activation(x, name: str, *, alpha=None, out=None):
    """``f(x)`` element-wise on a float32 NumPy or CuPy array (``out`` may be ``x``).

    ``name`` is a Keras activation name (``relu``, ``leaky_relu``, ``elu``,
    ``selu``, ``gelu``, ``gelu_tanh``, ``silu``/``swish``, ``sigmoid``,
    ``hard_sigmoid``, ``tanh``, ``softplus``, ``softsign``, ``exponential``,
    ``linear``); ``alpha`` is leaky_relu's slope or elu's alpha.
    """
    code, alpha = _activation_code("activation", name, alpha)
    return _launch(
        "activation", x, out, getattr(x, "shape", (0,)),
        lambda y, stream: _C.activation_forward(x, y, code, alpha, stream),
    )


def activation_backward(x_or_y, grad, name: str, *, alpha=None, out=None, from_output=False):
    """``grad * f'(x)``: the gradient with respect to the activation's input ``x``.

    By default the first argument is the input ``x``. With ``from_output=True`` it is
    the output ``y = f(x)`` and ``f'`` is computed from ``y`` (as PyTorch does for
    sigmoid, tanh, relu, ...): cheaper (sigmoid's ``y (1 - y)`` needs no exp) and
    autograd can drop ``x``. Only the kinds in ``ACTIVATIONS_FROM_OUTPUT`` have this
    form, and leaky_relu / elu only with ``alpha >= 0`` (otherwise the sign of ``y``
    no longer tells the sign of ``x``); other requests raise ``ValueError``.
    """
    op = "activation_backward"
    code, alpha = _activation_code(op, name, alpha)
    if from_output:
        if name not in ACTIVATIONS_FROM_OUTPUT:
            raise ValueError(
                f"{op}: from_output=True is not supported for {name!r} (its derivative is not a cheap function "
                f"of its output); supported: {', '.join(sorted(ACTIVATIONS_FROM_OUTPUT))}"
            )
        if name in ("leaky_relu", "elu") and not alpha >= 0:
            raise ValueError(f"{op}: from_output=True needs alpha >= 0 for {name!r}, got {alpha} (with alpha < 0 "
                             "the output's sign no longer tells the input's); pass the input x instead")
    from_output = bool(from_output)
    return _launch(
        op, x_or_y, out, getattr(x_or_y, "shape", (0,)),
        lambda dx, stream: _C.activation_backward(x_or_y, grad, dx, code, alpha, stream, from_output),
    )


def _last_axis(op, x, axis):
    ndim = getattr(x, "ndim", None)
    if ndim is not None and axis not in (-1, ndim - 1):
        raise ValueError(f"{op}: only the last axis is supported (axis=-1), got axis={axis}; move it with "
                         "np.moveaxis first")


def softmax(x, *, axis=-1, out=None):
    """Softmax along the last axis of a float32 array (``out`` may be ``x``)."""
    _last_axis("softmax", x, axis)
    return _launch("softmax", x, out, getattr(x, "shape", (0,)),
                   lambda y, stream: _C.softmax_forward(x, y, False, stream))


def log_softmax(x, *, axis=-1, out=None):
    """log(softmax(x)) along the last axis, computed stably (x - logsumexp(x))."""
    _last_axis("log_softmax", x, axis)
    return _launch("log_softmax", x, out, getattr(x, "shape", (0,)),
                   lambda y, stream: _C.softmax_forward(x, y, True, stream))


def softmax_backward(y, grad, *, log=False, out=None):
    """Input gradient of softmax (or log_softmax when ``log``) from its output ``y``."""
    return _launch("softmax_backward", y, out, getattr(y, "shape", (0,)),
                   lambda dx, stream: _C.softmax_backward(y, grad, dx, log, stream))


def softmax_cross_entropy(logits, labels, *, label_smoothing=0.0, grad_scale=1.0, compute_grad=True,
                          check_labels=True):
    """Per-row cross-entropy of ``softmax(logits)`` against integer ``labels``
    (1-D int32/int64) or target probabilities (2-D float32), in one stable pass.

    Returns ``(loss, grad)``: ``loss`` has one entry per row; ``grad`` is
    ``grad_scale * d loss / d logits`` (pass ``1 / rows`` for a mean), or None
    without ``compute_grad``. ``label_smoothing`` mixes the targets with the
    uniform distribution as Keras does. Integer labels outside [0, classes)
    raise ValueError; on the GPU that check is one more small kernel and a
    synchronisation of the stream, which ``check_labels=False`` skips (such
    rows then come out NaN).
    """
    rows = getattr(logits, "shape", (0,))[0] if getattr(logits, "ndim", 0) >= 1 else 0
    grads = []

    def call(loss, stream):
        # The CPU kernel checks labels itself; the CUDA one cannot raise.
        if check_labels and is_cuda_array(labels) and getattr(labels, "ndim", 0) == 1 and logits.ndim == 2:
            scratch = array_module(logits).empty(4, dtype=np.int64)
            _C.check_labels(labels, logits.shape[1], scratch, "softmax_cross_entropy", stream)
        grad = None
        if compute_grad:
            grad = array_module(logits).empty(logits.shape, dtype=_float32)
            grads.append(grad)
        _C.cross_entropy(logits, labels, loss, grad, label_smoothing, grad_scale, stream)

    loss = _launch("softmax_cross_entropy", logits, None, (rows,), call)
    return loss, (grads[0] if grads else None)


OPTIMIZERS = {"sgd": 0, "adam": 1, "rmsprop": 2, "adagrad": 3}


def optimizer_step(kind, params, grads, states, **hyper):
    """One fused update of every parameter, in place (Keras' update rules).

    ``kind`` is ``"sgd"``, ``"adam"``, ``"rmsprop"`` or ``"adagrad"``;
    ``states[i]`` lists the state arrays of ``params[i]`` (see
    ``csrc/fastnn/optim.h``: sgd [velocity], adam [m, v, v_hat],
    rmsprop [mean square, momentum, mean gradient], adagrad [accumulator];
    None where a setting does not use one). ``hyper``: learning_rate,
    momentum, nesterov, beta_1, beta_2, epsilon, amsgrad, rho, centered,
    weight_decay (decoupled), grad_scale, clip_norm (each gradient to this L2
    norm), global_clip_norm (all gradients to this global L2 norm),
    clip_value, iteration (from 1). The gradients are scaled, then clipped by
    clip_norm, global_clip_norm and clip_value in that order (Keras'
    precedence; Keras allows only one), inside the same call: no host
    synchronisation on the GPU.
    """
    try:
        code = OPTIMIZERS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"optimizer_step: unknown optimizer {kind!r}; expected one of {', '.join(OPTIMIZERS)}") from None
    params = list(params)
    if not params:
        return
    ref = params[0]
    _launch("optimizer_step", ref, ref, None,
            lambda _, stream: _C.optimizer_step(code, params, list(grads), [list(s) for s in states], hyper, stream))


def grad_global_norm(grads) -> float:
    """sqrt of the sum of squares of every gradient (accumulated in double)."""
    grads = list(grads)
    if not grads:
        return 0.0
    total = []
    _launch("grad_sum_squares", grads[0], grads[0], None,
            lambda _, stream: total.append(_C.grad_sum_squares(grads, stream)))
    return float(total[0]) ** 0.5


# ---------------------------------------------------------------------------- element-wise family

# name -> kernel code (csrc/fastnn/elementwise.h), NumPy's ufunc names.
BINARY_OPS = {"add": 0, "subtract": 1, "multiply": 2, "divide": 3, "maximum": 4, "minimum": 5}
_SIDES = {0: 0, 1: 1, "a": 0, "b": 1}
_Real = numbers.Real


def _binary_code(op, name):
    try:
        return BINARY_OPS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{op}: unknown op {name!r}; expected one of {', '.join(BINARY_OPS)}") from None


def _scalar_operand(x, like):
    """A Python or NumPy scalar as a 0-d float32 array on ``like``'s device;
    anything else unchanged (the kernel checks it)."""
    if not isinstance(x, _Real):
        return x
    if type(like) is _ndarray or not is_cuda_array(like):
        return np.array(x, dtype=_float32)
    with device_of(like):
        return array_module(like).full((), x, dtype=_float32)


def _operands(a, b):
    # ndarray first: isinstance against the numbers ABC costs ~0.2 us a call
    if type(a) is not _ndarray and isinstance(a, _Real):
        a = _scalar_operand(a, b)
    if type(b) is not _ndarray and isinstance(b, _Real):
        b = _scalar_operand(b, a)
    return a, b


def _broadcast_shape(op, a, b):
    sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)
    if sa is None or sb is None:
        return ()  # not an array: the kernel names the argument
    try:
        return np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(f"{op}: operands could not be broadcast together: 'a' has shape {tuple(sa)}, "
                         f"'b' has shape {tuple(sb)}") from None


def binary(op_name, a, b, out=None):
    """``a OP b`` element-wise with NumPy broadcasting, in float32.

    ``op_name`` is one of ``add``, ``subtract``, ``multiply``, ``divide``,
    ``maximum``, ``minimum`` (NaN propagates through maximum/minimum, as in
    NumPy). ``a`` and ``b`` are float32 NumPy or CuPy arrays of any strides,
    or Python scalars; the result has shape ``np.broadcast_shapes(a.shape,
    b.shape)`` (or is written into ``out``, C-contiguous, which may be ``a``
    or ``b`` when it has their shape).
    """
    code = _binary_code("binary", op_name)
    a, b = _operands(a, b)
    shape = _broadcast_shape(op_name, a, b) if out is None else None
    return _launch(op_name, a, out, shape, lambda o, stream: _C.binary(code, a, b, o, stream))


def binary_backward(op_name, side, grad, a, b, out=None):
    """The gradient of ``binary(op_name, a, b)`` with respect to ``a`` (side 0
    or ``"a"``) or ``b`` (side 1 or ``"b"``), given the output gradient
    ``grad``: ``grad * d(a OP b)/d(side)`` summed over the axes along which
    that operand was broadcast, so the result has its shape. Ties of
    maximum/minimum give each side half the gradient (as PyTorch does).
    """
    code = _binary_code("binary_backward", op_name)
    s = _SIDES.get(side) if isinstance(side, (int, str)) and not isinstance(side, bool) else None
    if s is None:
        raise ValueError(f"{op_name}_backward: side must be 0 or 'a', 1 or 'b', got {side!r}")
    a, b = _operands(a, b)
    operand = b if s else a
    shape = getattr(operand, "shape", ())
    return _launch(f"{op_name}_backward", grad, out, shape,
                   lambda o, stream: _C.binary_backward(code, s, grad, a, b, o, stream))


def _reduced_axes(op, axis, ndim):
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, fast
        return (axis % ndim,)
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = []
    for ax in items:
        if isinstance(ax, bool) or not isinstance(ax, numbers.Integral):
            raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= ax < ndim:
            raise ValueError(f"{op}: axis {ax} is out of bounds for an array of dimension {ndim}")
        ax = int(ax) % ndim
        if ax in axes:
            raise ValueError(f"{op}: axis {ax} is repeated in {axis!r}")
        axes.append(ax)
    return tuple(axes)


def reduce_sum(x, axis=None, keepdims=False, out=None):
    """Sum of a float32 array over ``axis`` (None: all; an int or a tuple),
    as ``np.sum`` with ``keepdims``. Sums are accumulated in double (rows of
    a leading-axis reduction are added in float32 in fours first), rounded to
    float32 once: |error| <= (2u + n 2**-53) sum|x| + u |sum|, u = 2**-24.
    ``out``, when given, has the result's shape and is C-contiguous.
    """
    shape = getattr(x, "shape", None)
    if shape is None:  # not an array: the kernel says so
        return _launch("reduce_sum", x, out, (), lambda o, stream: _C.reduce_sum(x, o, stream))
    ndim = len(shape)
    if axis is None:
        kept = (1,) * ndim
        final = kept if keepdims else ()
    elif type(axis) is int and -ndim <= axis < ndim:  # one axis: slices, no loops (hot path)
        ax = axis % ndim
        kept = shape[:ax] + (1,) + shape[ax + 1:]
        final = kept if keepdims else shape[:ax] + shape[ax + 1:]
    else:
        axes = _reduced_axes("reduce_sum", axis, ndim)
        kept = tuple([1 if d in axes else n for d, n in enumerate(shape)])
        final = kept if keepdims else tuple([n for d, n in enumerate(shape) if d not in axes])
    target = None
    if out is not None:
        out_shape = getattr(out, "shape", None)
        if out_shape != final:
            raise ValueError(f"reduce_sum: argument 'out' must have shape {final}, got {out_shape}")
        flags = getattr(out, "flags", None)
        if flags is not None and not flags.c_contiguous:
            raise ValueError("reduce_sum: argument 'out' must be C-contiguous")
        target = out if keepdims else out.reshape(kept)
    result = _launch("reduce_sum", x, target, kept, lambda o, stream: _C.reduce_sum(x, o, stream))
    if out is not None:
        return out
    return result if keepdims else result.reshape(final)


def _dropout_rate(op, rate):
    if isinstance(rate, bool) or not isinstance(rate, _Real):
        raise TypeError(f"{op}: rate must be a number in [0, 1), got {type(rate).__name__}")
    return float(rate)  # the range is checked by the kernel


def _philox_arg(op, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) < 2**64:
        raise ValueError(f"{op}: {name} must be an int in [0, 2**64), got {value!r}")
    return int(value)


def dropout(x, rate, *, key=None, offset=None, out=None):
    """Inverted dropout of a float32 array: each element is zeroed with
    probability ``rate`` and the others are scaled by ``1 / (1 - rate)``.

    Returns ``(y, key, offset)``. The mask is a pure function of ``(key,
    offset)`` and the element index (Philox4x32-10, see
    ``csrc/fastnn/dropout.h``): pass the same pair to :func:`dropout_backward`
    to recompute it, nothing is stored. Without them, a fresh pair comes from
    ``fastnn.random.philox_stream`` (``manual_seed`` makes it reproducible);
    a call reserves ``ceil(x.size / 4)`` counter blocks. ``rate`` in [0, 1).
    """
    rate = _dropout_rate("dropout", rate)
    if (key is None) != (offset is None):
        raise ValueError("dropout: pass both key and offset, or neither")
    if key is None:
        key, offset = _random.philox_stream((int(getattr(x, "size", 0)) + 3) // 4)
    else:
        key, offset = _philox_arg("dropout", "key", key), _philox_arg("dropout", "offset", offset)
    y = _launch("dropout", x, out, getattr(x, "shape", (0,)),
                lambda o, stream: _C.dropout_forward(x, o, rate, key, offset, stream))
    return y, key, offset


def dropout_backward(grad, rate, key, offset, out=None):
    """The input gradient of :func:`dropout` called with the same ``rate``,
    ``key`` and ``offset``: ``grad / (1 - rate)`` where the element was kept,
    0 where it was dropped (``out`` may be ``grad``)."""
    rate = _dropout_rate("dropout_backward", rate)
    key, offset = _philox_arg("dropout_backward", "key", key), _philox_arg("dropout_backward", "offset", offset)
    return _launch("dropout_backward", grad, out, getattr(grad, "shape", (0,)),
                   lambda o, stream: _C.dropout_backward(grad, o, rate, key, offset, stream))


# ---- weight penalty (csrc/fastnn/penalty.h) ---------------------------------------------------

def _penalty_coefficient(op, name, value):
    if isinstance(value, bool) or not isinstance(value, _Real):
        raise TypeError(f"{op}: {name} must be a number >= 0, got {type(value).__name__}")
    return float(value)  # the sign and finiteness are checked by the kernel


def penalty(w, l1, l2, out=None):
    """Keras' L1/L2 weight penalty ``l1 * sum(|w|) + l2 * sum(w**2)`` of a
    float32 C-contiguous array, as a 0-d float32 array on w's device, in one
    kernel. Accumulated in double in an order fixed by the size (the same for
    any thread count, deterministic on the GPU), rounded to float32 once."""
    l1 = _penalty_coefficient("penalty", "l1", l1)
    l2 = _penalty_coefficient("penalty", "l2", l2)
    return _launch("penalty", w, out, (), lambda o, stream: _C.penalty_forward(w, o, l1, l2, stream))


def penalty_backward(w, grad, l1, l2, out=None):
    """The gradient of :func:`penalty`: ``grad * (l1 * sign(w) + 2 * l2 * w)``
    (sign(0) = 0, a subgradient), ``grad`` a 0-d float32 array on w's device
    (read there: no host synchronisation). ``out`` may be ``w``."""
    l1 = _penalty_coefficient("penalty_backward", "l1", l1)
    l2 = _penalty_coefficient("penalty_backward", "l2", l2)
    return _launch("penalty_backward", w, out, getattr(w, "shape", (0,)),
                   lambda o, stream: _C.penalty_backward(w, grad, o, l1, l2, stream))


# ---- 2-D convolution (csrc/fastnn/conv.h) ---------------------------------------------------
# Geometry arrives resolved: strides (sh, sw), dilation (dh, dw), padding (top, bottom, left,
# right) as ints (fastnn.conv_geometry turns 'same' / 'valid' into sizes). The kernels check it.

def _conv_out_hw(x_hw, k_hw, strides, padding, dilation):
    """(OH, OW), or (0, 0) when the arguments are malformed (the kernel then says what is wrong)."""
    try:
        oh = (x_hw[0] + padding[0] + padding[1] - (k_hw[0] - 1) * dilation[0] - 1) // strides[0] + 1
        ow = (x_hw[1] + padding[2] + padding[3] - (k_hw[1] - 1) * dilation[1] - 1) // strides[1] + 1
    except (TypeError, ZeroDivisionError, IndexError):
        return 0, 0
    return max(int(oh), 0), max(int(ow), 0)


def _shape4(a):
    shape = getattr(a, "shape", ())
    return tuple(shape) if len(shape) == 4 else (0, 0, 0, 0)


def conv2d(x, w, *, bias=None, strides=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), activation=None, out=None):
    """``act(conv(x, w) + bias)``: x (N, H, W, C) NHWC, w (KH, KW, C, O) as Keras stores a Conv2D
    kernel, float32 C-contiguous, on one device; returns (N, OH, OW, O). ``activation`` None or
    ``"relu"`` (fused in the epilogue)."""
    code = _GEMM_EPILOGUES.get(activation) if isinstance(activation, (str, type(None))) else None
    if code is None:
        raise ValueError(f"conv2d: unknown activation {activation!r}; expected None, 'linear' or 'relu'")
    strides, padding, dilation = tuple(strides), tuple(padding), tuple(dilation)
    xs, ws = _shape4(x), _shape4(w)
    oh, ow = _conv_out_hw(xs[1:3], ws[:2], strides, padding, dilation)
    return _launch("conv2d", x, out, (xs[0], oh, ow, ws[3]),
                   lambda o, stream: _C.conv2d_forward(x, w, o, bias, strides, padding, dilation, code, stream))


def conv2d_backward_data(dy, w, input_shape, *, strides=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), out=None):
    """The input gradient of :func:`conv2d`, shaped ``input_shape`` (N, H, W, C), from the output
    gradient dy (N, OH, OW, O) and the kernel w."""
    strides, padding, dilation = tuple(strides), tuple(padding), tuple(dilation)
    return _launch("conv2d_backward_data", dy, out, tuple(input_shape),
                   lambda o, stream: _C.conv2d_backward_data(dy, w, o, strides, padding, dilation, stream))


def conv2d_backward_filter(x, dy, kernel_size, *, strides=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), out=None):
    """The kernel gradient of :func:`conv2d`, shaped (KH, KW, C, O) for ``kernel_size`` (KH, KW),
    from the input x and the output gradient dy."""
    strides, padding, dilation = tuple(strides), tuple(padding), tuple(dilation)
    shape = (int(kernel_size[0]), int(kernel_size[1]), _shape4(x)[3], _shape4(dy)[3])
    return _launch("conv2d_backward_filter", x, out, shape,
                   lambda o, stream: _C.conv2d_backward_filter(x, dy, o, strides, padding, dilation, stream))


def conv2d_backward(x, w, dy, *, y=None, input_grad=True, bias_grad=True, strides=(1, 1), padding=(0, 0, 0, 0),
                    dilation=(1, 1)):
    """(dx, dw, db) of ``act(conv(x, w) + b)`` from the output gradient dy; ``y`` (the forward's
    output) given means act = relu, whose gradient mask is taken from it. dx is None unless
    ``input_grad``, db None unless ``bias_grad``. On the CPU one fused kernel makes a single pass
    over dy; on CUDA one call launches the relu mask, the two backward kernels and the bias sum."""
    strides, padding, dilation = tuple(strides), tuple(padding), tuple(dilation)
    xs, dys = _shape4(x), _shape4(dy)
    if type(x) is _ndarray or not is_cuda_array(x):
        dx = _empty(xs, _float32) if input_grad else None
        dw = _empty(_shape4(w), _float32)
        db = _empty((dys[3],), _float32) if bias_grad else None
        _C.conv2d_backward(x, w, y, dy, dx, dw, db, strides, padding, dilation)
        return dx, dw, db
    if not CUDA_BUILT:
        raise RuntimeError("conv2d_backward: the arguments are CUDA arrays but fastnn was built without CUDA "
                           "(reinstall with nvcc on PATH, or FASTNN_CUDA=ON to require it)")
    xp = array_module(x)
    with device_of(x):
        dx = xp.empty(xs, dtype=_float32) if input_grad else None
        dw = xp.empty(_shape4(w), dtype=_float32)
        db = xp.empty((dys[3],), dtype=_float32) if bias_grad else None
        _C.conv2d_backward(x, w, y, dy, dx, dw, db, strides, padding, dilation, cuda_stream(x))
    return dx, dw, db


# ---- losses (csrc/fastnn/loss.h) -------------------------------------------------------------
# Keras loss function names (and aliases) -> kernel code.
LOSSES = {
    "mean_squared_error": 0,
    "mse": 0,
    "mean_absolute_error": 1,
    "mae": 1,
    "huber": 2,
    "log_cosh": 3,
    "logcosh": 3,
    "binary_crossentropy": 4,
    "categorical_crossentropy": 5,
    "sparse_categorical_crossentropy": 6,
}
_CATEGORICAL, _SPARSE = 5, 6
_LOSS_NAMES = {0: "mean_squared_error", 1: "mean_absolute_error", 2: "huber", 3: "log_cosh",
               4: "binary_crossentropy", 5: "categorical_crossentropy", 6: "sparse_categorical_crossentropy"}


def _loss_code(op, kind):
    try:
        return LOSSES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"{op}: unknown loss {kind!r}; expected one of {', '.join(sorted(LOSSES))}") from None


def _loss_inputs(code, y_true, y_pred, label_smoothing):
    """Keras' input conventions, checked before any kernel: the one-hot / integer
    label confusion named, dense targets of another dtype cast to float32 (Keras
    casts y_true to y_pred's dtype). Returns y_true."""
    try:
        pshape, tshape = tuple(y_pred.shape), tuple(y_true.shape)
    except (AttributeError, TypeError):
        return y_true  # not arrays: the kernel names the problem
    if code == _SPARSE:
        if tshape == pshape and pshape and pshape[-1] != 1:
            raise ValueError(
                f"sparse_categorical_crossentropy: y_true has y_pred's shape {pshape}, which looks like one-hot "
                "targets; sparse_categorical_crossentropy expects one integer label per row, of shape "
                f"{pshape[:-1]}. Use 'categorical_crossentropy' for one-hot targets (or y_true.argmax(-1))")
        if label_smoothing:
            raise ValueError("sparse_categorical_crossentropy: label_smoothing applies to binary_crossentropy and "
                             "categorical_crossentropy (Keras' sparse_categorical_crossentropy has none), got "
                             f"{label_smoothing}")
        return y_true
    if tshape == pshape:  # the common case
        dtype = getattr(y_true, "dtype", _float32)
        if dtype != _float32 and dtype.kind in "biuf":
            y_true = y_true.astype(_float32)
        return y_true
    lead = pshape[:-1]
    if code == _CATEGORICAL and pshape and tshape in (lead, lead + (1,)):
        raise ValueError(
            f"categorical_crossentropy: y_true has shape {tshape} but y_pred has shape {pshape}; "
            "categorical_crossentropy expects one-hot targets of y_pred's shape. For integer class labels use "
            "'sparse_categorical_crossentropy', or convert them with "
            f"fastnn.utils.to_categorical(y_true, num_classes={pshape[-1]})")
    return y_true  # the kernel reports the mismatch


def _check_finite(op, **arrays):
    for arg, a in arrays.items():
        xp = array_module(a)
        if a.dtype.kind == "f" and not bool(xp.isfinite(a).all()):
            raise ValueError(f"{op}: argument '{arg}' holds NaN or inf and check_finite is set")


def _logits_route(op, code, y_true, y_pred, check_finite):
    """from_logits categorical kinds: the fused softmax cross-entropy on 2-D views."""
    n = y_pred.shape[-1]
    logits = y_pred.reshape(-1, n)
    target = y_true.reshape(-1) if code == _SPARSE else y_true.reshape(-1, n)
    if check_finite:
        _check_finite(op, y_pred=y_pred, **({} if code == _SPARSE else {"y_true": y_true}))
    return logits, target


def _scratch_for(code, y_pred, check_finite, check_labels):
    if not is_cuda_array(y_pred) or not (check_finite or (code == _SPARSE and check_labels)):
        return None
    return array_module(y_pred).empty(4, dtype=np.int64)


def loss(kind, y_true, y_pred, *, from_logits=False, label_smoothing=0.0, delta=1.0, check_finite=False,
         check_labels=True, out=None):
    """Per-row Keras loss: one value per row of ``y_pred`` (shape ``y_pred.shape[:-1]``).

    ``kind`` is a Keras loss function name: ``mean_squared_error``/``mse``,
    ``mean_absolute_error``/``mae``, ``huber`` (``delta``), ``log_cosh``,
    ``binary_crossentropy``, ``categorical_crossentropy`` (both with
    ``from_logits`` and ``label_smoothing``) or ``sparse_categorical_crossentropy``
    (``y_true``: int32/int64 labels of shape ``y_pred.shape[:-1]``, optionally with
    a trailing 1). Each is a mean over the last axis (a sum for the categorical
    crossentropies), computed as Keras does (probabilities clipped to
    [1e-7, 1 - 1e-7]); reducing over rows is the caller's. ``from_logits`` for the
    categorical kinds runs the fused :func:`softmax_cross_entropy`.

    ``check_finite`` raises ValueError when ``y_true`` or ``y_pred`` holds NaN or
    inf. Labels outside [0, classes) raise ValueError naming the row; on the GPU
    that check synchronises the stream, ``check_labels=False`` skips it (such rows
    are then NaN).
    """
    op = "loss"
    code = _loss_code(op, kind)
    y_true = _loss_inputs(code, y_true, y_pred, label_smoothing)
    if from_logits and code in (_CATEGORICAL, _SPARSE):
        logits, target = _logits_route(_LOSS_NAMES[code], code, y_true, y_pred, check_finite)
        rows, _ = softmax_cross_entropy(logits, target, label_smoothing=label_smoothing, compute_grad=False,
                                        check_labels=check_labels)
        rows = rows.reshape(y_pred.shape[:-1])
        if out is None:
            return rows
        out[...] = rows
        return out

    if type(y_pred) is _ndarray:  # the CPU: no stream, no scratch
        if out is None:
            out = _empty(y_pred.shape[:-1], _float32)
        _C.loss_forward(code, y_true, y_pred, out, from_logits, label_smoothing, delta, check_finite, check_labels,
                        None, 0)
        return out

    def call(o, stream):
        scratch = _scratch_for(code, y_pred, check_finite, check_labels)
        _C.loss_forward(code, y_true, y_pred, o, from_logits, label_smoothing, delta, check_finite, check_labels,
                        scratch, stream)

    return _launch(op, y_pred, out, tuple(getattr(y_pred, "shape", (0,)))[:-1], call)


def loss_backward(kind, y_true, y_pred, grad_rows=1.0, *, from_logits=False, label_smoothing=0.0, delta=1.0,
                  check_finite=False, check_labels=True, out=None):
    """Gradient of the per-row losses of :func:`loss` with respect to ``y_pred``.

    ``grad_rows`` is the upstream gradient of each row's loss: an array of shape
    ``y_pred.shape[:-1]`` (sample weights, a 'none' reduction) or a number
    (``1 / rows`` for a mean over rows, ``1`` for a sum). Returns an array of
    ``y_pred``'s shape (written to ``out`` when given). Other arguments as
    :func:`loss`. At a clipped probability the gradient is 0 (TensorFlow's
    clip_by_value gradient); mae's gradient is 0 where y_pred == y_true.
    """
    op = "loss_backward"
    code = _loss_code(op, kind)
    y_true = _loss_inputs(code, y_true, y_pred, label_smoothing)
    if grad_rows is None:
        grad_rows = 1.0
    scale, rows_arr = (float(grad_rows), None) if isinstance(grad_rows, (int, float, np.number)) else (1.0, grad_rows)
    if from_logits and code in (_CATEGORICAL, _SPARSE):
        logits, target = _logits_route(_LOSS_NAMES[code], code, y_true, y_pred, check_finite)
        if rows_arr is not None and tuple(getattr(rows_arr, "shape", ())) != tuple(y_pred.shape[:-1]):
            raise ValueError(f"{_LOSS_NAMES[code]}_backward: argument 'grad_rows' must have shape "
                             f"{tuple(y_pred.shape[:-1])} (y_pred's shape without its last axis), got "
                             f"{tuple(getattr(rows_arr, 'shape', ()))}")
        _, grad = softmax_cross_entropy(logits, target, label_smoothing=label_smoothing, grad_scale=scale,
                                        check_labels=check_labels)
        if rows_arr is not None:
            grad *= rows_arr.reshape(-1, 1)
        grad = grad.reshape(y_pred.shape)
        if out is None:
            return grad
        out[...] = grad
        return out

    if type(y_pred) is _ndarray:
        if out is None:
            out = _empty(y_pred.shape, _float32)
        _C.loss_backward(code, y_true, y_pred, rows_arr, out, scale, from_logits, label_smoothing, delta,
                         check_finite, check_labels, None, 0)
        return out

    def call(o, stream):
        scratch = _scratch_for(code, y_pred, check_finite, check_labels)
        _C.loss_backward(code, y_true, y_pred, rows_arr, o, scale, from_logits, label_smoothing, delta, check_finite,
                         check_labels, scratch, stream)

    return _launch(op, y_pred, out, getattr(y_pred, "shape", (0,)), call)


# ---- pooling (csrc/fastnn/pool.h) ------------------------------------------------------------

def _positive_pair(owner, name, value):
    """An int or a pair of ints, each >= 1, as a pair (Keras' int-or-tuple arguments)."""
    items = (value, value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if (items is None or len(items) != 2
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in items)):
        raise ValueError(f"{owner}: {name} must be a positive int or a pair of positive ints, got {value!r}")
    return int(items[0]), int(items[1])


def pool_args(owner, pool_size, strides, padding):
    """``(pool, strides, padding)`` checked and normalised: pairs of ints >= 1, strides defaulting
    to the pool size (as Keras), padding ``'valid'`` or ``'same'`` (any case)."""
    pool = _positive_pair(owner, "pool_size", pool_size)
    stride = pool if strides is None else _positive_pair(owner, "strides", strides)
    pad = padding.lower() if isinstance(padding, str) else padding
    if pad not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    return pool, stride, pad


def pool_output_size(in_size, k, s, padding):
    """``(out, pad_before)`` along one axis (Keras / TensorFlow rules); out < 1 when a 'valid'
    window does not fit. ``in_size`` None gives ``(None, 0)``."""
    if in_size is None:
        return None, 0
    if padding == "valid":
        return (in_size - k) // s + 1 if in_size >= k else 0, 0
    out = -(-in_size // s)
    return out, max((out - 1) * s + k - in_size, 0) // 2


def pool_geometry(owner, shape, pool_size, strides, padding):
    """The output shape and the kernel's geometry ``(kh, kw, sh, sw, pad_top, pad_left)`` for an
    NHWC input of ``shape``; ValueError naming ``owner`` for a bad rank or a window that does not
    fit."""
    (kh, kw), (sh, sw), pad = pool_args(owner, pool_size, strides, padding)
    shape = tuple(shape)
    if len(shape) != 4:
        raise ValueError(f"{owner}: expected a 4-D input (batch, height, width, channels), got shape {shape}")
    _, h, w, _ = shape
    oh, pt = pool_output_size(h, kh, sh, pad)
    ow, pl = pool_output_size(w, kw, sw, pad)
    if (h is not None and h < 1) or (w is not None and w < 1):
        raise ValueError(f"{owner}: the input's height and width must be >= 1, got shape {shape}")
    if pad == "valid" and ((h is not None and h < kh) or (w is not None and w < kw)):
        raise ValueError(f"{owner}: pool_size {(kh, kw)} is larger than the input's height and width {(h, w)} "
                         f"with padding='valid' (use padding='same' or a smaller pool)")
    return (shape[0], oh, ow, shape[3]), (kh, kw, sh, sw, pt, pl)


def _pool_shape(x):
    return tuple(getattr(x, "shape", ()))


def max_pool2d(x, pool_size, strides=None, padding="valid", return_indices=False, out=None):
    """Max pooling of an NHWC float32 array (padded cells ignored). With ``return_indices`` also
    the int32 argmax of each output (h * W + w within its image; the first cell on ties), which
    :func:`max_pool2d_backward` takes. Returns ``y`` or ``(y, indices)``."""
    shape, geo = pool_geometry("max_pool2d", _pool_shape(x), pool_size, strides, padding)
    indices = None

    def call(o, stream):
        nonlocal indices
        if return_indices:
            indices = _empty(o.shape, np.int32) if type(o) is _ndarray else array_module(o).empty(o.shape, dtype=np.int32)
        _C.max_pool2d_forward(x, o, indices, *geo, stream)

    y = _launch("max_pool2d", x, out, shape, call)
    return (y, indices) if return_indices else y


def max_pool2d_backward(indices, grad, x_shape, pool_size, strides=None, padding="valid", out=None):
    """The input gradient of :func:`max_pool2d` (shape ``x_shape``): each output gradient added to
    its saved argmax cell."""
    _, geo = pool_geometry("max_pool2d_backward", x_shape, pool_size, strides, padding)
    return _launch("max_pool2d_backward", grad, out, tuple(x_shape),
                   lambda o, stream: _C.max_pool2d_backward(indices, grad, o, *geo, stream))


def avg_pool2d(x, pool_size, strides=None, padding="valid", out=None):
    """Average pooling of an NHWC float32 array; each window divided by its count of real
    (unpadded) cells, as Keras / TensorFlow do."""
    shape, geo = pool_geometry("avg_pool2d", _pool_shape(x), pool_size, strides, padding)
    return _launch("avg_pool2d", x, out, shape, lambda o, stream: _C.avg_pool2d_forward(x, o, *geo, stream))


def avg_pool2d_backward(grad, x_shape, pool_size, strides=None, padding="valid", out=None):
    """The input gradient of :func:`avg_pool2d` (shape ``x_shape``)."""
    _, geo = pool_geometry("avg_pool2d_backward", x_shape, pool_size, strides, padding)
    return _launch("avg_pool2d_backward", grad, out, tuple(x_shape),
                   lambda o, stream: _C.avg_pool2d_backward(grad, o, *geo, stream))


# ---- batch normalisation (csrc/fastnn/batchnorm.h) -------------------------------------------

def _channels(x):
    shape = tuple(getattr(x, "shape", ()))
    return shape[-1] if shape else 0


def _per_channel(x, n=1):
    """``n`` new float32 arrays of one value per channel of x, on x's device."""
    xp = array_module(x)
    with device_of(x):
        return [xp.empty((_channels(x),), dtype=np.float32) for _ in range(n)]


def _bn_scalar(name, value):
    if isinstance(value, bool) or not isinstance(value, _Real):
        raise TypeError(f"batch_norm: {name} must be a number, got {type(value).__name__}")
    return float(value)


def batch_norm_train(x, gamma, beta, running_mean=None, running_var=None, momentum=0.99, epsilon=1e-3, out=None):
    """Batch normalisation of x (..., C) with its own statistics over every axis but the last
    (biased variance); ``running_mean`` / ``running_var`` (or None) are updated in place as
    ``running * momentum + batch * (1 - momentum)`` (Keras 3). gamma / beta None mean 1 / 0.
    Returns ``(y, mean, invstd)``, the last two for :func:`batch_norm_backward`."""
    momentum, epsilon = _bn_scalar("momentum", momentum), _bn_scalar("epsilon", epsilon)
    mean, invstd = _per_channel(x, 2) if hasattr(x, "shape") else (None, None)
    y = _launch("batch_norm", x, out, _pool_shape(x),
                lambda o, stream: _C.batchnorm_train_forward(x, gamma, beta, o, mean, invstd, running_mean,
                                                             running_var, momentum, epsilon, stream))
    return y, mean, invstd


def batch_norm_infer(x, gamma, beta, mean, var, epsilon=1e-3, out=None, return_invstd=False):
    """Batch normalisation of x (..., C) with the given (running) mean and variance. With
    ``return_invstd`` also 1 / sqrt(var + eps), for :func:`batch_norm_backward`."""
    epsilon = _bn_scalar("epsilon", epsilon)
    invstd = _per_channel(x)[0] if return_invstd and hasattr(x, "shape") else None
    y = _launch("batch_norm", x, out, _pool_shape(x),
                lambda o, stream: _C.batchnorm_infer_forward(x, gamma, beta, mean, var, o, invstd, epsilon, stream))
    return (y, invstd) if return_invstd else y


def batch_norm_backward(x, grad, mean, invstd, gamma=None, training=True, need_input=True, need_gamma=True,
                        need_beta=True, out=None):
    """The fused gradient of batch normalisation: ``(dx, dgamma, dbeta)`` (None where not needed)
    from x, the output gradient and the saved mean and invstd, in one kernel (two column sums, one
    element-wise pass). ``training``: through the batch statistics. ``out`` may be ``grad``."""
    dgamma = _per_channel(x)[0] if need_gamma else None
    dbeta = _per_channel(x)[0] if need_beta else None
    if not need_input:
        with device_of(x):
            _C.batchnorm_backward(x, grad, mean, invstd, gamma, None, dgamma, dbeta, bool(training), cuda_stream(x))
        return None, dgamma, dbeta
    dx = _launch("batch_norm_backward", x, out, _pool_shape(x),
                 lambda o, stream: _C.batchnorm_backward(x, grad, mean, invstd, gamma, o, dgamma, dbeta,
                                                         bool(training), stream))
    return dx, dgamma, dbeta
