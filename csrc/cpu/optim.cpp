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

std::int64_t total_of(const ParamSlot* slots, int count) {
    std::int64_t total = 0;
    for (int i = 0; i < count; ++i) total += slots[i].n;
    return total;
}

// Sum of squares of each slot's gradient, in double: one partial per chunk
// (threads), folded per slot in chunk order (the same result for any thread count).
std::vector<double> slot_sum_squares(const ParamSlot* slots, int count, const std::vector<Chunk>& chunks) {
    std::vector<double> partial(chunks.size(), 0.0);
    const auto fn = table().sum_squares;
    parallel_for(std::int64_t(chunks.size()), threads_for(total_of(slots, count)), [&](std::int64_t c) {
        partial[c] = fn(slots[chunks[c].slot].grad + chunks[c].begin, chunks[c].count);
    });
    std::vector<double> ss(std::size_t(count), 0.0);
    for (std::size_t c = 0; c < chunks.size(); ++c) ss[chunks[c].slot] += partial[c];
    return ss;
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

    // Steps 1-3 of optim.h as one factor per slot (the pass over the gradients
    // for their sums of squares comes first, in this call).
    std::vector<OptimStep> per_slot;
    if (norm_clipping(h)) {
        std::vector<double> ss = slot_sum_squares(slots, count, chunks);
        const double gs = double(h.grad_scale);
        std::vector<double> factor(std::size_t(count), 1.0);
        double total = 0.0;
        for (int i = 0; i < count; ++i) {
            double v = ss[i] * gs * gs;
            if (h.clip_norm > 0.0f) {
                factor[i] = clip_norm_factor(v, double(h.clip_norm));
                v *= factor[i] * factor[i];
            }
            total += v;
        }
        const double global = h.global_clip_norm > 0.0f ? global_clip_factor(total, double(h.global_clip_norm)) : 1.0;
        per_slot.assign(std::size_t(count), s);
        for (int i = 0; i < count; ++i) per_slot[i].grad_scale = float(gs * factor[i] * global);
    }

    parallel_for(std::int64_t(chunks.size()), threads_for(total_of(slots, count)), [&](std::int64_t c) {
        const Chunk& k = chunks[c];
        const ParamSlot& p = slots[k.slot];
        auto at = [&](float* a) { return a ? a + k.begin : nullptr; };
        fn(per_slot.empty() ? s : per_slot[k.slot], p.param + k.begin, p.grad + k.begin, at(p.s1), at(p.s2), at(p.s3),
           k.count);
    });
}

double grad_sum_squares(const ParamSlot* slots, int count) {
    double s = 0.0;
    for (double v : slot_sum_squares(slots, count, chunks_of(slots, count))) s += v;  // fixed order
    return s;
}

}  // namespace fastnn::cpu
