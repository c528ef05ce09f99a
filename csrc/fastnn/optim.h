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
//
// Order of one step (Keras 3, BaseOptimizer.apply: unscale, _clip_gradients,
// _apply_weight_decay, update_step):
//   1. g = grad * grad_scale                        (loss scaling undone first)
//   2. clip_norm > 0:        g *= clip_norm / max(||g||, clip_norm), ||g|| the
//                            L2 norm of this parameter's g (Keras' clipnorm)
//   3. global_clip_norm > 0: g *= global_clip_norm / max(G, global_clip_norm),
//                            G = sqrt(sum over all parameters of ||g||^2) after
//                            step 2; NaN when G is not finite (Keras'
//                            global_clipnorm, clip_by_global_norm)
//   4. clip_value > 0:       g = clip(g, -clip_value, clip_value)
//   5. decoupled weight decay (Keras 3, AdamW): p -= learning_rate * weight_decay * p
//   6. the optimizer's update with g.
// Keras accepts only one of clipnorm / global_clipnorm / clipvalue, and its
// _clip_gradients tries them in the order clipnorm, global_clipnorm,
// clipvalue; the kernel accepts any combination and applies them in that order
// (fastnn.optimizers enforces Keras' "only one"). Steps 1-3 reduce to one
// factor per parameter, so the sums of squares are computed first in the same
// call (a pass over the gradients on the CPU; on the GPU a pre-pass kernel that
// leaves the factors in device memory, read by the step kernel: no host
// synchronisation). Sums of squares are accumulated in double, in a fixed
// order (the same result for any thread count, and run to run on one GPU).
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
    float clip_value = 0.0f;        // > 0: gradients clipped to [-clip_value, clip_value] (step 4)
    float clip_norm = 0.0f;         // > 0: each gradient clipped to this L2 norm (step 2)
    float global_clip_norm = 0.0f;  // > 0: all gradients clipped to this global L2 norm (step 3)
    std::int64_t iteration = 1;  // 1 on the first step (Adam's bias correction)
};

// Keras' Adam step size: lr sqrt(1 - beta_2^t) / (1 - beta_1^t), in double.
inline float adam_step_size(const OptimizerHyper& h) {
    const double t = double(h.iteration);
    return float(double(h.learning_rate) * std::sqrt(1.0 - std::pow(double(h.beta_2), t)) /
                 (1.0 - std::pow(double(h.beta_1), t)));
}

#if defined(__CUDACC__)
#define FASTNN_OPTIM_HD __host__ __device__ inline
#else
#define FASTNN_OPTIM_HD inline
#endif

// Step 2's factor for a gradient with sum of squares ss (Keras' _clip_by_norm:
// g * c / max(norm, c)): 1 when norm <= c, c / norm above, 0 for an infinite
// norm (then an infinite element becomes NaN, as in Keras), NaN for a NaN norm.
FASTNN_OPTIM_HD double clip_norm_factor(double ss, double c) {
    const double norm = sqrt(ss);
    return norm <= c ? 1.0 : c / norm;
}

// Step 3's factor for the global sum of squares ss (Keras' clip_by_global_norm:
// c * min(1 / G, 1 / c) + (G - G)): 1 when G <= c, c / G above, NaN when G is
// infinite or NaN.
FASTNN_OPTIM_HD double global_clip_factor(double ss, double c) {
    const double norm = sqrt(ss);
    if (!(norm <= 1.7976931348623157e308)) return norm - norm;  // inf or NaN: NaN
    return norm <= c ? 1.0 : c / norm;
}

// Whether steps 2-3 need the sums of squares first.
FASTNN_OPTIM_HD bool norm_clipping(const OptimizerHyper& h) {
    return h.clip_norm > 0.0f || h.global_clip_norm > 0.0f;
}

#undef FASTNN_OPTIM_HD

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
