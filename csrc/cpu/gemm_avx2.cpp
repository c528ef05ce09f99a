// AVX2 + FMA micro-kernel, 6 x 16: twelve ymm accumulators, two ymm of B and
// one broadcast of A fit the sixteen ymm registers.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace fastnn::cpu {

namespace {
constexpr int MR = 6;
constexpr int NR = 16;

// kRowsInPlace: A is read at a[r * a_rs + p] (row-major, in place), otherwise
// at a[p * a_ks + r] (packed, or transposed and in place).
template <bool kRowsInPlace>
void kernel_6x16(std::int64_t kc, const float* a, std::int64_t a_rs, std::int64_t a_ks, const float* bp, float* c,
                 std::int64_t ldc, int m, int n, const Epilogue& ep) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();

    for (std::int64_t p = 0; p < kc; ++p) {
        const __m256 b0 = _mm256_load_ps(bp);
        const __m256 b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; ++r) {
            const __m256 av = _mm256_broadcast_ss(kRowsInPlace ? a + r * a_rs + p : a + p * a_ks + r);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
        bp += NR;
    }

    if (m == MR && n == NR) {
        const __m256 alpha = _mm256_set1_ps(ep.alpha), beta = _mm256_set1_ps(ep.beta), zero = _mm256_setzero_ps();
        __m256 bias0 = zero, bias1 = zero;
        if (ep.bias) {
            bias0 = _mm256_loadu_ps(ep.bias);
            bias1 = _mm256_loadu_ps(ep.bias + 8);
        }
#pragma GCC unroll 6
        for (int r = 0; r < MR; ++r) {
            float* crow = c + r * ldc;
            __m256 v0 = _mm256_mul_ps(alpha, acc[r][0]);
            __m256 v1 = _mm256_mul_ps(alpha, acc[r][1]);
            if (ep.beta != 0.0f) {
                v0 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(crow), v0);
                v1 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(crow + 8), v1);
            }
            v0 = _mm256_add_ps(v0, bias0);
            v1 = _mm256_add_ps(v1, bias1);
            if (ep.relu) {
                v0 = _mm256_max_ps(zero, v0);
                v1 = _mm256_max_ps(zero, v1);
            }
            _mm256_storeu_ps(crow, v0);
            _mm256_storeu_ps(crow + 8, v1);
        }
        return;
    }
    alignas(32) float tile[MR * NR];
    for (int r = 0; r < MR; ++r) {
        _mm256_store_ps(tile + r * NR, acc[r][0]);
        _mm256_store_ps(tile + r * NR + 8, acc[r][1]);
    }
    store_tile(tile, NR, c, ldc, m, n, ep);
}
}  // namespace

MicroKernel microkernel_avx2() { return {MR, NR, kernel_6x16<false>, kernel_6x16<true>, "avx2 6x16"}; }

}  // namespace fastnn::cpu
