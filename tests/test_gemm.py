"""fastnn.gemm / fastnn.matmul (CPU) against the float64 NumPy reference."""

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import _C
from conftest import AVAILABLE_ISAS
from gemm_oracle import assert_close, expected_and_tolerance, operands


def run_case(rng, m, k, n, *, transpose_a=False, transpose_b=False, alpha=1.0, beta=0.0, use_bias=False,
             activation=None):
    a, b = operands(rng, m, k, n, transpose_a, transpose_b)
    bias = rng.standard_normal(n).astype(np.float32) if use_bias else None
    c0 = rng.standard_normal((m, n)).astype(np.float32) if beta != 0.0 else None
    out = None if c0 is None else c0.copy()
    got = fastnn.gemm(a, b, transpose_a=transpose_a, transpose_b=transpose_b, alpha=alpha, beta=beta, out=out,
                      bias=bias, activation=activation)
    assert got.shape == (m, n) and got.dtype == np.float32
    if out is not None:
        assert got is out
    want, tol = expected_and_tolerance(a, b, transpose_a=transpose_a, transpose_b=transpose_b, alpha=alpha,
                                       beta=beta, c0=c0, bias=bias, activation=activation)
    assert_close(got, want, tol)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    m=st.integers(1, 300),
    k=st.integers(1, 300),
    n=st.integers(1, 300),
    transpose_a=st.booleans(),
    transpose_b=st.booleans(),
    alpha=st.sampled_from([1.0, -0.5, 2.25]),
    beta=st.sampled_from([0.0, 1.0, -1.5]),
    use_bias=st.booleans(),
    activation=st.sampled_from([None, "relu"]),
    threads=st.sampled_from([1, 2]),
    isa=st.sampled_from(AVAILABLE_ISAS),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes_match_reference(m, k, n, transpose_a, transpose_b, alpha, beta, use_bias, activation, threads,
                                       isa, seed):
    fastnn.set_num_threads(threads)
    _C.set_cpu_isa(isa)
    run_case(np.random.default_rng(seed), m, k, n, transpose_a=transpose_a, transpose_b=transpose_b, alpha=alpha,
             beta=beta, use_bias=use_bias, activation=activation)


# Sizes around every micro-tile edge (MR = 4, 6, 8; NR = 16, 32), primes, 1,
# and sizes that cross the KC = 256 / NC = 512 blocking.
EDGE_SIZES = [1, 2, 5, 7, 8, 9, 13, 16, 17, 31, 32, 33, 97, 257, 513]


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("transpose_a,transpose_b", [(False, False), (True, False), (False, True), (True, True)])
def test_tile_edges(rng, isa, transpose_a, transpose_b):
    _C.set_cpu_isa(isa)
    for m in EDGE_SIZES:
        for n in EDGE_SIZES:
            k = int(rng.choice(EDGE_SIZES))
            run_case(rng, m, k, n, transpose_a=transpose_a, transpose_b=transpose_b, use_bias=True,
                     activation="relu")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", range(1, 18))
def test_every_narrow_width(rng, threads, n):
    # Outputs up to 16 wide take a column kernel specialised for each width on
    # AVX-512; m = 700 gives both threads work and leaves a partial 16-row block.
    fastnn.set_num_threads(threads)
    for transpose_a in (False, True):
        for transpose_b in (False, True):
            run_case(rng, 700, 45, n, transpose_a=transpose_a, transpose_b=transpose_b, alpha=1.5, beta=0.5,
                     use_bias=True, activation="relu")


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("transpose_a,transpose_b", [(False, False), (True, True)])
def test_large_1024(rng, threads, transpose_a, transpose_b):
    fastnn.set_num_threads(threads)
    run_case(rng, 1024, 1024, 1024, transpose_a=transpose_a, transpose_b=transpose_b, alpha=0.5, beta=2.0,
             use_bias=True)


@pytest.mark.parametrize("m,k,n", [(128, 784, 256), (784, 128, 256), (128, 256, 784), (128, 128, 10), (128, 10, 128),
                                   (1, 4096, 1), (3000, 2, 5), (2, 3, 3000)])
