// The softmax row loops compiled for portable (see softmax_impl.h).
#include <cstdint>
#include <cstring>

#include "fastnn/softmax.h"
#include "softmax_kernels.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see activation_math.h
#include "softmax_impl.h"
}  // namespace
}  // namespace portable

const SoftmaxTable& softmax_table_portable() {
    static const SoftmaxTable table{portable::rows::softmax_rows, portable::rows::softmax_backward_rows,
                                    portable::rows::cross_entropy_rows};
    return table;
}

}  // namespace fastnn::cpu
