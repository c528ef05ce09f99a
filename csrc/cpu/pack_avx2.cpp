// Packing with 8 x 8 in-register transposes (AVX2). Packing a row-major A
// (or a transposed B) into k-major panels is a transpose; done one scalar at
// a time it costs several percent of a network-sized GEMM.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace fastnn::cpu {

namespace {
// Transposes the 8 x 8 block at src (row stride ld) into dst (row stride w).
inline void transpose_8x8(const float* src, std::int64_t ld, float* dst, std::int64_t w) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld);
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int j = 0; j < 4; ++j) {
        _mm256_storeu_ps(dst + j * w, _mm256_permute2f128_ps(s[j], s[j + 4], 0x20));
        _mm256_storeu_ps(dst + (j + 4) * w, _mm256_permute2f128_ps(s[j], s[j + 4], 0x31));
    }
}
}  // namespace

void pack_transposed_avx2(const float* src, std::int64_t ld, int rows, std::int64_t kc, int w, float* dst) {
    for (int r0 = 0; r0 < w; r0 += 8) {
        const int left = rows - r0;
        const int nr = left < 8 ? left : 8;  // no std:: templates in ISA files: see gemm_kernels.h
        if (nr == 8) {
            std::int64_t p = 0;
            for (; p + 8 <= kc; p += 8) transpose_8x8(src + r0 * ld + p, ld, dst + p * w + r0, w);
            for (; p < kc; ++p)
                for (int i = 0; i < 8; ++i) dst[p * w + r0 + i] = src[(r0 + i) * ld + p];
        } else {
            for (std::int64_t p = 0; p < kc; ++p)
                for (int i = 0; i < 8; ++i) dst[p * w + r0 + i] = i < nr ? src[(r0 + i) * ld + p] : 0.0f;
        }
    }
}

}  // namespace fastnn::cpu

namespace fastnn::cpu {

void pack_copy_avx2(const float* src, std::int64_t ld, int cols, std::int64_t kc, int w, float* dst) {
    if (cols == w) {
        for (std::int64_t p = 0; p < kc; ++p)
            for (int c = 0; c < w; c += 8) _mm256_storeu_ps(dst + p * w + c, _mm256_loadu_ps(src + p * ld + c));
        return;
    }
    // Partial panel: masked loads read only the first `cols` floats of each row.
    alignas(32) static const int ramp[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    for (std::int64_t p = 0; p < kc; ++p) {
        for (int c = 0; c < w; c += 8) {
            const int rest = cols - c;
            const int left = rest < 0 ? 0 : (rest > 8 ? 8 : rest);
            const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ramp + 8 - left));
            _mm256_storeu_ps(dst + p * w + c, _mm256_maskload_ps(src + p * ld + c, mask));
        }
    }
}

}  // namespace fastnn::cpu
