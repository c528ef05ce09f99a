"""fastnn.regularizers: Keras' penalties, their values and gradients through autograd.

Values are float32 sums over <= 1e4 terms compared with float64: rtol 1e-5. Gradients are
l1 * sign(w) + 2 * l2 * w exactly up to float32 rounding (rtol 1e-6); weights are kept away
from 0, where |w| has no derivative (fastnn gives 0 there, a subgradient).
"""

from __future__ import annotations

import numpy as np
import pytest

from fastnn import Parameter, regularizers

rng = np.random.default_rng(0)


def weights(*shape):
    w = rng.standard_normal(shape).astype(np.float32)
    return np.where(np.abs(w) < 1e-3, 0.5, w).astype(np.float32)


@pytest.mark.parametrize("reg,l1,l2", [
    (regularizers.L1(0.03), 0.03, 0.0),
    (regularizers.L2(0.02), 0.0, 0.02),
    (regularizers.L1L2(0.01, 0.05), 0.01, 0.05),
    (regularizers.l1_l2(), 0.01, 0.01),
    (regularizers.get("l2"), 0.0, 0.01),
])
@pytest.mark.parametrize("shape", [(1,), (7,), (784, 13), (3, 3, 4, 5)])
def test_value_and_gradient(reg, l1, l2, shape):
    w = weights(*shape)
    p = Parameter(w)
    penalty = reg(p)
    w64 = w.astype(np.float64)
    want = l1 * np.abs(w64).sum() + l2 * (w64 ** 2).sum()
    np.testing.assert_allclose(float(penalty.item()), want, rtol=1e-5)
    penalty.backward()
    np.testing.assert_allclose(p.grad, l1 * np.sign(w64) + 2 * l2 * w64, rtol=1e-6, atol=1e-8)


def test_zero_weights_get_a_zero_subgradient():
    p = Parameter(np.zeros(5, np.float32))
    regularizers.L1(0.5)(p).backward()
    np.testing.assert_array_equal(p.grad, 0.0)


def test_config_and_lookup():
    assert regularizers.L1L2(0.1, 0.2).get_config() == {"l1": 0.1, "l2": pytest.approx(0.2)}
    assert regularizers.L2.from_config({"l2": 0.3}).l2 == pytest.approx(0.3)
    assert regularizers.get(None) is None
    r = regularizers.get({"class_name": "L1", "config": {"l1": 0.2}})
    assert isinstance(r, regularizers.L1) and r.l1 == pytest.approx(0.2)
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="L2: l2 must be a number >= 0"):
        regularizers.L2(-1.0)
