// Batch normalisation on the GPU (fastnn/batchnorm.h), x viewed as (M, C).
//
// Column sums in two stages, atomic-free and deterministic: a grid of
// (channel tiles of 32) x (chunks of rows, the count fixed by M) blocks of
// 32 x 8 threads -- a warp reads 32 consecutive channels of a row
// (coalesced) -- accumulates in double, adds its 8 row lanes in a fixed
// order and writes one partial per (chunk, channel) to stream-ordered
// scratch (scratch.cuh); a per-channel kernel adds the partials in chunk
// order and forms the statistics / gradient sums and the per-channel factors
// (in double, rounded once), which an element-wise kernel then applies. No
// host synchronisation anywhere. Numerics: float32 IEEE element-wise (no
// fast-math), double sums, as the CPU loops.

#include <cuda_runtime.h>

#include <cstdint>

#include "fastnn/batchnorm.h"
#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"
#include "scratch.cuh"

namespace fastnn::cuda {
namespace {

constexpr int kTileC = 32;      // channels per block (threadIdx.x)
constexpr int kLanes = 8;       // rows in flight per block (threadIdx.y)
constexpr std::int64_t kMinRows = 64;
constexpr std::int64_t kMaxChunks = 512;
constexpr int kThreads = 256;
constexpr int kBlocksPerSm = 32;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

struct Layout {
    std::int64_t M, C, rows_per_chunk, chunks;
};

Layout layout_of(const View& x) {
    const std::int64_t C = x.shape[x.ndim - 1];
    const std::int64_t M = C ? x.numel() / C : 0;
    std::int64_t rpc = ceil_div(M, kMaxChunks);
    rpc = rpc < kMinRows ? kMinRows : rpc;
    return Layout{M, C, rpc, M ? ceil_div(M, rpc) : 0};
}

// Stage 1. Stats (Grad == false): s1 = sum (x - x[0, c]), s2 = sum (x - x[0, c])^2.
// Grad sums (Grad == true): s1 = sum dy, s2 = sum dy * (x - mean[c]).
// part: chunks x 2C doubles ([s1 row | s2 row] per chunk).
template <bool Grad>
__global__ void __launch_bounds__(kTileC* kLanes) column_partials(const float* __restrict__ x,
                                                                  const float* __restrict__ dy,
                                                                  const float* __restrict__ mean, Layout l,
                                                                  double* __restrict__ part) {
    __shared__ double sh1[kLanes][kTileC], sh2[kLanes][kTileC];
    const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kTileC + threadIdx.x;
    const std::int64_t chunk = blockIdx.y;
    const std::int64_t r0 = chunk * l.rows_per_chunk;
    const std::int64_t r1 = r0 + l.rows_per_chunk < l.M ? r0 + l.rows_per_chunk : l.M;
    double s1 = 0.0, s2 = 0.0;
    if (c < l.C) {
        const double k = Grad ? static_cast<double>(mean[c]) : static_cast<double>(x[c]);
        for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kLanes) {
            const double d = static_cast<double>(x[r * l.C + c]) - k;
            if (Grad) {
                const double g = static_cast<double>(dy[r * l.C + c]);
                s1 += g;
                s2 += g * d;
            } else {
                s1 += d;
                s2 += d * d;
            }
        }
    }
    sh1[threadIdx.y][threadIdx.x] = s1;
    sh2[threadIdx.y][threadIdx.x] = s2;
    __syncthreads();
    if (threadIdx.y == 0 && c < l.C) {
        for (int k = 1; k < kLanes; ++k) {  // fixed order
            s1 += sh1[k][threadIdx.x];
            s2 += sh2[k][threadIdx.x];
        }
        part[chunk * 2 * l.C + c] = s1;
        part[chunk * 2 * l.C + l.C + c] = s2;
    }
}

// Stage 2 of the training forward, one thread per channel: the statistics,
// the running update, and scale / shift for the element-wise pass.
__global__ void __launch_bounds__(kThreads) stats_finish(const double* __restrict__ part, Layout l,
                                                         const float* __restrict__ x, const float* __restrict__ gamma,
                                                         const float* __restrict__ beta, float* __restrict__ mean,
                                                         float* __restrict__ invstd, float* running_mean,
                                                         float* running_var, double momentum, double eps,
                                                         float* __restrict__ scale, float* __restrict__ shift) {
    const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (c >= l.C) return;
    double s1 = 0.0, s2 = 0.0;
    for (std::int64_t k = 0; k < l.chunks; ++k) {  // chunk order
        s1 += part[k * 2 * l.C + c];
        s2 += part[k * 2 * l.C + l.C + c];
    }
    const double m = static_cast<double>(l.M);
    const double d = s1 / m;
    const double mu = static_cast<double>(x[c]) + d;
    double var = s2 / m - d * d;
    var = var > 0.0 ? var : 0.0;
    const double is = 1.0 / sqrt(var + eps);
    mean[c] = static_cast<float>(mu);
    invstd[c] = static_cast<float>(is);
    scale[c] = static_cast<float>(gamma ? static_cast<double>(gamma[c]) * is : is);
    shift[c] = beta ? beta[c] : 0.0f;
    if (running_mean)
        running_mean[c] = static_cast<float>(static_cast<double>(running_mean[c]) * momentum + mu * (1.0 - momentum));
    if (running_var)
        running_var[c] = static_cast<float>(static_cast<double>(running_var[c]) * momentum + var * (1.0 - momentum));
}

// Inference: scale / shift (and invstd when asked) from the given variance.
__global__ void __launch_bounds__(kThreads) infer_factors(const float* __restrict__ var,
                                                          const float* __restrict__ gamma,
                                                          const float* __restrict__ beta, std::int64_t C, double eps,
                                                          float* __restrict__ invstd, float* __restrict__ scale,
                                                          float* __restrict__ shift) {
    const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (c >= C) return;
    const double is = 1.0 / sqrt(static_cast<double>(var[c]) + eps);
    if (invstd) invstd[c] = static_cast<float>(is);
    scale[c] = static_cast<float>(gamma ? static_cast<double>(gamma[c]) * is : is);
    shift[c] = beta ? beta[c] : 0.0f;
}

// Stage 2 of the backward: dgamma, dbeta and the factors of dx = a dy + b + (x - mean) d.
__global__ void __launch_bounds__(kThreads) grad_finish(const double* __restrict__ part, Layout l,
                                                        const float* __restrict__ invstd,
                                                        const float* __restrict__ gamma, bool training,
                                                        float* __restrict__ dgamma, float* __restrict__ dbeta,
                                                        float* __restrict__ fa, float* __restrict__ fb,
                                                        float* __restrict__ fd) {
    const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (c >= l.C) return;
    double s1 = 0.0, s2 = 0.0;
    for (std::int64_t k = 0; k < l.chunks; ++k) {  // chunk order
        s1 += part[k * 2 * l.C + c];
        s2 += part[k * 2 * l.C + l.C + c];
    }
    const double is = static_cast<double>(invstd[c]);
    const double dg = s2 * is;
    if (dbeta) dbeta[c] = static_cast<float>(s1);
    if (dgamma) dgamma[c] = static_cast<float>(dg);
    const double a = (gamma ? static_cast<double>(gamma[c]) : 1.0) * is;
    const double m = static_cast<double>(l.M);
    fa[c] = static_cast<float>(a);
    fb[c] = training && l.M > 0 ? static_cast<float>(-a * s1 / m) : 0.0f;
    fd[c] = training && l.M > 0 ? static_cast<float>(-a * is * dg / m) : 0.0f;
}

// y = (x - mean[c]) * scale[c] + shift[c].
__global__ void __launch_bounds__(kThreads) normalize(const float* __restrict__ x, float* __restrict__ y,
                                                      std::int64_t n, std::int64_t C, const float* __restrict__ mean,
                                                      const float* __restrict__ scale,
                                                      const float* __restrict__ shift) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
        const std::int64_t c = i % C;
        y[i] = (x[i] - mean[c]) * scale[c] + shift[c];
    }
}

