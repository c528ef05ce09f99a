// The per-ISA loops of the weight penalty (penalty_<isa>.cpp), chosen at run
// time by penalty.cpp, which cuts the work into tasks and threads.
#pragma once

#include <cstdint>

namespace fastnn::cpu {

struct PenaltyTable {
    // sums[0] = sum |w[i]|, sums[1] = sum w[i]^2 over i < n, in double, in a
    // fixed order (16 running sums added in a fixed tree).
    void (*sums)(const float* w, std::int64_t n, double* sums);
    // out[i] = g * (a * sign(w[i]) + b * w[i]); out may be w.
    void (*grad)(const float* w, float* out, std::int64_t n, float g, float a, float b);
};

const PenaltyTable& penalty_table_portable();
#ifdef FASTNN_X86
const PenaltyTable& penalty_table_avx2();
const PenaltyTable& penalty_table_avx512();
#endif

}  // namespace fastnn::cpu
