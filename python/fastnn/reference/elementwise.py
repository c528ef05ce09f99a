"""NumPy twin of the broadcasting binary ops, their backward and the sum reduction.

Computes in the dtype it is given (float64 in the tests, float32 in the
benchmarks). The backward follows ``csrc/fastnn/elementwise.h``:

    add       da = g,        db = g
    subtract  da = g,        db = -g
    multiply  da = g b,      db = g a
    divide    da = g / b,    db = -g a / b**2
    maximum   da = g where a > b, g / 2 where a == b, 0 where a < b (db mirrored)
    minimum   da = g where a < b, g / 2 where a == b, 0 where a > b (db mirrored)

each summed over the axes along which that operand was broadcast. Ties split
the gradient and a NaN operand passes all of it to both sides, as PyTorch does.
"""

from __future__ import annotations

import numpy as np

BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
}


def binary(op, a, b):
    """``a OP b`` with NumPy broadcasting."""
    try:
        fn = BINARY[op]
    except KeyError:
        raise ValueError(f"binary: unknown op {op!r}") from None
    return fn(a, b)


def sum_to_shape(x, shape):
    """``x`` summed over the axes along which an array of ``shape`` is
    broadcast to ``x.shape`` (the leading axes it lacks, and its length-1 axes)."""
    shape = tuple(shape)
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def _term(op, side, g, a, b):
    """g * d(a OP b)/d(side), broadcast to g's shape."""
    if op == "add":
        return g
    if op == "subtract":
        return g if side == 0 else -g
    if op == "multiply":
        return g * (b if side == 0 else a)
    if op == "divide":
        return g / b if side == 0 else -g * a / (b * b)
    if op in ("maximum", "minimum"):
        # the side that loses the comparison gets 0; ties get half
        loses = (a < b if side == 0 else a > b) if op == "maximum" else (a > b if side == 0 else a < b)
        return np.where(loses, 0, np.where(a == b, g / 2, g)).astype(g.dtype)
    raise ValueError(f"binary_backward: unknown op {op!r}")


def binary_backward(op, side, grad, a, b):
    """The gradient of ``binary(op, a, b)`` with respect to ``a`` (side 0) or
    ``b`` (side 1), given the output gradient ``grad``; shaped like that operand."""
    a, b, grad = np.asarray(a), np.asarray(b), np.asarray(grad)
    term = np.broadcast_to(_term(op, side, grad, a, b), grad.shape)
    return sum_to_shape(term, (a if side == 0 else b).shape)


def reduce_sum(x, axis=None, keepdims=False):
    """``np.sum`` in x's dtype."""
    return np.sum(x, axis=axis, keepdims=keepdims)
