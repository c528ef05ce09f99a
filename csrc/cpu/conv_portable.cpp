// The direct convolution loops and the Winograd transforms compiled for portable (see conv_impl.h,
// winograd_impl.h).
#include <cstdint>

#include "conv_kernels.h"
#include "winograd_kernels.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see gemm_kernels.h
#include "conv_impl.h"
#include "winograd_impl.h"
}  // namespace
}  // namespace portable

const ConvTable& conv_table_portable() {
    static const ConvTable table = portable::cv::make_table();
    return table;
}

const WinogradTable& winograd_table_portable() {
    static const WinogradTable table = portable::wg::make_table();
    return table;
}

}  // namespace fastnn::cpu
