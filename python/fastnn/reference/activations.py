"""NumPy twin of the element-wise activation kernels (forward and backward).

Computes in the dtype it is given (float64 in the tests, float32 in the
benchmarks). Formulas are Keras' (keras.activations).
"""

from __future__ import annotations

import math

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_GELU_C = math.sqrt(2.0 / math.pi)
_erfc = np.vectorize(math.erfc, otypes=[np.float64])  # NumPy has no erfc; exact, not fast


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_derivative(x):
    e = np.exp(-np.abs(x))
    return e / (1 + e) ** 2


def _normal_cdf(x):
    # erfc, not 1 + erf: the negative tail would cancel away.
    return (0.5 * _erfc(-x / math.sqrt(2.0))).astype(x.dtype)


def _gelu_tanh_sigmoid(x):
    # 0.5 (1 + tanh u) written as sigmoid(2u), exact and free of cancellation.
    return _sigmoid(2 * _GELU_C * (x + 0.044715 * x**3))


FORWARD: dict = {
    "linear": lambda x, a: x.copy(),
    "relu": lambda x, a: np.maximum(x, 0),
    "leaky_relu": lambda x, a: np.where(x < 0, a * x, x),
    "elu": lambda x, a: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))),
    "selu": lambda x, a: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x, a: x * _normal_cdf(x),
    "gelu_tanh": lambda x, a: x * _gelu_tanh_sigmoid(x),
    "silu": lambda x, a: x * _sigmoid(x),
    "sigmoid": lambda x, a: _sigmoid(x),
    "hard_sigmoid": lambda x, a: np.clip(x / 6 + 0.5, 0, 1),
    "tanh": lambda x, a: np.tanh(x),
    "softplus": lambda x, a: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
    "softsign": lambda x, a: x / (1 + np.abs(x)),
    "exponential": lambda x, a: np.exp(x),
}


def _gelu_tanh_derivative(x):
    v = 2 * _GELU_C * (x + 0.044715 * x**3)
    ds = _sigmoid_derivative(v)
    with np.errstate(over="ignore", invalid="ignore"):
        tail = 2 * x * ds * _GELU_C * (1 + 3 * 0.044715 * x * x)
    return _sigmoid(v) + np.where(ds == 0, 0, tail)


def _silu_derivative(x):
    return _sigmoid(x) * (1 + x * _sigmoid(-x))


DERIVATIVE: dict = {
    "linear": lambda x, a: np.ones_like(x),
    "relu": lambda x, a: (x > 0).astype(x.dtype),
    "leaky_relu": lambda x, a: np.where(x > 0, 1, a).astype(x.dtype),
    "elu": lambda x, a: np.where(x > 0, 1, a * np.exp(np.minimum(x, 0))).astype(x.dtype),
    "selu": lambda x, a: (SELU_SCALE * np.where(x > 0, 1, SELU_ALPHA * np.exp(np.minimum(x, 0)))).astype(x.dtype),
    "gelu": lambda x, a: _normal_cdf(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
    "gelu_tanh": lambda x, a: _gelu_tanh_derivative(x),
    "silu": lambda x, a: _silu_derivative(x),
    "sigmoid": lambda x, a: _sigmoid_derivative(x),
    "hard_sigmoid": lambda x, a: np.where((x > -3) & (x < 3), 1 / 6, 0).astype(x.dtype),
    "tanh": lambda x, a: 4 * _sigmoid_derivative(2 * x),
    "softplus": lambda x, a: _sigmoid(x),
    "softsign": lambda x, a: 1 / (1 + np.abs(x)) ** 2,
    "exponential": lambda x, a: np.exp(x),
}


FORWARD["swish"] = FORWARD["silu"]
DERIVATIVE["swish"] = DERIVATIVE["silu"]


def activation(x, name, alpha=0.0):
    """``f(x)`` for the activation ``name`` (Keras formulas), in x's dtype."""
    try:
        return FORWARD[name](x, alpha)
    except KeyError:
        raise ValueError(f"activation: unknown activation {name!r}") from None


def activation_backward(x, grad, name, alpha=0.0):
    """``grad * f'(x)``: the gradient of the activation's input."""
    try:
        return grad * DERIVATIVE[name](x, alpha)
    except KeyError:
        raise ValueError(f"activation_backward: unknown activation {name!r}") from None


# f'(x) as a function of the output y = f(x), for the activations where that is
# cheap (fastnn.ops.ACTIVATIONS_FROM_OUTPUT); the same formulas as the kernels.
# leaky_relu and elu need alpha >= 0 (y > 0 exactly where x > 0).
DERIVATIVE_FROM_OUTPUT: dict = {
    "linear": lambda y, a: np.ones_like(y),
    "relu": lambda y, a: (y > 0).astype(y.dtype),
    "leaky_relu": lambda y, a: np.where(y > 0, 1, a).astype(y.dtype),
    "elu": lambda y, a: np.where(y > 0, 1, y + a).astype(y.dtype),
    "selu": lambda y, a: np.where(y > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA).astype(y.dtype),
    "sigmoid": lambda y, a: y * (1 - y),
    "hard_sigmoid": lambda y, a: np.where((y > 0) & (y < 1), 1 / 6, 0).astype(y.dtype),
    "tanh": lambda y, a: (1 - y) * (1 + y),
    "softplus": lambda y, a: -np.expm1(-y),
    "exponential": lambda y, a: y.copy(),
}


def activation_backward_from_output(y, grad, name, alpha=0.0):
    """``grad * f'(x)`` computed from the activation's output ``y = f(x)``."""
    op = "activation_backward"
    if name not in DERIVATIVE_FROM_OUTPUT:
        raise ValueError(f"{op}: from_output=True is not supported for {name!r}")
    if name in ("leaky_relu", "elu") and not alpha >= 0:
        raise ValueError(f"{op}: from_output=True needs alpha >= 0 for {name!r}, got {alpha}")
    return grad * DERIVATIVE_FROM_OUTPUT[name](y, alpha)
