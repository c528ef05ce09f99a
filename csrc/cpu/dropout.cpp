// Dropout on the CPU (see fastnn/dropout.h): chunks of whole Philox blocks
// across threads; the ISA's loop draws 16 blocks at a time.
#include <algorithm>
#include <cstring>

#include "elementwise_kernels.h"
#include "fastnn/dispatch.h"
#include "fastnn/dropout.h"
#include "fastnn/thread_pool.h"

namespace fastnn::cpu {

namespace {

const ElementwiseTable& table() { return elementwise_table(); }

// Elements per task, a multiple of 4 (whole Philox blocks). Philox costs
// ~10 multiply rounds per 4 elements, so threads pay off earlier than for
// memory-bound loops.
constexpr std::int64_t kChunk = 1 << 14;

}  // namespace

void dropout(const DropoutArgs& args, const float* x, float* y, std::int64_t n) {
    if (n <= 0) return;
    if (args.threshold == 0 && args.scale == 1.0f) {  // rate 0 (or below 2^-32): a copy
        if (x != y) std::memcpy(y, x, std::size_t(n) * sizeof(float));
        return;
    }
    const auto fn = table().dropout;
    const std::int64_t tasks = (n + kChunk - 1) / kChunk;
    const int threads = int(std::max<std::int64_t>(1, std::min<std::int64_t>(num_threads(), tasks / 2)));
    parallel_for(tasks, threads, [&](std::int64_t task) {
        const std::int64_t begin = task * kChunk, count = std::min(kChunk, n - begin);
        fn(x + begin, y + begin, count, args.key, args.offset + std::uint64_t(begin / 4), args.threshold, args.scale);
    });
}

}  // namespace fastnn::cpu
