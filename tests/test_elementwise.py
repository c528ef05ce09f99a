"""Broadcasting binary ops, their backward and reduce_sum against the NumPy reference.

Tolerances (u = 2**-24, the unit roundoff of float32):

* forward: each op is one IEEE float32 operation on float32 inputs, correctly
  rounded: |got - exact| <= u |exact|. The float64 reference is within
  2**-53 |exact| of exact, so |got - want| <= (u + 2**-53) |want| (+ the
  smallest subnormal, for results that round into the subnormal range).
* backward and reduce_sum: each term (g, g*b, g/b, -(g/b)(a/b), g/2 ...) is a
  float32 value within 3u of its exact value (divide's b side has three
  roundings; the others one or none); where rows are summed into rows (the
  innermost axis kept, e.g. a bias gradient) the CPU first adds them in fours
  in float32 (two more roundings, <= 2u sum|t|); the rest is summed in double
  (error <= n * 2**-53 * sum|t| for n terms) and rounded to float32 once
  (<= u |S|):
      |got - exact| <= 5u sum|t| + n 2**-53 sum|t| + u |S|.
  sum|t| is computed by the float64 reference on |t|.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import fastnn
from fastnn import _C, ops
from fastnn.reference import elementwise as ref
from conftest import AVAILABLE_ISAS

OPS = list(ops.BINARY_OPS)
U = 2.0**-24
TINY = np.finfo(np.float32).smallest_subnormal
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ helpers

def values(rng, shape, op="add", side=1):
    """float32 inputs; divisors kept away from 0 (|b| in [0.5, 2]) so quotients stay moderate."""
    x = rng.standard_normal(shape).astype(np.float32)
    if op == "divide" and side == 1:
        x = (np.sign(x) + (x == 0)) * rng.uniform(0.5, 2.0, shape)
        x = x.astype(np.float32)
    return x


def with_layout(x, layout):
    """The same values as an array with other strides: 'c' contiguous, 'f'
    column-major, 's' every other element of a bigger buffer, 'r' reversed
    (negative strides)."""
    if layout == "c" or x.ndim == 0:
        return x
    if layout == "f":
        return np.asfortranarray(x)
    if layout == "s":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), np.float32)
        big[..., ::2] = x
        return big[..., ::2]
    if layout == "r":
        return np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    raise ValueError(layout)


def assert_forward(got, want):
    assert got.dtype == np.float32 and got.shape == want.shape
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(np.float64) - want)
        bound = (U + 2.0**-53) * np.abs(want) + TINY
    same_nan = np.isnan(got) == np.isnan(want)
    assert same_nan.all(), "NaN pattern differs"
    ok = np.isnan(want) | (got == want) | (err <= bound)
    assert ok.all(), f"max excess {np.max(np.where(ok, 0, err - bound)):.3g}"


def sum_bound(abs_sum, n_terms, want, roundings=5):
    return (roundings * U + n_terms * 2.0**-53) * abs_sum + U * np.abs(want) + TINY


def assert_reduction(got, want, abs_sum, n_terms):
    assert got.dtype == np.float32 and got.shape == want.shape, (got.shape, want.shape)
    err = np.abs(got.astype(np.float64) - want)
    bound = sum_bound(abs_sum, n_terms, want)
    assert (err <= bound).all(), f"max error {err.max():.3g}, bound there {bound.flat[np.argmax(err - bound)]:.3g}"


def backward_expected(op, side, g, a, b):
    """(want, sum of |terms|, terms per output) from the float64 reference."""
    g64, a64, b64 = (np.asarray(v, np.float64) for v in (g, a, b))
    want = ref.binary_backward(op, side, g64, a64, b64)
    shape = (a64 if side == 0 else b64).shape
    terms = np.broadcast_to(np.abs(ref._term(op, side, g64, a64, b64)), g64.shape)
    abs_sum = ref.sum_to_shape(terms, shape)
    n_terms = g64.size // max(1, int(np.prod(shape)))
    return want, abs_sum, n_terms


# ------------------------------------------------------------------ forward

@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("op", OPS)
@HYP
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=5, min_side=0, max_side=6),
       layouts=st.tuples(st.sampled_from("cfsr"), st.sampled_from("cfsr")), seed=st.integers(0, 2**31))
def test_binary_matches_reference(isa, op, shapes, layouts, seed):
    _C.set_cpu_isa(isa)
    rng = np.random.default_rng(seed)
    (sa, sb), result = shapes
    a = with_layout(values(rng, sa, op, 0), layouts[0])
    b = with_layout(values(rng, sb, op, 1), layouts[1])
    got = ops.binary(op, a, b)
    assert got.shape == result and got.flags.c_contiguous
    assert_forward(got, ref.binary(op, a.astype(np.float64), b.astype(np.float64)))


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("case", ["same", "bias", "column", "scalar", "scalar_left", "outer", "nd", "transposed"])
def test_binary_common_cases_large(rng, isa, op, case):
    # Big enough to be split across threads; 1 and 2 threads give identical results.
    _C.set_cpu_isa(isa)
    shapes = {"same": ((1000, 301), (1000, 301)), "bias": ((700, 257), (257,)), "column": ((700, 257), (700, 1)),
              "scalar": ((1000, 301), ()), "scalar_left": ((), (1000, 301)), "outer": ((700, 1), (1, 257)),
              "nd": ((9, 1, 33, 70), (1, 40, 33, 1)), "transposed": ((300, 1000), (300, 1000))}[case]
    a = values(rng, shapes[0], op, 0)
    b = values(rng, shapes[1], op, 1)
    if case == "transposed":
        b = np.ascontiguousarray(values(rng, shapes[1][::-1], op, 1)).T
    want = ref.binary(op, a.astype(np.float64), b.astype(np.float64))
    fastnn.set_num_threads(1)
    one = ops.binary(op, a, b)
    fastnn.set_num_threads(2)
    two = ops.binary(op, a, b)
    np.testing.assert_array_equal(one, two)
    assert_forward(two, want)


def test_binary_python_scalars_and_0d(rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_array_equal(ops.binary("multiply", x, 2.5), x * np.float32(2.5))
    np.testing.assert_array_equal(ops.binary("subtract", 1, x), np.float32(1) - x)
    np.testing.assert_array_equal(ops.binary("divide", x, np.float32(4)), x / np.float32(4))
    y = ops.binary("add", 1.5, 2.25)
    assert y.shape == () and y.dtype == np.float32 and float(y) == 3.75
    z = ops.binary("maximum", np.array(3.0, np.float32), np.array(-1.0, np.float32))
    assert z.shape == () and float(z) == 3.0


def test_binary_in_place_and_out(rng):
    a = rng.standard_normal((64, 33)).astype(np.float32)
    b = rng.standard_normal(33).astype(np.float32)
    want = a + b
    out = ops.binary("add", a, b, out=a)
    assert out is a
    np.testing.assert_array_equal(a, want)
    c = rng.standard_normal((64, 33)).astype(np.float32)
    d = rng.standard_normal((64, 33)).astype(np.float32)
    want = c * d
    ops.binary("multiply", c, d, out=d)
    np.testing.assert_array_equal(d, want)
    # out may be bigger than the operands' broadcast shape: they broadcast to it.
    big = ops.binary("subtract", b, np.float32(1), out=np.empty((3, 33), np.float32))
    np.testing.assert_array_equal(big, np.broadcast_to(b - np.float32(1), (3, 33)))


def test_binary_nan_inf_like_numpy():
    a = np.array([np.nan, 1.0, np.nan, -np.inf, 0.0, 1.0, -0.0], np.float32)
    b = np.array([1.0, np.nan, np.nan, 3.0, 0.0, 0.0, 2.0], np.float32)
    with np.errstate(all="ignore"):
        for op in OPS:
            np.testing.assert_array_equal(ops.binary(op, a, b), ref.binary(op, a, b))
    assert np.isnan(ops.binary("maximum", a, b)[:3]).all() and np.isnan(ops.binary("minimum", a, b)[:3]).all()


def test_broadcast_view_with_zero_strides(rng):
    row = rng.standard_normal(40).astype(np.float32)
    a = np.broadcast_to(row, (50, 40))  # stride 0 on axis 0, read-only
    b = rng.standard_normal((50, 40)).astype(np.float32)
    assert_forward(ops.binary("add", a, b), a.astype(np.float64) + b)


# ------------------------------------------------------------------ backward

@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("op", OPS)
@HYP
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=5, min_side=0, max_side=6),
       layouts=st.tuples(st.sampled_from("cfsr"), st.sampled_from("cfsr"), st.sampled_from("cfr")),
       side=st.sampled_from([0, 1]), seed=st.integers(0, 2**31))
def test_backward_matches_reference(isa, op, shapes, layouts, side, seed):
    _C.set_cpu_isa(isa)
    rng = np.random.default_rng(seed)
    (sa, sb), result = shapes
    a = with_layout(values(rng, sa, op, 0), layouts[0])
    b = with_layout(values(rng, sb, op, 1), layouts[1])
    g = with_layout(rng.standard_normal(result).astype(np.float32), layouts[2])
    got = ops.binary_backward(op, side, g, a, b)
    want, abs_sum, n = backward_expected(op, side, g, a, b)
    assert_reduction(got, want, abs_sum, n)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("case", ["bias", "bias_grad_784", "column", "scalar", "same", "nd", "outer"])
def test_backward_common_cases_large(rng, isa, op, case):
    _C.set_cpu_isa(isa)
    shapes = {"bias": ((700, 257), (257,)), "bias_grad_784": ((1024, 784), (784,)), "column": ((700, 257), (700, 1)),
              "scalar": ((600, 301), ()), "same": ((600, 301), (600, 301)), "nd": ((9, 5, 33, 70), (1, 5, 1, 70)),
              "outer": ((700, 1), (1, 257))}[case]
    result = np.broadcast_shapes(*shapes)
    a = values(rng, shapes[0], op, 0)
    b = values(rng, shapes[1], op, 1)
    g = rng.standard_normal(result).astype(np.float32)
    for side in (0, 1):
        fastnn.set_num_threads(1)
        one = ops.binary_backward(op, side, g, a, b)
        fastnn.set_num_threads(2)
        two = ops.binary_backward(op, side, g, a, b)
        np.testing.assert_array_equal(one, two)
        assert_reduction(two, *backward_expected(op, side, g, a, b))


def test_maximum_minimum_ties_and_nan_follow_torch():
    # torch.maximum: where(a == b, g / 2, g).masked_fill_(a < b, 0); NaN gives g to both sides.
    a = np.array([1.0, 2.0, 3.0, np.nan, 1.0], np.float32)
    b = np.array([1.0, 1.0, 4.0, 1.0, np.nan], np.float32)
    g = np.full(5, 2.0, np.float32)
    np.testing.assert_array_equal(ops.binary_backward("maximum", 0, g, a, b), [1, 2, 0, 2, 2])
    np.testing.assert_array_equal(ops.binary_backward("maximum", 1, g, a, b), [1, 0, 2, 2, 2])
    np.testing.assert_array_equal(ops.binary_backward("minimum", 0, g, a, b), [1, 0, 2, 2, 2])
    np.testing.assert_array_equal(ops.binary_backward("minimum", 1, g, a, b), [1, 2, 0, 2, 2])
    # broadcast: a scalar tied with every element collects half of each gradient
    x = np.array([[0.5, 0.5], [0.5, 0.7]], np.float32)
    assert float(ops.binary_backward("maximum", 1, np.ones((2, 2), np.float32), x, 0.5)) == 1.5
    for side in (0, 1):
        np.testing.assert_array_equal(ops.binary_backward("maximum", side, g, a, b),
                                      ref.binary_backward("maximum", side, g, a, b))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("side", [0, 1])
@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((3, 1, 5), (2, 1)), ((), (2, 3)), ((2, 3), (2, 3))])
def test_reference_backward_matches_finite_differences(rng, op, side, shapes):
    # d/d(operand) of L = sum(w * (a OP b)) by central differences in float64:
    # error O(h^2) ~ 1e-10 here. maximum/minimum: operands at least 0.1 apart
    # (no ties within h).
    a = np.asarray(rng.uniform(0.5, 2.0, shapes[0]) * rng.choice([-1, 1], shapes[0]))
    b = np.asarray(rng.uniform(0.5, 2.0, shapes[1]) * rng.choice([-1, 1], shapes[1]))
    if op in ("maximum", "minimum"):
        b = np.asarray(np.round(b, 1) + 0.05)
        a = np.asarray(np.round(a, 1))
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    w = rng.standard_normal(out_shape)
    analytic = ref.binary_backward(op, side, w, a, b)
    x = (a if side == 0 else b).copy()
    numeric = np.zeros_like(x)
    h = 1e-6
    for i in np.ndindex(x.shape):
        def loss(v):
            y = x.copy()
            y[i] = v
            return np.sum(w * (ref.binary(op, y, b) if side == 0 else ref.binary(op, a, y)))
        numeric[i] = (loss(x[i] + h) - loss(x[i] - h)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-8)


def test_backward_in_place_only_without_reduction(rng):
    a = rng.standard_normal((8, 9)).astype(np.float32)
    b = rng.standard_normal((8, 9)).astype(np.float32)
    g = rng.standard_normal((8, 9)).astype(np.float32)
    want = g * b
    out = ops.binary_backward("multiply", 0, g, a, b, out=g)
    assert out is g
    np.testing.assert_array_equal(g, want)
    bias = rng.standard_normal(9).astype(np.float32)
    with pytest.raises(ValueError, match=r"multiply_backward: argument 'out' shares memory with 'b'"):
        ops.binary_backward("multiply", 1, g, a, bias, out=bias)


# ------------------------------------------------------------------ reduce_sum

@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@HYP
@given(shape=st.lists(st.integers(0, 7), min_size=0, max_size=5), data=st.data(), layout=st.sampled_from("cfsr"),
       keepdims=st.booleans(), seed=st.integers(0, 2**31))
def test_reduce_sum_matches_reference(isa, shape, data, layout, keepdims, seed):
    _C.set_cpu_isa(isa)
    rng = np.random.default_rng(seed)
    ndim = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1) if ndim else st.none(),
                               st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim).map(tuple)))
    if ndim == 0 and axis not in (None, ()):
        axis = None
    x = with_layout(rng.standard_normal(shape).astype(np.float32), layout)
    got = ops.reduce_sum(x, axis=axis, keepdims=keepdims)
    x64 = x.astype(np.float64)
    want = np.sum(x64, axis=axis, keepdims=keepdims)
    n = max(1, x.size // max(1, want.size))
    assert_reduction(np.asarray(got), np.asarray(want), np.sum(np.abs(x64), axis=axis, keepdims=keepdims), n)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("shape,axis", [((1024, 784), 0), ((1024, 784), 1), ((1024, 784), None), ((3, 400_000), 1),
                                        ((400_000, 3), 0), ((64, 50, 70), (0, 2)), ((64, 50, 70), (1,)),
                                        ((2_000_003,), None), ((5, 7, 9, 11, 13), (0, 2, 4))])
def test_reduce_sum_large_and_thread_independent(rng, isa, shape, axis):
    _C.set_cpu_isa(isa)
    x = rng.standard_normal(shape).astype(np.float32)
    fastnn.set_num_threads(1)
    one = ops.reduce_sum(x, axis=axis)
    fastnn.set_num_threads(2)
    two = ops.reduce_sum(x, axis=axis)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(two, ops.reduce_sum(x, axis=axis))  # and run to run
    x64 = x.astype(np.float64)
    n = x.size // max(1, np.asarray(two).size)
    assert_reduction(np.asarray(two), np.asarray(x64.sum(axis=axis)), np.asarray(np.abs(x64).sum(axis=axis)), n)


def test_reduce_sum_long_reduction_error_bound():
    # 2**24 + 1 positive terms: a float32 running sum stalls at 2**24 (every
    # further +1 rounds away); double accumulation is within
    # u |S| + n 2**-53 sum|x| = u S (1 + n 2**-29) of the exact sum.
    n = 2**24 + 1
    x = np.ones(n, np.float32)
    assert float(ops.reduce_sum(x)) == float(np.float32(n))
    rng = np.random.default_rng(3)
    y = rng.uniform(0.0, 1.0, 2**22).astype(np.float32)
    exact = math.fsum(y.astype(np.float64))
    got = float(ops.reduce_sum(y))
    assert abs(got - exact) <= U * abs(exact) * (1 + y.size * 2.0**-29)
    # cancellation: the terms' magnitudes, not the tiny sum, set the bound
    z = np.concatenate([y, -y[::-1], np.float32([0.25])])
    assert float(ops.reduce_sum(z)) == 0.25


def test_reduce_sum_keepdims_out_and_empty(rng):
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    assert ops.reduce_sum(x, axis=(0, 2), keepdims=True).shape == (1, 5, 1)
    assert ops.reduce_sum(x, axis=-1).shape == (4, 5)
    assert ops.reduce_sum(x, axis=()).shape == (4, 5, 6)
    np.testing.assert_array_equal(ops.reduce_sum(x, axis=()), x)
    out = np.empty(5, np.float32)
    assert ops.reduce_sum(x, axis=(0, 2), out=out) is out
    np.testing.assert_allclose(out, x.astype(np.float64).sum(axis=(0, 2)), rtol=1e-6)
    out_k = np.empty((4, 1, 1), np.float32)
    ops.reduce_sum(x, axis=(1, 2), keepdims=True, out=out_k)
    np.testing.assert_allclose(out_k, x.astype(np.float64).sum(axis=(1, 2), keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(ops.reduce_sum(np.ones((0, 3), np.float32), axis=0), np.zeros(3))
    assert ops.reduce_sum(np.ones((0, 3), np.float32), axis=1).shape == (0,)
    assert float(ops.reduce_sum(np.array(2.5, np.float32))) == 2.5
    # the kernel also takes an output of lower rank (a shape that broadcasts to x's)
    low = np.empty(6, np.float32)
    _C.reduce_sum(x, low)
    np.testing.assert_allclose(low, x.astype(np.float64).sum(axis=(0, 1)), rtol=1e-6)


def test_eight_dimensions(rng):
    # kMaxDims = 8: broadcasting in alternating axes, a reversed view, every op's backward, a sum over 4 axes.
    a = with_layout(rng.standard_normal((2, 1, 3, 1, 2, 1, 3, 2)).astype(np.float32), "r")
    b = rng.uniform(0.5, 2.0, (1, 2, 1, 3, 1, 2, 1, 1)).astype(np.float32)
    g = rng.standard_normal(np.broadcast_shapes(a.shape, b.shape)).astype(np.float32)
    for op in OPS:
        assert_forward(ops.binary(op, a, b), ref.binary(op, a.astype(np.float64), b.astype(np.float64)))
        for side in (0, 1):
            assert_reduction(ops.binary_backward(op, side, g, a, b), *backward_expected(op, side, g, a, b))
    x64 = g.astype(np.float64)
    axes = (0, 3, 5, 6)
    assert_reduction(ops.reduce_sum(g, axis=axes), x64.sum(axis=axes), np.abs(x64).sum(axis=axes), 2 * 3 * 2 * 3)


# ------------------------------------------------------------------ bad input

class FakeCudaArray:
    """Exposes __cuda_array_interface__ without a GPU: enough to test the device check."""

    def __init__(self, shape):
        self.shape = shape
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "data": (0, False), "strides": None,
                                         "version": 3}


def test_bad_input():
    x = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"binary: unknown op 'power'; expected one of add, subtract"):
        ops.binary("power", x, x)
    with pytest.raises(TypeError, match=r"add: argument 'b' must have dtype float32, got float64"):
        ops.binary("add", x, x.astype(np.float64))
    with pytest.raises(TypeError, match=r"multiply: argument 'a' must have dtype float32, got int32"):
        ops.binary("multiply", x.astype(np.int32), x)
    with pytest.raises(ValueError, match=r"add: operands could not be broadcast together: 'a' has shape \(4, 5\), "
                                         r"'b' has shape \(4,\)"):
        ops.binary("add", x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"subtract: argument 'b' of shape \(4,\) does not broadcast to the shape "
                                         r"\(4, 5\) of 'out'"):
        ops.binary("subtract", x, np.ones(4, np.float32), out=np.empty((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"add: argument 'a' of shape \(4, 5\) does not broadcast to the shape "
                                         r"\(5,\) of 'out'"):
        ops.binary("add", x, x, out=np.empty(5, np.float32))
    with pytest.raises(ValueError, match=r"add: argument 'out' must be C-contiguous"):
        ops.binary("add", x, x, out=np.empty((5, 4), np.float32).T)
    with pytest.raises(TypeError, match=r"divide: argument 'out' must have dtype float32, got float64"):
        ops.binary("divide", x, x, out=np.empty((4, 5)))
    ro = np.ones((4, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"add: argument 'out' is read-only"):
        ops.binary("add", x, x, out=ro)
    buf = np.ones(40, np.float32)
    with pytest.raises(ValueError, match=r"add: argument 'out' shares memory with 'a'"):
        ops.binary("add", buf[:20], np.float32(1), out=buf[10:30])
    with pytest.raises(ValueError, match=r"multiply: argument 'out' shares memory with 'b'"):
        ops.binary("multiply", x, x[0], out=x)  # b (a row of x) is read again after out overwrites it
    with pytest.raises(ValueError, match=r"add: argument 'b' is on cuda \(cupy\) device 0 but 'a' is on cpu"):
        ops.binary("add", np.ones(4, np.float32), FakeCudaArray((4,)))
    with pytest.raises(TypeError, match=r"add: argument 'b' must be a numpy.ndarray or cupy.ndarray, got list"):
        ops.binary("add", x, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"add: argument 'a' has 9 dimensions, at most 8 are supported"):
        ops.binary("add", np.ones((1,) * 9, np.float32), 1.0)
    with pytest.raises(ValueError, match=r"binary: unknown op code 9"):
        _C.binary(9, x, x, x)
    with pytest.raises(ValueError, match=r"add: argument 'a' is not aligned"):
        raw = np.zeros(21, np.float32).view(np.uint8)[1:81].view(np.float32)
        ops.binary("add", raw, raw)


def test_bad_input_backward_and_reduce():
    x = np.ones((4, 5), np.float32)
    b = np.ones(5, np.float32)
    with pytest.raises(ValueError, match=r"add_backward: side must be 0 or 'a', 1 or 'b', got 2"):
        ops.binary_backward("add", 2, x, x, b)
    with pytest.raises(ValueError, match=r"add_backward: side must be 0 \(the gradient of a\) or 1"):
        _C.binary_backward(0, 3, x, x, b, b)
    with pytest.raises(ValueError, match=r"multiply_backward: argument 'out' must have the shape of 'b' \(5,\), "
                                         r"got \(4, 5\)"):
        ops.binary_backward("multiply", 1, x, x, b, out=np.empty((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"divide_backward: argument 'b' of shape \(3,\) does not broadcast to the "
                                         r"shape \(4, 5\) of 'grad'"):
        ops.binary_backward("divide", 0, x, x, np.ones(3, np.float32))
    with pytest.raises(TypeError, match=r"maximum_backward: argument 'grad' must have dtype float32"):
        ops.binary_backward("maximum", 0, x.astype(np.float16), x, b)
    with pytest.raises(ValueError, match=r"reduce_sum: axis 2 is out of bounds for an array of dimension 2"):
        ops.reduce_sum(x, axis=2)
    with pytest.raises(ValueError, match=r"reduce_sum: axis 1 is repeated"):
        ops.reduce_sum(x, axis=(1, -1))
    with pytest.raises(TypeError, match=r"reduce_sum: axis must be None, an int or a tuple of ints"):
        ops.reduce_sum(x, axis=1.0)
    with pytest.raises(ValueError, match=r"reduce_sum: argument 'out' must have shape \(5,\), got \(4,\)"):
        ops.reduce_sum(x, axis=0, out=np.empty(4, np.float32))
    with pytest.raises(ValueError, match=r"reduce_sum: argument 'out' of shape \(3,\) does not broadcast to the "
                                         r"shape \(4, 5\) of 'x'"):
        _C.reduce_sum(x, np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"reduce_sum: argument 'out' shares memory with 'x'"):
        _C.reduce_sum(x, x[0])
    with pytest.raises(TypeError, match=r"reduce_sum: argument 'x' must have dtype float32, got float64"):
        ops.reduce_sum(np.ones(3))
