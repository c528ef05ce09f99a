// The element-wise loops compiled for avx512 (see elementwise_impl.h).
#include <cstdint>

#include "elementwise_kernels.h"
#include "fastnn/philox.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see gemm_kernels.h
#include "elementwise_impl.h"
}  // namespace
}  // namespace avx512

const ElementwiseTable& elementwise_table_avx512() {
    static const ElementwiseTable table = avx512::ew::make_table();
    return table;
}

}  // namespace fastnn::cpu
