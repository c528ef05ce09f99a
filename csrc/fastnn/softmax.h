// Row-wise softmax / log-softmax over the last axis, and the fused
// softmax-cross-entropy of logits (forward and gradient in one pass).
//
// x is rows x classes, contiguous float32. All computations subtract the row
// maximum first (log-sum-exp), so logits of +-1e4 stay finite.
#pragma once

#include <cstdint>

namespace fastnn {

struct CrossEntropyArgs {
    std::int64_t rows = 0, classes = 0;
    const float* logits = nullptr;         // rows x classes
    // Exactly one of labels (sparse: rows class indices, int32 or int64) and
    // targets (dense: rows x classes probabilities) is set.
    const std::int32_t* labels32 = nullptr;
    const std::int64_t* labels64 = nullptr;
    const float* targets = nullptr;
    float label_smoothing = 0.0f;          // targets become (1 - s) t + s / classes
    float* loss = nullptr;                 // rows: per-row loss
    float* grad = nullptr;                 // rows x classes, or null: grad_scale * (softmax - t)
    float grad_scale = 1.0f;               // e.g. 1 / rows for a mean reduction
};

namespace cpu {
// y = softmax(x) (or log_softmax when log) along each row.
void softmax_forward(bool log, const float* x, float* y, std::int64_t rows, std::int64_t classes);
// dx from y = softmax(x) (or log_softmax) and dy: softmax dx = y * (dy - <dy, y>);
// log_softmax dx = dy - exp(y) * sum(dy).
void softmax_backward(bool log, const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t classes);
// Returns the index of the first row whose sparse label is outside
// [0, classes), or -1; nothing is written when a label is bad.
std::int64_t cross_entropy(const CrossEntropyArgs& args);
}  // namespace cpu

namespace cuda {
void softmax_forward(bool log, const float* x, float* y, std::int64_t rows, std::int64_t classes,
                     std::uintptr_t stream);
void softmax_backward(bool log, const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t classes,
                      std::uintptr_t stream);
// Labels must have been checked by the caller (a device-side range check would
// need a host synchronisation); out-of-range labels give NaN losses.
void cross_entropy(const CrossEntropyArgs& args, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
