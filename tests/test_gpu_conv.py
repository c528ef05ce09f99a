"""The conv2d kernels on the GPU (``pytest -m gpu``): the implicit-GEMM forward, backward-data
and backward-filter (csrc/cuda/conv.cu) against the float64 NumPy reference, with the
tolerances of tests/test_conv.py (float32 accumulation over each element's terms: the GPU sums
in another order than the CPU, within the same bound), autograd through functional.conv2d on
CuPy tensors, determinism of the split-K backward-filter, and device mixing.
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
import fastnn.functional as F  # noqa: E402
from fastnn import ops  # noqa: E402
from test_conv import CASES, arrays, case_id, check_backward, check_forward, flat_pads, geometry  # noqa: E402

pytestmark = pytest.mark.gpu

# Large enough to take several k-splits in the backward-filter and many blocks in the forward.
GPU_CASES = CASES + [
    dict(shape=(32, 28, 28, 1), kernel=(3, 3, 1, 32), strides=(1, 1), dilation=(1, 1), padding="valid"),
    dict(shape=(32, 13, 13, 32), kernel=(3, 3, 32, 64), strides=(1, 1), dilation=(1, 1), padding="valid"),
    dict(shape=(2, 33, 35, 70), kernel=(5, 5, 70, 130), strides=(2, 2), dilation=(1, 1), padding="same"),
]


@pytest.mark.parametrize("c", GPU_CASES, ids=case_id)
def test_kernels_match_reference(rng, c):
    x, w, b = arrays(rng, c)
    pads, s, d = flat_pads(c), c["strides"], c["dilation"]
    xd, wd, bd = cp.asarray(x), cp.asarray(w), cp.asarray(b)
    for activation in (None, "relu"):
        y = ops.conv2d(xd, wd, bias=bd, strides=s, padding=pads, dilation=d, activation=activation)
        assert isinstance(y, cp.ndarray)
        check_forward(cp.asnumpy(y), c, x, w, b, activation)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dyd = cp.asarray(dy)
    dx = ops.conv2d_backward_data(dyd, wd, x.shape, strides=s, padding=pads, dilation=d)
    dw = ops.conv2d_backward_filter(xd, dyd, c["kernel"][:2], strides=s, padding=pads, dilation=d)
    check_backward(cp.asnumpy(dx), cp.asnumpy(dw), None, c, x, w, dy)


@pytest.mark.parametrize("c", [CASES[0], CASES[7], GPU_CASES[-2]], ids=case_id)
def test_autograd_on_gpu(rng, c):
    x, w, b = arrays(rng, c)
    xt = fastnn.Tensor(cp.asarray(x), requires_grad=True)
    wt = fastnn.Tensor(cp.asarray(w), requires_grad=True)
    bt = fastnn.Tensor(cp.asarray(b), requires_grad=True)
    y = F.conv2d(xt, wt, bt, activation="relu", **geometry(c))
    check_forward(cp.asnumpy(y.data), c, x, w, b, "relu")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    F.sum(F.multiply(y, cp.asarray(dy))).backward()
    dz = dy * (cp.asnumpy(y.data) > 0)
    check_backward(cp.asnumpy(xt.grad), cp.asnumpy(wt.grad), cp.asnumpy(bt.grad), c, x, w, dz)


@pytest.mark.parametrize("c", [CASES[0], CASES[3], CASES[7], GPU_CASES[-2], GPU_CASES[-1]], ids=case_id)
def test_fused_backward_matches_reference(rng, c):
    """ops.conv2d_backward on CUDA arrays: one call for the relu mask, dx, dw and db (and with
    dx / db not wanted); the same bits on a second call (the split-K and bias sums are ordered)."""
    x, w, b = arrays(rng, c)
    pads, s, d = flat_pads(c), c["strides"], c["dilation"]
    xd, wd = cp.asarray(x), cp.asarray(w)
    y = ops.conv2d(xd, wd, bias=cp.asarray(b), strides=s, padding=pads, dilation=d, activation="relu")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    geo = dict(strides=s, padding=pads, dilation=d)
    dx, dw, db = ops.conv2d_backward(xd, wd, cp.asarray(dy), y=y, **geo)
    assert all(isinstance(t, cp.ndarray) for t in (dx, dw, db))
    dz = dy * (cp.asnumpy(y) > 0)
    check_backward(cp.asnumpy(dx), cp.asnumpy(dw), cp.asnumpy(db), c, x, w, dz)
    again = ops.conv2d_backward(xd, wd, cp.asarray(dy), y=y, **geo)
    assert all(cp.asnumpy(p).tobytes() == cp.asnumpy(q).tobytes() for p, q in zip(again, (dx, dw, db)))
    dx2, dw2, db2 = ops.conv2d_backward(xd, wd, cp.asarray(dy), input_grad=False, bias_grad=False, **geo)
    assert dx2 is None and db2 is None
    check_backward(None, cp.asnumpy(dw2), None, c, x, w, dy)


def test_fused_backward_of_an_empty_batch_is_zero(rng):
    x = cp.zeros((0, 5, 5, 3), cp.float32)
    w = cp.asarray(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
    dy = cp.zeros((0, 3, 3, 4), cp.float32)
    dx, dw, db = ops.conv2d_backward(x, w, dy, y=dy)
    assert dx.shape == (0, 5, 5, 3)
    assert cp.asnumpy(dw).tolist() == np.zeros((3, 3, 3, 4)).tolist() and cp.asnumpy(db).tolist() == [0.0] * 4


def test_backward_filter_is_deterministic(rng):
    c = GPU_CASES[-2]
    x, w, _ = arrays(rng, c)
    xd = cp.asarray(x)
    dy = cp.asarray(rng.standard_normal((32, 11, 11, 64)).astype(np.float32))
    first = ops.conv2d_backward_filter(xd, dy, (3, 3)).tobytes()
    for _ in range(3):
        assert ops.conv2d_backward_filter(xd, dy, (3, 3)).tobytes() == first


def test_device_mix_is_an_error(rng):
    x, w, _ = arrays(rng, CASES[0])
    with pytest.raises(ValueError, match="conv2d: argument 'w'"):
        ops.conv2d(cp.asarray(x), w, padding=flat_pads(CASES[0]), strides=CASES[0]["strides"],
                   dilation=CASES[0]["dilation"])
    with pytest.raises(ValueError, match="conv2d: argument 'out'"):
        ops.conv2d(cp.asarray(x), cp.asarray(w), padding=flat_pads(CASES[0]), strides=CASES[0]["strides"],
                   dilation=CASES[0]["dilation"], out=np.empty((1,), np.float32))
