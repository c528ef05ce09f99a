"""The CUDA GEMM's tensor-core paths: fastnn.set_matmul_precision("high") (TF32) and ("medium")
(BF16) against the float64 reference, every transpose and epilogue term, and a Dense network
trained under each setting. Run with ``pytest -m gpu``; skips cleanly without a GPU, and per
test on GPUs below compute capability 8.0 (no TF32 / BF16 mma there: the setting falls back
to float32, which the last test checks).

Tolerance. Each operand is rounded to the tensor-core format on the way in: TF32 keeps 10
mantissa bits (unit roundoff 2^-11), BF16 7 (2^-8), so each product a*b carries a relative
error below 2 u_in + u_in^2; the k products are then summed in float32 by the tensor cores,
whose additions may truncate instead of rounding (Fasi et al., "Numerical behavior of NVIDIA
tensor cores", 2021), so each costs up to 2^-23 rather than 2^-24. Elementwise:

    |got - alpha * exact| <= |alpha| (2 u_in + u_in^2 + (k + 2) 2^-23) sum|a||b| + epilogue roundings

with the epilogue (beta * C, bias, relu: a few float32 roundings of the result) inside the +2.
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
import fastnn.functional as F  # noqa: E402

U_IN = {"high": 2.0**-11, "medium": 2.0**-8}
CC = cp.cuda.Device().compute_capability  # e.g. "90"
TENSOR_CORES = int(CC) >= 80
needs_tensor_cores = pytest.mark.skipif(not TENSOR_CORES, reason=f"compute capability {CC} < 8.0")

SHAPES = [(1, 1, 1), (1, 97, 5), (97, 1, 131), (127, 129, 8), (128, 128, 16), (129, 130, 33), (257, 513, 100),
          (5, 1000, 3), (2, 3, 4096), (300, 200, 1000), (1024, 1024, 1024)]
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]


def _operands(rng, m, n, k, ta, tb):
    a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
    return a, b


def _bound(precision, k, scale):
    u = U_IN[precision]
    return (2 * u + u * u + (k + 2) * 2.0**-23) * scale + 1e-30


@pytest.mark.gpu
@needs_tensor_cores
@pytest.mark.parametrize("precision", ["high", "medium"])
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_tensor_core_products_match_the_reference(rng, precision, ta, tb, m, n, k):
    a, b = _operands(rng, m, n, k, ta, tb)
    oa, ob = (a.T if ta else a).astype(np.float64), (b.T if tb else b).astype(np.float64)
    fastnn.set_matmul_precision(precision)
    got = cp.asnumpy(fastnn.matmul(cp.asarray(a), cp.asarray(b), transpose_a=ta, transpose_b=tb))
    assert got.dtype == np.float32 and got.shape == (m, n)
    err = np.abs(got - oa @ ob)
    tol = _bound(precision, k, np.abs(oa) @ np.abs(ob))
    assert np.all(err <= tol), f"max error {err.max():.3g}, worst ratio {np.max(err / tol):.3g}"


@pytest.mark.gpu
@needs_tensor_cores
@pytest.mark.parametrize("precision", ["high", "medium"])
@pytest.mark.parametrize("m,n,k", [(37, 45, 70), (200, 130, 257)])
def test_every_epilogue_term(rng, precision, m, n, k):
    a, b = _operands(rng, m, n, k, True, False)
    c0 = rng.uniform(-1, 1, (m, n)).astype(np.float32)
    bias = rng.uniform(-1, 1, n).astype(np.float32)
    fastnn.set_matmul_precision(precision)
    out = cp.asarray(c0)
    fastnn.gemm(cp.asarray(a), cp.asarray(b), transpose_a=True, alpha=0.75, beta=-0.5, out=out,
                bias=cp.asarray(bias), activation="relu")
    exact = np.maximum(0.75 * (a.T.astype(np.float64) @ b) - 0.5 * c0 + bias, 0.0)
    scale = 0.75 * (np.abs(a.T).astype(np.float64) @ np.abs(b)) + 0.5 * np.abs(c0) + np.abs(bias)
    err = np.abs(cp.asnumpy(out) - exact)
    assert np.all(err <= _bound(precision, k, scale))


@pytest.mark.gpu
@needs_tensor_cores
@pytest.mark.parametrize("precision", ["high", "medium"])
def test_the_setting_takes_effect(rng, precision):
    """The same product under "highest" and under a tensor-core setting: float32-exact in the
    first, the tensor-core format's rounding in the second (so the setting really reaches the
    kernel)."""
    m = n = k = 256
    a, b = _operands(rng, m, n, k, False, False)
    exact = a.astype(np.float64) @ b
    fp32 = cp.asnumpy(fastnn.matmul(cp.asarray(a), cp.asarray(b)))
    fastnn.set_matmul_precision(precision)
    tc = cp.asnumpy(fastnn.matmul(cp.asarray(a), cp.asarray(b)))
    rel = lambda x: np.linalg.norm(x - exact) / np.linalg.norm(exact)  # noqa: E731
    assert rel(fp32) < 1e-6
    assert rel(tc) > 10 * rel(fp32)
    assert rel(tc) < 4 * U_IN[precision]


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["high", "medium"])
def test_a_dense_network_trains_under_each_setting(precision):
    fastnn.set_matmul_precision(precision)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((512, 20)).astype(np.float32)
    y = (x[:, :10].sum(1) > 0).astype(np.int64)
    model = fastnn.Sequential([fastnn.layers.Input((20,)), fastnn.layers.Dense(64, activation="relu"),
                               fastnn.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.to("cuda")
    history = model.fit(x, y, batch_size=64, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9


@pytest.mark.gpu
@pytest.mark.skipif(TENSOR_CORES, reason="the device has TF32 / BF16 tensor cores")
def test_older_gpus_keep_float32(rng):
    a, b = _operands(rng, 64, 64, 64, False, False)
    want = cp.asnumpy(fastnn.matmul(cp.asarray(a), cp.asarray(b)))
    fastnn.set_matmul_precision("medium")
    assert np.array_equal(cp.asnumpy(fastnn.matmul(cp.asarray(a), cp.asarray(b))), want)
