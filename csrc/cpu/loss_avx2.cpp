// The loss row loops compiled for avx2 (see loss_impl.h).
#include <cstdint>
#include <cstring>

#include "fastnn/loss.h"
#include "loss_kernels.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see activation_math.h
#include "loss_impl.h"
}  // namespace
}  // namespace avx2

const LossTable& loss_table_avx2() {
    static const LossTable table{avx2::loss::forward_rows, avx2::loss::backward_rows};
    return table;
}

}  // namespace fastnn::cpu
