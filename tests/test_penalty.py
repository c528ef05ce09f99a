"""The fused L1/L2 weight penalty (ops.penalty / penalty_backward) against the NumPy reference,
its autograd through fastnn.regularizers, and bad input.

Tolerances (u = 2**-24, the unit roundoff of float32):

* forward: |w| and w*w are exact in double (a float32 squared has <= 48 significant bits); n
  non-negative terms summed in double err by <= n 2**-53 S each sum, the combination
  l1 s1 + l2 s2 by <= 3 2**-53 S, and the rounding to float32 by <= u S. The float64 reference
  errs by as much again in double, so rtol = u + 2 (n + 4) 2**-53 (plus the smallest subnormal).
* backward: g (a s + b w) in float32, with a = fl(l1), b = fl(2 l2) (one rounding each), b w,
  the sum and the product by g one rounding each: |got - exact| <= 5u |g| (l1 + 2 l2 |w|)
  per element (plus the smallest subnormal).
"""

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import _C, ops, regularizers
from fastnn import reference as ref
from conftest import AVAILABLE_ISAS

U = 2.0**-24
TINY = float(np.finfo(np.float32).smallest_subnormal)

SHAPES = [(), (1,), (7,), (33, 5), (784, 128), (3, 5, 7, 11), ((1 << 20) + 7,), (0,), (4, 0)]
COEFS = [(0.01, 0.0), (0.0, 0.01), (0.01, 0.02), (0.0, 0.0), (3.5, 1e-4)]


def weights(rng, shape, zeros=True):
    w = rng.standard_normal(shape).astype(np.float32)
    if zeros and w.size > 2:
        w.flat[:: max(1, w.size // 3)] = 0.0  # sign(0) = 0 exercised
    return w


def assert_forward(got, w, l1, l2):
    w64 = w.astype(np.float64)
    want = float(ref.penalty(w64, l1, l2))
    assert got.shape == () and got.dtype == np.float32
    tol = (U + 2 * (w.size + 4) * 2.0**-53) * abs(want) + TINY
    assert abs(float(got) - want) <= tol, (float(got), want, tol)


def assert_backward(got, w, g, l1, l2):
    w64 = w.astype(np.float64)
    want = ref.penalty_backward(w64, float(g), l1, l2)
    assert got.shape == w.shape and got.dtype == np.float32
    tol = 5 * U * abs(float(g)) * (l1 + 2 * l2 * np.abs(w64)) + TINY
    assert np.all(np.abs(got.astype(np.float64) - want) <= tol)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("l1,l2", COEFS)
def test_forward_matches_reference(rng, isa, shape, l1, l2):
    _C.set_cpu_isa(isa)
    w = weights(rng, shape)
    assert_forward(ops.penalty(w, l1, l2), w, l1, l2)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("l1,l2", COEFS)
def test_backward_matches_reference(rng, isa, shape, l1, l2):
    _C.set_cpu_isa(isa)
    w = weights(rng, shape)
    g = np.array(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]), np.float32)
    got = ops.penalty_backward(w, g, l1, l2)
    assert_backward(got, w, g, l1, l2)
    if w.size:  # sign(0) = 0: only the (zero) l2 term remains
        assert np.all(got[w == 0] == 0)


def test_backward_in_place(rng):
    w = weights(rng, (1000, 3))
    g = np.array(1.5, np.float32)
    want = ops.penalty_backward(w, g, 0.01, 0.02)
    out = ops.penalty_backward(w, g, 0.01, 0.02, out=w)
    assert out is w and np.array_equal(w, want)


def test_forward_out_argument(rng):
    w = weights(rng, (100,))
    out = np.empty((), np.float32)
    assert ops.penalty(w, 0.1, 0.2, out=out) is out
    assert_forward(out, w, 0.1, 0.2)


@pytest.mark.parametrize("n", [(1 << 15) + 1, (1 << 20) + 7, 3 << 20])
def test_threads_do_not_change_results(rng, n):
    w = weights(rng, (n,))
    g = np.array(0.75, np.float32)
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        results.append((ops.penalty(w, 0.01, 0.02), ops.penalty_backward(w, g, 0.01, 0.02)))
    assert results[0][0].tobytes() == results[1][0].tobytes()
    assert np.array_equal(results[0][1], results[1][1])


def test_reference_backward_by_finite_differences(rng):
    """The reference backward against central differences of the reference forward, float64;
    |w| >= 0.1 keeps each step away from the kink of |w| at 0."""
    w = rng.uniform(0.1, 1.0, (5, 7)) * rng.choice([-1.0, 1.0], (5, 7))
    l1, l2, g, eps = 0.3, 0.7, 1.7, 1e-6
    grad = ref.penalty_backward(w, g, l1, l2)
    assert grad.dtype == np.float64
    fd = np.empty_like(w)
    for i in range(w.size):
        wp, wm = w.copy(), w.copy()
        wp.flat[i] += eps
        wm.flat[i] -= eps
        fd.flat[i] = g * (ref.penalty(wp, l1, l2) - ref.penalty(wm, l1, l2)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-8)
    assert ref.penalty_backward(np.zeros(3), g, l1, l2).tolist() == [0.0, 0.0, 0.0]  # sign(0) = 0


