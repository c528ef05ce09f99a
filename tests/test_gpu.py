"""GPU GEMM tests: the CUDA kernel against the float64 NumPy reference.

Run with ``pytest -m gpu``. The whole module skips cleanly without CuPy, without
a CUDA device/driver, or when fastnn was built without CUDA.
"""

import math

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
import fastnn.reference  # noqa: E402


# ---------------------------------------------------------------------------
# helpers

def _rand(rng, shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def _operands(rng, m, n, k, transpose_a, transpose_b):
    """float32 host operands stored as the kernel sees them (transposed when asked)."""
    a = _rand(rng, (k, m) if transpose_a else (m, k))
    b = _rand(rng, (n, k) if transpose_b else (k, n))
    return a, b


def _f64(x):
    return None if x is None else np.asarray(x, dtype=np.float64)


def _check(result, expected, k):
    # The kernel accumulates K products in float32; the rounding error of such a
    # sum grows like sqrt(K) * eps * |terms| (random-walk of per-step roundings),
    # so the absolute tolerance scales with sqrt(K). The oracle is float64 on the
    # same float32-rounded inputs, so it is exact to well below these bounds.
    assert isinstance(result, cp.ndarray), f"result left the GPU: {type(result)}"
    assert result.dtype == cp.float32
    got = cp.asnumpy(result)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * math.sqrt(max(k, 1)))


SHAPES = [
    # (m, n, k)
    (1, 1, 1),
    (1, 97, 1),
    (97, 1, 131),
    (1, 1, 300),
    (97, 131, 97),
    (131, 97, 300),
    (127, 129, 8),      # straddles a 128 tile by one either way
    (64, 64, 64),       # exact small tile
    (128, 128, 128),    # exact large tile
    (300, 300, 300),
    (257, 513, 33),     # non-multiples of every tile size
    (5, 1000, 3),       # wide, short K
    (1000, 3, 17),      # tall
    (2, 3, 4096),       # long K
    (1024, 1024, 1024),
]
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]


# ---------------------------------------------------------------------------
# correctness


@pytest.mark.gpu
@pytest.mark.parametrize("transpose_a,transpose_b", TRANSPOSES)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_matmul_matches_reference(m, n, k, transpose_a, transpose_b):
    rng = np.random.default_rng(1000 * m + 10 * n + k)
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    result = fastnn.matmul(cp.asarray(a), cp.asarray(b),
                           transpose_a=transpose_a, transpose_b=transpose_b)
    expected = fastnn.reference.gemm(_f64(a), _f64(b),
                                     transpose_a=transpose_a, transpose_b=transpose_b)
    _check(result, expected, k)


@pytest.mark.gpu
@pytest.mark.parametrize("transpose_a,transpose_b", TRANSPOSES)
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (97, 131, 61), (300, 257, 129), (1024, 96, 512)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -1.5), (-2.0, 0.25), (0.0, 3.0)])
def test_gemm_alpha_beta_in_place(m, n, k, transpose_a, transpose_b, alpha, beta):
    rng = np.random.default_rng(7 * m + n + k)
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    c = _rand(rng, (m, n))
    out = cp.asarray(c)
    result = fastnn.gemm(cp.asarray(a), cp.asarray(b), transpose_a=transpose_a,
                         transpose_b=transpose_b, alpha=alpha, beta=beta, out=out)
    expected = fastnn.reference.gemm(_f64(a), _f64(b), transpose_a=transpose_a,
                                     transpose_b=transpose_b, alpha=alpha, beta=beta,
                                     out=_f64(c).copy())
    assert result is out, "gemm(out=...) must write into and return `out`"
    _check(out, expected, k)


@pytest.mark.gpu
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (131, 97, 300), (1024, 1024, 1024)])
def test_gemm_beta_zero_does_not_read_out(m, n, k):
    # beta == 0 means C is not read (BLAS semantics): NaN in `out` must not leak.
    rng = np.random.default_rng(3)
    a, b = _operands(rng, m, n, k, False, False)
    out = cp.full((m, n), cp.nan, dtype=cp.float32)
    fastnn.gemm(cp.asarray(a), cp.asarray(b), alpha=1.5, beta=0.0, out=out)
    expected = fastnn.reference.gemm(_f64(a), _f64(b), alpha=1.5)
    _check(out, expected, k)


@pytest.mark.gpu
@pytest.mark.parametrize("transpose_a,transpose_b", TRANSPOSES)
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (97, 131, 97), (300, 300, 300), (129, 1024, 64)])
def test_matmul_bias_relu(m, n, k, transpose_a, transpose_b):
    rng = np.random.default_rng(11 * m + n)
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    bias = _rand(rng, (n,))
    for activation in (None, "relu"):
        result = fastnn.matmul(cp.asarray(a), cp.asarray(b), transpose_a=transpose_a,
                               transpose_b=transpose_b, bias=cp.asarray(bias),
                               activation=activation)
        expected = fastnn.reference.gemm(_f64(a), _f64(b), transpose_a=transpose_a,
                                         transpose_b=transpose_b, bias=_f64(bias),
                                         activation=activation)
        _check(result, expected, k)
        if activation == "relu":
            assert float(result.min()) >= 0.0


