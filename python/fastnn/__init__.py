"""fastnn: neural networks from Python on our own C++ and CUDA kernels.

Arrays are NumPy arrays on the CPU and CuPy arrays on the GPU; every hot
kernel is ours (``fastnn._C``), and ``fastnn.reference`` is its pure-NumPy
twin.
"""

import numbers

from fastnn import _C, reference
from fastnn.backend import cuda_available
from fastnn.random import manual_seed
from fastnn.tensor import Parameter, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from fastnn import functional, losses, regularizers, datasets  # noqa: E402,I001  (build on Tensor)
from fastnn import initializers, optimizers, random, schedules, utils  # noqa: E402,I001
from fastnn import callbacks, layers, metrics, models  # noqa: E402,I001  (build on the above)
from fastnn.layers import Input  # noqa: E402  (keras.Input)
from fastnn.models import Model, Sequential  # noqa: E402
from fastnn.info import info
from fastnn.ops import (
    activation,
    activation_backward,
    gemm,
    grad_global_norm,
    log_softmax,
    matmul,
    optimizer_step,
    softmax,
    softmax_backward,
    softmax_cross_entropy,
)

__version__ = _C.build_info()["version"]


def set_num_threads(n: int) -> None:
    """Number of CPU threads the kernels use (default: the CPUs available to the process)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads: n must be an int >= 1, got {type(n).__name__}")
    _C.set_num_threads(int(n))


def get_num_threads() -> int:
    """Number of CPU threads the kernels use."""
    return _C.get_num_threads()


__all__ = [
    "__version__",
    "Parameter",
    "Tensor",
    "callbacks",
    "datasets",
    "enable_grad",
    "functional",
    "layers",
    "metrics",
    "models",
    "Input",
    "Model",
    "Sequential",
    "initializers",
    "optimizers",
    "random",
    "schedules",
    "utils",
    "is_grad_enabled",
    "losses",
    "manual_seed",
    "no_grad",
    "regularizers",
    "tensor",
    "activation",
    "activation_backward",
    "cuda_available",
    "gemm",
    "grad_global_norm",
    "get_num_threads",
    "info",
    "log_softmax",
    "matmul",
    "optimizer_step",
    "reference",
    "set_num_threads",
    "softmax",
    "softmax_backward",
    "softmax_cross_entropy",
]
