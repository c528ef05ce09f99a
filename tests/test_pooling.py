"""2-D max / average pooling (ops, functional, layers) against the float64 NumPy reference,
finite-difference checks of the reference gradients, output shapes (Keras' rules), bad input.

Tolerances (u = 2**-24, the unit roundoff of float32):

* max-pool forward: a selection, exact (and the argmax is the reference's: first on ties);
* max-pool backward: each dx cell is a float32 sum of at most m = ceil(kh/sh) * ceil(kw/sw)
  output gradients (the windows sharing the cell), so |err| <= m u sum|terms|; the sum of |terms|
  is the reference backward of |grad|;
* avg-pool forward: a float32 sum of `count` cells times a rounded 1/count:
  |err| <= (count + 2) u mean|x| (the reference average of |x|);
* avg-pool backward: m terms, each with two roundings (1/count and the product), then the sum:
  |err| <= (m + 2) u sum|terms|.
"""

import math

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import _C, layers, ops
from fastnn import reference as ref
from conftest import AVAILABLE_ISAS

U = 2.0**-24
TINY = float(np.finfo(np.float32).smallest_subnormal)


def random_configs(seed, count):
    """(shape, pool, strides, padding) drawn as the brief asks: batch 1..8, sizes 1..20, channels
    1..17, pool 1..4, stride 1..3, both paddings; 'valid' draws keep the pool within the input."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        n, h, w, c = rng.integers(1, 9), rng.integers(1, 21), rng.integers(1, 21), rng.integers(1, 18)
        pool = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        strides = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        padding = ("valid", "same")[len(out) % 2]
        if padding == "valid" and (h < pool[0] or w < pool[1]):
            continue
        out.append(((int(n), int(h), int(w), int(c)), pool, strides, padding))
    return out


CONFIGS = random_configs(2026, 40)
# windows hanging over the bottom / right edge with 'same' (pads of 1 and 2 after, 1 before)
EDGE_CONFIGS = [((2, 5, 7, 3), (3, 3), (2, 2), "same"), ((1, 1, 1, 4), (4, 4), (3, 3), "same"),
                ((3, 6, 4, 17), (4, 2), (1, 3), "same"), ((2, 20, 19, 16), (2, 2), (2, 2), "same"),
                ((1, 7, 7, 1), (4, 4), (1, 1), "same"), ((2, 3, 3, 2), (3, 3), (1, 1), "valid"),
                # disjoint windows with gaps between them (the backward's one-write path), a vector
                # block and a tail of channels
                ((2, 9, 10, 18), (2, 2), (3, 3), "same"), ((1, 11, 11, 5), (2, 3), (3, 4), "valid")]
ALL = CONFIGS + EDGE_CONFIGS


def ids(cfg):
    shape, pool, strides, padding = cfg
    return f"{'x'.join(map(str, shape))}-p{pool[0]}{pool[1]}-s{strides[0]}{strides[1]}-{padding}"


def overlap(pool, strides):
    return math.ceil(pool[0] / strides[0]) * math.ceil(pool[1] / strides[1])


def assert_max_forward(y, x, pool, strides, padding):
    want = ref.max_pool2d(x.astype(np.float64), pool, strides, padding)
    assert y.shape == want.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, want.astype(np.float32))


def assert_max_backward(dx, x, g, pool, strides, padding):
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    want = ref.max_pool2d_backward(x64, g64, pool, strides, padding)
    mag = ref.max_pool2d_backward(x64, np.abs(g64), pool, strides, padding)
    assert dx.shape == x.shape and dx.dtype == np.float32
    tol = overlap(pool, strides) * U * mag + TINY
    assert np.all(np.abs(dx - want) <= tol)


def assert_avg_forward(y, x, pool, strides, padding):
    want = ref.avg_pool2d(x.astype(np.float64), pool, strides, padding)
    mag = ref.avg_pool2d(np.abs(x.astype(np.float64)), pool, strides, padding)
    assert y.shape == want.shape and y.dtype == np.float32
    assert np.all(np.abs(y - want) <= (pool[0] * pool[1] + 2) * U * mag + TINY)


def assert_avg_backward(dx, x_shape, g, pool, strides, padding):
    g64 = g.astype(np.float64)
    want = ref.avg_pool2d_backward(x_shape, g64, pool, strides, padding)
    mag = ref.avg_pool2d_backward(x_shape, np.abs(g64), pool, strides, padding)
    assert dx.shape == tuple(x_shape) and dx.dtype == np.float32
    assert np.all(np.abs(dx - want) <= (overlap(pool, strides) + 2) * U * mag + TINY)


def data(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("cfg", ALL, ids=ids)
def test_max_pool_matches_reference(rng, cfg):
    shape, pool, strides, padding = cfg
    x = data(rng, shape)
    for isa in AVAILABLE_ISAS:
        _C.set_cpu_isa(isa)
        y, idx = ops.max_pool2d(x, pool, strides, padding, return_indices=True)
        assert_max_forward(y, x, pool, strides, padding)
        assert idx.dtype == np.int32 and idx.shape == y.shape
        assert np.array_equal(ops.max_pool2d(x, pool, strides, padding), y)  # without indices
        g = data(rng, y.shape)
        assert_max_backward(ops.max_pool2d_backward(idx, g, x.shape, pool, strides, padding), x, g, pool, strides,
                            padding)


@pytest.mark.parametrize("cfg", ALL, ids=ids)
def test_avg_pool_matches_reference(rng, cfg):
    shape, pool, strides, padding = cfg
    x = data(rng, shape)
    for isa in AVAILABLE_ISAS:
        _C.set_cpu_isa(isa)
        y = ops.avg_pool2d(x, pool, strides, padding)
        assert_avg_forward(y, x, pool, strides, padding)
        g = data(rng, y.shape)
        assert_avg_backward(ops.avg_pool2d_backward(g, x.shape, pool, strides, padding), x.shape, g, pool, strides,
                            padding)


def test_same_padding_ignores_padded_cells():
    """All-negative input: a zero-padded max would return 0 at the edges; Keras / TF return the
    max of the real cells. Average divides by the real cells only."""
    x = -np.arange(1, 1 + 3 * 3, dtype=np.float32).reshape(1, 3, 3, 1)
    y = ops.max_pool2d(x, 2, 2, "same")
    assert y[0, :, :, 0].tolist() == [[-1.0, -3.0], [-7.0, -9.0]]
    a = ops.avg_pool2d(x, 2, 2, "same")
    assert a[0, :, :, 0].tolist() == [[-3.0, -4.5], [-7.5, -9.0]]


def test_ties_go_to_the_first_cell(rng):
    """Integer data in {0, 1, 2}: many ties; the gradient goes to the first maximum in the
    window's row-major order (the reference's np.argmax rule)."""
    x = rng.integers(0, 3, (4, 9, 8, 6)).astype(np.float32)
    for isa in AVAILABLE_ISAS:
        _C.set_cpu_isa(isa)
        for pool, strides, padding in [((2, 2), (2, 2), "valid"), ((3, 3), (1, 1), "same"), ((2, 3), (1, 2), "same")]:
            y, idx = ops.max_pool2d(x, pool, strides, padding, return_indices=True)
            g = np.ones(y.shape, np.float32)
            dx = ops.max_pool2d_backward(idx, g, x.shape, pool, strides, padding)
            want = ref.max_pool2d_backward(x.astype(np.float64), g.astype(np.float64), pool, strides, padding)
            np.testing.assert_array_equal(dx, want)


def test_nan_propagates():
    x = np.zeros((1, 2, 2, 2), np.float32)
    x[0, 1, 0, 1] = np.nan
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    assert y[0, 0, 0, 0] == 0.0 and np.isnan(y[0, 0, 0, 1]) and idx[0, 0, 0, 1] == 2
    assert np.isnan(ops.avg_pool2d(x, 2)[0, 0, 0, 1])


@pytest.mark.parametrize("cfg", [((8, 26, 26, 32), (2, 2), (2, 2), "valid"), ((5, 13, 11, 7), (3, 3), (1, 1), "same")],
                         ids=ids)
def test_threads_do_not_change_results(rng, cfg):
    shape, pool, strides, padding = cfg
    x = data(rng, shape)
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        y, idx = ops.max_pool2d(x, pool, strides, padding, return_indices=True)
        g = data(np.random.default_rng(1), y.shape)
        results.append((y, ops.max_pool2d_backward(idx, g, x.shape, pool, strides, padding),
                        ops.avg_pool2d(x, pool, strides, padding),
                        ops.avg_pool2d_backward(g, x.shape, pool, strides, padding)))
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


def test_output_argument(rng):
    x = data(rng, (2, 6, 6, 3))
    out = np.empty((2, 3, 3, 3), np.float32)
    assert ops.max_pool2d(x, 2, out=out) is out
    assert_max_forward(out, x, (2, 2), (2, 2), "valid")


# ------------------------------------------------------------------ reference gradients

def _fd(f, x, g, eps=1e-6):
    fd = np.empty_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[i] += eps
        xm.flat[i] -= eps
        fd.flat[i] = np.sum(g * (f(xp) - f(xm))) / (2 * eps)
    return fd


@pytest.mark.parametrize("cfg", [((2, 5, 6, 3), (2, 3), (2, 1), "same"), ((1, 6, 5, 2), (3, 3), (2, 2), "valid"),
                                 ((2, 4, 4, 2), (4, 4), (3, 3), "same")], ids=ids)
def test_reference_gradients_by_finite_differences(rng, cfg):
    """float64 central differences of sum(g * pool(x)); the max-pool input is a permutation of
    well-separated values, so no step crosses a tie."""
    shape, pool, strides, padding = cfg
    size = int(np.prod(shape))
    x = rng.permutation(size).reshape(shape).astype(np.float64) * 0.01
    y = ref.max_pool2d(x, pool, strides, padding)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(ref.max_pool2d_backward(x, g, pool, strides, padding),
                               _fd(lambda v: ref.max_pool2d(v, pool, strides, padding), x, g), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ref.avg_pool2d_backward(x.shape, g, pool, strides, padding),
                               _fd(lambda v: ref.avg_pool2d(v, pool, strides, padding), x, g), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cfg", [((3, 7, 6, 5), (2, 2), None, "valid"), ((2, 9, 8, 4), (3, 2), (2, 1), "same")],
                         ids=lambda c: ids((c[0], c[1], c[2] or c[1], c[3])))
def test_autograd_through_functional(rng, cfg):
    shape, pool, strides, padding = cfg
    x = data(rng, shape)
    for fn, rfwd in ((F.max_pool2d, ref.max_pool2d), (F.avg_pool2d, ref.avg_pool2d)):
        p = fastnn.Parameter(x.copy())
        y = fn(p, pool, strides, padding)
        g = data(rng, y.shape)
        F.sum(F.multiply(y, g)).backward()
        s = strides or pool
        if fn is F.max_pool2d:
            assert_max_forward(y.data, x, pool, s, padding)
            assert_max_backward(p.grad, x, g, pool, s, padding)
        else:
            assert_avg_forward(y.data, x, pool, s, padding)
            assert_avg_backward(p.grad, x.shape, g, pool, s, padding)


def test_no_indices_without_grad(rng):
    x = fastnn.Tensor(data(rng, (2, 4, 4, 3)))
    y = F.max_pool2d(x, 2)
    assert not y.requires_grad and y.shape == (2, 2, 2, 3)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pools(rng, keepdims):
    x = data(rng, (3, 5, 7, 6))
    p = fastnn.Parameter(x.copy())
    y = F.global_avg_pool2d(p, keepdims=keepdims)
    want = ref.global_avg_pool2d(x.astype(np.float64), keepdims=keepdims)
    assert y.shape == want.shape
    assert np.all(np.abs(y.data - want) <= 37 * U * ref.global_avg_pool2d(np.abs(x.astype(np.float64)), keepdims))
    F.sum(y).backward()
    np.testing.assert_allclose(p.grad, np.full(x.shape, 1 / 35), rtol=4 * U)
    q = fastnn.Parameter(x.copy())
    m = F.global_max_pool2d(q, keepdims=keepdims)
    np.testing.assert_array_equal(m.data, ref.global_max_pool2d(x, keepdims=keepdims))
    F.sum(m).backward()
    assert q.grad.sum() == 3 * 6 and np.all(q.grad[x == x.max(axis=(1, 2), keepdims=True)] == 1)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
def test_functional_bad_input(fn):
    name = fn.__name__
    x4 = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match=rf"{name}: expected a 4-D input .* got shape \(4, 4, 2\)"):
        fn(np.zeros((4, 4, 2), np.float32), 2)
    with pytest.raises(ValueError, match=rf"{name}: pool_size \(5, 5\) is larger than the input's height and width "
                                         r"\(4, 4\) with padding='valid'"):
        fn(x4, 5)
    for bad in (0, -1, (2, 0), (1, 2, 3), 1.5, True):
        with pytest.raises(ValueError, match=rf"{name}: pool_size must be a positive int or a pair of positive ints, "
                                             rf"got {re_escape(bad)}"):
            fn(x4, bad)
    for bad in (0, (1, -2)):
        with pytest.raises(ValueError, match=rf"{name}: strides must be a positive int or a pair .* got "):
            fn(x4, 2, bad)
    with pytest.raises(ValueError, match=rf"{name}: padding must be 'valid' or 'same', got 'full'"):
        fn(x4, 2, None, "full")
    fn(x4, 5, None, "same")  # fine: 'same' pads


def re_escape(v):
    import re
    return re.escape(repr(v))


def test_kernel_bad_input(rng):
    x = data(rng, (2, 4, 4, 3))
    with pytest.raises(TypeError, match="max_pool2d.*'x'.*float32"):
        ops.max_pool2d(x.astype(np.float64), 2)
    with pytest.raises(ValueError, match="avg_pool2d.*'x'.*contiguous"):
        ops.avg_pool2d(np.asfortranarray(x), 2)
    with pytest.raises(ValueError, match="max_pool2d: argument 'out'"):
        ops.max_pool2d(x, 2, out=np.empty((2, 3, 2, 3), np.float32))
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(TypeError, match="max_pool2d_backward.*'indices'.*int32"):
        ops.max_pool2d_backward(idx.astype(np.int64), y, x.shape, 2)
    with pytest.raises(ValueError, match="max_pool2d_backward: argument 'indices' must have the shape of 'grad'"):
        ops.max_pool2d_backward(idx[:1], y, x.shape, 2)
    with pytest.raises(ValueError, match="max_pool2d: pool_size must be positive"):
        _C.max_pool2d_forward(x, y, None, 0, 2, 2, 2, 0, 0)
    with pytest.raises(ValueError, match="padding before"):
        _C.avg_pool2d_forward(x, y, 2, 2, 2, 2, 2, 0)
    with pytest.raises(ValueError, match="does not fit"):
        _C.avg_pool2d_forward(x, np.empty((2, 4, 2, 3), np.float32), 2, 2, 2, 2, 0, 0)


# ------------------------------------------------------------------ layers

def keras_pool_shape(shape, pool, strides, padding):
    """Keras' output-shape rule, written out independently of fastnn.ops."""
    def one(n, k, s):
        if n is None:
            return None
        return (n - k) // s + 1 if padding == "valid" else (n + s - 1) // s
    return (shape[0], one(shape[1], pool[0], strides[0]), one(shape[2], pool[1], strides[1]), shape[3])


