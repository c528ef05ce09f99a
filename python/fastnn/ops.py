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

_ACTIVATIONS = {None: 0, "linear": 0, "relu": 1}
_ndarray = np.ndarray
_float32 = np.float32
_empty = np.empty


def _gemm(a, b, transpose_a, transpose_b, alpha, beta, out, bias, activation):
    code = _ACTIVATIONS.get(activation) if isinstance(activation, (str, type(None))) else None
    if code is None:
        raise ValueError(f"gemm: unknown activation {activation!r}; expected None, 'linear' or 'relu'")
    if out is None:
        if beta != 0.0:
            raise ValueError("gemm: beta != 0 accumulates into 'out', so 'out' must be given")
        try:
            shape = (a.shape[1 if transpose_a else 0], b.shape[0 if transpose_b else 1])
        except (AttributeError, IndexError, TypeError):
            shape = (0, 0)  # not a matrix: the kernel names the real problem
    else:
        shape = None
    # A column-major operand (x.T) is read in place: the kernel flips it to
    # its row-major transpose.
    if type(a) is _ndarray or not is_cuda_array(a):  # NumPy (tested first: the common case), or not an array
        if shape is not None:
            out = _empty(shape, _float32)
        _C.gemm(a, b, out, transpose_a, transpose_b, alpha, beta, bias, code, 0)
        return out
    if not CUDA_BUILT:
        raise RuntimeError(
            "gemm: the arguments are CUDA arrays but fastnn was built without CUDA "
            "(reinstall with nvcc on PATH, or FASTNN_CUDA=ON to require it)"
        )
    with device_of(a):
        if shape is not None:
            out = array_module(a).empty(shape, dtype=_float32)
        _C.gemm(a, b, out, transpose_a, transpose_b, alpha, beta, bias, code, cuda_stream(a))
    return out


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
