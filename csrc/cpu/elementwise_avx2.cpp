// The element-wise loops compiled for avx2 (see elementwise_impl.h).
#include <immintrin.h>

#include <cstdint>

#include "elementwise_kernels.h"
#include "fastnn/philox.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see gemm_kernels.h
#include "elementwise_impl.h"
}  // namespace
}  // namespace avx2

const ElementwiseTable& elementwise_table_avx2() {
    static const ElementwiseTable table = avx2::ew::make_table();
    return table;
}

}  // namespace fastnn::cpu