// dx = a[c] dy + b[c] + (x - mean[c]) d[c]; dx may be dy (same thread reads then writes).
__global__ void __launch_bounds__(kThreads) grad_input(const float* __restrict__ x, const float* dy, float* dx,
                                                       std::int64_t n, std::int64_t C, const float* __restrict__ mean,
                                                       const float* __restrict__ fa, const float* __restrict__ fb,
                                                       const float* __restrict__ fd) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
        const std::int64_t c = i % C;
        dx[i] = fa[c] * dy[i] + fb[c] + (x[i] - mean[c]) * fd[c];
    }
}

unsigned grid_for(std::int64_t total, const char* op) {
    std::int64_t blocks = ceil_div(total, kThreads);
    const std::int64_t cap = static_cast<std::int64_t>(sm_count(op)) * kBlocksPerSm;
    blocks = blocks < cap ? blocks : cap;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

unsigned channel_grid(std::int64_t C) { return static_cast<unsigned>(ceil_div(C, kThreads)); }

void check_launch(const char* op) { check(static_cast<int>(cudaGetLastError()), op); }

const float* opt(const View* v) { return v ? v->ptr<const float>() : nullptr; }
float* opt_out(const View* v) { return v ? v->ptr<float>() : nullptr; }

// Launches stage 1 into `part` (needs l.chunks > 0).
template <bool Grad>
void launch_partials(const float* x, const float* dy, const float* mean, const Layout& l, double* part,
                     cudaStream_t s, const char* op) {
    const dim3 grid(static_cast<unsigned>(ceil_div(l.C, kTileC)), static_cast<unsigned>(l.chunks));
    column_partials<Grad><<<grid, dim3(kTileC, kLanes), 0, s>>>(x, dy, mean, l, part);
    check_launch(op);
}

}  // namespace

