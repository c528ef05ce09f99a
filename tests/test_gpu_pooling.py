"""2-D pooling on the GPU (``pytest -m gpu``) against the float64 NumPy reference, with the
tolerances of tests/test_pooling.py (the GPU kernels add in the CPU loops' order; only FMA
contraction may differ). Max-pool forward and indices are exact; the backward gathers without
atomics, so repeated calls give the same bits; the GPU agrees with the CPU kernels within the
stated bounds.
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
import fastnn.functional as F  # noqa: E402
from fastnn import layers, ops  # noqa: E402
from test_pooling import (ALL, assert_avg_backward, assert_avg_forward, assert_max_backward,  # noqa: E402
                          assert_max_forward, data, ids)

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("cfg", ALL + [((128, 26, 26, 32), (2, 2), (2, 2), "valid")], ids=ids)
def test_pooling_matches_reference(rng, cfg):
    shape, pool, strides, padding = cfg
    x = data(rng, shape)
    xd = cp.asarray(x)
    y, idx = ops.max_pool2d(xd, pool, strides, padding, return_indices=True)
    assert isinstance(y, cp.ndarray) and idx.dtype == cp.int32
    assert_max_forward(cp.asnumpy(y), x, pool, strides, padding)
    cpu_y, cpu_idx = ops.max_pool2d(x, pool, strides, padding, return_indices=True)
    assert np.array_equal(cp.asnumpy(idx), cpu_idx)
    g = data(rng, y.shape)
    dx = ops.max_pool2d_backward(idx, cp.asarray(g), x.shape, pool, strides, padding)
    assert_max_backward(cp.asnumpy(dx), x, g, pool, strides, padding)
    a = ops.avg_pool2d(xd, pool, strides, padding)
    assert_avg_forward(cp.asnumpy(a), x, pool, strides, padding)
    da = ops.avg_pool2d_backward(cp.asarray(g), x.shape, pool, strides, padding)
    assert_avg_backward(cp.asnumpy(da), x.shape, g, pool, strides, padding)


def test_ties_and_nan_on_gpu(rng):
    x = rng.integers(0, 3, (4, 9, 8, 6)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    y, idx = ops.max_pool2d(cp.asarray(x), 3, 1, "same", return_indices=True)
    cy, cidx = ops.max_pool2d(x, 3, 1, "same", return_indices=True)
    assert np.array_equal(cp.asnumpy(y), cy, equal_nan=True) and np.array_equal(cp.asnumpy(idx), cidx)


def test_deterministic(rng):
    x = cp.asarray(data(rng, (16, 20, 20, 8)))
    y, idx = ops.max_pool2d(x, 3, 1, "same", return_indices=True)
    g = cp.asarray(data(rng, y.shape))
    first = (ops.max_pool2d_backward(idx, g, x.shape, 3, 1, "same").tobytes(),
             ops.avg_pool2d_backward(g, x.shape, 3, 1, "same").tobytes())
    for _ in range(3):
        assert ops.max_pool2d_backward(idx, g, x.shape, 3, 1, "same").tobytes() == first[0]
        assert ops.avg_pool2d_backward(g, x.shape, 3, 1, "same").tobytes() == first[1]


def test_autograd_and_layers_on_gpu(rng):
    x = data(rng, (3, 9, 8, 4))
    p = fastnn.Parameter(cp.asarray(x))
    y = F.max_pool2d(p, 2, None, "same")
    g = data(rng, y.shape)
    F.sum(F.multiply(y, cp.asarray(g))).backward()
    assert_max_backward(cp.asnumpy(p.grad), x, g, (2, 2), (2, 2), "same")
    for layer in (layers.AveragePooling2D(3, 2, "same"), layers.GlobalAveragePooling2D(), layers.GlobalMaxPooling2D()):
        out = layer(fastnn.Tensor(cp.asarray(x)))
        assert isinstance(out.data, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(out.data), layer(x).numpy(), rtol=1e-6, atol=1e-6)


def test_device_mix_is_an_error(rng):
    x = data(rng, (2, 4, 4, 3))
    with pytest.raises(ValueError, match="max_pool2d: argument 'out'"):
        ops.max_pool2d(cp.asarray(x), 2, out=np.empty((2, 2, 2, 3), np.float32))
    y, idx = ops.max_pool2d(cp.asarray(x), 2, return_indices=True)
    with pytest.raises(ValueError, match="max_pool2d_backward: argument 'indices'"):
        ops.max_pool2d_backward(cp.asnumpy(idx), y, x.shape, 2)
