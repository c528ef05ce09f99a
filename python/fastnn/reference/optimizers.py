"""NumPy twin of the fused optimizer updates (Keras' formulas), in place, in the
dtype of the arrays given. Same arguments as fastnn.ops.optimizer_step."""

from __future__ import annotations

import math

import numpy as np


def optimizer_step(kind, params, grads, states, learning_rate=0.01, momentum=0.0, nesterov=False, beta_1=0.9,
                   beta_2=0.999, epsilon=1e-7, amsgrad=False, rho=0.9, centered=False, weight_decay=0.0,
                   grad_scale=1.0, clip_value=0.0, iteration=1):
    lr = learning_rate
    for p, g, s in zip(params, grads, states):
        g = g * grad_scale
        if clip_value > 0:
            g = np.clip(g, -clip_value, clip_value)
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
        elif kind == "adagrad":
            s[0] += g * g
            p -= lr * g / np.sqrt(s[0] + epsilon)
        else:
            raise ValueError(f"optimizer_step: unknown optimizer {kind!r}")