def test_reference_computes_in_its_dtype(rng):
    w = weights(rng, (10,))
    assert ref.penalty(w, 0.1, 0.2).dtype == np.float32
    assert ref.penalty_backward(w, 1.0, 0.1, 0.2).dtype == np.float32


# ------------------------------------------------------------------ autograd through the regularizers

@pytest.mark.parametrize("reg,l1,l2", [
    (regularizers.L2(0.01), 0.0, 0.01),
    (regularizers.L1(0.01), 0.01, 0.0),
    (regularizers.L1L2(0.01, 0.02), 0.01, 0.02),
    (regularizers.L1L2(), 0.0, 0.0),
    (regularizers.get("l1_l2"), 0.01, 0.01),
])
def test_regularizer_autograd(rng, reg, l1, l2):
    w = weights(rng, (31, 9))
    p = fastnn.Parameter(w)
    loss = reg(p)
    assert loss.shape == () and loss.requires_grad
    assert_forward(loss.data, w, l1, l2)
    loss.backward()
    assert_backward(p.grad, w, 1.0, l1, l2)
    np.testing.assert_allclose(p.grad, l1 * np.sign(w) + 2 * l2 * w, rtol=3e-7, atol=1e-9)


def test_penalty_in_a_larger_graph(rng):
    """The upstream gradient (here 3) reaches the backward kernel as a 0-d array."""
    w = weights(rng, (20, 4))
    p = fastnn.Parameter(w)
    loss = F.add(F.multiply(regularizers.L1L2(0.01, 0.02)(p), 3.0), F.sum(p))
    loss.backward()
    np.testing.assert_allclose(p.grad, 3 * (0.01 * np.sign(w) + 0.04 * w) + 1, rtol=1e-6)


def test_penalty_of_a_plain_array_has_no_grad(rng):
    w = weights(rng, (5,))
    t = F.penalty(w, 0.1, 0.0)
    assert not t.requires_grad
    assert_forward(t.data, w, 0.1, 0.0)


def test_public_behaviour_kept():
    assert regularizers.L1L2(0.1, 0.2).get_config() == {"l1": 0.1, "l2": 0.2}
    assert regularizers.L2(0.3).get_config() == {"l2": 0.3}
    assert regularizers.L1().get_config() == {"l1": 0.01}
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    r = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.25}})
    assert (r.l1, r.l2) == (0.5, 0.25)
    with pytest.raises(ValueError, match="L2"):
        regularizers.L2(-1.0)


# ------------------------------------------------------------------ bad input

W = np.ones((4, 3), np.float32)
G = np.array(1.0, np.float32)


@pytest.mark.parametrize("call,exc,text", [
    (lambda: ops.penalty(W.astype(np.float64), 0.1, 0.1), TypeError, "penalty: argument 'w'.*float32"),
    (lambda: ops.penalty(W.T, 0.1, 0.1), ValueError, "penalty: argument 'w'.*contiguous"),
    (lambda: ops.penalty(W, -0.1, 0.1), ValueError, "penalty: l1"),
    (lambda: ops.penalty(W, 0.1, float("nan")), ValueError, "penalty: l2"),
    (lambda: ops.penalty(W, "0.1", 0.1), TypeError, "penalty: l1"),
    (lambda: ops.penalty(W, 0.1, 0.1, out=np.empty(1, np.float32)), ValueError, "penalty: argument 'out'.*0-d"),
    (lambda: ops.penalty(W, 0.1, 0.1, out=np.empty((), np.float64)), TypeError, "penalty: argument 'out'"),
    (lambda: ops.penalty([1.0, 2.0], 0.1, 0.1), TypeError, "penalty"),
    (lambda: ops.penalty_backward(W, np.ones(1, np.float32), 0.1, 0.1), ValueError,
     "penalty_backward: argument 'grad'.*0-d"),
    (lambda: ops.penalty_backward(W, np.array(1.0), 0.1, 0.1), TypeError, "penalty_backward: argument 'grad'"),
    (lambda: ops.penalty_backward(W, G, 0.1, -2.0), ValueError, "penalty_backward: l2"),
    (lambda: ops.penalty_backward(W, G, 0.1, 0.1, out=np.empty((3, 4), np.float32)), ValueError,
     "penalty_backward: argument 'out'"),
    (lambda: ops.penalty_backward(W[:, ::2], G, 0.1, 0.1), ValueError, "penalty_backward: argument 'w'"),
])
def test_bad_input(call, exc, text):
    with pytest.raises(exc, match=text):
        call()


def test_backward_out_may_not_overlap_grad():
    buf = np.ones(13, np.float32)
    w = np.ones(12, np.float32)
    with pytest.raises(ValueError, match="penalty_backward: argument 'out'.*'grad'"):
        ops.penalty_backward(w, buf[:1].reshape(()), 0.1, 0.1, out=buf[:12])
