// The softmax row loops compiled for avx512 (see softmax_impl.h).
#include <cstdint>
#include <cstring>

#include "fastnn/softmax.h"
#include "softmax_kernels.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see activation_math.h
#include "softmax_impl.h"
}  // namespace
}  // namespace avx512

const SoftmaxTable& softmax_table_avx512() {
    static const SoftmaxTable table{avx512::rows::softmax_rows, avx512::rows::softmax_backward_rows,
                                    avx512::rows::cross_entropy_rows};
    return table;
}

}  // namespace fastnn::cpu
