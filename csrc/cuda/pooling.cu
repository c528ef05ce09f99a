// 2-D pooling on the GPU (fastnn/pool.h), NHWC float32.
//
// Forward: one thread per output element (channel fastest, so a warp reads
// consecutive channels of a cell: coalesced), looping over the window's real
// cells. Backward: one thread per input element, gathering from the windows
// that cover it in (oh, ow) order -- no atomics, no zeroing pass, the same
// order (and so the same sums) as the CPU loops. Grid-stride loops, 64-bit
// indices. Numerics: float32 IEEE (nvcc's defaults, no fast-math).

#include <cuda_runtime.h>

#include <cstdint>

#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"
#include "fastnn/pool.h"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocksPerSm = 32;

struct Dims {
    std::int64_t N, H, W, C, OH, OW;
    std::int64_t kh, kw, sh, sw, pt, pl;
};

Dims dims(const View& in, const View& out, const PoolGeometry& g) {
    return Dims{in.shape[0], in.shape[1], in.shape[2], in.shape[3], out.shape[1], out.shape[2],
                g.kh,        g.kw,        g.sh,        g.sw,        g.pad_top,    g.pad_left};
}

__device__ __forceinline__ std::int64_t clamp_lo(std::int64_t a) { return a < 0 ? 0 : a; }
__device__ __forceinline__ std::int64_t clamp_hi(std::int64_t a, std::int64_t n) { return a > n ? n : a; }

template <bool Max>
__global__ void __launch_bounds__(kThreads) pool_forward(const float* __restrict__ x, float* __restrict__ y,
                                                         std::int32_t* __restrict__ idx, Dims d) {
    const std::int64_t total = d.N * d.OH * d.OW * d.C;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < total; i += stride) {
        const std::int64_t c = i % d.C;
        std::int64_t r = i / d.C;
        const std::int64_t ow = r % d.OW;
        r /= d.OW;
        const std::int64_t oh = r % d.OH;
        const std::int64_t n = r / d.OH;
        const std::int64_t h0 = clamp_lo(oh * d.sh - d.pt), h1 = clamp_hi(oh * d.sh - d.pt + d.kh, d.H);
        const std::int64_t w0 = clamp_lo(ow * d.sw - d.pl), w1 = clamp_hi(ow * d.sw - d.pl + d.kw, d.W);
        const float* img = x + n * d.H * d.W * d.C + c;
        if (Max) {
            float best = img[(h0 * d.W + w0) * d.C];
            std::int64_t arg = h0 * d.W + w0;
            for (std::int64_t h = h0; h < h1; ++h)
                for (std::int64_t w = w0; w < w1; ++w) {
                    const float v = img[(h * d.W + w) * d.C];
                    // strictly greater: ties keep the first; a NaN replaces a number once
                    if (v > best || (v != v && best == best)) {
                        best = v;
                        arg = h * d.W + w;
                    }
                }
            y[i] = best;
            if (idx) idx[i] = static_cast<std::int32_t>(arg);
        } else {
            float s = 0.0f;
            for (std::int64_t h = h0; h < h1; ++h)
                for (std::int64_t w = w0; w < w1; ++w) s += img[(h * d.W + w) * d.C];
            y[i] = s * (1.0f / static_cast<float>((h1 - h0) * (w1 - w0)));
        }
    }
}

// First output index whose window (start o * s - p, length k) covers input t.
__device__ __forceinline__ std::int64_t first_cover(std::int64_t t, std::int64_t k, std::int64_t s, std::int64_t p) {
    const std::int64_t f = t + p - k + 1;
    return f <= 0 ? 0 : (f + s - 1) / s;
}

