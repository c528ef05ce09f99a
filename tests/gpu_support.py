"""Shared by the GPU test modules: CuPy, or a clean module-level skip."""

import pytest


def cupy_or_skip():
    """Returns the cupy module, or skips the calling test module when CuPy, a
    CUDA device or fastnn's CUDA build is missing."""
    cp = pytest.importorskip("cupy")
    import fastnn

    try:
        devices = cp.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, insufficient driver, no device, ...
        devices = 0
    if devices == 0:
        pytest.skip("no CUDA device visible to CuPy", allow_module_level=True)
    if not fastnn.cuda_available():
        pytest.skip("fastnn was built without CUDA or cannot use the GPU", allow_module_level=True)
    return cp
