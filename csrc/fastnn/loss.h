// The Keras loss family (issue 3): per-row losses over the last axis and their
// gradient with respect to y_pred, forward and backward in one pass each.
//
// y_true and y_pred are rows x n, contiguous float32 (sparse kinds: y_true is
// `rows` int32/int64 class labels). Every kind reduces over the last axis and
// writes one value per row; the reduction over rows (mean, sum, none, sample
// weights) is the caller's, through grad_rows in the backward pass.
//
// Formulas (Keras 3, keras/src/losses/losses.py and backend/*/nn.py), with
// e = p - t, eps = 1e-7 (float32), clip(x) = min(max(x, eps), 1 - eps):
//   mse           mean_j e^2                          grad 2 e / n
//   mae           mean_j |e|                          grad sign(e) / n (0 at e == 0, as TF and torch)
//   huber         mean_j (|e| <= d ? e^2 / 2 : d |e| - d^2 / 2)    grad clamp(e, -d, d) / n
//   log_cosh      mean_j log(cosh e)                  grad tanh(e) / n
//   binary_crossentropy, t' = t (1 - ls) + ls / 2:
//     probabilities  mean_j -(t' log q + (1 - t') log(1 - q)), q = clip(p)
//                    grad (q - t') / (q (1 - q)) / n where eps <= p <= 1 - eps, else 0
//     from_logits    mean_j max(x, 0) - x t' + log1p(exp(-|x|))   grad (sigmoid(x) - t') / n
//   categorical_crossentropy (probabilities), t' = t (1 - ls) + ls / n:
//     S = sum_j p_j, u = p / S, q = clip(u); loss = -sum_j t'_j log q_j
//     grad_k = (T_in - [inside_k] t'_k / u_k) / S, T_in = sum over inside j of t'_j
//     (inside_j: eps <= u_j <= 1 - eps)
//   sparse_categorical_crossentropy (probabilities), label L:
//     loss = -log clip(p_L / S); grad_k = [inside_L] (1 / S - [k == L] / p_L)
// Gradients are the exact derivatives of these clipped formulas as
// TensorFlow's autodiff computes them: clip_by_value passes the gradient for
// eps <= x <= 1 - eps (both ends included) and gives 0 outside, so a clipped
// probability gets no gradient through the log.
//
// Sparse probabilities are normalised by the row sum first, as Keras' JAX,
// torch and NumPy backends (and categorical_crossentropy everywhere) do;
// Keras' TensorFlow backend instead clips first and then normalises by the sum
// of the clipped values (sparse_softmax_cross_entropy_with_logits on
// log(clip(p))). The two agree when the rows sum to 1 and no entry is clipped.
//
// The from-logits categorical kinds are the fused softmax cross-entropy of
// fastnn/softmax.h (cross_entropy), not this family.
#pragma once

#include <cstdint>

namespace fastnn {

enum class LossKind : int {
    mse = 0,
    mae = 1,
    huber = 2,
    log_cosh = 3,
    binary_crossentropy = 4,
    categorical_crossentropy = 5,
    sparse_categorical_crossentropy = 6,
};
constexpr int kLossKinds = 7;
constexpr float kLossEpsilon = 1e-7f;  // Keras' backend.epsilon()

const char* loss_name(LossKind kind);

struct LossArgs {
    LossKind kind = LossKind::mse;
    std::int64_t rows = 0, n = 0;       // n: size of the last axis (classes)
    const float* y_true = nullptr;      // rows x n (dense kinds)
    const std::int32_t* labels32 = nullptr;  // rows (sparse kind): exactly one of these two
    const std::int64_t* labels64 = nullptr;
    const float* y_pred = nullptr;      // rows x n: values, probabilities or logits
    bool from_logits = false;           // binary_crossentropy only
    float label_smoothing = 0.0f;       // binary and categorical crossentropy
    float delta = 1.0f;                 // huber
    bool check_finite = false;          // report non-finite y_true / y_pred
    bool check_labels = true;           // CUDA: report out-of-range labels (needs a sync); always on the CPU
    // forward
    float* loss = nullptr;              // rows
    // backward: grad = grad_scale * grad_rows[r] * d loss_r / d y_pred
    const float* grad_rows = nullptr;   // rows, or null (all ones)
    float grad_scale = 1.0f;
    float* grad = nullptr;              // rows x n
};

// What a kernel found while it ran (the CPU looks during its one pass; CUDA
// when asked, through a flag in device memory and a synchronisation). Rows are
// the first offending ones, -1 when none. Output rows with a bad label are NaN.
struct LossStatus {
    std::int64_t bad_label_row = -1;
    std::int64_t bad_label = 0;
    std::int64_t nonfinite_true_row = -1;
    std::int64_t nonfinite_pred_row = -1;
    bool ok() const { return bad_label_row < 0 && nonfinite_true_row < 0 && nonfinite_pred_row < 0; }
};

// Throws ValueError naming `op` for settings no kernel runs with (options a
// kind does not take, label_smoothing outside [0, 1], delta <= 0, missing
// arrays, n < 1). The CPU and CUDA entry points call it first.
void check_loss_args(const char* op, const LossArgs& args, bool backward);

namespace cpu {
LossStatus loss_forward(const LossArgs& args);
LossStatus loss_backward(const LossArgs& args);
}  // namespace cpu

namespace cuda {
// Number of 64-bit words of the device scratch the checks need.
constexpr int kLossScratchWords = 4;
// scratch: kLossScratchWords device words, needed when args.check_finite, or
// for the sparse kind when args.check_labels; then the call synchronises the
// stream to read the result. Without checks it never synchronises; a label
// outside [0, n) then gives a NaN loss / gradient row (never an out-of-bounds read).
LossStatus loss_forward(const LossArgs& args, std::uint64_t* scratch, std::uintptr_t stream);
LossStatus loss_backward(const LossArgs& args, std::uint64_t* scratch, std::uintptr_t stream);
// Range check of integer labels alone (for the fused softmax cross-entropy,
// whose CUDA kernel leaves the check to the caller); synchronises the stream.
LossStatus check_labels(const std::int32_t* labels32, const std::int64_t* labels64, std::int64_t rows,
                        std::int64_t classes, std::uint64_t* scratch, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
