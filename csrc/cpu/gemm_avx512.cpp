// AVX-512 micro-kernels: 8 x 32 (sixteen zmm accumulators) for most shapes and
// 8 x 16 for outputs at most 16 wide (a 32-wide tile would waste half its
// FMAs). On Zen 4 a zmm FMA issues once per cycle with 4 cycles of latency, so
// eight or more independent chains keep the FMA pipes busy. Edges use masked
// loads and stores.
#include <immintrin.h>

#include <utility>

#include "gemm_kernels.h"

namespace fastnn::cpu {

namespace {
constexpr int MR = 8;

// NV: zmm vectors per row (NR = 16 * NV). kRowsInPlace: A is read at
// a[r * a_rs + p] (row-major, in place), otherwise at a[p * a_ks + r]
// (packed, or transposed and in place).
template <int NV, bool kRowsInPlace>
void kernel(std::int64_t kc, const float* a, std::int64_t a_rs, std::int64_t a_ks, const float* bp, float* c,
            std::int64_t ldc, int m, int n, const Epilogue& ep) {
    constexpr int NR = 16 * NV;
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();

    for (std::int64_t p = 0; p < kc; ++p) {
        __m512 b[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) b[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m512 av = _mm512_set1_ps(kRowsInPlace ? a[r * a_rs + p] : a[p * a_ks + r]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, b[v], acc[r][v]);
        }
        bp += NR;
    }

    // Column masks: all lanes for a full tile, the first n - 16 v lanes at the edge.
    __mmask16 mask[NV];
    for (int v = 0; v < NV; ++v) {
        const int left = n - 16 * v;
        mask[v] = left >= 16 ? __mmask16(0xFFFF) : left > 0 ? __mmask16((1u << left) - 1u) : __mmask16(0);
    }
    const __m512 alpha = _mm512_set1_ps(ep.alpha), beta = _mm512_set1_ps(ep.beta), zero = _mm512_setzero_ps();
    __m512 bias[NV];
    for (int v = 0; v < NV; ++v) bias[v] = ep.bias ? _mm512_maskz_loadu_ps(mask[v], ep.bias + 16 * v) : zero;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        if (r >= m) break;
        float* crow = c + r * ldc;
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
            __m512 x = _mm512_mul_ps(alpha, acc[r][v]);
            if (ep.beta != 0.0f) x = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask[v], crow + 16 * v), x);
            x = _mm512_add_ps(x, bias[v]);
            if (ep.relu) x = _mm512_max_ps(zero, x);  // NaN passes through, as np.maximum(x, 0)
            _mm512_mask_storeu_ps(crow + 16 * v, mask[v], x);
        }
    }
}
// Narrow outputs (n <= 16 columns): vectors run down 16 rows of C instead of
// across its columns, so every lane does useful work (a 16-wide row tile
// would idle 6 of 16 lanes at n = 10). acc[j] holds C[0:16, j]; op(A)'s
// column p is the 16 floats at a + p * a_ks (row r valid when bit r of
// row_mask is set) and op(B)[p, j] is bp[p * 16 + j].
template <int NCOL>
void kernel_columns(std::int64_t k, const float* a, std::int64_t a_ks, const float* bp, float* c, std::int64_t ldc,
                    int m, const Epilogue& ep) {
    const __mmask16 row_mask = m >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << m) - 1u);
    __m512 acc[NCOL];
#pragma GCC unroll 16
    for (int j = 0; j < NCOL; ++j) acc[j] = _mm512_setzero_ps();
    for (std::int64_t p = 0; p < k; ++p) {
        const __m512 av = _mm512_maskz_loadu_ps(row_mask, a + p * a_ks);
#pragma GCC unroll 16
        for (int j = 0; j < NCOL; ++j) acc[j] = _mm512_fmadd_ps(av, _mm512_set1_ps(bp[p * 16 + j]), acc[j]);
    }
    // Without beta the whole epilogue (alpha, bias, relu) acts on columns while
    // they are still vectors and only the transposed store is scalar; with
    // beta, bias and relu follow beta * C in the scalar loop, in the same order
    // as every other kernel.
    const __m512 alpha = _mm512_set1_ps(ep.alpha), zero = _mm512_setzero_ps();
    const bool vector_epilogue = ep.beta == 0.0f;
    alignas(64) float tile[NCOL * 16];
#pragma GCC unroll 16
    for (int j = 0; j < NCOL; ++j) {
        __m512 x = _mm512_mul_ps(alpha, acc[j]);
        if (vector_epilogue && ep.bias) x = _mm512_add_ps(x, _mm512_set1_ps(ep.bias[j]));
        if (vector_epilogue && ep.relu) x = _mm512_max_ps(zero, x);
        _mm512_store_ps(tile + 16 * j, x);
    }
    if (vector_epilogue) {
        for (int r = 0; r < m; ++r)
#pragma GCC unroll 16
            for (int j = 0; j < NCOL; ++j) c[r * ldc + j] = tile[16 * j + r];
        return;
    }
    for (int r = 0; r < m; ++r) {
        float* crow = c + r * ldc;
        for (int j = 0; j < NCOL; ++j) {
            float v = tile[16 * j + r] + ep.beta * crow[j];
            if (ep.bias) v += ep.bias[j];
            if (ep.relu && v < 0.0f) v = 0.0f;
            crow[j] = v;
        }
    }
}

template <int... N>
constexpr ColumnKernelFn column_kernel_table(int n, std::integer_sequence<int, N...>) {
    constexpr ColumnKernelFn table[] = {kernel_columns<N + 1>...};
    return table[n - 1];
}
}  // namespace

ColumnKernelFn column_kernel_avx512(int n) { return column_kernel_table(n, std::make_integer_sequence<int, 16>{}); }

MicroKernel microkernel_avx512() { return {MR, 32, kernel<2, false>, kernel<2, true>, "avx512 8x32"}; }
MicroKernel microkernel_avx512_narrow() { return {MR, 16, kernel<1, false>, kernel<1, true>, "avx512 8x16"}; }

}  // namespace fastnn::cpu
