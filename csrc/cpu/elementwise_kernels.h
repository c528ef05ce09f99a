// The per-ISA inner loops of the element-wise family (elementwise_<isa>.cpp),
// chosen at run time. The drivers in elementwise.cpp and dropout.cpp walk
// the broadcast layouts and threads; these loops only ever see one row
// segment whose operands are contiguous (stride 1) or a single broadcast
// value (stride 0). Operand strides that are neither are gathered into a
// contiguous buffer first.
#pragma once

#include <cstdint>

#include "fastnn/elementwise.h"

namespace fastnn::cpu {

// Row-kernel mode: 2 * (a is contiguous) + (b is contiguous); a stride-0
// operand is read once (a[0]).
constexpr int kRowModes = 4;
// Rows added into a row of double accumulators per pass (one load and store
// of the accumulators for several rows).
constexpr int kRowsAtOnce = 4;

// out[i] = a[i] OP b[i]. out may be a or b (same index read then written).
using BinaryRowFn = void (*)(const float* a, const float* b, float* out, std::int64_t n);
// The same over `rows` rows with leading dimensions (element strides) lda, ldb, ldo.
using BinaryRowsFn = void (*)(const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* out,
                              std::int64_t ldo, std::int64_t rows, std::int64_t n);
// t[i] = g[i] * d(a OP b)/d(side) at (a[i], b[i]); g contiguous.
using TermRowFn = void (*)(const float* g, const float* a, const float* b, float* t, std::int64_t n);

struct ElementwiseTable {
    BinaryRowFn binary[kBinaryOps][kRowModes];
    BinaryRowsFn binary_rows[kBinaryOps][kRowModes];
    TermRowFn term[kBinaryOps][2][kRowModes];
    // acc[i] += rows[0][i] + ... + rows[count - 1][i] (count 1..kRowsAtOnce, summed in double)
    void (*accumulate)(const float* const* rows, int count, double* acc, std::int64_t n);
    // acc[j] += x[0 * ld + j] + ... + x[(rows - 1) * ld + j] (as accumulate, rows in fours)
    void (*column_sums)(const float* x, std::int64_t ld, std::int64_t rows, double* acc, std::int64_t n);
    double (*sum)(const float* x, std::int64_t n);                    // in double, fixed order
    void (*gather)(const float* src, std::int64_t stride, float* dst, std::int64_t n);
    // y[i] = dropout(x[i]) for element i of Philox block block0 + i / 4 (i = 0
    // is the first word of block0); y may be x. See fastnn/dropout.h.
    void (*dropout)(const float* x, float* y, std::int64_t n, std::uint64_t key, std::uint64_t block0,
                    std::uint32_t threshold, float scale);
};

const ElementwiseTable& elementwise_table_portable();
// The table of the active ISA (elementwise.cpp; shared with dropout.cpp).
const ElementwiseTable& elementwise_table();
#ifdef FASTNN_X86
const ElementwiseTable& elementwise_table_avx2();
const ElementwiseTable& elementwise_table_avx512();
#endif

}  // namespace fastnn::cpu
