// The direct convolution loops compiled for avx512 (see conv_impl.h).
#include <cstdint>

#include "conv_kernels.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see gemm_kernels.h
#include "conv_impl.h"
}  // namespace
}  // namespace avx512

const ConvTable& conv_table_avx512() {
    static const ConvTable table = avx512::cv::make_table();
    return table;
}

}  // namespace fastnn::cpu