@pytest.mark.parametrize("cls,fn", [(layers.MaxPooling2D, ref.max_pool2d), (layers.AveragePooling2D, ref.avg_pool2d)])
@pytest.mark.parametrize("cfg", ALL[:12] + EDGE_CONFIGS, ids=ids)
def test_pooling_layers(rng, cls, fn, cfg):
    shape, pool, strides, padding = cfg
    layer = cls(pool_size=pool, strides=strides, padding=padding)
    assert layer.compute_output_shape((None,) + shape[1:]) == keras_pool_shape((None,) + shape[1:], pool, strides,
                                                                               padding)
    assert layer.compute_output_shape((None, None, None, shape[3])) == (None, None, None, shape[3])
    x = data(rng, shape)
    y = layer(x)
    assert y.shape == keras_pool_shape(shape, pool, strides, padding)
    np.testing.assert_allclose(y.numpy(), fn(x.astype(np.float64), pool, strides, padding), rtol=1e-5, atol=1e-6)
    clone = cls.from_config(layer.get_config())
    assert clone.get_config()["pool_size"] == tuple(pool) and clone.strides == tuple(strides)


def test_pooling_layer_defaults_and_ints():
    layer = layers.MaxPooling2D()
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2) and layer.padding == "valid"
    layer = layers.AveragePooling2D(3, 1, "SAME")
    assert layer.pool_size == (3, 3) and layer.strides == (1, 1) and layer.padding == "same"
    cfg = layer.get_config()
    assert cfg["data_format"] == "channels_last" and cfg["padding"] == "same"


