"""fastnn.reference: a pure-NumPy twin of every fastnn kernel (forward and backward).

Public on purpose: the tests use it as the oracle (fed float64), the
benchmarks as the baseline (fed float32), and users to learn or to check.
"""

from fastnn.reference.batchnorm import batch_norm, batch_norm_backward
from fastnn.reference.activations import activation, activation_backward, activation_backward_from_output
from fastnn.reference.conv import conv2d, conv2d_backward, im2col
from fastnn.reference.dropout import dropout, dropout_backward, dropout_mask, philox4x32_10
from fastnn.reference.elementwise import binary, binary_backward, reduce_sum, sum_to_shape
from fastnn.reference.gemm import gemm, matmul
from fastnn.reference.losses import loss, loss_backward
from fastnn.reference.optimizers import optimizer_step
from fastnn.reference.penalty import penalty, penalty_backward
from fastnn.reference.pooling import (avg_pool2d, avg_pool2d_backward, global_avg_pool2d, global_max_pool2d,
                                      max_pool2d, max_pool2d_backward, pool_geometry)
from fastnn.reference.softmax import cross_entropy, softmax, softmax_backward

__all__ = ["activation", "activation_backward", "activation_backward_from_output", "binary", "binary_backward", "cross_entropy", "dropout",
           "dropout_backward", "dropout_mask", "gemm", "loss", "loss_backward", "matmul", "optimizer_step",
           "penalty", "penalty_backward", "philox4x32_10", "reduce_sum", "softmax", "softmax_backward", "sum_to_shape",
           "avg_pool2d", "avg_pool2d_backward", "batch_norm", "batch_norm_backward", "global_avg_pool2d",
           "global_max_pool2d", "max_pool2d", "max_pool2d_backward", "pool_geometry",
           "conv2d", "conv2d_backward", "im2col"]
