// Fused optimizer step on the CPU: every parameter in one call, split into
// chunks across threads.
#include <algorithm>
#include <cmath>
#include <vector>

#include "fastnn/dispatch.h"
#include "fastnn/optim.h"
#include "fastnn/thread_pool.h"
#include "optim_kernels.h"

namespace fastnn::cpu {

namespace {

const OptimTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return optim_table_avx512();
        case Isa::avx2: return optim_table_avx2();
#endif
        default: return optim_table_portable();
    }
}

struct Chunk {
    int slot;
    std::int64_t begin, count;
};

constexpr std::int64_t kChunk = 1 << 15;  // 32K floats: a few tens of microseconds of work

std::vector<Chunk> chunks_of(const ParamSlot* slots, int count) {
    std::vector<Chunk> chunks;
    for (int s = 0; s < count; ++s)
        for (std::int64_t b = 0; b < slots[s].n; b += kChunk) chunks.push_back({s, b, std::min(kChunk, slots[s].n - b)});
    return chunks;
}

int threads_for(std::int64_t total) {
    return int(std::max<std::int64_t>(1, std::min<std::int64_t>(num_threads(), total / (1 << 16))));
}

}  // namespace

void optimizer_step(OptimizerKind kind, const OptimizerHyper& h, const ParamSlot* slots, int count) {
    OptimStep s{};
    s.lr = h.learning_rate;
    if (kind == OptimizerKind::adam) s.lr = adam_step_size(h);
    s.decay = h.learning_rate * h.weight_decay;
    s.momentum = h.momentum;
    s.beta_1 = h.beta_1;
    s.beta_2 = h.beta_2;
    s.epsilon = h.epsilon;
    s.rho = h.rho;
    s.grad_scale = h.grad_scale;
    s.clip = h.clip_value;
    const bool mom = h.momentum > 0.0f && (kind == OptimizerKind::sgd || kind == OptimizerKind::rmsprop);
    const bool flag = (kind == OptimizerKind::sgd && h.nesterov) || (kind == OptimizerKind::adam && h.amsgrad) ||
                      (kind == OptimizerKind::rmsprop && h.centered);
    const int index = int(kind) * 16 + mom * 8 + flag * 4 + (h.weight_decay != 0.0f) * 2 + (h.clip_value > 0.0f);
    const auto fn = table().update[index];

    const std::vector<Chunk> chunks = chunks_of(slots, count);
    std::int64_t total = 0;
    for (int i = 0; i < count; ++i) total += slots[i].n;
    parallel_for(std::int64_t(chunks.size()), threads_for(total), [&](std::int64_t c) {
        const Chunk& k = chunks[c];
        const ParamSlot& p = slots[k.slot];
        auto at = [&](float* a) { return a ? a + k.begin : nullptr; };
        fn(s, p.param + k.begin, p.grad + k.begin, at(p.s1), at(p.s2), at(p.s3), k.count);
    });
}

double grad_sum_squares(const ParamSlot* slots, int count) {
    const std::vector<Chunk> chunks = chunks_of(slots, count);
    std::vector<double> partial(chunks.size(), 0.0);
    std::int64_t total = 0;
    for (int i = 0; i < count; ++i) total += slots[i].n;
    const auto fn = table().sum_squares;
    parallel_for(std::int64_t(chunks.size()), threads_for(total), [&](std::int64_t c) {
        partial[c] = fn(slots[chunks[c].slot].grad + chunks[c].begin, chunks[c].count);
    });
    double s = 0.0;
    for (double v : partial) s += v;  // fixed order: the same result for any thread count
    return s;
}

}  // namespace fastnn::cpu
