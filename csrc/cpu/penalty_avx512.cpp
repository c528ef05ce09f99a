// The penalty loops compiled for avx512 (see penalty_impl.h).
#include <cstdint>

#include "penalty_kernels.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see gemm_kernels.h
#include "penalty_impl.h"
}  // namespace
}  // namespace avx512

const PenaltyTable& penalty_table_avx512() {
    static const PenaltyTable table = avx512::pen::make_table();
    return table;
}

}  // namespace fastnn::cpu
