"""Batch normalisation on the GPU (``pytest -m gpu``) against the float64 NumPy reference, with
the tolerances of tests/test_batchnorm.py (the GPU's double column sums are added in another
order than the CPU's, well inside those bounds). The two-stage reductions have no atomics:
repeated calls give the same bits. Nothing synchronises with the host.
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
import fastnn.functional as F  # noqa: E402
from fastnn import layers, ops  # noqa: E402
from test_batchnorm import AFFINE, EPS, SHAPES, assert_backward, assert_train_forward, assert_y, inputs  # noqa: E402
from fastnn import reference as ref  # noqa: E402

pytestmark = pytest.mark.gpu

GPU_SHAPES = SHAPES + [(128, 13, 13, 64), (100000, 3), (2, 70000)]


def dev(*arrays):
    return [None if a is None else cp.asarray(a) for a in arrays]


@pytest.mark.parametrize("shape", GPU_SHAPES, ids=str)
@pytest.mark.parametrize("scale,center", AFFINE)
def test_train_matches_reference(rng, shape, scale, center):
    x, gamma, beta, rm0, rv0 = inputs(rng, shape)
    gamma, beta = (gamma if scale else None), (beta if center else None)
    dy = rng.standard_normal(shape).astype(np.float32)
    xd, gd, bd, rmd, rvd, dyd = dev(x, gamma, beta, rm0, rv0, dy)
    y, mean, invstd = ops.batch_norm_train(xd, gd, bd, rmd, rvd, 0.9, EPS)
    assert isinstance(y, cp.ndarray)
    h = [cp.asnumpy(a) for a in (y, mean, invstd, rmd, rvd)]
    assert_train_forward(x, gamma, beta, rm0, rv0, h)
    got = ops.batch_norm_backward(xd, dyd, mean, invstd, gd, training=True)
    assert_backward(x, dy, h[1], h[2], gamma, True, [cp.asnumpy(a) for a in got])


@pytest.mark.parametrize("shape", SHAPES[:6] + [(0, 5), (128, 256)], ids=str)
def test_inference_matches_reference(rng, shape):
    x, gamma, beta, rm, rv = inputs(rng, shape)
    dy = rng.standard_normal(shape).astype(np.float32)
    xd, gd, bd, rmd, rvd, dyd = dev(x, gamma, beta, rm, rv, dy)
    y, invstd = ops.batch_norm_infer(xd, gd, bd, rmd, rvd, EPS, return_invstd=True)
    x64 = x.astype(np.float64)
    wy, _, wi, _, _ = ref.batch_norm(x64, gamma.astype(np.float64), beta.astype(np.float64), rm.astype(np.float64),
                                     rv.astype(np.float64), False, 0.9, EPS)
    assert np.all(np.abs(cp.asnumpy(invstd) - wi) <= 2 * 2.0**-24 * wi)
    assert_y(x64, cp.asnumpy(y), wy, rm.astype(np.float64), wi, gamma.astype(np.float64), beta.astype(np.float64))
    got = ops.batch_norm_backward(xd, dyd, rmd, invstd, gd, training=False)
    assert_backward(x, dy, rm, cp.asnumpy(invstd), gamma, False, [cp.asnumpy(a) for a in got])


def test_deterministic(rng):
    x, gamma, beta, rm, rv = inputs(rng, (256, 13, 13, 64))
    xd, gd, bd = dev(x, gamma, beta)
    dyd = cp.asarray(rng.standard_normal(x.shape).astype(np.float32))
    ref_bits = None
    for _ in range(4):
        y, mean, invstd = ops.batch_norm_train(xd, gd, bd)
        bits = [a.tobytes() for a in (y, mean, invstd) + ops.batch_norm_backward(xd, dyd, mean, invstd, gd)]
        assert ref_bits is None or bits == ref_bits
        ref_bits = bits


def test_layer_on_gpu_matches_cpu(rng):
    x = (rng.standard_normal((32, 5, 5, 6)) * 2 + 1).astype(np.float32)
    cpu, gpu = layers.BatchNormalization(momentum=0.8), layers.BatchNormalization(momentum=0.8)
    cpu.build(x.shape)
    gpu.build(x.shape)
    for p in gpu.weights:
        p.data = cp.asarray(p.data)
    for _ in range(3):
        yc, yg = cpu(x, training=True), gpu(fastnn.Tensor(cp.asarray(x)), training=True)
        np.testing.assert_allclose(cp.asnumpy(yg.data), yc.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cp.asnumpy(gpu.moving_variance.data), cpu.moving_variance.numpy(), rtol=1e-6)
    p = fastnn.Parameter(cp.asarray(x))
    F.sum(F.batch_norm(p, gpu.gamma, gpu.beta, gpu.moving_mean, gpu.moving_variance, training=True)).backward()
    assert isinstance(p.grad, cp.ndarray) and isinstance(gpu.gamma.grad, cp.ndarray)


def test_device_mix_is_an_error(rng):
    x, gamma, beta, rm, rv = inputs(rng, (8, 4))
    with pytest.raises(ValueError, match="batch_norm: argument 'gamma'"):
        ops.batch_norm_train(cp.asarray(x), gamma, None)
