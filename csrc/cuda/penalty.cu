// The weight penalty on the GPU (fastnn/penalty.h).
//
// Forward, two stages, deterministic and atomic-free: `blocks` (fixed by the
// size alone: one per kElemsPerBlock elements, at most kMaxBlocks) each run a
// grid-stride loop (float4 loads when w is 16-byte aligned) accumulating
// |w| and w^2 in double, add their lanes in a fixed shuffle tree and their
// warps in order, and write a pair of partial sums to stream-ordered scratch
// (scratch.cuh); one block adds the partials in a fixed order and writes
// float(l1 * s1 + l2 * s2). A single block writes the result directly.
// Backward: a grid-stride loop; the 0-d grad is read on the device.
// Numerics: float32 IEEE (nvcc's defaults, no fast-math), as the CPU loops.

#include <cuda_runtime.h>

#include <cstdint>

#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"
#include "fastnn/penalty.h"
#include "scratch.cuh"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocksPerSm = 32;
constexpr std::int64_t kElemsPerBlock = 8192;
constexpr std::int64_t kMaxBlocks = 1024;

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;  // lane 0 holds the sum
}

// Sums the block's (s1, s2) in a fixed order; thread 0 gets the result.
__device__ __forceinline__ void block_sums(double& s1, double& s2) {
    __shared__ double w1[kThreads / 32], w2[kThreads / 32];
    s1 = warp_sum(s1);
    s2 = warp_sum(s2);
    if ((threadIdx.x & 31) == 0) {
        w1[threadIdx.x >> 5] = s1;
        w2[threadIdx.x >> 5] = s2;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        s1 = 0.0;
        s2 = 0.0;
        for (int k = 0; k < kThreads / 32; ++k) {
            s1 += w1[k];
            s2 += w2[k];
        }
    }
}

__device__ __forceinline__ void add_term(float v, double& s1, double& s2) {
    const double x = static_cast<double>(v);
    s1 += fabs(x);
    s2 += x * x;
}

// Stage 1. partial == nullptr: a single block, writes the result.
template <bool Vec>
__global__ void __launch_bounds__(kThreads) penalty_partials(const float* w, std::int64_t n, double* partial,
                                                             float* out, double l1, double l2) {
    double s1 = 0.0, s2 = 0.0;
    const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
    if (Vec) {
        const float4* w4 = reinterpret_cast<const float4*>(w);
        const std::int64_t n4 = n / 4;
        for (std::int64_t i = tid; i < n4; i += stride) {
            const float4 v = w4[i];
            add_term(v.x, s1, s2);
            add_term(v.y, s1, s2);
            add_term(v.z, s1, s2);
            add_term(v.w, s1, s2);
        }
        if (tid < n - 4 * n4) add_term(w[4 * n4 + tid], s1, s2);
    } else {
        for (std::int64_t i = tid; i < n; i += stride) add_term(w[i], s1, s2);
    }
    block_sums(s1, s2);
    if (threadIdx.x != 0) return;
    if (partial) {
        partial[2 * blockIdx.x] = s1;
        partial[2 * blockIdx.x + 1] = s2;
    } else {
        *out = static_cast<float>(l1 * s1 + l2 * s2);
    }
}

// Stage 2: one block adds the `count` partial pairs (thread t: pairs t,
// t + kThreads, ... in order; then the fixed tree).
__global__ void __launch_bounds__(kThreads) penalty_finish(const double* partial, int count, float* out, double l1,
                                                           double l2) {
    double s1 = 0.0, s2 = 0.0;
    for (int i = threadIdx.x; i < count; i += kThreads) {
        s1 += partial[2 * i];
        s2 += partial[2 * i + 1];
    }
    block_sums(s1, s2);
    if (threadIdx.x == 0) *out = static_cast<float>(l1 * s1 + l2 * s2);
}

__device__ __forceinline__ float grad_term(float x, float g, float a, float b) {
    const float s = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
    return g * (a * s + b * x);
}

// out may be w: each element is read and written by one thread.
template <bool Vec>
__global__ void __launch_bounds__(kThreads) penalty_grad(const float* w, const float* grad, float* out,
                                                         std::int64_t n, float a, float b) {
    const float g = *grad;
    const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
    if (Vec) {
        const float4* w4 = reinterpret_cast<const float4*>(w);
        float4* o4 = reinterpret_cast<float4*>(out);
        const std::int64_t n4 = n / 4;
        for (std::int64_t i = tid; i < n4; i += stride) {
            const float4 v = w4[i];
            o4[i] = make_float4(grad_term(v.x, g, a, b), grad_term(v.y, g, a, b), grad_term(v.z, g, a, b),
                                grad_term(v.w, g, a, b));
        }
        if (tid < n - 4 * n4) out[4 * n4 + tid] = grad_term(w[4 * n4 + tid], g, a, b);
    } else {
        for (std::int64_t i = tid; i < n; i += stride) out[i] = grad_term(w[i], g, a, b);
    }
}

void check_launch(const char* op) { check(static_cast<int>(cudaGetLastError()), op); }

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

void penalty_forward(const View& w, const View& out, double l1, double l2, std::uintptr_t stream) {
    const char* op = "penalty";
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    const std::int64_t n = w.numel();
    const float* pw = w.ptr<const float>();
    float* po = out.ptr<float>();
    const bool vec = aligned16(pw);
    std::int64_t blocks = ceil_div(n, kElemsPerBlock);
    blocks = blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks);
    if (blocks == 1) {
        if (vec)
            penalty_partials<true><<<1, kThreads, 0, s>>>(pw, n, nullptr, po, l1, l2);
        else
            penalty_partials<false><<<1, kThreads, 0, s>>>(pw, n, nullptr, po, l1, l2);
        check_launch(op);
        return;
    }
    Scratch scratch(static_cast<std::size_t>(2 * blocks), s, op);
    const unsigned grid = static_cast<unsigned>(blocks);
    if (vec)
        penalty_partials<true><<<grid, kThreads, 0, s>>>(pw, n, scratch.get(), po, l1, l2);
    else
        penalty_partials<false><<<grid, kThreads, 0, s>>>(pw, n, scratch.get(), po, l1, l2);
    check_launch(op);
    penalty_finish<<<1, kThreads, 0, s>>>(scratch.get(), static_cast<int>(blocks), po, l1, l2);
    check_launch(op);
}

void penalty_backward(const View& w, const View& grad, const View& out, double l1, double l2,
                      std::uintptr_t stream) {
    const char* op = "penalty_backward";
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    const std::int64_t n = w.numel();
    if (n == 0) return;
    const float* pw = w.ptr<const float>();
    float* po = out.ptr<float>();
    const bool vec = aligned16(pw) && aligned16(po);
    const std::int64_t work = vec ? (n / 4 > 4 ? n / 4 : 4) : n;
    std::int64_t blocks = ceil_div(work, kThreads);
    const std::int64_t cap = static_cast<std::int64_t>(sm_count(op)) * kBlocksPerSm;
    blocks = blocks < cap ? blocks : cap;
    const unsigned grid = static_cast<unsigned>(blocks < 1 ? 1 : blocks);
    const float a = static_cast<float>(l1), b = static_cast<float>(2.0 * l2);
    if (vec)
        penalty_grad<true><<<grid, kThreads, 0, s>>>(pw, grad.ptr<const float>(), po, n, a, b);
    else
        penalty_grad<false><<<grid, kThreads, 0, s>>>(pw, grad.ptr<const float>(), po, n, a, b);
    check_launch(op);
}

}  // namespace fastnn::cuda
