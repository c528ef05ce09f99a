"""Element-wise activations (fastnn.activation / activation_backward) against the NumPy reference."""

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

import fastnn
from fastnn import _C
from fastnn.ops import ACTIVATIONS
from fastnn.reference import activations as ref
from conftest import AVAILABLE_ISAS

NAMES = sorted(ACTIVATIONS)
# Error bound, relative to max(|exact|, 1): the kernels evaluate exp with a
# degree-8 polynomial after Cody-Waite reduction (~2 ulp) and each formula
# adds a few roundings; derivatives such as silu's s (1 + x (1 - s)) multiply
# those by |x| <= 30 here. Measured worst case 1.4e-6 (gelu_tanh backward);
# 2e-6 is about 16 float32 ulps at 1, and a wrong formula is off by far more.
TOL = 2e-6
SPECIAL = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 1.0, -1.0, 2.99, -2.99, 3.01, -3.01,
                    20.0, -20.0, 88.5, -87.5, 1e30, -1e30], np.float32)


def alpha_for(name):
    return {"leaky_relu": 0.1, "elu": 0.5}.get(name, ACTIVATIONS[name][1])


def inputs(rng, n):
    x = (rng.standard_normal(n) * 6).astype(np.float32)
    x[: min(n, SPECIAL.size)] = SPECIAL[: min(n, SPECIAL.size)]
    return x


def check(got, want):
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(want) & (np.abs(want) < np.finfo(np.float32).max)
        assert (np.isfinite(got) == finite).all(), "non-finite results differ from the reference"
        err = np.abs(got[finite] - want[finite]) / np.maximum(np.abs(want[finite]), 1.0)
    assert err.size == 0 or err.max() <= TOL, f"max error {err.max():.3g} at x index {np.argmax(err)}"


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_forward_and_backward_match_reference(rng, name, threads, isa):
    fastnn.set_num_threads(threads)
    _C.set_cpu_isa(isa)
    a = alpha_for(name)
    for n in (1, 7, 1000, 300_007):  # the last is split across threads
        x = inputs(rng, n)
        dy = rng.standard_normal(n).astype(np.float32)
        x64 = x.astype(np.float64)
        check(fastnn.activation(x, name, alpha=a), ref.activation(x64, name, a))
        check(fastnn.activation_backward(x, dy, name, alpha=a), ref.activation_backward(x64, dy.astype(np.float64), name, a))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "exponential", "elu", "selu", "silu", "softsign"])
def test_relative_accuracy_in_the_tails(name):
    # Tiny outputs (sigmoid(-80) ~ 1e-35) must be right relative to themselves,
    # not merely small: formulas that cancel (1 - s, 1 + tanh) would fail here.
    x = np.linspace(-80, 80, 200_001).astype(np.float32)
    x64 = x.astype(np.float64)
    for got, want in ((fastnn.activation(x, name, alpha=alpha_for(name)), ref.activation(x64, name, alpha_for(name))),):
        keep = (np.abs(want) > 1e-30) & (np.abs(want) < 1e38)
        rel = np.abs(got[keep] - want[keep]) / np.abs(want[keep])
        assert rel.max() < 1e-6, f"{name}: relative error {rel.max():.3g}"
    for name_b in ("sigmoid", "tanh", "softplus"):
        got = fastnn.activation_backward(x, np.ones_like(x), name_b)
        want = ref.activation_backward(x64, np.ones_like(x64), name_b)
        keep = (np.abs(want) > 1e-30) & (np.abs(want) < 1e38)
        assert (np.abs(got[keep] - want[keep]) / np.abs(want[keep])).max() < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_reference_derivative_matches_finite_differences(rng, name):
    # Central differences of the float64 reference, away from the kinks
    # (0 for relu-like ops, +-3 for hard_sigmoid): error O(h^2) ~ 1e-10.
    a = alpha_for(name)
    x = rng.uniform(-6, 6, 2000)
    x = x[(np.abs(x) > 1e-3) & (np.abs(np.abs(x) - 3) > 1e-3)]
    h = 1e-5
    numeric = (ref.activation(x + h, name, a) - ref.activation(x - h, name, a)) / (2 * h)
    analytic = ref.activation_backward(x, np.ones_like(x), name, a)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_nan_propagates_forward(name):
    x = np.array([np.nan, 1.0, -1.0], np.float32)
    y = fastnn.activation(x, name, alpha=alpha_for(name))
    assert np.isnan(y[0]) and np.isfinite(y[1:]).all()


def test_in_place_and_shapes(rng):
    x = rng.standard_normal((3, 5, 7)).astype(np.float32)
    want = ref.activation(x.astype(np.float64), "tanh")
    out = fastnn.activation(x, "tanh", out=x)
    assert out is x and out.shape == (3, 5, 7)
    check(x, want)
    g = np.ones_like(x)
    fastnn.activation_backward(x, g, "sigmoid", out=g)  # gradient computed in place
    check(g, ref.activation_backward(x.astype(np.float64), np.ones(x.shape), "sigmoid"))
    assert fastnn.activation(np.empty((0, 4), np.float32), "relu").shape == (0, 4)


def test_defaults_are_keras_defaults():
    x = np.array([-1.0], np.float32)
    assert fastnn.activation(x, "leaky_relu")[0] == pytest.approx(-0.2)  # negative_slope=0.2
    assert fastnn.activation(x, "elu")[0] == pytest.approx(np.expm1(-1.0), rel=1e-6)  # alpha=1.0
    assert fastnn.activation(np.array([3.0], np.float32), "hard_sigmoid")[0] == 1.0  # relu6(x + 3) / 6
    np.testing.assert_array_equal(fastnn.activation(x, "swish"), fastnn.activation(x, "silu"))


def test_bad_input():
    x = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"activation: unknown activation 'relu7'; expected one of"):
        fastnn.activation(x, "relu7")
    with pytest.raises(TypeError, match=r"activation: argument 'x' must have dtype float32, got float64"):
        fastnn.activation(x.astype(np.float64), "relu")
    with pytest.raises(ValueError, match=r"activation: argument 'x' must be C-contiguous"):
        fastnn.activation(x[:, ::2], "relu")
    with pytest.raises(ValueError, match=r"activation: argument 'out' must have the shape of 'x' \(4, 5\), got \(5, 4\)"):
        fastnn.activation(x, "relu", out=np.empty((5, 4), np.float32))
    with pytest.raises(ValueError, match=r"activation_backward: argument 'grad' must have the shape of 'x'"):
        fastnn.activation_backward(x, np.ones(20, np.float32), "relu")
    buf = np.ones(30, np.float32)
    with pytest.raises(ValueError, match=r"activation: argument 'out' shares memory with 'x'"):
        fastnn.activation(buf[:20], "relu", out=buf[10:30])
    with pytest.raises(TypeError, match=r"activation: argument 'x' must be a numpy.ndarray or cupy.ndarray, got list"):
        fastnn.activation([1.0, 2.0], "relu")
    with pytest.raises(ValueError, match=r"activation: unknown activation code 99"):
        _C.activation_forward(x, x, 99)
