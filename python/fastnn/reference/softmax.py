"""NumPy twin of the softmax kernels: softmax / log_softmax (forward, backward)
along the last axis and the fused softmax cross-entropy. Computes in the dtype
it is given."""

from __future__ import annotations

import numpy as np


def softmax(x, log=False):
    shifted = x - x.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted - lse if log else np.exp(shifted - lse)


def softmax_backward(y, grad, log=False):
    if log:
        return grad - np.exp(y) * grad.sum(axis=-1, keepdims=True)
    return y * (grad - (grad * y).sum(axis=-1, keepdims=True))


def cross_entropy(logits, labels, label_smoothing=0.0, grad_scale=1.0):
    """(per-row loss, grad_scale * d loss / d logits) for integer labels (1-D)
    or target probabilities (2-D), with Keras' label smoothing."""
    rows, classes = logits.shape
    if labels.ndim == 1:
        targets = np.zeros_like(logits)
        targets[np.arange(rows), labels] = 1
    else:
        targets = labels.astype(logits.dtype)
    targets = (1 - label_smoothing) * targets + label_smoothing / classes
    log_p = softmax(logits, log=True)
    loss = -(targets * log_p).sum(axis=-1)
    grad = grad_scale * (np.exp(log_p) * targets.sum(axis=-1, keepdims=True) - targets)
    return loss, grad