@pytest.mark.gpu
@pytest.mark.parametrize("m,n,k", [(97, 131, 61), (300, 257, 300)])
def test_gemm_all_epilogue_terms(m, n, k):
    # alpha, beta, bias and relu together: relu is applied last.
    rng = np.random.default_rng(5)
    a, b = _operands(rng, m, n, k, True, True)
    c = _rand(rng, (m, n))
    bias = _rand(rng, (n,))
    out = cp.asarray(c)
    fastnn.gemm(cp.asarray(a), cp.asarray(b), transpose_a=True, transpose_b=True,
                alpha=0.75, beta=-0.5, out=out, bias=cp.asarray(bias), activation="relu")
    expected = fastnn.reference.gemm(_f64(a), _f64(b), transpose_a=True, transpose_b=True,
                                     alpha=0.75, beta=-0.5, out=_f64(c).copy(),
                                     bias=_f64(bias), activation="relu")
    _check(out, expected, k)


@pytest.mark.gpu
@pytest.mark.parametrize("transpose_a,transpose_b", TRANSPOSES)
def test_unaligned_views(transpose_a, transpose_b):
    # C-contiguous views that start one float into their buffer: the kernel must
    # fall back from float4 to scalar loads/stores (and odd K makes ld % 4 != 0).
    m, n, k = 67, 131, 97
    rng = np.random.default_rng(17)
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)

    def shifted(x):
        buf = cp.empty(x.size + 1, dtype=cp.float32)
        view = buf[1:].reshape(x.shape)
        view[...] = cp.asarray(x)
        assert view.flags.c_contiguous and view.data.ptr % 16 != 0
        return view

    out = shifted(np.zeros((m, n), dtype=np.float32))
    result = fastnn.matmul(shifted(a), shifted(b), transpose_a=transpose_a,
                           transpose_b=transpose_b, out=out)
    expected = fastnn.reference.gemm(_f64(a), _f64(b), transpose_a=transpose_a,
                                     transpose_b=transpose_b)
    _check(result, expected, k)
    _check(out, expected, k)


# ---------------------------------------------------------------------------
# devices and streams


@pytest.mark.gpu
def test_result_stays_on_gpu():
    rng = np.random.default_rng(0)
    a = cp.asarray(_rand(rng, (33, 17)))
    b = cp.asarray(_rand(rng, (17, 45)))
    for result in (fastnn.matmul(a, b), fastnn.gemm(a, b, alpha=2.0)):
        assert isinstance(result, cp.ndarray)
        assert result.shape == (33, 45)
        assert result.device == a.device


@pytest.mark.gpu
def test_mixing_numpy_and_cupy_raises():
    rng = np.random.default_rng(0)
    a_np = _rand(rng, (8, 5))
    b_np = _rand(rng, (5, 6))
    a_cp, b_cp = cp.asarray(a_np), cp.asarray(b_np)
    with pytest.raises(ValueError, match="gemm"):
        fastnn.gemm(a_np, b_cp)
    with pytest.raises(ValueError, match="gemm"):
        fastnn.gemm(a_cp, b_np)
    with pytest.raises(ValueError, match="gemm"):
        fastnn.gemm(a_cp, b_cp, out=np.zeros((8, 6), dtype=np.float32), beta=1.0)
    with pytest.raises(ValueError, match="gemm"):
        fastnn.gemm(a_cp, b_cp, bias=np.zeros(6, dtype=np.float32))
    with pytest.raises(ValueError):
        fastnn.matmul(a_np, b_cp)


@pytest.mark.gpu
@pytest.mark.parametrize("transpose_a,transpose_b", TRANSPOSES)
def test_non_default_stream(transpose_a, transpose_b):
    # Inputs are produced and consumed on a non-blocking stream: the kernel must
    # launch on CuPy's current stream, otherwise it could race the input copies.
    m, n, k = 1024, 768, 1031
    rng = np.random.default_rng(23)
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    bias = _rand(rng, (n,))
    expected_dev = fastnn.matmul(cp.asarray(a), cp.asarray(b), transpose_a=transpose_a,
                                 transpose_b=transpose_b, bias=cp.asarray(bias),
                                 activation="relu")
    cp.cuda.Device().synchronize()

    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        a_s = cp.asarray(a)
        b_s = cp.asarray(b)
        bias_s = cp.asarray(bias)
        out = cp.empty((m, n), dtype=cp.float32)
        result = fastnn.matmul(a_s, b_s, transpose_a=transpose_a, transpose_b=transpose_b,
                               bias=bias_s, activation="relu", out=out)
        got = result.copy()  # same stream: ordered after the kernel
    stream.synchronize()

    expected = fastnn.reference.gemm(_f64(a), _f64(b), transpose_a=transpose_a,
                                     transpose_b=transpose_b, bias=_f64(bias),
                                     activation="relu")
    _check(got, expected, k)
    # Same kernel, same inputs: bit-identical to the default-stream run.
    np.testing.assert_array_equal(cp.asnumpy(got), cp.asnumpy(expected_dev))
