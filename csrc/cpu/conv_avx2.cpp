// The direct convolution loops compiled for avx2 (see conv_impl.h).
#include <cstdint>

#include "conv_kernels.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see gemm_kernels.h
#include "conv_impl.h"
}  // namespace
}  // namespace avx2

const ConvTable& conv_table_avx2() {
    static const ConvTable table = avx2::cv::make_table();
    return table;
}

}  // namespace fastnn::cpu
