"""fastnn.initializers: Keras 3's initializers -- fans, statistics, orthogonality, seeding.

Statistical bounds: for N independent draws the sample mean has standard
error sd/sqrt(N), and the sample variance a relative standard error of
sqrt((kurtosis - 1)/N), at most sqrt(2/N) here (normal: kurtosis 3; truncated
normal and uniform: lower). The tests allow 6 standard errors, so a correct
implementation fails about once in 10^8 runs; the seeds are fixed anyway.
"""

import math

import numpy as np
import pytest

import fastnn.random
from fastnn import initializers as init


def check_stats(x, mean, var):
    n = x.size
    x = x.astype(np.float64)
    assert abs(x.mean() - mean) < 6 * math.sqrt(var / n), (x.mean(), mean)
    assert abs(x.var() / var - 1) < 6 * math.sqrt(2 / n), (x.var(), var)


@pytest.mark.parametrize("shape,fans", [((), (1, 1)), ((5,), (5, 5)), ((784, 256), (784, 256)),
                                        ((3, 3, 16, 32), (144, 288)), ((5, 4, 3, 2, 6), (120, 360))])
def test_compute_fans(shape, fans):
    assert init.compute_fans(shape) == fans


# name, expected variance from (fan_in, fan_out), kind of distribution
VARIANCE_SCALING = [
    ("glorot_uniform", lambda i, o: 2 / (i + o), "uniform"),
    ("glorot_normal", lambda i, o: 2 / (i + o), "truncated"),
    ("he_normal", lambda i, o: 2 / i, "truncated"),
    ("he_uniform", lambda i, o: 2 / i, "uniform"),
    ("lecun_normal", lambda i, o: 1 / i, "truncated"),
    ("lecun_uniform", lambda i, o: 1 / i, "uniform"),
]


@pytest.mark.parametrize("shape", [(1000, 300), (3, 3, 64, 128)], ids=["dense", "conv"])
@pytest.mark.parametrize("name,variance,dist", VARIANCE_SCALING, ids=[v[0] for v in VARIANCE_SCALING])
def test_variance_scaling_statistics(name, variance, dist, shape):
    fastnn.random.manual_seed(11)
    x = init.get(name)(shape)
    assert x.shape == shape and x.dtype == np.float32 and x.flags.c_contiguous
    var = variance(*init.compute_fans(shape))
    check_stats(x, 0.0, var)
    if dist == "uniform":
        assert np.abs(x).max() <= math.sqrt(3 * var)
    else:  # truncated at two of the pre-truncation standard deviations
        assert np.abs(x).max() <= 2 * math.sqrt(var) / init.TRUNCATED_STDDEV
        assert np.abs(x).max() > 1.9 * math.sqrt(var) / init.TRUNCATED_STDDEV


def test_truncated_stddev_constant():
    # sd of a unit normal truncated to [-2, 2]: 1 - 2*2*phi(2) / (Phi(2) - Phi(-2)) is its variance.
    phi2 = math.exp(-2) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert init.TRUNCATED_STDDEV == pytest.approx(math.sqrt(1 - 4 * phi2 / mass), rel=1e-15)


def test_random_initializers_statistics():
    fastnn.random.manual_seed(3)
    shape = (700, 700)
    check_stats(init.random_normal(mean=1.0, stddev=2.0)(shape), 1.0, 4.0)
    x = init.random_uniform(minval=-1.0, maxval=3.0)(shape)
    check_stats(x, 1.0, 16 / 12)
    assert x.min() >= -1.0 and x.max() < 3.0
    x = init.truncated_normal(mean=0.5, stddev=0.1)(shape)
    check_stats(x, 0.5, (0.1 * init.TRUNCATED_STDDEV) ** 2)
    assert np.abs(x - 0.5).max() <= 0.2 + 1e-7
    x = init.VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal")(shape)
    check_stats(x, 0.0, 3.0 / 700)
    # Keras' defaults: mean 0, stddev 0.05; uniform on [-0.05, 0.05].
    check_stats(init.RandomNormal()(shape), 0.0, 0.05**2)
    check_stats(init.RandomUniform()(shape), 0.0, 0.1**2 / 12)


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (50, 50), (3, 3, 8, 16)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal(shape, gain):
    fastnn.random.manual_seed(0)
    q = init.orthogonal(gain=gain)(shape).astype(np.float64)
    assert q.shape == shape
    m = q.reshape(-1, shape[-1])
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T  # orthonormal columns, or rows when wider than tall
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5 * gain**2)


