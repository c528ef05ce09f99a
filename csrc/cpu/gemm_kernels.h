// Micro-kernels of the CPU GEMM (one per ISA, each in its own source file so it
// can carry its own compiler flags) and the packed-panel format they share.
//
// Rule for every *_avx2.cpp / *_avx512.cpp file: no std:: function templates
// and no non-static inline functions shared with other files. The linker keeps
// one copy of each such function for the whole library, and it may be the copy
// compiled with AVX-512, then run by the portable path on an older CPU.
//
// A micro-kernel multiplies an MR x kc panel of op(A) by a packed kc x NR
// panel of op(B) (element (p, c) at bp[p * NR + c]) and writes the m x n
// corner (m <= MR, n <= NR) of the product into C through the epilogue.
//
// The A panel is read at a[r * a_rs + p * a_ks]. Each kernel comes in two
// forms: `fn` for a_rs == 1 (a packed panel, a_ks == MR, or a transposed A
// read in place, a_ks == lda) and `fn_rows` for a_ks == 1 (a row-major A read
// in place, a_rs == lda). Reading A in place skips packing, which dominates
// when the panel is used for few B panels (narrow outputs, small problems).
#pragma once

#include <cstdint>

namespace fastnn::cpu {

struct Epilogue {
    float alpha = 1.0f;
    float beta = 0.0f;            // 0: C is not read
    const float* bias = nullptr;  // bias of the tile's first column, or null
    bool relu = false;
};

using MicroKernelFn = void (*)(std::int64_t kc, const float* a, std::int64_t a_rs, std::int64_t a_ks, const float* bp,
                               float* c, std::int64_t ldc, int m, int n, const Epilogue& ep);

struct MicroKernel {
    int mr;
    int nr;
    MicroKernelFn fn;       // a_rs == 1
    MicroKernelFn fn_rows;  // a_ks == 1
    const char* name;
};

MicroKernel microkernel_portable();
// The active ISA's micro-kernel for an output n columns wide (gemm.cpp).
MicroKernel microkernel_for(std::int64_t n);
#ifdef FASTNN_X86
MicroKernel microkernel_avx2();
MicroKernel microkernel_avx512();
MicroKernel microkernel_avx512_narrow();  // for outputs at most 16 columns wide

// Column kernels for outputs at most 16 wide: C[0:m, 0:n] (m <= 16) from the
// k x 16 column panel of op(A) at a + p * a_ks and the packed k x 16 panel of
// op(B) at bp[p * 16 + j]; n (1..16) is fixed per kernel.
using ColumnKernelFn = void (*)(std::int64_t k, const float* a, std::int64_t a_ks, const float* bp, float* c,
                                std::int64_t ldc, int m, const Epilogue& ep);
ColumnKernelFn column_kernel_avx512(int n);

// dst[p * w + r] = src[r * ld + p] for r < rows, p < kc; rows rows..w-1 of
// each p are zero-filled. w must be a multiple of 8.
void pack_transposed_avx2(const float* src, std::int64_t ld, int rows, std::int64_t kc, int w, float* dst);
// dst[p * w + c] = src[p * ld + c] for c < cols, p < kc; columns cols..w-1
// are zero-filled. w must be a multiple of 8.
void pack_copy_avx2(const float* src, std::int64_t ld, int cols, std::int64_t kc, int w, float* dst);
#endif

// Scalar epilogue for a tile held in memory (acc[r * acc_ld + c]); the ISA
// kernels use it for partial edge tiles. `static`: each ISA file gets its own
// copy (a shared inline copy could be the AVX2-compiled one, run on any CPU).
static inline void store_tile(const float* acc, int acc_ld, float* c, std::int64_t ldc, int m, int n, const Epilogue& ep) {
    for (int r = 0; r < m; ++r) {
        float* crow = c + r * ldc;
        for (int j = 0; j < n; ++j) {
            float v = ep.alpha * acc[r * acc_ld + j];
            if (ep.beta != 0.0f) v += ep.beta * crow[j];
            if (ep.bias) v += ep.bias[j];
            if (ep.relu && v < 0.0f) v = 0.0f;  // NaN passes through, as np.maximum(x, 0)
            crow[j] = v;
        }
    }
}

}  // namespace fastnn::cpu
