// GEMM entry points shared by the bindings and the CPU / CUDA implementations.
//
//   C = alpha * op(A) @ op(B) + beta * C   [+ bias row vector] [relu]
//
// All matrices are row-major with a leading dimension (elements between rows).
// op(A) is M x K: A is stored M x K (lda >= K), or K x M (lda >= M) when trans_a.
// op(B) is K x N: B is stored K x N (ldb >= N), or N x K (ldb >= K) when trans_b.
// C is M x N with ldc >= N. bias, when not null, has N elements and is added
// after alpha/beta; relu is applied last. beta == 0 means C is not read
// (so it may hold garbage or NaN), as in BLAS.
#pragma once

#include <cstdint>

namespace fastnn {

enum class Activation : int { none = 0, relu = 1 };

struct GemmArgs {
    bool trans_a = false;
    bool trans_b = false;
    int64_t m = 0, n = 0, k = 0;
    float alpha = 1.0f;
    const float* a = nullptr;
    int64_t lda = 0;
    const float* b = nullptr;
    int64_t ldb = 0;
    float beta = 0.0f;
    float* c = nullptr;
    int64_t ldc = 0;
    const float* bias = nullptr;  // N elements or null
    Activation activation = Activation::none;
    // CPU only: the most threads this call may use; 0 = num_threads(). Callers
    // that already run one GEMM per thread (the conv kernels) pass 1.
    int max_threads = 0;
};

namespace cpu {
void gemm(const GemmArgs& args);
}

namespace cuda {
// Runs on `stream` (a cudaStream_t passed as an integer so this header
// needs no CUDA include). Pointers are device pointers.
void gemm(const GemmArgs& args, std::uintptr_t stream);
}

}  // namespace fastnn
