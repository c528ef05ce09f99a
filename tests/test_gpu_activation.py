"""GPU activations: the CUDA kernels against the float64 NumPy reference (``pytest -m gpu``)."""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
from fastnn.ops import ACTIVATIONS, ACTIVATIONS_FROM_OUTPUT  # noqa: E402
from fastnn.reference import activations as ref  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]

# CUDA's expf/erfcf/tanhf are within a few ulp; same bound as the CPU tests
# (relative to max(|exact|, 1)).
TOL = 2e-6


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("n", [1, 1001, 1 << 20])
def test_matches_reference(name, n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 6).astype(np.float32)
    x[: min(n, 4)] = np.array([0.0, 1e30, -1e30, 20.0], np.float32)[: min(n, 4)]
    dy = rng.standard_normal(n).astype(np.float32)
    a = ACTIVATIONS[name][1]
    y = fastnn.activation(cp.asarray(x), name)
    dx = fastnn.activation_backward(cp.asarray(x), cp.asarray(dy), name)
    assert isinstance(y, cp.ndarray) and isinstance(dx, cp.ndarray)
    for got, want in ((cp.asnumpy(y), ref.activation(x.astype(np.float64), name, a)),
                      (cp.asnumpy(dx), ref.activation_backward(x.astype(np.float64), dy.astype(np.float64), name, a))):
        finite = np.isfinite(want) & (np.abs(want) < np.finfo(np.float32).max)
        assert (np.isfinite(got) == finite).all()
        err = np.abs(got[finite] - want[finite]) / np.maximum(np.abs(want[finite]), 1.0)
        assert err.max() <= TOL, f"{name}: max error {err.max():.3g}"


def test_unaligned_and_in_place():
    base = cp.asarray(np.linspace(-5, 5, 1001, dtype=np.float32))
    x = base[1:]  # 4 bytes past an aligned start: the scalar path
    want = ref.activation(cp.asnumpy(x).astype(np.float64), "sigmoid")
    np.testing.assert_allclose(cp.asnumpy(fastnn.activation(x, "sigmoid")), want, rtol=2e-6, atol=2e-7)
    fastnn.activation(x, "sigmoid", out=x)
    np.testing.assert_allclose(cp.asnumpy(x), want, rtol=2e-6, atol=2e-7)


def test_mixed_devices_refused():
    with pytest.raises(ValueError, match="activation"):
        fastnn.activation(cp.ones(4, cp.float32), "relu", out=np.empty(4, np.float32))


# From the output: the y-rounding bound of tests/test_activation.py (TOL_FROM_Y there).
TOL_FROM_Y = 2e-6


@pytest.mark.parametrize("name", sorted(ACTIVATIONS_FROM_OUTPUT))
@pytest.mark.parametrize("n", [1, 7, 1001, 1 << 20])
def test_backward_from_output_matches_reference(name, n):
    rng = np.random.default_rng(n + 1)
    x = (rng.standard_normal(n) * 6).astype(np.float32)
    special = np.array([0.0, -0.0, 3.0, -3.0, 1e30, -1e30, 20.0, -20.0], np.float32)
    x[: min(n, special.size)] = special[: min(n, special.size)]
    dy = rng.standard_normal(n).astype(np.float32)
    a = {"leaky_relu": 0.1, "elu": 0.5}.get(name, ACTIVATIONS[name][1])
    y = fastnn.activation(cp.asarray(x), name, alpha=a)
    dx = fastnn.activation_backward(y, cp.asarray(dy), name, alpha=a, from_output=True)
    assert isinstance(dx, cp.ndarray)
    y_h, got = cp.asnumpy(y), cp.asnumpy(dx)
    same_y = ref.activation_backward_from_output(y_h.astype(np.float64), dy.astype(np.float64), name, a)
    at_x = ref.activation_backward(x.astype(np.float64), dy.astype(np.float64), name, a)
    keep = ~((y_h == 1.0) & (x < 3.0)) if name == "hard_sigmoid" else np.ones(n, bool)  # rounding band below 3
    for want, tol, k in ((same_y, TOL, np.ones(n, bool)), (at_x, TOL_FROM_Y, keep)):
        g, w = got[k], want[k]
        finite = np.isfinite(w) & (np.abs(w) < np.finfo(np.float32).max)
        assert (np.isfinite(g) == finite).all()
        err = np.abs(g[finite] - w[finite]) / np.maximum(np.abs(w[finite]), 1.0)
        assert err.size == 0 or err.max() <= tol, f"{name}: max error {err.max():.3g}"


def test_backward_from_output_unaligned_in_place_and_refused():
    base = cp.asarray(np.linspace(-5, 5, 1002, dtype=np.float32))
    y = fastnn.activation(base, "tanh")[1:]  # 4 bytes past an aligned start: the scalar path
    g = cp.ones_like(y)
    want = ref.activation_backward_from_output(cp.asnumpy(y).astype(np.float64), np.ones(y.shape), "tanh")
    np.testing.assert_allclose(cp.asnumpy(fastnn.activation_backward(y, g, "tanh", from_output=True)), want,
                               rtol=2e-6, atol=2e-7)
    fastnn.activation_backward(y, g, "tanh", from_output=True, out=g)
    np.testing.assert_allclose(cp.asnumpy(g), want, rtol=2e-6, atol=2e-7)
    from fastnn import _C
    with pytest.raises(ValueError, match="activation_backward: from_output is not supported for gelu"):
        _C.activation_backward(y, g, cp.empty_like(y), ACTIVATIONS["gelu"][0], 0.0, 0, True)
    with pytest.raises(ValueError, match="activation_backward: from_output needs alpha >= 0"):
        _C.activation_backward(y, g, cp.empty_like(y), ACTIVATIONS["elu"][0], -1.0, 0, True)
