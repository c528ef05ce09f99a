// Fused optimizer updates: one call updates every parameter of a step (all
// tensors, one pass over each), with Keras' update rules (keras.optimizers).
//
// Each parameter comes as a slot: the parameter, its gradient and up to three
// state arrays of the same length. States by optimizer:
//   sgd      s1 = velocity (only with momentum)
//   adam     s1 = m, s2 = v, s3 = v_hat (only with amsgrad)
//   rmsprop  s1 = velocity (mean square), s2 = momentum buffer (momentum > 0),
//            s3 = average gradient (centered)
//   adagrad  s1 = accumulator
// Decoupled weight decay (Keras 3, AdamW): p -= lr * weight_decay * p first.
// grad_scale multiplies every gradient (global-norm clipping, loss scaling).
#pragma once

#include <cmath>
#include <cstdint>

namespace fastnn {

enum class OptimizerKind : int { sgd = 0, adam = 1, rmsprop = 2, adagrad = 3 };
constexpr int kOptimizerKinds = 4;

struct OptimizerHyper {
    float learning_rate = 0.01f;
    float momentum = 0.0f;   // sgd, rmsprop
    bool nesterov = false;   // sgd
    float beta_1 = 0.9f;     // adam
    float beta_2 = 0.999f;   // adam
    float epsilon = 1e-7f;   // adam, rmsprop, adagrad
    bool amsgrad = false;    // adam
    float rho = 0.9f;        // rmsprop
    bool centered = false;   // rmsprop
    float weight_decay = 0.0f;
    float grad_scale = 1.0f;
    float clip_value = 0.0f;  // > 0: gradients clipped to [-clip_value, clip_value] (after grad_scale)
    std::int64_t iteration = 1;  // 1 on the first step (Adam's bias correction)
};

// Keras' Adam step size: lr sqrt(1 - beta_2^t) / (1 - beta_1^t), in double.
inline float adam_step_size(const OptimizerHyper& h) {
    const double t = double(h.iteration);
    return float(double(h.learning_rate) * std::sqrt(1.0 - std::pow(double(h.beta_2), t)) /
                 (1.0 - std::pow(double(h.beta_1), t)));
}

struct ParamSlot {
    float* param = nullptr;
    const float* grad = nullptr;
    float* s1 = nullptr;
    float* s2 = nullptr;
    float* s3 = nullptr;
    std::int64_t n = 0;
};

namespace cpu {
void optimizer_step(OptimizerKind kind, const OptimizerHyper& h, const ParamSlot* slots, int count);
// sum of squares of every gradient (for global-norm clipping), in double.
double grad_sum_squares(const ParamSlot* slots, int count);
}  // namespace cpu

namespace cuda {
// slots is a host array of device pointers; up to 64 slots travel by value
// as one kernel parameter, so one launch (per 64 parameters) covers them all
// with no device allocation and no host synchronisation.
void optimizer_step(OptimizerKind kind, const OptimizerHyper& h, const ParamSlot* slots, int count,
                    std::uintptr_t stream);
double grad_sum_squares(const ParamSlot* slots, int count, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
