// The element-wise loops (see elementwise_kernels.h). Included by
// elementwise_<isa>.cpp inside an anonymous namespace within a namespace
// named for the ISA (after <cstdint>, fastnn/philox.h, elementwise_kernels.h
// and, for AVX2 and AVX-512, <immintrin.h>), so each ISA compiles its own
// private copy (no std:: templates, no shared inline functions: see
// gemm_kernels.h).
//
// The arithmetic loops are plain so the compiler vectorises them with the
// file's flags; selects rather than branches (the build's -fno-trapping-math
// lets GCC vectorise those). Dropout's Philox rounds are written with
// intrinsics for AVX2 and AVX-512 (GCC does not vectorise the 32x32->64-bit
// multiplies of the plain loop); the portable build runs them one block at a
// time.
//
// With FASTNN_ELEMENTWISE_AVX512_SUBSET defined only column_sums() and
// dropout() are compiled (elementwise_avx512.cpp takes the other loops from
// the AVX2 table).

namespace ew {

using fastnn::cpu::BinaryRowFn;
using fastnn::cpu::BinaryRowsFn;
using fastnn::cpu::ElementwiseTable;
using fastnn::cpu::TermRowFn;

#ifndef FASTNN_ELEMENTWISE_AVX512_SUBSET
// ---- forward ops ------------------------------------------------------------
struct Add {
    static float f(float a, float b) { return a + b; }
};
struct Sub {
    static float f(float a, float b) { return a - b; }
};
struct Mul {
    static float f(float a, float b) { return a * b; }
};
struct Div {
    static float f(float a, float b) { return a / b; }
};
// NaN in either operand gives NaN (np.maximum / np.minimum).
struct Max {
    static float f(float a, float b) { return (a > b || a != a) ? a : b; }
};
struct Min {
    static float f(float a, float b) { return (a < b || a != a) ? a : b; }
};

// ---- gradient terms g * d(a OP b)/d(side) -------------------------------------
struct Grad {  // add (both sides), subtract (a)
    static float f(float g, float, float) { return g; }
};
struct NegGrad {  // subtract (b)
    static float f(float g, float, float) { return -g; }
};
struct MulA {
    static float f(float g, float, float b) { return g * b; }
};
struct MulB {
    static float f(float g, float a, float) { return g * a; }
};
struct DivA {
    static float f(float g, float, float b) { return g / b; }
};
// -g a / b^2 as -(g / b)(a / b): no b * b to overflow or underflow first.
struct DivB {
    static float f(float g, float a, float b) { return -(g / b) * (a / b); }
};
// Ties: half each; NaN (no comparison holds): the whole g to both (PyTorch).
struct MaxA {
    static float f(float g, float a, float b) { return a == b ? 0.5f * g : (a < b ? 0.0f : g); }
};
struct MaxB {
    static float f(float g, float a, float b) { return a == b ? 0.5f * g : (a > b ? 0.0f : g); }
};
struct MinA {
    static float f(float g, float a, float b) { return a == b ? 0.5f * g : (a > b ? 0.0f : g); }
};
struct MinB {
    static float f(float g, float a, float b) { return a == b ? 0.5f * g : (a < b ? 0.0f : g); }
};

// No __restrict: out may be a or b (each index is read before it is written),
// the compiler's vectorised loop checks overlap at run time.
template <class Op, int SA, int SB>
void binary_row(const float* a, const float* b, float* out, std::int64_t n) {
    if (SA && SB) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = Op::f(a[i], b[i]);
    } else if (SA) {
        const float bv = b[0];
        for (std::int64_t i = 0; i < n; ++i) out[i] = Op::f(a[i], bv);
    } else if (SB) {
        const float av = a[0];
        for (std::int64_t i = 0; i < n; ++i) out[i] = Op::f(av, b[i]);
    } else {
        const float v = Op::f(a[0], b[0]);
        for (std::int64_t i = 0; i < n; ++i) out[i] = v;
    }
}

// rows x n: out[r * ldo + i] = a[r * lda + i] OP b[r * ldb + i], the row
// loop inlined (no call per row: a bias row added to a batch).
template <class Op, int SA, int SB>
void binary_rows(const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* out, std::int64_t ldo,
                 std::int64_t rows, std::int64_t n) {
    for (std::int64_t r = 0; r < rows; ++r) binary_row<Op, SA, SB>(a + r * lda, b + r * ldb, out + r * ldo, n);
}

