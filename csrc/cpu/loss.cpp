// The loss family on the CPU: argument checks shared with CUDA, and the ISA's
// row loops with rows split across threads (formulas: fastnn/loss.h).
#include <algorithm>
#include <vector>

#include "fastnn/dispatch.h"
#include "fastnn/errors.h"
#include "fastnn/loss.h"
#include "fastnn/thread_pool.h"
#include "loss_kernels.h"

namespace fastnn {

const char* loss_name(LossKind kind) {
    switch (kind) {
        case LossKind::mse: return "mean_squared_error";
        case LossKind::mae: return "mean_absolute_error";
        case LossKind::huber: return "huber";
        case LossKind::log_cosh: return "log_cosh";
        case LossKind::binary_crossentropy: return "binary_crossentropy";
        case LossKind::categorical_crossentropy: return "categorical_crossentropy";
        case LossKind::sparse_categorical_crossentropy: return "sparse_categorical_crossentropy";
    }
    return "unknown loss";
}

void check_loss_args(const char* op, const LossArgs& a, bool backward) {
    const int code = static_cast<int>(a.kind);
    if (code < 0 || code >= kLossKinds)
        throw ValueError(message(op, ": unknown loss code ", code, " (expected 0..", kLossKinds - 1, ")"));
    const char* name = loss_name(a.kind);
    if (a.rows < 0) throw ValueError(message(op, ": rows must be >= 0, got ", a.rows));
    if (a.n < 1)
        throw ValueError(message(op, ": ", name, " needs at least one element on the last axis of 'y_pred', got ", a.n));
    const bool sparse = a.kind == LossKind::sparse_categorical_crossentropy;
    const bool crossentropy = a.kind == LossKind::binary_crossentropy || a.kind == LossKind::categorical_crossentropy;
    if (a.from_logits && a.kind != LossKind::binary_crossentropy)
        throw ValueError(message(op, ": from_logits=True for ", name,
                                 " is the fused softmax cross-entropy (fastnn.softmax_cross_entropy), not this kernel"));
    if (!(a.label_smoothing >= 0.0f && a.label_smoothing <= 1.0f))
        throw ValueError(message(op, ": label_smoothing must be in [0, 1], got ", a.label_smoothing));
    if (a.label_smoothing != 0.0f && !crossentropy)
        throw ValueError(message(op, ": label_smoothing applies to binary_crossentropy and categorical_crossentropy, "
                                     "not to ", name, " (got ", a.label_smoothing, ")"));
    if (a.kind == LossKind::huber && !(a.delta > 0.0f && a.delta <= 3.4e38f))
        throw ValueError(message(op, ": huber's delta must be a finite number > 0, got ", a.delta));
    if (sparse) {
        if ((a.labels32 != nullptr) == (a.labels64 != nullptr) || a.y_true != nullptr)
            throw ValueError(message(op, ": ", name, " takes int32 or int64 labels (exactly one), not dense targets"));
    } else if (a.y_true == nullptr || a.labels32 != nullptr || a.labels64 != nullptr) {
        throw ValueError(message(op, ": ", name, " takes dense float32 targets 'y_true', not integer labels"));
    }
    if (a.rows > 0 && a.y_pred == nullptr) throw ValueError(message(op, ": 'y_pred' is missing"));
    if (a.rows > 0 && !backward && a.loss == nullptr) throw ValueError(message(op, ": the per-row output is missing"));
    if (a.rows > 0 && backward && a.grad == nullptr) throw ValueError(message(op, ": the gradient output is missing"));
}

namespace cpu {

namespace {

const LossTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return loss_table_avx512();
        case Isa::avx2: return loss_table_avx2();
#endif
        default: return loss_table_portable();
    }
}

// Rows in contiguous blocks (as softmax.cpp); below ~32K elements one thread.
// Tasks are ordered by row, so the first task reporting a row has the first one.
LossStatus run(const LossArgs& a, void (*fn)(const LossArgs&, std::int64_t, std::int64_t, LossStatus*)) {
    LossStatus status;
    if (a.rows == 0) return status;
    const std::int64_t work = a.rows * a.n;
    const int threads = int(std::max<std::int64_t>(1, std::min<std::int64_t>({num_threads(), work / 32768, a.rows})));
    if (threads == 1) {
        fn(a, 0, a.rows, &status);
        return status;
    }
    const std::int64_t tasks = std::min<std::int64_t>(a.rows, 2 * threads);
    std::vector<LossStatus> found(static_cast<std::size_t>(tasks));
    parallel_for(tasks, threads, [&](std::int64_t t) {
        fn(a, a.rows * t / tasks, a.rows * (t + 1) / tasks, &found[static_cast<std::size_t>(t)]);
    });
    for (const LossStatus& f : found) {
        if (status.bad_label_row < 0 && f.bad_label_row >= 0) {
            status.bad_label_row = f.bad_label_row;
            status.bad_label = f.bad_label;
        }
        if (status.nonfinite_true_row < 0) status.nonfinite_true_row = f.nonfinite_true_row;
        if (status.nonfinite_pred_row < 0) status.nonfinite_pred_row = f.nonfinite_pred_row;
    }
    return status;
}

}  // namespace

LossStatus loss_forward(const LossArgs& args) {
    check_loss_args("loss", args, false);
    return run(args, table().forward);
}

LossStatus loss_backward(const LossArgs& args) {
    check_loss_args("loss_backward", args, true);
    return run(args, table().backward);
}

}  // namespace cpu
}  // namespace fastnn
