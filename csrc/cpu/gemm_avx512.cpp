// AVX-512 micro-kernel, 8 x 32: sixteen zmm accumulators. On Zen 4 a zmm FMA
// issues once per cycle with 4 cycles of latency, so sixteen independent
// chains keep the FMA pipes busy; edges use masked loads and stores.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace fastnn::cpu {

namespace {
constexpr int MR = 8;
constexpr int NR = 32;

void kernel_8x32(std::int64_t kc, const float* ap, const float* bp, float* c, std::int64_t ldc, int m, int n,
                 const Epilogue& ep) {
    __m512 acc[MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();

    for (std::int64_t p = 0; p < kc; ++p) {
        const __m512 b0 = _mm512_load_ps(bp);
        const __m512 b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(ap[r]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
        ap += MR;
        bp += NR;
    }

    // Column masks for a partial tile (n < 32); full tiles use all lanes.
    const __mmask16 mask0 = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
    const __mmask16 mask1 = n >= 32 ? __mmask16(0xFFFF) : n > 16 ? __mmask16((1u << (n - 16)) - 1u) : __mmask16(0);
    const __m512 alpha = _mm512_set1_ps(ep.alpha), beta = _mm512_set1_ps(ep.beta), zero = _mm512_setzero_ps();
    __m512 bias0 = zero, bias1 = zero;
    if (ep.bias) {
        bias0 = _mm512_maskz_loadu_ps(mask0, ep.bias);
        bias1 = _mm512_maskz_loadu_ps(mask1, ep.bias + 16);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        if (r >= m) break;
        float* crow = c + r * ldc;
        __m512 v0 = _mm512_mul_ps(alpha, acc[r][0]);
        __m512 v1 = _mm512_mul_ps(alpha, acc[r][1]);
        if (ep.beta != 0.0f) {
            v0 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask0, crow), v0);
            v1 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask1, crow + 16), v1);
        }
        v0 = _mm512_add_ps(v0, bias0);
        v1 = _mm512_add_ps(v1, bias1);
        if (ep.relu) {
            v0 = _mm512_max_ps(zero, v0);
            v1 = _mm512_max_ps(zero, v1);
        }
        _mm512_mask_storeu_ps(crow, mask0, v0);
        _mm512_mask_storeu_ps(crow + 16, mask1, v1);
    }
}
}  // namespace

MicroKernel microkernel_avx512() { return {MR, NR, kernel_8x32, "avx512 8x32"}; }

}  // namespace fastnn::cpu
