"""NumPy twin of the GEMM kernel: the oracle for tests, the baseline for benchmarks.

It computes in the dtype it is given: tests pass float64 for an exact
oracle, benchmarks pass float32 for a fair speed baseline.
"""

from __future__ import annotations

import numpy as np


def gemm(a, b, *, transpose_a=False, transpose_b=False, alpha=1.0, beta=0.0, out=None, bias=None, activation=None):
    """``alpha * op(a) @ op(b) + beta * out [+ bias] [relu]`` with plain NumPy.

    Same signature and semantics as :func:`fastnn.gemm`; returns ``out`` when
    given (written in place), else a new array.
    """
    if activation not in (None, "linear", "relu"):
        raise ValueError(f"gemm: unknown activation {activation!r}; expected None, 'linear' or 'relu'")
    if beta != 0.0 and out is None:
        raise ValueError("gemm: beta != 0 accumulates into 'out', so 'out' must be given")
    opa = a.T if transpose_a else a
    opb = b.T if transpose_b else b
    c = np.matmul(opa, opb)
    if alpha != 1.0:
        c *= alpha
    if beta != 0.0:
        c += beta * out
    if bias is not None:
        c += bias
    if activation == "relu":
        np.maximum(c, 0, out=c)
    if out is not None:
        out[...] = c
        return out
    return c


def matmul(a, b, *, transpose_a=False, transpose_b=False, out=None, bias=None, activation=None):
    """:func:`gemm` with ``alpha=1, beta=0``."""
    return gemm(a, b, transpose_a=transpose_a, transpose_b=transpose_b, out=out, bias=bias, activation=activation)