def test_constant_initializers():
    np.testing.assert_array_equal(init.zeros()((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(init.ones()((4,)), np.ones(4, np.float32))
    x = init.constant(0.25)((3, 2))
    assert x.dtype == np.float32 and (x == 0.25).all()
    assert init.get("zeros")(5).shape == (5,)
    assert init.Zeros()((2,), dtype="float64").dtype == np.float64


def test_reproducible_under_manual_seed():
    for name in ["glorot_uniform", "glorot_normal", "he_normal", "orthogonal", "random_normal", "truncated_normal"]:
        fastnn.random.manual_seed(1234)
        a = init.get(name)((20, 30))
        b = init.get(name)((20, 30))
        fastnn.random.manual_seed(1234)
        c = init.get(name)((20, 30))
        np.testing.assert_array_equal(a, c)
        assert not np.array_equal(a, b)  # the generator moves on between draws
    # An int seed: the same values at every call, whatever the global seed (Keras' semantics).
    s = init.GlorotUniform(seed=7)
    fastnn.random.manual_seed(1)
    a = s((10, 10))
    fastnn.random.manual_seed(2)
    np.testing.assert_array_equal(a, s((10, 10)))


def test_get_and_config():
    assert type(init.get("glorot_uniform")) is init.GlorotUniform
    assert type(init.get("GlorotUniform")) is init.GlorotUniform
    assert type(init.get("HE_NORMAL")) is init.HeNormal
    assert init.get(None) is None
    o = init.Orthogonal(gain=3.0)
    assert init.get(o) is o
    f = lambda shape, dtype="float32": np.zeros(shape, dtype)  # noqa: E731
    assert init.get(f) is f
    for i in [init.GlorotNormal(seed=3), init.Orthogonal(gain=2.0), init.Constant(0.5),
              init.RandomNormal(1.0, 0.5), init.RandomUniform(-2.0, 2.0), init.TruncatedNormal(0.0, 1.0),
              init.VarianceScaling(2.0, "fan_avg", "uniform"), init.Zeros()]:
        cfg = i.get_config()
        assert type(i).from_config(cfg).get_config() == cfg
        assert init.get(init.serialize(i)).get_config() == cfg
    assert init.GlorotUniform().get_config() == {"seed": None}
    assert init.Orthogonal().get_config() == {"gain": 1.0, "seed": None}
    assert init.get("random_normal").get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}


def test_bad_input():
    with pytest.raises(ValueError, match=r"initializers.get: unknown initializer 'xavier'; expected one of zeros, "):
        init.get("xavier")
    with pytest.raises(ValueError, match=r"initializers.get: could not interpret 3"):
        init.get(3)
    with pytest.raises(ValueError, match=r"Orthogonal: the shape to initialize must be at least two-dimensional"):
        init.orthogonal()((5,))
    with pytest.raises(ValueError, match=r"GlorotUniform: shape must be a tuple of ints >= 0"):
        init.glorot_uniform()((3, -1))
    with pytest.raises(TypeError, match=r"HeNormal: dtype must be a floating-point dtype"):
        init.he_normal()((3, 3), dtype="int32")
    with pytest.raises(ValueError, match=r"VarianceScaling: invalid mode 'fan_sum'"):
        init.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match=r"VarianceScaling: scale must be > 0"):
        init.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match=r"RandomUniform: maxval must be >= minval"):
        init.RandomUniform(1.0, -1.0)
    with pytest.raises(ValueError, match=r"LecunNormal: seed must be None or an int >= 0"):
        init.LecunNormal(seed=-1)
