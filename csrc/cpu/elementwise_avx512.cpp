// Dropout and the leading-axis sums compiled for avx512 (see
// elementwise_impl.h); the other loops of the AVX-512 table are the AVX2
// ones. Those are bound by memory or cache bandwidth, and their 512-bit
// versions measured 5-8% slower than the 256-bit ones on the development
// machine (AMD EPYC, Zen 4: 512-bit operations are double-pumped) and can be
// no faster where bandwidth is the limit. Philox's multiply rounds and the
// float -> double conversions of column_sums gain from 512 bits (one thread:
// dropout of 1M elements 0.45 ms against 0.70 ms, the sum over the rows of a
// 1024 x 784 matrix 43 us against 55 us).
#include <immintrin.h>

#include <cstdint>

#include "elementwise_kernels.h"
#include "fastnn/philox.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see gemm_kernels.h
#define FASTNN_ELEMENTWISE_AVX512_SUBSET
#include "elementwise_impl.h"
#undef FASTNN_ELEMENTWISE_AVX512_SUBSET
}  // namespace
}  // namespace avx512

const ElementwiseTable& elementwise_table_avx512() {
    static const ElementwiseTable table = [] {
        ElementwiseTable t = elementwise_table_avx2();
        t.column_sums = avx512::ew::column_sums;
        t.dropout = avx512::ew::dropout;
        return t;
    }();
    return table;
}

}  // namespace fastnn::cpu
