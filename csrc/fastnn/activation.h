// Element-wise activations: forward y = f(x) and backward dx = dy * f'(x).
//
// Both directions take the activation's input x (the backward recomputes what
// it needs from x, so autograd saves one array per activation). Where f'(x)
// is a cheap function of the output y = f(x), activation_backward_from_output
// takes y instead (as PyTorch does): sigmoid y (1 - y), tanh (1 - y)(1 + y),
// relu y > 0, leaky_relu y > 0 ? 1 : alpha, elu y > 0 ? 1 : y + alpha,
// selu y > 0 ? scale : y + scale * a, exponential y, softplus -expm1(-y),
// hard_sigmoid 0 < y < 1 ? 1/6 : 0, linear 1. gelu, gelu_tanh, silu and
// softsign have no such form (ValueError). y > 0 tells x > 0 only while
// alpha >= 0, so leaky_relu and elu with alpha < 0 are refused too (alpha = 0
// is exact: both forms give 0 for x <= 0). At the kinks the two forms agree
// exactly (relu/leaky_relu/elu/selu at x = 0 or -0, hard_sigmoid at x = +-3,
// NaN alike), with one unavoidable difference: the last float below 3 has
// x / 6 + 1/2 rounded to 1, so hard_sigmoid's from-output derivative there is
// 0 (the slope of the rounded output) where the x-based one is 1/6. Accuracy:
// y's own rounding carries into f'(y) (tests: within 2e-6 of max(|f'|, 1));
// sigmoid's y (1 - y) and tanh's (1 - y)(1 + y) are only absolutely accurate
// in the right tail where y rounds to 1 (as in PyTorch). Arrays are
// contiguous float32 of n elements; `alpha` is the activation's parameter
// (leaky_relu's slope, elu's alpha), ignored by the others. The formulas are
// Keras' (keras.activations); fastnn.reference.activations is their NumPy twin.
#pragma once

#include <cstdint>

namespace fastnn {

// Codes shared with Python (fastnn/ops.py); append only.
enum class ActivationKind : int {
    linear = 0,        // x
    relu = 1,          // max(x, 0)
    leaky_relu = 2,    // x > 0 ? x : alpha * x
    elu = 3,           // x > 0 ? x : alpha * (exp(x) - 1)
    selu = 4,          // scale * (x > 0 ? x : a * (exp(x) - 1)), a = 1.67326324, scale = 1.05070098
    gelu = 5,          // x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
    gelu_tanh = 6,     // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    silu = 7,          // x * sigmoid(x)
    sigmoid = 8,       // 1 / (1 + exp(-x))
    hard_sigmoid = 9,  // clip(x / 6 + 0.5, 0, 1)   (Keras 3)
    tanh = 10,         // tanh(x)
    softplus = 11,     // log(1 + exp(x))
    softsign = 12,     // x / (1 + |x|)
    exponential = 13,  // exp(x)
};
constexpr int kActivationKinds = 14;

// True when activation_backward_from_output supports `kind` (for any alpha
// accepted by check_backward_from_output).
bool activation_has_from_output(ActivationKind kind);
// Keras name of `kind` ("sigmoid", ...), "?" when out of range.
const char* activation_name(ActivationKind kind);
// Throws ValueError naming `op` when the from-output backward cannot serve
// (kind, alpha): no cheap form, or leaky_relu / elu with alpha < 0 (or NaN).
void check_backward_from_output(const char* op, ActivationKind kind, float alpha);

namespace cpu {
void activation_forward(ActivationKind kind, float alpha, const float* x, float* y, std::int64_t n);
void activation_backward(ActivationKind kind, float alpha, const float* x, const float* dy, float* dx,
                         std::int64_t n);
// dx = dy * f'(x) from y = f(x); dx may be y or dy.
void activation_backward_from_output(ActivationKind kind, float alpha, const float* y, const float* dy, float* dx,
                                     std::int64_t n);
}  // namespace cpu

namespace cuda {
// On `stream` (a cudaStream_t as an integer); pointers are device pointers.
void activation_forward(ActivationKind kind, float alpha, const float* x, float* y, std::int64_t n,
                        std::uintptr_t stream);
void activation_backward(ActivationKind kind, float alpha, const float* x, const float* dy, float* dx,
                         std::int64_t n, std::uintptr_t stream);
void activation_backward_from_output(ActivationKind kind, float alpha, const float* y, const float* dy, float* dx,
                                     std::int64_t n, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
