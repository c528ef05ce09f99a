// The weight penalty on the CPU (fastnn/penalty.h): the ISA's loops
// (penalty_kernels.h) over tasks of kTask elements, cut by the size alone so
// the forward's sum -- the chunks' double partial sums added in chunk order --
// is the same for any thread count.
#include <algorithm>
#include <cstring>

#include "fastnn/dispatch.h"
#include "fastnn/penalty.h"
#include "fastnn/thread_pool.h"
#include "penalty_kernels.h"
#include "workspace.h"

namespace fastnn::cpu {

namespace {

const PenaltyTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return penalty_table_avx512();
        case Isa::avx2: return penalty_table_avx2();
#endif
        default: return penalty_table_portable();
    }
}

constexpr std::int64_t kTask = 1 << 15;         // elements per task (and per forward chunk)
constexpr std::int64_t kParallelMin = 1 << 16;  // elements per thread, at least

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

int threads_for(std::int64_t n, std::int64_t tasks) {
    const std::int64_t t = std::min<std::int64_t>({std::int64_t(num_threads()), tasks, n / kParallelMin});
    return int(std::max<std::int64_t>(1, t));
}

}  // namespace

void penalty_forward(const View& w, const View& out, double l1, double l2) {
    const std::int64_t n = w.numel();
    const float* pw = w.ptr<const float>();
    const PenaltyTable& t = table();
    double s[2] = {0.0, 0.0};
    if (n > 0 && n <= kTask) {
        t.sums(pw, n, s);
    } else if (n > kTask) {
        const std::int64_t tasks = ceil_div(n, kTask);
        static thread_local Workspace ws;
        double* part = reinterpret_cast<double*>(ws.floats(std::size_t(4 * tasks)));
        parallel_for(tasks, threads_for(n, tasks), [&](std::int64_t task) {
            const std::int64_t i0 = task * kTask;
            t.sums(pw + i0, std::min(kTask, n - i0), part + 2 * task);
        });
        for (std::int64_t c = 0; c < tasks; ++c) {  // chunk order
            s[0] += part[2 * c];
            s[1] += part[2 * c + 1];
        }
    }
    *out.ptr<float>() = static_cast<float>(l1 * s[0] + l2 * s[1]);
}

void penalty_backward(const View& w, const View& grad, const View& out, double l1, double l2) {
    const std::int64_t n = w.numel();
    if (n == 0) return;
    const float g = *grad.ptr<const float>();  // read before out is written (out never overlaps grad)
    const float a = static_cast<float>(l1), b = static_cast<float>(2.0 * l2);
    const float* pw = w.ptr<const float>();
    float* po = out.ptr<float>();
    const PenaltyTable& t = table();
    const std::int64_t tasks = ceil_div(n, kTask);
    parallel_for(tasks, threads_for(n, tasks), [&](std::int64_t task) {
        const std::int64_t i0 = task * kTask;
        t.grad(pw + i0, po + i0, std::min(kTask, n - i0), g, a, b);
    });
}

}  // namespace fastnn::cpu
