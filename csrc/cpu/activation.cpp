// Element-wise activations on the CPU: the ISA's loop, split into chunks
// across threads for large arrays.
#include <algorithm>

#include "activation_kernels.h"
#include "fastnn/activation.h"
#include "fastnn/dispatch.h"
#include "fastnn/errors.h"
#include "fastnn/thread_pool.h"

namespace fastnn {

namespace {
constexpr const char* kNames[kActivationKinds] = {
    "linear", "relu", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "sigmoid", "hard_sigmoid",
    "tanh", "softplus", "softsign", "exponential"};
}  // namespace

const char* activation_name(ActivationKind kind) {
    const int k = int(kind);
    return k >= 0 && k < kActivationKinds ? kNames[k] : "?";
}

bool activation_has_from_output(ActivationKind kind) {
    switch (kind) {
        case ActivationKind::gelu:
        case ActivationKind::gelu_tanh:
        case ActivationKind::silu:
        case ActivationKind::softsign: return false;
        default: return int(kind) >= 0 && int(kind) < kActivationKinds;
    }
}

void check_backward_from_output(const char* op, ActivationKind kind, float alpha) {
    if (int(kind) < 0 || int(kind) >= kActivationKinds)
        throw ValueError(message(op, ": unknown activation code ", int(kind), " (expected 0..", kActivationKinds - 1,
                                 ")"));
    if (!activation_has_from_output(kind))
        throw ValueError(message(op, ": from_output is not supported for ", activation_name(kind),
                                 " (its derivative is not a cheap function of its output); pass the input x instead"));
    if ((kind == ActivationKind::leaky_relu || kind == ActivationKind::elu) && !(alpha >= 0.0f))
        throw ValueError(message(op, ": from_output needs alpha >= 0 for ", activation_name(kind), ", got ", alpha,
                                 " (with alpha < 0 the output's sign no longer tells the input's)"));
}

}  // namespace fastnn

namespace fastnn::cpu {

namespace {

const ActivationTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return activation_table_avx512();
        case Isa::avx2: return activation_table_avx2();
#endif
        default: return activation_table_portable();
    }
}

// Below ~64K elements (tens of microseconds) one thread does it; chunks are
// whole cache lines so threads never write the same line.
constexpr std::int64_t kMinPerThread = 1 << 16;
constexpr std::int64_t kChunkAlign = 16;

template <typename Body>
void chunked(std::int64_t n, const Body& body) {
    const int threads = int(std::max<std::int64_t>(1, std::min<std::int64_t>(num_threads(), n / kMinPerThread)));
    if (threads == 1) return body(0, n);
    const std::int64_t tasks = 2 * threads;
    const std::int64_t chunk = (n / tasks + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
    parallel_for(tasks, threads, [&](std::int64_t t) {
        const std::int64_t begin = std::min(n, t * chunk);
        const std::int64_t end = t == tasks - 1 ? n : std::min(n, begin + chunk);
        if (begin < end) body(begin, end - begin);
    });
}

}  // namespace

void activation_forward(ActivationKind kind, float alpha, const float* x, float* y, std::int64_t n) {
    const auto fn = table().forward[int(kind)];
    chunked(n, [&](std::int64_t begin, std::int64_t count) { fn(alpha, x + begin, y + begin, count); });
}

void activation_backward(ActivationKind kind, float alpha, const float* x, const float* dy, float* dx,
                         std::int64_t n) {
    const auto fn = table().backward[int(kind)];
    chunked(n, [&](std::int64_t begin, std::int64_t count) { fn(alpha, x + begin, dy + begin, dx + begin, count); });
}

void activation_backward_from_output(ActivationKind kind, float alpha, const float* y, const float* dy, float* dx,
                                     std::int64_t n) {
    check_backward_from_output("activation_backward", kind, alpha);
    const auto fn = table().backward_from_output[int(kind)];
    chunked(n, [&](std::int64_t begin, std::int64_t count) { fn(alpha, y + begin, dy + begin, dx + begin, count); });
}

}  // namespace fastnn::cpu