template <class D, int SA, int SB>
void term_row(const float* g, const float* a, const float* b, float* t, std::int64_t n) {
    const float av = a[0], bv = b[0];
    for (std::int64_t i = 0; i < n; ++i) t[i] = D::f(g[i], SA ? a[i] : av, SB ? b[i] : bv);
}

// Rows are first added in float32 in a fixed pairing, at most two roundings
// per term (error <= 2u sum|x|, u = 2^-24: Kahan's bound), then accumulated in
// double: half the conversions and double adds of a row at a time.
void accumulate(const float* const* rows, int count, double* acc, std::int64_t n) {
    const float* r0 = rows[0];
    const float* r1 = rows[count > 1 ? 1 : 0];
    const float* r2 = rows[count > 2 ? 2 : 0];
    const float* r3 = rows[count > 3 ? 3 : 0];
    switch (count) {
        case 4:
            for (std::int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>((r0[i] + r1[i]) + (r2[i] + r3[i]));
            break;
        case 3:
            for (std::int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>((r0[i] + r1[i]) + r2[i]);
            break;
        case 2:
            for (std::int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>(r0[i] + r1[i]);
            break;
        default:
            for (std::int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>(r0[i]);
            break;
    }
}

double sum(const float* x, std::int64_t n) {
    // 16 running sums in double (vectorised), added in a fixed tree.
    double acc[16] = {};
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; ++k) acc[k] += static_cast<double>(x[i + k]);
    for (int k = 0; i < n; ++i, ++k) acc[k] += static_cast<double>(x[i]);
    for (int w = 8; w >= 1; w /= 2)
        for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
    return acc[0];
}

void gather(const float* src, std::int64_t stride, float* dst, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
}

#endif  // FASTNN_ELEMENTWISE_AVX512_SUBSET

// ---- leading-axis sums -------------------------------------------------------------
// acc[j] += sum over r < rows of x[r * ld + j], for j < n: a block of 32
// columns stays in registers (as doubles) while the rows stream past, four
// rows at a time added in float32 first as in accumulate().
template <int W>
void column_block(const float* x, std::int64_t ld, std::int64_t rows, double* acc) {
    double s[W];
    for (int k = 0; k < W; ++k) s[k] = acc[k];
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float* p = x + r * ld;
        for (int k = 0; k < W; ++k) s[k] += static_cast<double>((p[k] + p[ld + k]) + (p[2 * ld + k] + p[3 * ld + k]));
    }
    if (rows - r == 3) {
        const float* p = x + r * ld;
        for (int k = 0; k < W; ++k) s[k] += static_cast<double>((p[k] + p[ld + k]) + p[2 * ld + k]);
    } else if (rows - r == 2) {
        const float* p = x + r * ld;
        for (int k = 0; k < W; ++k) s[k] += static_cast<double>(p[k] + p[ld + k]);
    } else if (rows - r == 1) {
        for (int k = 0; k < W; ++k) s[k] += static_cast<double>(x[r * ld + k]);
    }
    for (int k = 0; k < W; ++k) acc[k] = s[k];
}

void column_sums(const float* x, std::int64_t ld, std::int64_t rows, double* acc, std::int64_t n) {
    std::int64_t j = 0;
    for (; j + 32 <= n; j += 32) column_block<32>(x + j, ld, rows, acc + j);
    for (; j + 8 <= n; j += 8) column_block<8>(x + j, ld, rows, acc + j);
    for (; j < n; ++j) column_block<1>(x + j, ld, rows, acc + j);
}

// ---- dropout ------------------------------------------------------------------
// Element e of the range uses word e % 4 of Philox block block0 + e / 4; it is
// kept (and scaled) iff that word >= threshold, else it is exactly +0.
namespace px = fastnn::philox;

#if defined(__AVX512F__) || defined(__AVX2__)
// Philox on vectors in element order: each 128-bit lane holds one block's
// counter words (c0, c1, c2, c3). The unsigned 32x32->64 multiply
// (vpmuludq) reads words 0 and 2 of each lane, so one instruction gives
// (lo0, hi0, lo1, hi1) = (M0 c0, M1 c2) for every block; a shuffle to
// (hi1, lo1, hi0, lo0), xor with (c1, 0, c3, 0) (the counter shifted right by
// 32 in each 64-bit half) and with the key words (k0, 0, k1, 0) is the round.
// A block's 64-bit index is its first 64-bit half: (low word, high word).
#endif

#if defined(__AVX512F__)
constexpr int kVecBlocks = 16;  // 4 zmm of 4 blocks: independent chains for the multiplier's latency

void dropout(const float* x, float* y, std::int64_t n, std::uint64_t key, std::uint64_t block0,
             std::uint32_t threshold, float scale) {
    const __m512i mult = _mm512_set_epi32(0, int(px::kM1), 0, int(px::kM0), 0, int(px::kM1), 0, int(px::kM0), 0,
                                          int(px::kM1), 0, int(px::kM0), 0, int(px::kM1), 0, int(px::kM0));
    const __m512i key0 = _mm512_set_epi32(0, int(key >> 32), 0, int(key), 0, int(key >> 32), 0, int(key), 0,
                                          int(key >> 32), 0, int(key), 0, int(key >> 32), 0, int(key));
    const __m512i bump = _mm512_set_epi32(0, int(px::kW1), 0, int(px::kW0), 0, int(px::kW1), 0, int(px::kW0), 0,
                                          int(px::kW1), 0, int(px::kW0), 0, int(px::kW1), 0, int(px::kW0));
    const __m512i thr = _mm512_set1_epi32(int(threshold));
    const __m512 vscale = _mm512_set1_ps(scale);
    const __m512i step4 = _mm512_set_epi64(0, 4, 0, 4, 0, 4, 0, 4);
    auto at = [block0](unsigned j) { return static_cast<long long>(block0 + j); };  // uint64 wrap-around
    __m512i ctr = _mm512_set_epi64(0, at(3), 0, at(2), 0, at(1), 0, at(0));
    std::int64_t i = 0;
    for (; i + 4 * kVecBlocks <= n; i += 4 * kVecBlocks) {
        __m512i c[4];
        for (int v = 0; v < 4; ++v) {
            c[v] = ctr;
            ctr = _mm512_add_epi64(ctr, step4);
        }
        __m512i k = key0;
        for (int r = 0; r < px::kRounds; ++r) {
            for (int v = 0; v < 4; ++v) {
                const __m512i prod = _mm512_mul_epu32(c[v], mult);
                const __m512i swapped = _mm512_shuffle_epi32(prod, _MM_PERM_ABCD);  // (hi1, lo1, hi0, lo0)
                c[v] = _mm512_ternarylogic_epi32(swapped, _mm512_srli_epi64(c[v], 32), k, 0x96);  // a ^ b ^ c
            }
            k = _mm512_add_epi32(k, bump);
        }
        for (int v = 0; v < 4; ++v) {
            const __mmask16 keep = _mm512_cmpge_epu32_mask(c[v], thr);
            _mm512_storeu_ps(y + i + 16 * v, _mm512_maskz_mul_ps(keep, _mm512_loadu_ps(x + i + 16 * v), vscale));
        }
    }
    for (; i < n; i += 4) {
        const px::Block blk = px::block(key, block0 + static_cast<std::uint64_t>(i / 4));
        for (int q = 0; q < 4 && i + q < n; ++q) y[i + q] = blk.v[q] >= threshold ? x[i + q] * scale : 0.0f;
    }
}
#elif defined(__AVX2__)
constexpr int kVecBlocks = 8;  // 4 ymm of 2 blocks

void dropout(const float* x, float* y, std::int64_t n, std::uint64_t key, std::uint64_t block0,
             std::uint32_t threshold, float scale) {
    const __m256i mult = _mm256_set_epi32(0, int(px::kM1), 0, int(px::kM0), 0, int(px::kM1), 0, int(px::kM0));
    const __m256i key0 = _mm256_set_epi32(0, int(key >> 32), 0, int(key), 0, int(key >> 32), 0, int(key));
    const __m256i bump = _mm256_set_epi32(0, int(px::kW1), 0, int(px::kW0), 0, int(px::kW1), 0, int(px::kW0));
    // keep iff word >= threshold (unsigned): flip the sign bits and compare signed
    const __m256i flip = _mm256_set1_epi32(int(0x80000000u));
    const __m256i thr = _mm256_xor_si256(_mm256_set1_epi32(int(threshold)), flip);
    const __m256 vscale = _mm256_set1_ps(scale);
    const __m256i step2 = _mm256_set_epi64x(0, 2, 0, 2);
    auto at = [block0](unsigned j) { return static_cast<long long>(block0 + j); };  // uint64 wrap-around
    __m256i ctr = _mm256_set_epi64x(0, at(1), 0, at(0));
    std::int64_t i = 0;
    for (; i + 4 * kVecBlocks <= n; i += 4 * kVecBlocks) {
        __m256i c[4];
        for (int v = 0; v < 4; ++v) {
            c[v] = ctr;
            ctr = _mm256_add_epi64(ctr, step2);
        }
        __m256i k = key0;
        for (int r = 0; r < px::kRounds; ++r) {
            for (int v = 0; v < 4; ++v) {
                const __m256i prod = _mm256_mul_epu32(c[v], mult);
                const __m256i swapped = _mm256_shuffle_epi32(prod, 0x1B);  // (hi1, lo1, hi0, lo0)
                c[v] = _mm256_xor_si256(_mm256_xor_si256(swapped, _mm256_srli_epi64(c[v], 32)), k);
            }
            k = _mm256_add_epi32(k, bump);
        }
        for (int v = 0; v < 4; ++v) {
            const __m256i drop = _mm256_cmpgt_epi32(thr, _mm256_xor_si256(c[v], flip));
            const __m256 kept = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * v), vscale);
            _mm256_storeu_ps(y + i + 8 * v, _mm256_andnot_ps(_mm256_castsi256_ps(drop), kept));
        }
    }
    for (; i < n; i += 4) {
        const px::Block blk = px::block(key, block0 + static_cast<std::uint64_t>(i / 4));
        for (int q = 0; q < 4 && i + q < n; ++q) y[i + q] = blk.v[q] >= threshold ? x[i + q] * scale : 0.0f;
    }
}
#else
void dropout(const float* x, float* y, std::int64_t n, std::uint64_t key, std::uint64_t block0,
             std::uint32_t threshold, float scale) {
    for (std::int64_t i = 0; i < n; i += 4) {
        const px::Block blk = px::block(key, block0 + static_cast<std::uint64_t>(i / 4));
        for (int q = 0; q < 4 && i + q < n; ++q) y[i + q] = blk.v[q] >= threshold ? x[i + q] * scale : 0.0f;
    }
}
#endif

