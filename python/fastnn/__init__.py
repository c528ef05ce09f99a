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


_MATMUL_PRECISIONS = ("highest", "high", "medium")


def set_matmul_precision(precision: str) -> None:
    """How float32 matrix products may be computed, as PyTorch's
    ``torch.set_float32_matmul_precision``: ``"highest"`` (the default) multiplies in float32;
    ``"high"`` lets CUDA GEMMs use TF32 tensor cores (10-bit mantissa products), ``"medium"``
    BF16 ones (7-bit); sums are float32 in every case. It applies to the GEMMs (``matmul``,
    ``gemm``, Dense layers) on GPUs of compute capability 8.0 and up; the CPU, convolutions and
    older GPUs always compute in float32."""
    if not isinstance(precision, str) or precision not in _MATMUL_PRECISIONS:
        raise ValueError(f"set_matmul_precision: precision must be 'highest', 'high' or 'medium', "
                         f"got {precision!r}")
    _C.set_matmul_precision(_MATMUL_PRECISIONS.index(precision))


def get_matmul_precision() -> str:
    """The setting of :func:`set_matmul_precision` (``"highest"``, ``"high"`` or ``"medium"``)."""
    return _MATMUL_PRECISIONS[_C.get_matmul_precision()]


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
    "get_matmul_precision",
    "get_num_threads",
    "info",
    "set_matmul_precision",
    "log_softmax",
    "matmul",
    "optimizer_step",
    "reference",
    "set_num_threads",
    "softmax",
    "softmax_backward",
    "softmax_cross_entropy",
]