def test_network_and_skinny_shapes(rng, m, k, n):
    for transpose_a in (False, True):
        for transpose_b in (False, True):
            run_case(rng, m, k, n, transpose_a=transpose_a, transpose_b=transpose_b, use_bias=True)


def test_results_identical_across_thread_counts(rng):
    # Each output element is summed in the same order whatever the split.
    a, b = operands(rng, 200, 700, 300, False, False)
    fastnn.set_num_threads(1)
    one = fastnn.matmul(a, b)
    fastnn.set_num_threads(2)
    two = fastnn.matmul(a, b)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(two, fastnn.matmul(a, b))


def test_padded_rows_and_column_major_views(rng):
    # Views with a leading dimension larger than the row (a[:, :k]) are read in place.
    big_a = rng.standard_normal((50, 90)).astype(np.float32)
    big_b = rng.standard_normal((70, 40)).astype(np.float32)
    a, b = big_a[:, :61], big_b[:61, 3:33]
    want, tol = expected_and_tolerance(a, b)
    assert_close(fastnn.matmul(a, b), want, tol)
    # A column-major operand (x.T of a C-contiguous x) is used through its transpose.
    at = np.ascontiguousarray(a.T).T
    assert at.flags.f_contiguous and not at.flags.c_contiguous
    assert_close(fastnn.matmul(at, b), want, tol)
    assert_close(fastnn.matmul(a.T, b, transpose_a=True), want, tol)
    # Writing into a padded view of a bigger output leaves the padding alone.
    big_out = np.full((50, 45), 7.0, dtype=np.float32)
    fastnn.matmul(a, b, out=big_out[:, 5:35])
    assert_close(big_out[:, 5:35], want, tol)
    assert (big_out[:, :5] == 7).all() and (big_out[:, 35:] == 7).all()


def test_beta_zero_ignores_garbage_in_out(rng):
    a, b = operands(rng, 9, 11, 13, False, False)
    out = np.full((9, 13), np.nan, dtype=np.float32)
    fastnn.matmul(a, b, out=out)
    want, tol = expected_and_tolerance(a, b)
    assert_close(out, want, tol)


def test_alpha_zero_and_empty_inner_dimension(rng):
    c0 = rng.standard_normal((5, 6)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    a, b = operands(rng, 5, 4, 6, False, False)
    out = fastnn.gemm(a, b, alpha=0.0, beta=0.5, out=c0.copy(), bias=bias, activation="relu")
    np.testing.assert_allclose(out, np.maximum(0.5 * c0 + bias, 0), rtol=1e-6)
    a0, b0 = np.empty((5, 0), np.float32), np.empty((0, 6), np.float32)
    out = fastnn.gemm(a0, b0, beta=2.0, out=c0.copy(), bias=bias)
    np.testing.assert_allclose(out, 2.0 * c0 + bias, rtol=1e-6)
    assert fastnn.matmul(a0, b0).shape == (5, 6) and not fastnn.matmul(a0, b0).any()
    assert fastnn.matmul(np.empty((0, 3), np.float32), np.ones((3, 4), np.float32)).shape == (0, 4)


def test_relu_passes_nan_through_like_numpy():
    a = np.array([[np.nan, 1.0], [1.0, 1.0]], dtype=np.float32)
    b = np.eye(2, dtype=np.float32)
    out = fastnn.matmul(a, b, activation="relu")
    assert np.isnan(out[0, 0]) and out[1, 1] == 1.0


def test_concurrent_calls_from_python_threads(rng):
    # The GIL is released during the kernel; per-thread workspaces keep calls apart.
    pairs = [operands(rng, 150 + i, 170, 90 + i, False, False) for i in range(4)]
    results = [None] * len(pairs)

    def work(i):
        for _ in range(5):
            results[i] = fastnn.matmul(*pairs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(pairs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (a, b), got in zip(pairs, results):
        want, tol = expected_and_tolerance(a, b)
        assert_close(got, want, tol)
