"""GPU broadcasting binary ops, backward, reduce_sum and dropout (``pytest -m gpu``).

The forward ops are single IEEE float32 operations on both devices (nvcc's
default: IEEE division, no flush-to-zero), so GPU and CPU results are
bit-identical. Sums are checked against the float64 reference with the bound
of tests/test_elementwise.py (their order differs between the devices), and
repeated on the GPU to check they are deterministic. Dropout masks must be
bit-identical to the CPU's for the same key and offset.
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
from fastnn import ops  # noqa: E402
from fastnn.reference import elementwise as ref  # noqa: E402
from test_elementwise import OPS, assert_forward, assert_reduction, backward_expected, values  # noqa: E402

pytestmark = pytest.mark.gpu

# (a shape, b shape, how b is laid out)
CASES = {
    "same": ((1000, 301), (1000, 301), "c"),
    "same_1M_odd": (((1 << 20) + 3,), ((1 << 20) + 3,), "c"),
    "bias": ((700, 257), (257,), "c"),
    "column": ((700, 257), (700, 1), "c"),
    "scalar": ((1000, 301), (), "c"),
    "outer": ((700, 1), (1, 257), "c"),
    "nd": ((9, 1, 33, 70), (1, 40, 33, 1), "c"),
    "transposed": ((300, 1000), (300, 1000), "t"),
    "unaligned": ((4001,), (4001,), "u"),
    "zero_d": ((), (), "c"),
    "empty": ((0, 5), (5,), "c"),
}


def device_pair(rng, case, op):
    sa, sb, layout = CASES[case]
    a = values(rng, sa, op, 0)
    b = values(rng, sb, op, 1)
    ga = cp.asarray(a)
    if layout == "t":
        b = np.ascontiguousarray(values(rng, sb[::-1], op, 1)).T
        gb = cp.asarray(np.ascontiguousarray(b.T)).T
    elif layout == "u":
        base = cp.zeros(b.size + 1, cp.float32)
        base[1:] = cp.asarray(b)
        gb = base[1:]  # 4 bytes past an aligned start: the scalar path
    else:
        gb = cp.asarray(b)
    return a, b, ga, gb


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("case", list(CASES))
def test_binary_bit_identical_to_cpu(op, case):
    rng = np.random.default_rng(len(case))
    a, b, ga, gb = device_pair(rng, case, op)
    got = ops.binary(op, ga, gb)
    assert isinstance(got, cp.ndarray) and got.dtype == cp.float32
    host = cp.asnumpy(got)
    np.testing.assert_array_equal(host, ops.binary(op, a, b))
    assert_forward(host, ref.binary(op, a.astype(np.float64), b.astype(np.float64)))


def test_binary_scalars_in_place_and_streams():
    x = cp.asarray(np.linspace(-3, 3, 1001, dtype=np.float32))
    y = ops.binary("multiply", x, 2.0)
    assert isinstance(y, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(y), cp.asnumpy(x) * np.float32(2))
    np.testing.assert_array_equal(cp.asnumpy(ops.binary("subtract", 1, x)), np.float32(1) - cp.asnumpy(x))
    want = cp.asnumpy(x) + cp.asnumpy(x)
    ops.binary("add", x, x, out=x)
    np.testing.assert_array_equal(cp.asnumpy(x), want)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        z = ops.binary("maximum", x, 0.0)
        r = ops.reduce_sum(z)
    s.synchronize()
    assert float(r) == pytest.approx(float(np.maximum(want, 0).astype(np.float64).sum()), rel=1e-6)


BACKWARD_CASES = ["bias", "column", "scalar", "same", "outer", "nd", "transposed", "unaligned", "zero_d", "empty"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("case", BACKWARD_CASES)
@pytest.mark.parametrize("side", [0, 1])
def test_backward_matches_reference_and_is_deterministic(op, case, side):
    rng = np.random.default_rng(7 * len(case) + side)
    a, b, ga, gb = device_pair(rng, case, op)
    g = rng.standard_normal(np.broadcast_shapes(a.shape, b.shape)).astype(np.float32)
    gg = cp.asarray(g)
    got = ops.binary_backward(op, side, gg, ga, gb)
    again = ops.binary_backward(op, side, gg, ga, gb)
    assert isinstance(got, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(got), cp.asnumpy(again))
    assert_reduction(cp.asnumpy(got), *backward_expected(op, side, g, a, b))


@pytest.mark.parametrize("shape,axis", [((1024, 784), 0), ((1024, 784), 1), ((1024, 784), None), ((3, 400_000), 1),
                                        ((400_000, 3), 0), ((64, 50, 70), (0, 2)), ((64, 50, 70), 1),
                                        ((2_000_003,), None), ((5, 7, 9, 11, 13), (0, 2, 4)), ((100_000, 100), 1),
                                        ((7, 5), ()), ((0, 4), 0)])
def test_reduce_sum_matches_reference_and_is_deterministic(shape, axis):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    gx = cp.asarray(x)
    got = cp.asnumpy(ops.reduce_sum(gx, axis=axis))
    np.testing.assert_array_equal(got, cp.asnumpy(ops.reduce_sum(gx, axis=axis)))
    x64 = x.astype(np.float64)
    n = x.size // max(1, got.size)
    assert_reduction(got, np.asarray(x64.sum(axis=axis)), np.asarray(np.abs(x64).sum(axis=axis)), n)
    # a transposed (column-major) view is read in place
    if len(shape) == 2 and axis is not None:
        gt = cp.asarray(np.ascontiguousarray(x.T)).T
        np.testing.assert_allclose(cp.asnumpy(ops.reduce_sum(gt, axis=axis)), got, rtol=1e-6, atol=1e-5)


def test_long_reduction_in_double():
    n = 2**24 + 1
    assert float(ops.reduce_sum(cp.ones(n, cp.float32))) == float(np.float32(n))


@pytest.mark.parametrize("n", [1, 3, 4, 5, 1001, (1 << 20) + 3])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("aligned", [True, False])
def test_dropout_masks_bit_identical_to_cpu(n, rate, aligned):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    base = cp.zeros(n + 1, cp.float32)
    gx = base[:n] if aligned else base[1:]
    gx[...] = cp.asarray(x)
    key, offset = 0xDEADBEEF12345678, 2**32 - 5
    y, _, _ = ops.dropout(gx, rate, key=key, offset=offset)
    assert isinstance(y, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(y), ops.dropout(x, rate, key=key, offset=offset)[0])
    g = rng.standard_normal(n).astype(np.float32)
    dx = ops.dropout_backward(cp.asarray(g), rate, key, offset)
    np.testing.assert_array_equal(cp.asnumpy(dx), ops.dropout_backward(g, rate, key, offset))


def test_dropout_in_place_on_gpu():
    x = cp.asarray(np.arange(1, 4097, dtype=np.float32))
    want = ops.dropout(cp.asnumpy(x), 0.5, key=1, offset=2)[0]
    ops.dropout(x, 0.5, key=1, offset=2, out=x)
    np.testing.assert_array_equal(cp.asnumpy(x), want)


def test_mixed_devices_refused():
    with pytest.raises(ValueError, match=r"add: argument 'b' is on cpu \(numpy\)"):
        ops.binary("add", cp.ones(4, cp.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"add: argument 'out' is on cpu"):
        ops.binary("add", cp.ones(4, cp.float32), cp.ones(4, cp.float32), out=np.empty(4, np.float32))
    with pytest.raises(ValueError, match=r"reduce_sum: argument 'out' is on cpu"):
        ops.reduce_sum(cp.ones((2, 3), cp.float32), axis=0, out=np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"dropout: argument 'out' is on cpu"):
        ops.dropout(cp.ones(8, cp.float32), 0.5, key=1, offset=0, out=np.empty(8, np.float32))
    with pytest.raises(ValueError, match=r"multiply_backward: argument 'a' is on cpu"):
        ops.binary_backward("multiply", 0, cp.ones(3, cp.float32), np.ones(3, np.float32), cp.ones(3, cp.float32))
