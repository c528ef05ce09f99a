// The tensor-core GEMM (gemm_tensor_core.cu) that gemm.cu hands TF32 / BF16 requests to.
#pragma once

#include <cuda_runtime.h>

#include "fastnn/gemm.h"

namespace fastnn::cuda {

// Whether the current device has the mma.sync TF32 / BF16 instructions (compute capability 8.0+).
bool tensor_core_gemm_available();

// args as for gemm(), precision high (TF32) or medium (BF16); m, n > 0.
void tensor_core_gemm(const GemmArgs& args, cudaStream_t stream);

}  // namespace fastnn::cuda
