"""fastnn.set_matmul_precision / get_matmul_precision (PyTorch's set_float32_matmul_precision):
the setting itself, its errors, and that the CPU ignores it (it always multiplies in float32).
The GPU's TF32 / BF16 tensor-core paths are tested in test_gpu_matmul_precision.py."""

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import _C


def test_default_is_highest_and_the_setting_round_trips():
    assert fastnn.get_matmul_precision() == "highest"  # the conftest fixture restores it after each test
    for p in ("high", "medium", "highest"):
        fastnn.set_matmul_precision(p)
        assert fastnn.get_matmul_precision() == p
        assert f"float32 matmul precision: {p}" in fastnn.info()


@pytest.mark.parametrize("bad", ["low", "HIGH", "", "tf32", None, 1, 0.5])
def test_unknown_precisions_are_refused_and_change_nothing(bad):
    fastnn.set_matmul_precision("medium")
    with pytest.raises(ValueError, match=r"set_matmul_precision: precision must be 'highest', 'high' or 'medium', got"):
        fastnn.set_matmul_precision(bad)
    assert fastnn.get_matmul_precision() == "medium"


def test_the_binding_checks_its_code():
    with pytest.raises(ValueError, match="set_matmul_precision: unknown precision code 3"):
        _C.set_matmul_precision(3)


def test_cpu_products_are_float32_at_every_setting():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((67, 300)).astype(np.float32)
    b = rng.standard_normal((300, 45)).astype(np.float32)
    bias = rng.standard_normal(45).astype(np.float32)
    want = fastnn.matmul(a, b)
    want_dense = F.linear(a, b, bias, activation="relu").numpy()
    for p in ("high", "medium"):
        fastnn.set_matmul_precision(p)
        assert np.array_equal(fastnn.matmul(a, b), want)
        assert np.array_equal(F.linear(a, b, bias, activation="relu").numpy(), want_dense)
    # and float32 means float32: within float32 rounding of the float64 product, far inside
    # what TF32 (2^-11 per operand) would give
    exact = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    assert np.all(np.abs(want - exact) <= 304 * 2.0**-24 * scale)
