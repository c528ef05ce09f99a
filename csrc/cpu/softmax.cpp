// Softmax family on the CPU: the ISA's row loops, rows split across threads.
#include <algorithm>

#include "fastnn/dispatch.h"
#include "fastnn/softmax.h"
#include "fastnn/thread_pool.h"
#include "softmax_kernels.h"

namespace fastnn::cpu {

namespace {

const SoftmaxTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return softmax_table_avx512();
        case Isa::avx2: return softmax_table_avx2();
#endif
        default: return softmax_table_portable();
    }
}

// Rows in contiguous blocks; below ~32K elements one thread does it.
template <typename Body>
void over_rows(std::int64_t rows, std::int64_t classes, const Body& body) {
    const std::int64_t work = rows * classes;
    const int threads = int(std::max<std::int64_t>(1, std::min<std::int64_t>({num_threads(), work / 32768, rows})));
    if (threads == 1) return body(0, rows);
    const std::int64_t tasks = std::min<std::int64_t>(rows, 2 * threads);
    parallel_for(tasks, threads, [&](std::int64_t t) { body(rows * t / tasks, rows * (t + 1) / tasks); });
}

}  // namespace

void softmax_forward(bool log, const float* x, float* y, std::int64_t rows, std::int64_t classes) {
    const auto fn = table().forward;
    over_rows(rows, classes, [&](std::int64_t r0, std::int64_t r1) { fn(log, x, y, r0, r1, classes); });
}

void softmax_backward(bool log, const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t classes) {
    const auto fn = table().backward;
    over_rows(rows, classes, [&](std::int64_t r0, std::int64_t r1) { fn(log, y, dy, dx, r0, r1, classes); });
}

std::int64_t cross_entropy(const CrossEntropyArgs& args) {
    if (!args.targets) {
        for (std::int64_t r = 0; r < args.rows; ++r) {
            const std::int64_t label = args.labels32 ? std::int64_t(args.labels32[r]) : args.labels64[r];
            if (label < 0 || label >= args.classes) return r;
        }
    }
    const auto fn = table().cross_entropy;
    over_rows(args.rows, args.classes, [&](std::int64_t r0, std::int64_t r1) { fn(args, r0, r1); });
    return -1;
}

}  // namespace fastnn::cpu