@pytest.mark.parametrize("cls", [layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_layers(rng, cls, keepdims):
    layer = cls(keepdims=keepdims)
    want = (None, 1, 1, 5) if keepdims else (None, 5)
    assert layer.compute_output_shape((None, 6, 7, 5)) == want
    x = data(rng, (2, 6, 7, 5))
    y = layer(x)
    assert y.shape == (2,) + want[1:]
    fn = ref.global_avg_pool2d if cls is layers.GlobalAveragePooling2D else ref.global_max_pool2d
    np.testing.assert_allclose(y.numpy(), fn(x.astype(np.float64), keepdims=keepdims), rtol=1e-6, atol=1e-7)
    assert cls.from_config(layer.get_config()).keepdims == keepdims


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D, layers.GlobalAveragePooling2D,
                                 layers.GlobalMaxPooling2D])
def test_pooling_layer_bad_input(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name}: data_format='channels_first' is not supported .*channels_last"):
        cls(data_format="channels_first")
    layer = cls()
    with pytest.raises(ValueError, match=rf"{name} .*expected a 4-D input \(batch, height, width, channels\), got "
                                         r"shape \(2, 4, 4\)"):
        layer(np.zeros((2, 4, 4), np.float32))


def test_pooling_layer_argument_errors():
    with pytest.raises(ValueError, match=r"MaxPooling2D: pool_size must be a positive int or a pair of positive ints, "
                                         r"got \(0, 2\)"):
        layers.MaxPooling2D(pool_size=(0, 2))
    with pytest.raises(ValueError, match=r"AveragePooling2D: strides must be a positive int or a pair of positive "
                                         r"ints, got -1"):
        layers.AveragePooling2D(strides=-1)
    with pytest.raises(ValueError, match=r"MaxPooling2D: padding must be 'valid' or 'same', got 'causal'"):
        layers.MaxPooling2D(padding="causal")
    layer = layers.MaxPooling2D(pool_size=3)
    with pytest.raises(ValueError, match=r"MaxPooling2D .*pool_size \(3, 3\) is larger than the input's height and "
                                         r"width \(2, 5\) with padding='valid'"):
        layer(np.zeros((1, 2, 5, 1), np.float32))


def test_pooling_in_a_model_trains(rng):
    model = fastnn.Sequential([layers.InputLayer(shape=(8, 8, 2)), layers.MaxPooling2D(), layers.AveragePooling2D(
        padding="same"), layers.Flatten(), layers.Dense(3, activation="softmax")])
    x = data(rng, (32, 8, 8, 2))
    y = rng.integers(0, 3, 32)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    h = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert model.layers[0].output_shape == (None, 4, 4, 2) and model.layers[1].output_shape == (None, 2, 2, 2)
