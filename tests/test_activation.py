"""Element-wise activations (fastnn.activation / activation_backward) against the NumPy reference."""

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

import fastnn
from fastnn import _C
from fastnn.ops import ACTIVATIONS, ACTIVATIONS_FROM_OUTPUT
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


# ----------------------------------------------------------------------------- backward from the output

FROM_OUTPUT = sorted(ACTIVATIONS_FROM_OUTPUT)
NOT_FROM_OUTPUT = sorted(set(ACTIVATIONS) - ACTIVATIONS_FROM_OUTPUT)
# Against the x-based exact derivative the from-output kernel also carries the
# rounding of y itself (a few ulp, within TOL of max(|y|, 1) as the forward
# test checks), scaled by |d f'/dy| <= 2 (tanh: 2|y|; sigmoid |1 - 2y|; elu,
# selu, exponential 1; softplus exp(-y)) and by |grad| (< 5 here). Measured
# worst case 7.1e-7 (selu, where y + scale * alpha cancels next to -1.76; every
# ISA, 1.3M points), so the forward's bound still holds.
TOL_FROM_Y = 2e-6


def hard_sigmoid_band(x, y):
    """The float32 x a rounding step below 3 where y = x / 6 + 1/2 rounds to 1.0: there the
    from-output derivative is 0 (the slope of the rounded output) and the x-based one 1/6."""
    return (y == 1.0) & (x < 3.0)


def check_to(got, want, tol):
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(want) & (np.abs(want) < np.finfo(np.float32).max)
        assert (np.isfinite(got) == finite).all(), "non-finite results differ from the reference"
        err = np.abs(got[finite] - want[finite]) / np.maximum(np.abs(want[finite]), 1.0)
    assert err.size == 0 or err.max() <= tol, f"max error {err.max():.3g} at index {np.argmax(err)}"


def test_from_output_set():
    assert NOT_FROM_OUTPUT == ["gelu", "gelu_tanh", "silu", "softsign", "swish"]
    assert set(ref.DERIVATIVE_FROM_OUTPUT) == ACTIVATIONS_FROM_OUTPUT


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", FROM_OUTPUT)
def test_backward_from_output_matches_reference(rng, name, threads, isa):
    fastnn.set_num_threads(threads)
    _C.set_cpu_isa(isa)
    a = alpha_for(name)
    shapes = [(1,), (7,), (1, 1), (3, 5, 7), (1000,), (300_007,),  # the last is split across threads
              tuple(int(d) for d in rng.integers(1, 40, size=int(rng.integers(1, 4))))]
    for shape in shapes:
        x = inputs(rng, int(np.prod(shape))).reshape(shape)
        dy = rng.standard_normal(shape).astype(np.float32)
        y = fastnn.activation(x, name, alpha=a)
        got = fastnn.activation_backward(y, dy, name, alpha=a, from_output=True)
        assert got.shape == shape
        # The same formula in float64 on the same float32 y: the kernel's own rounding only.
        check(got, ref.activation_backward_from_output(y.astype(np.float64), dy.astype(np.float64), name, a))
        # The x-based derivative at the exact x: the rule is the same derivative.
        want = ref.activation_backward(x.astype(np.float64), dy.astype(np.float64), name, a)
        keep = ~hard_sigmoid_band(x, y) if name == "hard_sigmoid" else np.ones(shape, bool)
        check_to(got[keep], want[keep], TOL_FROM_Y)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("name", ["linear", "relu", "leaky_relu", "elu", "selu", "hard_sigmoid"])
def test_from_output_boundaries_match_x_based_kernel(name, isa):
    # The kinks: relu/leaky_relu/elu/selu at 0 (y > 0 exactly where x > 0, and
    # NaN gives what the x-based form gives), hard_sigmoid at +-3.
    _C.set_cpu_isa(isa)
    a = alpha_for(name)
    f32 = np.float32
    x = np.concatenate([SPECIAL, np.array([np.nan, 3.0, -3.0, 2.5, -2.5], f32),
                        np.nextafter(f32(3), f32(0), dtype=f32)[None], np.nextafter(f32(-3), f32(0), dtype=f32)[None],
                        np.nextafter(f32(3), f32(9), dtype=f32)[None], np.nextafter(f32(-3), f32(-9), dtype=f32)[None],
                        np.array([np.finfo(f32).tiny, -np.finfo(f32).tiny, 1e-45, -1e-45], f32)]).astype(f32)
    ones = np.ones_like(x)
    y = fastnn.activation(x, name, alpha=a)
    got = fastnn.activation_backward(y, ones, name, alpha=a, from_output=True)
    want = fastnn.activation_backward(x, ones, name, alpha=a)
    if name == "hard_sigmoid":
        band = hard_sigmoid_band(x, y)
        assert (got[band] == 0).all() and (want[band] == f32(1 / 6)).all()
        assert band.sum() <= 1  # at most the last float below 3
        got, want, x = got[~band], want[~band], x[~band]
    if name in ("elu", "selu"):  # y + alpha vs alpha exp(x): equal at the kink, a few ulp apart elsewhere
        exact = (x == 0) | (x > 0) | np.isnan(x)
        np.testing.assert_array_equal(got[exact], want[exact])
        np.testing.assert_allclose(got[~exact], want[~exact], rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", FROM_OUTPUT)
def test_reference_from_output_rule_is_the_derivative(rng, name):
    # float64 reference: f'(x) written through y = f(x) agrees with the x-based form
    # to float64 rounding (1 - y and y + alpha cancel, hence the absolute floor).
    a = alpha_for(name)
    x = np.concatenate([SPECIAL.astype(np.float64), rng.uniform(-30, 30, 5000)])
    y = ref.activation(x, name, a)
    got = ref.activation_backward_from_output(y, np.ones_like(y), name, a)
    want = ref.activation_backward(x, np.ones_like(x), name, a)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    err = np.abs(got[finite] - want[finite]) / np.maximum(np.abs(want[finite]), 1.0)
    assert err.max() < 1e-13


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "exponential"])
def test_from_output_relative_accuracy_in_the_left_tail(name):
    # y ~ e^x tiny: y (1 - y), -expm1(-y) and y keep their relative accuracy there
    # (the right tail of sigmoid, where 1 - y cancels, is only absolutely accurate,
    # as in PyTorch).
    x = np.linspace(-80, 0, 100_001).astype(np.float32)
    y = fastnn.activation(x, name)
    got = fastnn.activation_backward(y, np.ones_like(y), name, from_output=True)
    want = ref.activation_backward(x.astype(np.float64), np.ones(x.shape), name)
    keep = np.abs(want) > 1e-30
    assert (np.abs(got[keep] - want[keep]) / np.abs(want[keep])).max() < 2e-6


