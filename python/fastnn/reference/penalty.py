"""NumPy twin of the L1/L2 weight penalty kernels (``csrc/fastnn/penalty.h``).

Computes in the dtype it is given (float64 in the tests, float32 in the
benchmarks):

    penalty(w, l1, l2)                    = l1 * sum(|w|) + l2 * sum(w**2)
    penalty_backward(w, grad, l1, l2)     = grad * (l1 * sign(w) + 2 * l2 * w)

with sign(0) = 0 (a subgradient, TensorFlow's gradient of abs).
"""

from __future__ import annotations

import numpy as np


def penalty(w, l1, l2):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` as a 0-d array of w's dtype."""
    w = np.asarray(w)
    dt = w.dtype.type
    return np.asarray(dt(l1) * np.sum(np.abs(w)) + dt(l2) * np.sum(w * w), dtype=w.dtype)


def penalty_backward(w, grad, l1, l2):
    """``grad * (l1 * sign(w) + 2 * l2 * w)``, shaped like w, in w's dtype."""
    w = np.asarray(w)
    dt = w.dtype.type
    g = np.asarray(grad, dtype=w.dtype)
    return (g * (dt(l1) * np.sign(w) + dt(2 * l2) * w)).astype(w.dtype, copy=False)
