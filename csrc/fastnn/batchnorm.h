// Batch normalisation over the rows of an (M, C) float32 array (every axis
// but the last of an (..., C) input), Keras 3 semantics; forward in training
// and inference, and one fused backward (fastnn.reference.batchnorm is the
// NumPy twin). gamma / beta may be absent (null): 1 / 0.
//
//   batchnorm_train_forward(x, gamma, beta, y, save_mean, save_invstd,
//       running_mean, running_var, momentum, eps)
//     mean, biased var of each column; y = (x - mean) * invstd * gamma + beta
//     with invstd = 1 / sqrt(var + eps); save_mean / save_invstd (C) receive
//     them for the backward; running_* (optional, updated in place) become
//     running * momentum + batch * (1 - momentum) (biased var, as Keras 3).
//   batchnorm_infer_forward(x, gamma, beta, mean, var, y, save_invstd, eps)
//     the same with the given mean / var; save_invstd (optional) receives
//     1 / sqrt(var + eps) for a backward.
//   batchnorm_backward(x, dy, mean, invstd, gamma, dx, dgamma, dbeta, training)
//     dbeta = sum dy, dgamma = sum dy * xhat (xhat = (x - mean) * invstd),
//     dx = gamma invstd (dy - dbeta / M - xhat dgamma / M) in training,
//     gamma invstd dy otherwise. dgamma / dbeta optional (null).
//
// Numerics: column sums in double (the statistics over x - x[0] per column,
// so a large mean does not cancel the variance), in an order fixed by M and
// C alone (CPU: fixed chunks of rows, their partials added in chunk order;
// GPU: a grid fixed by the shape, partials added in order, no atomics):
// results are the same for any thread count and run to run. The per-column
// factors are formed in double and rounded once; the element-wise passes
// are float32. The GPU never synchronises with the host.
#pragma once

#include <cstdint>

#include "fastnn/view.h"

namespace fastnn {

// Optional arguments are null pointers.
struct BatchNormArgs {
    const View* x = nullptr;
    const View* gamma = nullptr;
    const View* beta = nullptr;
    const View* y = nullptr;
    const View* mean = nullptr;    // train: save_mean (out); infer: the mean (in)
    const View* var = nullptr;     // infer: the variance (in)
    const View* invstd = nullptr;  // out (train; optional in infer)
    const View* running_mean = nullptr;
    const View* running_var = nullptr;
    double momentum = 0.99;
    double eps = 1e-3;
};

struct BatchNormGradArgs {
    const View* x = nullptr;
    const View* dy = nullptr;
    const View* mean = nullptr;
    const View* invstd = nullptr;
    const View* gamma = nullptr;
    const View* dx = nullptr;
    const View* dgamma = nullptr;
    const View* dbeta = nullptr;
    bool training = true;
};

namespace cpu {
void batchnorm_train_forward(const BatchNormArgs& a);
void batchnorm_infer_forward(const BatchNormArgs& a);
void batchnorm_backward(const BatchNormGradArgs& a);
}  // namespace cpu

namespace cuda {
void batchnorm_train_forward(const BatchNormArgs& a, std::uintptr_t stream);
void batchnorm_infer_forward(const BatchNormArgs& a, std::uintptr_t stream);
void batchnorm_backward(const BatchNormGradArgs& a, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
