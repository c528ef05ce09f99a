// The penalty loops compiled for portable (see penalty_impl.h).
#include <cstdint>

#include "penalty_kernels.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see gemm_kernels.h
#include "penalty_impl.h"
}  // namespace
}  // namespace portable

const PenaltyTable& penalty_table_portable() {
    static const PenaltyTable table = portable::pen::make_table();
    return table;
}

}  // namespace fastnn::cpu
