"""NumPy twin of the batch-normalisation kernels (``csrc/fastnn/batchnorm.h``), Keras 3 semantics.

x is (..., C): every axis but the last is reduced. Computes in the dtype it is given.

* training: mean and biased variance of the batch; y = (x - mean) / sqrt(var + eps) * gamma +
  beta; the running statistics become ``running * momentum + batch * (1 - momentum)`` with the
  *biased* batch variance (Keras 3 assigns ``ops.moments``' variance to moving_variance; PyTorch
  uses the unbiased one instead);
* inference: the running mean and variance take the batch's place;
* backward (training): with xhat = (x - mean) * invstd, M rows,
  dbeta = sum(dy), dgamma = sum(dy * xhat),
  dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M);
  backward (inference): dx = gamma * invstd * dy, the same dgamma and dbeta.

gamma / beta None mean 1 / 0 (Keras' scale=False / center=False).
"""

from __future__ import annotations

import numpy as np


def _rows(x):
    x = np.asarray(x)
    return x.reshape(-1, x.shape[-1])


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.99, epsilon=1e-3):
    """Returns ``(y, mean, invstd, new_running_mean, new_running_var)`` (the running statistics
    unchanged in inference; None when not given)."""
    x = np.asarray(x)
    dt = x.dtype.type
    x2 = _rows(x)
    if training:
        mean = x2.mean(axis=0)
        var = ((x2 - mean) ** 2).mean(axis=0)
        if running_mean is not None:
            running_mean = np.asarray(running_mean) * dt(momentum) + mean * dt(1 - momentum)
        if running_var is not None:
            running_var = np.asarray(running_var) * dt(momentum) + var * dt(1 - momentum)
    else:
        mean, var = np.asarray(running_mean, x.dtype), np.asarray(running_var, x.dtype)
    invstd = dt(1) / np.sqrt(var + dt(epsilon))
    y = (x2 - mean) * invstd
    if gamma is not None:
        y = y * np.asarray(gamma, x.dtype)
    if beta is not None:
        y = y + np.asarray(beta, x.dtype)
    return y.reshape(x.shape).astype(x.dtype, copy=False), mean, invstd, running_mean, running_var


def batch_norm_backward(x, grad, mean, invstd, gamma, training=True):
    """``(dx, dgamma, dbeta)`` from the saved batch mean and 1 / sqrt(var + eps)."""
    x = np.asarray(x)
    x2, g2 = _rows(x), _rows(np.asarray(grad, x.dtype))
    m = x2.shape[0]
    xhat = (x2 - mean) * invstd
    dbeta = g2.sum(axis=0)
    dgamma = (g2 * xhat).sum(axis=0)
    scale = invstd if gamma is None else np.asarray(gamma, x.dtype) * invstd
    if training:
        dx = scale * (g2 - dbeta / m - xhat * (dgamma / m))
    else:
        dx = scale * g2
    return dx.reshape(x.shape).astype(x.dtype, copy=False), dgamma, dbeta
