// Element-wise activations on the CPU: the ISA's loop, split into chunks
// across threads for large arrays.
#include <algorithm>

#include "activation_kernels.h"
#include "fastnn/activation.h"
#include "fastnn/dispatch.h"
#include "fastnn/thread_pool.h"

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

}  // namespace fastnn::cpu
