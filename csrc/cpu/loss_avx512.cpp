// The loss row loops compiled for avx512 (see loss_impl.h).
#include <cstdint>
#include <cstring>

#include "fastnn/loss.h"
#include "loss_kernels.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see activation_math.h
#include "loss_impl.h"
}  // namespace
}  // namespace avx512

const LossTable& loss_table_avx512() {
    static const LossTable table{avx512::loss::forward_rows, avx512::loss::backward_rows};
    return table;
}

}  // namespace fastnn::cpu
