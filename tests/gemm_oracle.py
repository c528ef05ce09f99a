"""The float64 oracle for GEMM tests and its error bound."""

import numpy as np

import fastnn

EPS32 = np.finfo(np.float32).eps


def operands(rng, m, k, n, transpose_a, transpose_b, dtype=np.float32):
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    return a, b


def expected_and_tolerance(a, b, *, transpose_a=False, transpose_b=False, alpha=1.0, beta=0.0, c0=None, bias=None,
                           activation=None):
    """The exact (float64) result and an elementwise bound on a float32 kernel's error.

    Summing k float32 products in any order errs by at most
    gamma_k * (|alpha| |op(a)| @ |op(b)|) with gamma_k ~ k * eps32 (Higham,
    "Accuracy and Stability of Numerical Algorithms", §3.5); the epilogue adds
    a few roundings of |beta * c0| + |bias|. We allow (k + 4) * eps32 times
    those magnitudes: a rigorous bound, yet a wrong or missing product term
    errs by O(1) * |a_ik b_kj| and is caught.
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    c64 = None if c0 is None else c0.astype(np.float64)
    bias64 = None if bias is None else bias.astype(np.float64)
    want = fastnn.reference.gemm(a64, b64, transpose_a=transpose_a, transpose_b=transpose_b, alpha=alpha, beta=beta,
                                 out=None if c64 is None else c64.copy(), bias=bias64, activation=activation)
    k = a.shape[0] if transpose_a else a.shape[1]
    scale = abs(alpha) * (np.abs(a64.T if transpose_a else a64) @ np.abs(b64.T if transpose_b else b64))
    if beta != 0.0:
        scale = scale + abs(beta) * np.abs(c64)
    if bias is not None:
        scale = scale + np.abs(bias64)
    tol = (k + 4) * EPS32 * scale + 1e-30
    return want, tol


def assert_close(got, want, tol):
    err = np.abs(got.astype(np.float64) - want)
    bad = err > tol
    assert not bad.any(), (
        f"{int(bad.sum())} of {bad.size} elements off; worst error {err.max():.3g} "
        f"at {np.unravel_index(np.argmax(err - tol), err.shape)} with tolerance {tol.ravel()[np.argmax(err - tol)]:.3g}"
    )
