"""GPU activations: the CUDA kernels against the float64 NumPy reference (``pytest -m gpu``)."""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
from fastnn.ops import ACTIVATIONS  # noqa: E402
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
