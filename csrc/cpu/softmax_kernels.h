// The per-ISA softmax row loops (softmax_<isa>.cpp), chosen at run time.
#pragma once

#include <cstdint>

#include "fastnn/softmax.h"

namespace fastnn::cpu {

struct SoftmaxTable {
    void (*forward)(bool log, const float* x, float* y, std::int64_t r0, std::int64_t r1, std::int64_t n);
    void (*backward)(bool log, const float* y, const float* dy, float* dx, std::int64_t r0, std::int64_t r1,
                     std::int64_t n);
    void (*cross_entropy)(const CrossEntropyArgs& args, std::int64_t r0, std::int64_t r1);
};

const SoftmaxTable& softmax_table_portable();
#ifdef FASTNN_X86
const SoftmaxTable& softmax_table_avx2();
const SoftmaxTable& softmax_table_avx512();
#endif

}  // namespace fastnn::cpu
