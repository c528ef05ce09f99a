// Dropout on the GPU (see fastnn/dropout.h): each thread draws one
// Philox4x32-10 block (fastnn/philox.h, the same code as the CPU's) and
// handles its 4 elements, with a float4 load and store when x and y are
// 16-byte aligned; grid-stride over the blocks. The mask is a function of
// (key, offset, element index) only, so it is bit-identical to the CPU's.

#include <cuda_runtime.h>

#include <cstdint>

#include "fastnn/cuda_runtime.h"
#include "fastnn/dropout.h"
#include "fastnn/philox.h"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocksPerSm = 16;

__device__ __forceinline__ float keep(std::uint32_t r, float x, const DropoutArgs& d) {
    return r >= d.threshold ? x * d.scale : 0.0f;
}

template <bool VEC>
__global__ void __launch_bounds__(kThreads) dropout_kernel(const DropoutArgs d, const float* x, float* y,
                                                           std::int64_t n) {
    const std::int64_t blocks = (n + 3) / 4;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
    for (std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; j < blocks; j += stride) {
        const philox::Block r = philox::block(d.key, d.offset + static_cast<std::uint64_t>(j));
        const std::int64_t e = 4 * j;
        if (VEC && e + 4 <= n) {
            const float4 v = reinterpret_cast<const float4*>(x)[j];
            reinterpret_cast<float4*>(y)[j] =
                make_float4(keep(r.v[0], v.x, d), keep(r.v[1], v.y, d), keep(r.v[2], v.z, d), keep(r.v[3], v.w, d));
        } else {
#pragma unroll
            for (int q = 0; q < 4; ++q)
                if (e + q < n) y[e + q] = keep(r.v[q], x[e + q], d);
        }
    }
}

}  // namespace

void dropout(const DropoutArgs& args, const float* x, float* y, std::int64_t n, std::uintptr_t stream) {
    const char* op = "dropout";
    if (n <= 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    const std::int64_t blocks = (n + 3) / 4;
    const std::int64_t want = (blocks + kThreads - 1) / kThreads;
    const std::int64_t cap = static_cast<std::int64_t>(sm_count(op)) * kBlocksPerSm;
    const unsigned grid = static_cast<unsigned>(want < cap ? want : cap);
    const bool vec = ((reinterpret_cast<std::uintptr_t>(x) | reinterpret_cast<std::uintptr_t>(y)) & 15u) == 0;
    if (vec)
        dropout_kernel<true><<<grid, kThreads, 0, s>>>(args, x, y, n);
    else
        dropout_kernel<false><<<grid, kThreads, 0, s>>>(args, x, y, n);
    check(static_cast<int>(cudaGetLastError()), op);
}

}  // namespace fastnn::cuda
