"""The fused L1/L2 weight penalty on the GPU (``pytest -m gpu``) against the float64 NumPy
reference, with the tolerances of tests/test_penalty.py (the GPU's summation order differs from
the CPU's, so the two agree only within those bounds). The forward's two-stage reduction has no
atomics: repeated calls must give the same bits.
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
from fastnn import ops, regularizers  # noqa: E402
from test_penalty import COEFS, assert_backward, assert_forward, weights  # noqa: E402

pytestmark = pytest.mark.gpu

# 8192 * 1024 elements fill the first stage's largest grid; beyond it the blocks loop.
SHAPES = [(), (1,), (3,), (7,), (784, 128), ((1 << 20) + 7,), (8192 * 1024 + 5,), (0,)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("l1,l2", COEFS)
def test_forward_and_backward_match_reference(rng, shape, l1, l2):
    w = weights(rng, shape)
    wd = cp.asarray(w)
    got = ops.penalty(wd, l1, l2)
    assert isinstance(got, cp.ndarray) and got.shape == ()
    assert_forward(cp.asnumpy(got), w, l1, l2)
    g = np.array(-1.25, np.float32)
    out = ops.penalty_backward(wd, cp.asarray(g), l1, l2)
    assert isinstance(out, cp.ndarray)
    assert_backward(cp.asnumpy(out), w, g, l1, l2)


@pytest.mark.parametrize("offset", [1, 2, 3])
def test_unaligned_views(rng, offset):
    """w starting 4-12 bytes into a buffer: the scalar (non-float4) loops."""
    w = weights(rng, (100003,))
    wd = cp.asarray(w)[offset:]
    assert_forward(cp.asnumpy(ops.penalty(wd, 0.01, 0.02)), w[offset:], 0.01, 0.02)
    g = np.array(0.5, np.float32)
    assert_backward(cp.asnumpy(ops.penalty_backward(wd, cp.asarray(g), 0.01, 0.02)), w[offset:], g, 0.01, 0.02)


def test_deterministic(rng):
    wd = cp.asarray(weights(rng, (3 << 20,)))
    first = ops.penalty(wd, 0.01, 0.02).tobytes()
    for _ in range(5):
        assert ops.penalty(wd, 0.01, 0.02).tobytes() == first


def test_backward_in_place(rng):
    wd = cp.asarray(weights(rng, (1001,)))
    g = cp.asarray(np.array(2.0, np.float32))
    want = ops.penalty_backward(wd, g, 0.1, 0.2)
    assert ops.penalty_backward(wd, g, 0.1, 0.2, out=wd) is wd
    assert cp.array_equal(wd, want)


def test_regularizer_autograd_on_gpu(rng):
    w = weights(rng, (64, 10))
    p = fastnn.Parameter(cp.asarray(w))
    loss = regularizers.L1L2(0.01, 0.02)(p)
    loss.backward()
    grad = cp.asnumpy(p.grad)
    assert_backward(grad, w, 1.0, 0.01, 0.02)


def test_device_mix_is_an_error(rng):
    w = weights(rng, (10,))
    with pytest.raises(ValueError, match="penalty_backward: argument 'grad'"):
        ops.penalty_backward(cp.asarray(w), np.array(1.0, np.float32), 0.1, 0.1)
    with pytest.raises(ValueError, match="penalty: argument 'out'"):
        ops.penalty(cp.asarray(w), 0.1, 0.1, out=np.empty((), np.float32))
