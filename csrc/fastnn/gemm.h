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

// How float32 products may be computed (fastnn.set_matmul_precision, as PyTorch's
// set_float32_matmul_precision): highest = float32; high = TF32 tensor cores; medium = BF16
// tensor cores; float32 accumulation in every case. Only CUDA GEMMs on compute capability 8.0+
// honour high / medium; the CPU and older GPUs always compute in float32.
enum class MatmulPrecision : int { highest = 0, high = 1, medium = 2 };

// The process-wide setting (default highest) that the GEMM bindings copy into GemmArgs.
MatmulPrecision matmul_precision();
void set_matmul_precision(MatmulPrecision p);

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
    // CUDA only (see MatmulPrecision).
    MatmulPrecision precision = MatmulPrecision::highest;
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
