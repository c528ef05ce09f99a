// The per-ISA optimizer loops (optim_<isa>.cpp), chosen at run time.
#pragma once

#include <cstdint>

#include "fastnn/optim.h"

namespace fastnn::cpu {

struct OptimStep {
    float lr, decay, momentum, beta_1, beta_2, epsilon, rho, grad_scale, clip;
};

struct OptimTable {
    // index: kind * 16 + momentum * 8 + flag * 4 + weight_decay * 2 + clip
    void (*update[16 * kOptimizerKinds])(const OptimStep&, float* p, const float* g, float* s1, float* s2, float* s3,
                                          std::int64_t n);
    double (*sum_squares)(const float* g, std::int64_t n);
};

const OptimTable& optim_table_portable();
#ifdef FASTNN_X86
const OptimTable& optim_table_avx2();
const OptimTable& optim_table_avx512();
#endif

}  // namespace fastnn::cpu
