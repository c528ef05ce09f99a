// The loss row loops compiled for portable (see loss_impl.h).
#include <cstdint>
#include <cstring>

#include "fastnn/loss.h"
#include "loss_kernels.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see activation_math.h
#include "loss_impl.h"
}  // namespace
}  // namespace portable

const LossTable& loss_table_portable() {
    static const LossTable table{portable::loss::forward_rows, portable::loss::backward_rows};
    return table;
}

}  // namespace fastnn::cpu
