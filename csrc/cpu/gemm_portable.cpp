// Portable micro-kernel: plain loops the compiler vectorises for the baseline
// ISA (SSE2 on x86-64, NEON on arm64). Used when no faster kernel applies.
#include "gemm_kernels.h"

namespace fastnn::cpu {

namespace {
constexpr int MR = 4;
constexpr int NR = 16;

void kernel_4x16(std::int64_t kc, const float* a, std::int64_t a_rs, std::int64_t a_ks, const float* bp, float* c,
                 std::int64_t ldc, int m, int n, const Epilogue& ep) {
    alignas(64) float acc[MR * NR] = {};
    for (std::int64_t p = 0; p < kc; ++p) {
        for (int r = 0; r < MR; ++r) {
            const float av = a[r * a_rs + p * a_ks];
            for (int j = 0; j < NR; ++j) acc[r * NR + j] += av * bp[p * NR + j];
        }
    }
    store_tile(acc, NR, c, ldc, m, n, ep);
}
}  // namespace

MicroKernel microkernel_portable() { return {MR, NR, kernel_4x16, kernel_4x16, "portable 4x16"}; }

}  // namespace fastnn::cpu
