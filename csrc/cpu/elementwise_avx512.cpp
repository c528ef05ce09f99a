// Dropout compiled for avx512 (see elementwise_impl.h); the other loops of
// the AVX-512 table are the AVX2 ones. Those loops are bound by memory or
// cache bandwidth, and their 512-bit versions measured 5-8% slower than the
// 256-bit ones on the development machine (AMD EPYC, Zen 4: 512-bit
// operations are double-pumped), and can be no faster where bandwidth is the
// limit; Philox's multiply rounds gain from 512 bits (1M elements: 0.45 ms
// against 0.70 ms with AVX2, one thread).
#include <immintrin.h>

#include <cstdint>

#include "elementwise_kernels.h"
#include "fastnn/philox.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see gemm_kernels.h
#define FASTNN_ELEMENTWISE_DROPOUT_ONLY
#include "elementwise_impl.h"
#undef FASTNN_ELEMENTWISE_DROPOUT_ONLY
}  // namespace
}  // namespace avx512

const ElementwiseTable& elementwise_table_avx512() {
    static const ElementwiseTable table = [] {
        ElementwiseTable t = elementwise_table_avx2();
        t.dropout = avx512::ew::dropout;
        return t;
    }();
    return table;
}

}  // namespace fastnn::cpu
