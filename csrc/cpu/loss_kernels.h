// The per-ISA loss row loops (loss_<isa>.cpp), chosen at run time.
#pragma once

#include <cstdint>

#include "fastnn/loss.h"

namespace fastnn::cpu {

// Each function handles rows [r0, r1) and records what it found in *status
// (which the caller initialises).
struct LossTable {
    void (*forward)(const LossArgs& args, std::int64_t r0, std::int64_t r1, LossStatus* status);
    void (*backward)(const LossArgs& args, std::int64_t r0, std::int64_t r1, LossStatus* status);
};

const LossTable& loss_table_portable();
#ifdef FASTNN_X86
const LossTable& loss_table_avx2();
const LossTable& loss_table_avx512();
#endif

}  // namespace fastnn::cpu
