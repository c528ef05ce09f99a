// The per-ISA loops of 2-D pooling (pool_<isa>.cpp), chosen at run time by
// pool.cpp, which cuts the work into rows and threads. NHWC: every loop's
// innermost axis is the channel, contiguous, so it vectorises.
#pragma once

#include <cstdint>

namespace fastnn::cpu {

// One image's geometry (x is H x W x C, y is OH x OW x C).
struct PoolRow {
    std::int64_t H, W, C, OH, OW;
    std::int64_t kh, kw, sh, sw, pad_top, pad_left;
};

struct PoolTable {
    // Output row oh of one image: y_row (OW x C), idx_row (may be null) = the
    // argmax as h * W + w (first on ties, NaN wins).
    void (*max_row)(const PoolRow& g, const float* x, std::int64_t oh, float* y_row, std::int32_t* idx_row);
    void (*avg_row)(const PoolRow& g, const float* x, std::int64_t oh, float* y_row);
    // Input row ih of one image's gradient (W x C), gathered from the output
    // rows whose windows cover it.
    void (*max_grad_row)(const PoolRow& g, const std::int32_t* idx, const float* dy, std::int64_t ih,
                         float* dx_row);
    void (*avg_grad_row)(const PoolRow& g, const float* dy, std::int64_t ih, float* dx_row);
};

const PoolTable& pool_table_portable();
#ifdef FASTNN_X86
const PoolTable& pool_table_avx2();
const PoolTable& pool_table_avx512();
#endif

}  // namespace fastnn::cpu
