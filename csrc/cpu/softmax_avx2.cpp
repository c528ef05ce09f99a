// The softmax row loops compiled for avx2 (see softmax_impl.h).
#include <cstdint>
#include <cstring>

#include "fastnn/softmax.h"
#include "softmax_kernels.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see activation_math.h
#include "softmax_impl.h"
}  // namespace
}  // namespace avx2

const SoftmaxTable& softmax_table_avx2() {
    static const SoftmaxTable table{avx2::rows::softmax_rows, avx2::rows::softmax_backward_rows,
                                    avx2::rows::cross_entropy_rows};
    return table;
}

}  // namespace fastnn::cpu
