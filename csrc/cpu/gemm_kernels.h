// Micro-kernels of the CPU GEMM (one per ISA, each in its own source file so it
// can carry its own compiler flags) and the packed-panel format they share.
//
// A micro-kernel multiplies a packed kc x MR panel of op(A) (element (r, p) at
// ap[p * MR + r]) by a packed kc x NR panel of op(B) (element (p, c) at
// bp[p * NR + c]) and writes the m x n corner (m <= MR, n <= NR) of the
// product into C through the epilogue.
#pragma once

#include <cstdint>

namespace fastnn::cpu {

struct Epilogue {
    float alpha = 1.0f;
    float beta = 0.0f;            // 0: C is not read
    const float* bias = nullptr;  // bias of the tile's first column, or null
    bool relu = false;
};

using MicroKernelFn = void (*)(std::int64_t kc, const float* ap, const float* bp, float* c, std::int64_t ldc, int m,
                               int n, const Epilogue& ep);

struct MicroKernel {
    int mr;
    int nr;
    MicroKernelFn fn;
    const char* name;
};

MicroKernel microkernel_portable();
#ifdef FASTNN_X86
MicroKernel microkernel_avx2();
MicroKernel microkernel_avx512();
#endif

// Scalar epilogue for a tile held in memory (acc[r * acc_ld + c]); the ISA
// kernels use it for partial edge tiles.
inline void store_tile(const float* acc, int acc_ld, float* c, std::int64_t ldc, int m, int n, const Epilogue& ep) {
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
