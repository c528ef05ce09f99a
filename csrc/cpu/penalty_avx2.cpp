// The penalty loops compiled for avx2 (see penalty_impl.h).
#include <cstdint>

#include "penalty_kernels.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see gemm_kernels.h
#include "penalty_impl.h"
}  // namespace
}  // namespace avx2

const PenaltyTable& penalty_table_avx2() {
    static const PenaltyTable table = avx2::pen::make_table();
    return table;
}

}  // namespace fastnn::cpu
