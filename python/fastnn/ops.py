"""Array-level entry points to the kernels.

Each function takes NumPy or CuPy arrays, allocates its output on the
inputs' device (the C++ side owns no memory), and calls one kernel of
``fastnn._C``. Argument checking happens in the kernel, which raises
ValueError / TypeError / RuntimeError naming the op. These wrappers sit on
the hot path of small layers, so they do as little as possible.
"""

from __future__ import annotations

import numpy as np

from fastnn import _C
from fastnn.backend import CUDA_BUILT, array_module, cuda_stream, device_of, is_cuda_array

_GEMM_EPILOGUES = {None: 0, "linear": 0, "relu": 1}  # activations fused into gemm
_ndarray = np.ndarray
_float32 = np.float32
_empty = np.empty


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


def activation_backward(x, grad, name: str, *, alpha=None, out=None):
    """``grad * f'(x)``: the gradient with respect to the activation's input ``x``."""
    code, alpha = _activation_code("activation_backward", name, alpha)
    return _launch(
        "activation_backward", x, out, getattr(x, "shape", (0,)),
        lambda dx, stream: _C.activation_backward(x, grad, dx, code, alpha, stream),
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


def softmax_cross_entropy(logits, labels, *, label_smoothing=0.0, grad_scale=1.0, compute_grad=True):
    """Per-row cross-entropy of ``softmax(logits)`` against integer ``labels``
    (1-D int32/int64) or target probabilities (2-D float32), in one stable pass.

    Returns ``(loss, grad)``: ``loss`` has one entry per row; ``grad`` is
    ``grad_scale * d loss / d logits`` (pass ``1 / rows`` for a mean), or None
    without ``compute_grad``. ``label_smoothing`` mixes the targets with the
    uniform distribution as Keras does.
    """
    rows = getattr(logits, "shape", (0,))[0] if getattr(logits, "ndim", 0) >= 1 else 0
    grads = []

    def call(loss, stream):
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