def test_from_output_in_place(rng):
    y = fastnn.activation(rng.standard_normal((3, 5, 7)).astype(np.float32), "sigmoid")
    g = rng.standard_normal(y.shape).astype(np.float32)
    want = ref.activation_backward_from_output(y.astype(np.float64), g.astype(np.float64), "sigmoid")
    g2 = g.copy()
    assert fastnn.activation_backward(y, g2, "sigmoid", from_output=True, out=g2) is g2  # into the gradient
    check(g2, want)
    y2 = y.copy()
    assert fastnn.activation_backward(y2, g, "sigmoid", from_output=True, out=y2) is y2  # into the output
    check(y2, want)
    assert fastnn.activation_backward(np.empty((0, 3), np.float32), np.empty((0, 3), np.float32), "tanh",
                                      from_output=True).shape == (0, 3)


def test_from_output_leaky_relu_and_elu_alpha():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], np.float32)
    for name in ("leaky_relu", "elu"):
        # alpha = 0: y = 0 for x <= 0, and both forms give 0 there.
        y = fastnn.activation(x, name, alpha=0.0)
        np.testing.assert_array_equal(fastnn.activation_backward(y, np.ones_like(y), name, alpha=0.0, from_output=True),
                                      fastnn.activation_backward(x, np.ones_like(x), name, alpha=0.0))
        # alpha < 0: y > 0 for x < 0, so y no longer tells the side: refused.
        with pytest.raises(ValueError, match=rf"activation_backward: from_output=True needs alpha >= 0 for '{name}'"):
            fastnn.activation_backward(x, np.ones_like(x), name, alpha=-0.1, from_output=True)
        code = ACTIVATIONS[name][0]
        with pytest.raises(ValueError, match=rf"activation_backward: from_output needs alpha >= 0 for {name}, got -0.1"):
            _C.activation_backward(x, np.ones_like(x), np.empty_like(x), code, -0.1, 0, True)
        with pytest.raises(ValueError, match=r"activation_backward: from_output needs alpha >= 0"):
            _C.activation_backward(x, np.ones_like(x), np.empty_like(x), code, float("nan"), 0, True)


@pytest.mark.parametrize("name", NOT_FROM_OUTPUT)
def test_from_output_refused_for_kinds_without_a_cheap_form(name):
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=rf"activation_backward: from_output=True is not supported for '{name}'"):
        fastnn.activation_backward(x, x, name, from_output=True)
    with pytest.raises(ValueError, match=r"activation_backward: from_output is not supported for (gelu|gelu_tanh|silu|softsign)"):
        _C.activation_backward(x, x, np.empty_like(x), ACTIVATIONS[name][0], 0.0, 0, True)  # the kernel checks too
    with pytest.raises(ValueError, match=r"activation_backward: from_output=True is not supported"):
        ref.activation_backward_from_output(x.astype(np.float64), x.astype(np.float64), name)


def test_from_output_bad_input():
    y = np.ones((4, 5), np.float32)
    with pytest.raises(TypeError, match=r"activation_backward: argument 'y' must have dtype float32, got float64"):
        fastnn.activation_backward(y.astype(np.float64), y, "sigmoid", from_output=True)
    with pytest.raises(ValueError, match=r"activation_backward: argument 'grad' must have the shape of 'y'"):
        fastnn.activation_backward(y, np.ones(20, np.float32), "sigmoid", from_output=True)
    with pytest.raises(ValueError, match=r"activation_backward: argument 'y' must be C-contiguous"):
        fastnn.activation_backward(y[:, ::2], y[:, ::2].copy(), "tanh", from_output=True)
    with pytest.raises(ValueError, match=r"activation_backward: unknown activation 'relu7'"):
        fastnn.activation_backward(y, y, "relu7", from_output=True)
