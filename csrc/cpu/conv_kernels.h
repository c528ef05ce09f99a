// The per-ISA loops of the direct (no-GEMM) convolution paths (conv_<isa>.cpp), chosen at run
// time by conv.cpp. They serve convolutions with few taps per output (K = KH*KW*C <= kDirectMaxK,
// a network's first layer: 3x3 over 1 or 3 channels), where the GEMM would mostly move memory:
// its im2col writes and re-reads K floats per pixel and its micro-tiles get only K FMAs per
// output. Here each pixel's taps are gathered into a small stack array and multiplied straight
// out of it.
#pragma once

#include <cstdint>

#include "fastnn/conv.h"

namespace fastnn::cpu {

constexpr std::int64_t kDirectMaxK = 32;
constexpr std::int64_t kDirectLanes = 16;  // output channels per block (one AVX-512 register)

struct ConvTable {
    // y rows [r0, r0 + m) (NHWC pixels, O channels each) = act(taps @ wp + bias): wp is w padded
    // to (K, op) with op = O rounded up to kDirectLanes (zeros beyond O); bias is padded alike, or
    // null. Only the first O channels of each row are written.
    void (*forward)(const ConvGeometry& g, const float* x, const float* wp, std::int64_t op, const float* bias,
                    bool relu, float* y, std::int64_t r0, std::int64_t m);
    // acc (K x O, row-major) += sum over rows r0 + i (i < m) of taps(r0 + i)^T dy[i, :]: dy points
    // at the gradient of row r0 (O floats per row).
    void (*filter)(const ConvGeometry& g, const float* x, const float* dy, float* acc, std::int64_t r0,
                   std::int64_t m);
};

const ConvTable& conv_table_portable();
#ifdef FASTNN_X86
const ConvTable& conv_table_avx2();
const ConvTable& conv_table_avx512();
#endif

}  // namespace fastnn::cpu