#ifndef FASTNN_ELEMENTWISE_AVX512_SUBSET
// ---- the table ------------------------------------------------------------------
template <class Op>
void fill_binary(BinaryRowFn* row, BinaryRowsFn* rows) {
    row[0] = binary_row<Op, 0, 0>;
    row[1] = binary_row<Op, 0, 1>;
    row[2] = binary_row<Op, 1, 0>;
    row[3] = binary_row<Op, 1, 1>;
    rows[0] = binary_rows<Op, 0, 0>;
    rows[1] = binary_rows<Op, 0, 1>;
    rows[2] = binary_rows<Op, 1, 0>;
    rows[3] = binary_rows<Op, 1, 1>;
}

template <class D>
void fill_term(TermRowFn* row) {
    row[0] = term_row<D, 0, 0>;
    row[1] = term_row<D, 0, 1>;
    row[2] = term_row<D, 1, 0>;
    row[3] = term_row<D, 1, 1>;
}

template <class DA, class DB>
void fill_terms(TermRowFn (*sides)[fastnn::cpu::kRowModes]) {
    fill_term<DA>(sides[0]);
    fill_term<DB>(sides[1]);
}

ElementwiseTable make_table() {
    using fastnn::BinaryOp;
    ElementwiseTable t{};
    fill_binary<Add>(t.binary[int(BinaryOp::add)], t.binary_rows[int(BinaryOp::add)]);
    fill_binary<Sub>(t.binary[int(BinaryOp::subtract)], t.binary_rows[int(BinaryOp::subtract)]);
    fill_binary<Mul>(t.binary[int(BinaryOp::multiply)], t.binary_rows[int(BinaryOp::multiply)]);
    fill_binary<Div>(t.binary[int(BinaryOp::divide)], t.binary_rows[int(BinaryOp::divide)]);
    fill_binary<Max>(t.binary[int(BinaryOp::maximum)], t.binary_rows[int(BinaryOp::maximum)]);
    fill_binary<Min>(t.binary[int(BinaryOp::minimum)], t.binary_rows[int(BinaryOp::minimum)]);
    fill_terms<Grad, Grad>(t.term[int(BinaryOp::add)]);
    fill_terms<Grad, NegGrad>(t.term[int(BinaryOp::subtract)]);
    fill_terms<MulA, MulB>(t.term[int(BinaryOp::multiply)]);
    fill_terms<DivA, DivB>(t.term[int(BinaryOp::divide)]);
    fill_terms<MaxA, MaxB>(t.term[int(BinaryOp::maximum)]);
    fill_terms<MinA, MinB>(t.term[int(BinaryOp::minimum)]);
    t.accumulate = accumulate;
    t.column_sums = column_sums;
    t.sum = sum;
    t.gather = gather;
    t.dropout = dropout;
    return t;
}

#endif  // FASTNN_ELEMENTWISE_AVX512_SUBSET

}  // namespace ew
