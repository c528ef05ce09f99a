"""Array-level entry points to the kernels.

Each function takes NumPy or CuPy arrays, allocates its output on the
inputs' device (the C++ side owns no memory), and calls one kernel of
``fastnn._C``. Argument checking happens in the kernel, which raises
ValueError / TypeError / RuntimeError naming the op.
"""

from __future__ import annotations

import numpy as np

from fastnn import _C
from fastnn.backend import array_module, cuda_stream

_ACTIVATIONS = {None: 0, "linear": 0, "relu": 1}


def _activation_code(op: str, activation) -> int:
    try:
        return _ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"{op}: unknown activation {activation!r}; expected None, 'linear' or 'relu'"
        ) from None


def _row_major(x, transposed: bool):
    """A column-major 2-D array becomes its (row-major) transpose with the flag
    flipped, so ``matmul(x.T, y)`` needs no copy."""
    strides = getattr(x, "strides", None)
    if (
        strides is not None
        and len(strides) == 2
        and x.shape[0] > 1
        and x.shape[1] > 1
        and strides[0] == x.itemsize
        and strides[1] != x.itemsize
    ):
        return x.T, not transposed
    return x, transposed


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
    transpose is read in place, never copied). ``a``, ``b``, ``out`` are 2-D
    float32 arrays on one device (NumPy or CuPy); ``bias`` has one entry per
    output column; ``activation`` is None or ``"relu"``. With ``beta != 0``
    the existing contents of ``out`` are accumulated into. Returns ``out``
    (a new array when not given).
    """
    code = _activation_code("gemm", activation)
    a, transpose_a = _row_major(a, transpose_a)
    b, transpose_b = _row_major(b, transpose_b)
    if out is None:
        if beta != 0.0:
            raise ValueError("gemm: beta != 0 accumulates into 'out', so 'out' must be given")
        try:
            shape = (a.shape[1 if transpose_a else 0], b.shape[0 if transpose_b else 1])
        except (AttributeError, IndexError, TypeError):
            shape = (0, 0)  # not a matrix: the kernel names the real problem
        out = array_module(a).empty(shape, dtype=np.float32)
    _C.gemm(a, b, out, transpose_a, transpose_b, alpha, beta, bias, code, cuda_stream(a))
    return out


def matmul(a, b, *, transpose_a: bool = False, transpose_b: bool = False, out=None, bias=None, activation=None):
    """``op(a) @ op(b)`` in float32 on our GEMM, with an optional fused bias and relu.

    Same arguments as :func:`gemm` with ``alpha=1, beta=0``: ``out`` is
    overwritten, never accumulated into.
    """
    return gemm(
        a, b, transpose_a=transpose_a, transpose_b=transpose_b, out=out, bias=bias, activation=activation
    )
