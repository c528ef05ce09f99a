// The per-ISA activation tables (activation_<isa>.cpp), chosen at run time.
#pragma once

#include <cstdint>

#include "fastnn/activation.h"

namespace fastnn::cpu {

struct ActivationTable {
    void (*forward[kActivationKinds])(float alpha, const float* x, float* y, std::int64_t n);
    void (*backward[kActivationKinds])(float alpha, const float* x, const float* dy, float* dx, std::int64_t n);
    // From the output y = f(x); null where f' is not a cheap function of y.
    void (*backward_from_output[kActivationKinds])(float alpha, const float* y, const float* dy, float* dx,
                                                   std::int64_t n);
};

const ActivationTable& activation_table_portable();
#ifdef FASTNN_X86
const ActivationTable& activation_table_avx2();
const ActivationTable& activation_table_avx512();
#endif

}  // namespace fastnn::cpu
