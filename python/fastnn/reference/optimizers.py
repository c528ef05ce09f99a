"""NumPy twin of the fused optimizer updates (Keras' formulas), in place, in the
dtype of the arrays given. Same arguments as fastnn.ops.optimizer_step.

One step, in the order of csrc/fastnn/optim.h (Keras 3's BaseOptimizer.apply):
g = grad * grad_scale; clip_norm (each gradient to its own L2 norm);
global_clip_norm (all gradients to their global L2 norm, after clip_norm);
clip_value; decoupled weight decay; the optimizer's update.
"""

from __future__ import annotations

import math

import numpy as np


def _clip_norm_factor(ss, c):
    """Keras' _clip_by_norm as a factor: c / max(norm, c) (0 for an infinite norm, NaN for NaN)."""
    norm = math.sqrt(ss)
    return 1.0 if norm <= c else c / norm


def _global_clip_factor(ss, c):
    """Keras' clip_by_global_norm as a factor: c / max(G, c), NaN when G is not finite."""
    norm = math.sqrt(ss)
    if not math.isfinite(norm):
        return math.nan
    return 1.0 if norm <= c else c / norm


def clip_gradients(grads, grad_scale=1.0, clip_norm=0.0, global_clip_norm=0.0, clip_value=0.0):
    """The gradients after steps 1-4 of optim.h (new arrays; the inputs are not changed)."""
    gs = [g * grad_scale for g in grads]
    if clip_norm > 0:
        gs = [g * _clip_norm_factor(float(np.sum(g * g)), clip_norm) for g in gs]
    if global_clip_norm > 0:
        with np.errstate(invalid="ignore"):
            total = sum(float(np.sum(g * g)) for g in gs)
        factor = _global_clip_factor(total, global_clip_norm)
        gs = [g * factor for g in gs]
    if clip_value > 0:
        gs = [np.clip(g, -clip_value, clip_value) for g in gs]
    return gs


def optimizer_step(kind, params, grads, states, learning_rate=0.01, momentum=0.0, nesterov=False, beta_1=0.9,
                   beta_2=0.999, epsilon=1e-7, amsgrad=False, rho=0.9, centered=False, weight_decay=0.0,
                   grad_scale=1.0, clip_value=0.0, clip_norm=0.0, global_clip_norm=0.0, iteration=1):
    if kind not in ("sgd", "adam", "rmsprop", "adagrad"):
        raise ValueError(f"optimizer_step: unknown optimizer {kind!r}")
    lr = learning_rate
    grads = clip_gradients(list(grads), grad_scale, clip_norm, global_clip_norm, clip_value)
    for p, g, s in zip(params, grads, states):
        if weight_decay:
            p -= lr * weight_decay * p
        if kind == "sgd":
            if momentum > 0:
                s[0][...] = momentum * s[0] - lr * g
                p += momentum * s[0] - lr * g if nesterov else s[0]
            else:
                p -= lr * g
        elif kind == "adam":
            lr_t = lr * math.sqrt(1 - beta_2**iteration) / (1 - beta_1**iteration)
            s[0] += (g - s[0]) * (1 - beta_1)
            s[1] += (g * g - s[1]) * (1 - beta_2)
            v = s[1]
            if amsgrad:
                np.maximum(s[2], s[1], out=s[2])
                v = s[2]
            p -= lr_t * s[0] / (np.sqrt(v) + epsilon)
        elif kind == "rmsprop":
            s[0][...] = rho * s[0] + (1 - rho) * g * g
            denom = s[0] + epsilon
            if centered:
                s[2][...] = rho * s[2] + (1 - rho) * g
                denom = s[0] - s[2] ** 2 + epsilon
            inc = lr * g / np.sqrt(denom)
            if momentum > 0:
                s[1][...] = momentum * s[1] + inc
                p -= s[1]
            else:
                p -= inc
        else:  # adagrad
            s[0] += g * g
            p -= lr * g / np.sqrt(s[0] + epsilon)
