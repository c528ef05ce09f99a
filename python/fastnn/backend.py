"""Where arrays live: NumPy on the CPU, CuPy on the GPU (DESIGN.md §3).

CuPy is optional and imported only when a CUDA array is actually seen, so
importing fastnn never needs CuPy, a GPU or a CUDA driver.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from fastnn import _C


_CUPY_TYPES: set = set()  # CuPy's array types once seen (the property below costs microseconds)


def is_cuda_array(x) -> bool:
    """True for CuPy arrays (anything exposing ``__cuda_array_interface__``)."""
    t = type(x)
    if t is np.ndarray:
        return False
    if t in _CUPY_TYPES:
        return True
    if not hasattr(x, "__cuda_array_interface__") or isinstance(x, np.ndarray):
        return False
    if t.__module__.startswith("cupy"):
        _CUPY_TYPES.add(t)
    return True


def _cupy():
    try:
        import cupy
    except ImportError:
        raise RuntimeError(
            "fastnn: CUDA arrays need CuPy for device memory and streams (pip install fastnn[gpu])"
        ) from None
    return cupy


def array_module(x):
    """``cupy`` for CUDA arrays, ``numpy`` otherwise."""
    return _cupy() if is_cuda_array(x) else np


def cuda_stream(x) -> int:
    """The CUDA stream kernels on ``x`` run on: CuPy's current stream (0 on the CPU).

    Call it inside ``device_of(x)``: CuPy keeps one current stream per device.
    """
    return _cupy().cuda.get_current_stream().ptr if is_cuda_array(x) else 0


def device_of(x):
    """A context that makes ``x``'s GPU the current device (a no-op on the CPU).

    Kernels launch on the current device and outputs are allocated there, so
    an array on GPU 1 must be worked on with GPU 1 current.
    """
    device = getattr(x, "device", None) if is_cuda_array(x) else None
    return device if device is not None and hasattr(device, "__enter__") else contextlib.nullcontext()


CUDA_BUILT: bool = _C.build_info()["cuda"]


@functools.lru_cache(maxsize=None)
def cuda_status() -> tuple[bool, str]:
    """(usable, reason): whether fastnn can run on a GPU here, and why not."""
    if not CUDA_BUILT:
        return False, "fastnn was built without CUDA"
    count, why = _C.cuda_device_count()
    if count == 0:
        return False, f"no usable CUDA device ({why})"
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False, "CuPy is not installed (pip install fastnn[gpu])"
    return True, f"{count} device(s), {_C.cuda_device_name()}"


def cuda_available() -> bool:
    """True when fastnn was built with CUDA, a GPU and driver are present and CuPy imports."""
    return cuda_status()[0]