template <bool Max>
__global__ void __launch_bounds__(kThreads) pool_backward(const std::int32_t* __restrict__ idx,
                                                          const float* __restrict__ dy, float* __restrict__ dx,
                                                          Dims d) {
    const std::int64_t total = d.N * d.H * d.W * d.C;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < total; i += stride) {
        const std::int64_t c = i % d.C;
        std::int64_t r = i / d.C;
        const std::int64_t iw = r % d.W;
        r /= d.W;
        const std::int64_t ih = r % d.H;
        const std::int64_t n = r / d.H;
        const std::int64_t oh0 = first_cover(ih, d.kh, d.sh, d.pt), oh1 = clamp_hi((ih + d.pt) / d.sh + 1, d.OH);
        const std::int64_t ow0 = first_cover(iw, d.kw, d.sw, d.pl), ow1 = clamp_hi((iw + d.pl) / d.sw + 1, d.OW);
        const std::int64_t base = n * d.OH * d.OW * d.C + c;
        const std::int32_t cell = static_cast<std::int32_t>(ih * d.W + iw);
        float s = 0.0f;
        for (std::int64_t oh = oh0; oh < oh1; ++oh) {
            const std::int64_t rows = clamp_hi(oh * d.sh - d.pt + d.kh, d.H) - clamp_lo(oh * d.sh - d.pt);
            for (std::int64_t ow = ow0; ow < ow1; ++ow) {
                const std::int64_t o = base + (oh * d.OW + ow) * d.C;
                if (Max) {
                    s += idx[o] == cell ? dy[o] : 0.0f;
                } else {
                    const std::int64_t cols = clamp_hi(ow * d.sw - d.pl + d.kw, d.W) - clamp_lo(ow * d.sw - d.pl);
                    s += dy[o] * (1.0f / static_cast<float>(rows * cols));
                }
            }
        }
        dx[i] = s;
    }
}

unsigned grid_for(std::int64_t total, const char* op) {
    std::int64_t blocks = (total + kThreads - 1) / kThreads;
    const std::int64_t cap = static_cast<std::int64_t>(sm_count(op)) * kBlocksPerSm;
    blocks = blocks < cap ? blocks : cap;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

void check_launch(const char* op) { check(static_cast<int>(cudaGetLastError()), op); }

}  // namespace

void max_pool2d_forward(const View& x, const View& y, const View* indices, const PoolGeometry& g,
                        std::uintptr_t stream) {
    const char* op = "max_pool2d";
    const Dims d = dims(x, y, g);
    const std::int64_t total = d.N * d.OH * d.OW * d.C;
    if (total == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    pool_forward<true><<<grid_for(total, op), kThreads, 0, s>>>(
        x.ptr<const float>(), y.ptr<float>(), indices ? indices->ptr<std::int32_t>() : nullptr, d);
    check_launch(op);
}

void avg_pool2d_forward(const View& x, const View& y, const PoolGeometry& g, std::uintptr_t stream) {
    const char* op = "avg_pool2d";
    const Dims d = dims(x, y, g);
    const std::int64_t total = d.N * d.OH * d.OW * d.C;
    if (total == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    pool_forward<false><<<grid_for(total, op), kThreads, 0, s>>>(x.ptr<const float>(), y.ptr<float>(), nullptr, d);
    check_launch(op);
}

void max_pool2d_backward(const View& indices, const View& dy, const View& dx, const PoolGeometry& g,
                         std::uintptr_t stream) {
    const char* op = "max_pool2d_backward";
    const Dims d = dims(dx, dy, g);
    const std::int64_t total = d.N * d.H * d.W * d.C;
    if (total == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    pool_backward<true><<<grid_for(total, op), kThreads, 0, s>>>(indices.ptr<const std::int32_t>(),
                                                                 dy.ptr<const float>(), dx.ptr<float>(), d);
    check_launch(op);
}

void avg_pool2d_backward(const View& dy, const View& dx, const PoolGeometry& g, std::uintptr_t stream) {
    const char* op = "avg_pool2d_backward";
    const Dims d = dims(dx, dy, g);
    const std::int64_t total = d.N * d.H * d.W * d.C;
    if (total == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    pool_backward<false><<<grid_for(total, op), kThreads, 0, s>>>(nullptr, dy.ptr<const float>(), dx.ptr<float>(), d);
    check_launch(op);
}

}  // namespace fastnn::cuda