void batchnorm_train_forward(const BatchNormArgs& a, std::uintptr_t stream) {
    const char* op = "batch_norm";
    const Layout l = layout_of(*a.x);
    if (l.C == 0 || l.M == 0) return;  // the bindings reject M == 0 in training
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    // partials (2C per chunk), then scale and shift (C floats each = C doubles)
    Scratch scratch(static_cast<std::size_t>(2 * l.chunks * l.C + l.C), s, op);
    double* part = scratch.get();
    float* scale = reinterpret_cast<float*>(part + 2 * l.chunks * l.C);
    float* shift = scale + l.C;
    const float* x = a.x->ptr<const float>();
    launch_partials<false>(x, nullptr, nullptr, l, part, s, op);
    stats_finish<<<channel_grid(l.C), kThreads, 0, s>>>(part, l, x, opt(a.gamma), opt(a.beta), a.mean->ptr<float>(),
                                                        a.invstd->ptr<float>(), opt_out(a.running_mean),
                                                        opt_out(a.running_var), a.momentum, a.eps, scale, shift);
    check_launch(op);
    const std::int64_t n = l.M * l.C;
    normalize<<<grid_for(n, op), kThreads, 0, s>>>(x, a.y->ptr<float>(), n, l.C, a.mean->ptr<const float>(), scale,
                                                   shift);
    check_launch(op);
}

void batchnorm_infer_forward(const BatchNormArgs& a, std::uintptr_t stream) {
    const char* op = "batch_norm";
    const Layout l = layout_of(*a.x);
    if (l.C == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    Scratch scratch(static_cast<std::size_t>(l.C), s, op);
    float* scale = reinterpret_cast<float*>(scratch.get());
    float* shift = scale + l.C;
    infer_factors<<<channel_grid(l.C), kThreads, 0, s>>>(a.var->ptr<const float>(), opt(a.gamma), opt(a.beta), l.C,
                                                         a.eps, opt_out(a.invstd), scale, shift);
    check_launch(op);
    const std::int64_t n = l.M * l.C;
    if (n == 0) return;
    normalize<<<grid_for(n, op), kThreads, 0, s>>>(a.x->ptr<const float>(), a.y->ptr<float>(), n, l.C,
                                                   a.mean->ptr<const float>(), scale, shift);
    check_launch(op);
}

void batchnorm_backward(const BatchNormGradArgs& a, std::uintptr_t stream) {
    const char* op = "batch_norm_backward";
    const Layout l = layout_of(*a.x);
    if (l.C == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    // partials (2C per chunk), then the factors a, b, d (3C floats, 2C doubles)
    Scratch scratch(static_cast<std::size_t>(2 * l.chunks * l.C + 2 * l.C), s, op);
    double* part = scratch.get();
    float* fa = reinterpret_cast<float*>(part + 2 * l.chunks * l.C);
    float* fb = fa + l.C;
    float* fd = fb + l.C;
    const float* x = a.x->ptr<const float>();
    const float* dy = a.dy->ptr<const float>();
    const float* mean = a.mean->ptr<const float>();
    if (l.chunks > 0) launch_partials<true>(x, dy, mean, l, part, s, op);
    grad_finish<<<channel_grid(l.C), kThreads, 0, s>>>(part, l, a.invstd->ptr<const float>(), opt(a.gamma),
                                                       a.training, opt_out(a.dgamma), opt_out(a.dbeta), fa, fb, fd);
    check_launch(op);
    const std::int64_t n = l.M * l.C;
    if (!a.dx || n == 0) return;
    grad_input<<<grid_for(n, op), kThreads, 0, s>>>(x, dy, a.dx->ptr<float>(), n, l.C, mean, fa, fb, fd);
    check_launch(op);
}

}  // namespace fastnn::cuda
