// The direct convolution loops and the Winograd transforms compiled for avx512 (see conv_impl.h,
// winograd_impl.h).
#include <cstdint>

#include "conv_kernels.h"
#include "winograd_kernels.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see gemm_kernels.h
#include "conv_impl.h"
#include "winograd_impl.h"
}  // namespace
}  // namespace avx512

const ConvTable& conv_table_avx512() {
    static const ConvTable table = avx512::cv::make_table();
    return table;
}

const WinogradTable& winograd_table_avx512() {
    static const WinogradTable table = avx512::wg::make_table();
    return table;
}

}  // namespace fastnn::cpu
