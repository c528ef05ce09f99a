// The Keras loss family on the GPU (formulas and gradients: fastnn/loss.h).
// y_true / y_pred are rows x n, contiguous float32; every kernel works on whole
// rows, one row per group of G lanes, G picked on the host from n:
//   n <= 8      G = 1    a thread per row (32 rows a warp)
//   n <= 64     G = 8    4 rows a warp
//   n <= 4096   G = 32   a warp per row
//   larger      G = 256  a block per row (reductions through shared memory)
// 256-thread blocks, grid-stride over row groups; loops are warp-uniform (G <=
// 32) or block-uniform (G = 256) so every lane takes part in the shuffles.
// Lane l of a group reads columns l, l + G, ... (coalesced for G >= 32).
// Sums are float32, in a fixed order: results do not depend on the grid.
//
// Numerics: accurate expf / logf / log1pf / tanhf (never the __ intrinsics);
// the same formulas as csrc/cpu/loss_impl.h, including log cosh without
// cancellation and the clip-aware gradients.
//
// Checks: a label outside [0, n) never causes an out-of-bounds read; its row
// gets a NaN loss / gradient. With a scratch buffer (check_finite, or the
// sparse kind with check_labels) the kernels also record the first offending
// rows there with atomicMin, and the host reads them back after a
// synchronisation of the stream. check_finite is a run-time flag (two
// multiply-adds per element on a memory-bound kernel).

#include <cuda_runtime.h>

#include <cstdint>

#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"
#include "fastnn/loss.h"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kBlocksPerSm = 16;  // grid cap; the grid-stride loop covers the rest

#define FASTNN_D __device__ __forceinline__

FASTNN_D float qnan() { return __int_as_float(0x7fc00000); }

constexpr float kEps = kLossEpsilon;
constexpr float kOneMinusEps = 1.0f - kLossEpsilon;

FASTNN_D float clip(float p) { return p < kEps ? kEps : (p > kOneMinusEps ? kOneMinusEps : p); }
FASTNN_D bool unclipped(float p) { return !(p < kEps || p > kOneMinusEps); }

FASTNN_D float log_cosh(float e) {
    const float a = fabsf(e);
    if (a > 8.0f) return (a - 0.693147180559945309f) + log1pf(expf(-2.0f * a));
    const float s = sinhf(0.5f * a);
    return log1pf(2.0f * s * s);  // NaN passes
}

FASTNN_D float sigmoid(float x) {
    const float e = expf(-fabsf(x));
    const float inv = 1.0f / (1.0f + e);
    return x >= 0.0f ? inv : e * inv;  // NaN: e is NaN
}

struct Mse {
    FASTNN_D float value(float t, float p) const {
        const float e = p - t;
        return e * e;
    }
    FASTNN_D float deriv(float t, float p) const { return 2.0f * (p - t); }
};

struct Mae {
    FASTNN_D float value(float t, float p) const { return fabsf(p - t); }
    FASTNN_D float deriv(float t, float p) const {
        const float e = p - t;
        return e > 0.0f ? 1.0f : (e < 0.0f ? -1.0f : e * 0.0f);
    }
};

struct Huber {
    float d, half_d2;
    FASTNN_D float value(float t, float p) const {
        const float e = p - t, a = fabsf(e);
        return a <= d ? 0.5f * (e * e) : d * a - half_d2;
    }
    FASTNN_D float deriv(float t, float p) const {
        const float e = p - t;
        return e < -d ? -d : (e > d ? d : e);
    }
};

struct LogCosh {
    FASTNN_D float value(float t, float p) const { return log_cosh(p - t); }
    FASTNN_D float deriv(float t, float p) const { return tanhf(p - t); }
};

struct BceProb {
    float ls_scale, ls_shift;
    FASTNN_D float value(float t, float p) const {
        const float ts = t * ls_scale + ls_shift, q = clip(p);
        return -(ts * logf(q) + (1.0f - ts) * logf(1.0f - q));
    }
    FASTNN_D float deriv(float t, float p) const {
        const float ts = t * ls_scale + ls_shift, q = clip(p);
        return unclipped(p) ? (q - ts) / (q * (1.0f - q)) : 0.0f;
    }
};

struct BceLogit {
    float ls_scale, ls_shift;
    FASTNN_D float value(float t, float x) const {
        const float ts = t * ls_scale + ls_shift;
        return (x > 0.0f ? x : 0.0f) - x * ts + log1pf(expf(-fabsf(x)));
    }
    FASTNN_D float deriv(float t, float x) const { return sigmoid(x) - (t * ls_scale + ls_shift); }
};

// Kernel arguments (LossArgs resolved).
struct Params {
    int64_t rows, n;
    const float* t;
    const int32_t* l32;
    const int64_t* l64;
    const float* p;
    float ls_scale, ls_shift;  // categorical: t' = t ls_scale + ls_shift
    float* loss;
    const float* grad_rows;
    float grad_scale;
    float* grad;
    unsigned long long* flags;  // [bad label row, non-finite y_true row, non-finite y_pred row], or null
    bool check_finite;
};

// Row layout: G lanes per row.
template <int G>
struct Layout {
    static constexpr int kRowsPerWarp = G <= 32 ? 32 / G : 1;
    static constexpr int kRowsPerBlock = G <= 32 ? kWarps * kRowsPerWarp : 1;
    int64_t base;  // first row of this warp (G <= 32) or block (G = 256) in the current iteration
    int sub, lane;
    FASTNN_D Layout() {
        if (G <= 32) {
            const int l = threadIdx.x & 31, warp = threadIdx.x >> 5;
            sub = l / G;
            lane = l % G;
            base = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * kRowsPerWarp;
        } else {
            sub = 0;
            lane = threadIdx.x;
            base = blockIdx.x;
        }
    }
    static FASTNN_D int64_t stride() { return static_cast<int64_t>(gridDim.x) * kRowsPerBlock; }
};

// Sum over the G lanes of a row; every lane gets the same value. G = 256 uses
// `sh` (kWarps floats) and two barriers.
template <int G>
FASTNN_D float group_sum(float v, float* sh) {
    if constexpr (G <= 32) {
#pragma unroll
        for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        return v;
    } else {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        __syncthreads();  // the previous reduction's readers are done with sh
        if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
        __syncthreads();
        float r = sh[0];
#pragma unroll
        for (int w = 1; w < kWarps; ++w) r += sh[w];
        return r;
    }
}

FASTNN_D void flag_row(const Params& p, int slot, int64_t row) {
    if (p.flags) atomicMin(p.flags + slot, static_cast<unsigned long long>(row));
}

// x * 0 is NaN exactly for NaN and +-inf.
FASTNN_D void probe(float& z, float x) { z += x * 0.0f; }

FASTNN_D void report_probes(const Params& p, int64_t row, float zt, float zp) {
    if (zt != zt) flag_row(p, 1, row);
    if (zp != zp) flag_row(p, 2, row);
}

FASTNN_D float row_scale(const Params& p, int64_t row) {
    return p.grad_rows ? p.grad_scale * p.grad_rows[row] : p.grad_scale;
}

// ---- element-wise kinds -----------------------------------------------------

template <int G, typename Op>
__global__ void __launch_bounds__(kThreads) mean_forward_kernel(Params p, Op op) {
    __shared__ float sh[kWarps];
    const Layout<G> ly;
    const int64_t n = p.n;
    const float fn = static_cast<float>(n);
    for (int64_t base = ly.base; base < p.rows; base += Layout<G>::stride()) {
        const int64_t row = base + ly.sub;
        const bool ok = row < p.rows;
        float acc = 0.0f, zt = 0.0f, zp = 0.0f;
        if (ok) {
            const float* t = p.t + row * n;
            const float* x = p.p + row * n;
            for (int64_t j = ly.lane; j < n; j += G) {
                const float tv = t[j], xv = x[j];
                acc += op.value(tv, xv);
                if (p.check_finite) {
                    probe(zt, tv);
                    probe(zp, xv);
                }
            }
            if (p.check_finite) report_probes(p, row, zt, zp);
        }
        acc = group_sum<G>(acc, sh);
        if (ok && ly.lane == 0) p.loss[row] = acc / fn;
    }
}

template <int G, typename Op>
__global__ void __launch_bounds__(kThreads) mean_backward_kernel(Params p, Op op) {
    const Layout<G> ly;
    const int64_t n = p.n;
    const float fn = static_cast<float>(n);
    for (int64_t base = ly.base; base < p.rows; base += Layout<G>::stride()) {
        const int64_t row = base + ly.sub;
        if (row >= p.rows) continue;  // no reductions here
        const float c = row_scale(p, row) / fn;
        const float* t = p.t + row * n;
        const float* x = p.p + row * n;
        float* g = p.grad + row * n;
        float zt = 0.0f, zp = 0.0f;
        for (int64_t j = ly.lane; j < n; j += G) {
            const float tv = t[j], xv = x[j];
            g[j] = c * op.deriv(tv, xv);
            if (p.check_finite) {
                probe(zt, tv);
                probe(zp, xv);
            }
        }
        if (p.check_finite) report_probes(p, row, zt, zp);
    }
}

// ---- categorical crossentropy on probabilities ------------------------------

template <int G>
__global__ void __launch_bounds__(kThreads) categorical_forward_kernel(Params p) {
    __shared__ float sh[kWarps];
    const Layout<G> ly;
    const int64_t n = p.n;
    for (int64_t base = ly.base; base < p.rows; base += Layout<G>::stride()) {
        const int64_t row = base + ly.sub;
        const bool ok = row < p.rows;
        const float* t = p.t + row * n;
        const float* x = p.p + row * n;
        float s = 0.0f;
        if (ok)
            for (int64_t j = ly.lane; j < n; j += G) s += x[j];
        const float inv = 1.0f / group_sum<G>(s, sh);
        float acc = 0.0f, zt = 0.0f, zp = 0.0f;
        if (ok) {
            for (int64_t j = ly.lane; j < n; j += G) {
                const float tv = t[j], xv = x[j];
                acc += (tv * p.ls_scale + p.ls_shift) * logf(clip(xv * inv));
                if (p.check_finite) {
                    probe(zt, tv);
                    probe(zp, xv);
                }
            }
            if (p.check_finite) report_probes(p, row, zt, zp);
        }
        acc = group_sum<G>(acc, sh);
        if (ok && ly.lane == 0) p.loss[row] = -acc;
    }
}

template <int G>
__global__ void __launch_bounds__(kThreads) categorical_backward_kernel(Params p) {
    __shared__ float sh[kWarps];
    const Layout<G> ly;
    const int64_t n = p.n;
    for (int64_t base = ly.base; base < p.rows; base += Layout<G>::stride()) {
        const int64_t row = base + ly.sub;
        const bool ok = row < p.rows;
        const float* t = p.t + row * n;
        const float* x = p.p + row * n;
        float s = 0.0f;
        if (ok)
            for (int64_t j = ly.lane; j < n; j += G) s += x[j];
        const float inv = 1.0f / group_sum<G>(s, sh);
        float t_in = 0.0f;
        if (ok)
            for (int64_t j = ly.lane; j < n; j += G)
                t_in += unclipped(x[j] * inv) ? t[j] * p.ls_scale + p.ls_shift : 0.0f;
        t_in = group_sum<G>(t_in, sh);
        if (!ok) continue;
        const float c = row_scale(p, row) * inv;
        float* g = p.grad + row * n;
        float zt = 0.0f, zp = 0.0f;
        for (int64_t j = ly.lane; j < n; j += G) {
            const float tv = t[j], xv = x[j];
            const float u = xv * inv, ts = tv * p.ls_scale + p.ls_shift;
            g[j] = c * (t_in - (unclipped(u) ? ts / u : 0.0f));
            if (p.check_finite) {
                probe(zt, tv);
                probe(zp, xv);
            }
        }
        if (p.check_finite) report_probes(p, row, zt, zp);
    }
}

// ---- sparse categorical crossentropy on probabilities -----------------------

FASTNN_D int64_t label_of(const Params& p, int64_t row, bool& bad) {
    const int64_t l = p.l32 ? static_cast<int64_t>(p.l32[row]) : p.l64[row];
    bad = l < 0 || l >= p.n;
    return l;
}

template <int G, bool BACKWARD>
__global__ void __launch_bounds__(kThreads) sparse_kernel(Params p) {
    __shared__ float sh[kWarps];
    const Layout<G> ly;
    const int64_t n = p.n;
    for (int64_t base = ly.base; base < p.rows; base += Layout<G>::stride()) {
        const int64_t row = base + ly.sub;
        const bool ok = row < p.rows;
        const float* x = p.p + row * n;
        bool bad = false;
        const int64_t label = ok ? label_of(p, row, bad) : 0;
        float s = 0.0f, zp = 0.0f;
        if (ok) {
            for (int64_t j = ly.lane; j < n; j += G) {
                const float xv = x[j];
                s += xv;
                if (p.check_finite) probe(zp, xv);
            }
            if (p.check_finite) report_probes(p, row, 0.0f, zp);
        }
        s = group_sum<G>(s, sh);
        if (!ok) continue;
        if (bad && ly.lane == 0) flag_row(p, 0, row);
        const float pl = bad ? qnan() : x[label];
        const float u = pl / s;
        if (!BACKWARD) {
            if (ly.lane == 0) p.loss[row] = bad ? qnan() : -logf(clip(u));
            continue;
        }
        const float c = row_scale(p, row);
        const bool pass = unclipped(u);  // NaN (a bad label) passes and stays NaN
        const float other = pass ? c / s : 0.0f;
        const float at_label = pass ? c / s - c / pl : 0.0f;
        float* g = p.grad + row * n;
        for (int64_t j = ly.lane; j < n; j += G) g[j] = bad ? qnan() : (j == label ? at_label : other);
    }
}

__global__ void label_check_kernel(const int32_t* l32, const int64_t* l64, int64_t rows, int64_t classes,
                                   unsigned long long* flags) {
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
         r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t l = l32 ? static_cast<int64_t>(l32[r]) : l64[r];
        if (l < 0 || l >= classes) atomicMin(flags, static_cast<unsigned long long>(r));
    }
}

#undef FASTNN_D

// ---------------------------------------------------------------------------
// Host side.

void check_cuda(cudaError_t err, const char* op) {
    if (err != cudaSuccess) throw RuntimeError(message(op, ": CUDA error: ", cudaGetErrorString(err)));
}

unsigned grid_for(int64_t groups, const char* op) {
    const int64_t cap = static_cast<int64_t>(sm_count(op)) * kBlocksPerSm;
    const int64_t blocks = groups < cap ? groups : cap;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

template <int G>
unsigned grid_rows(int64_t rows, const char* op) {
    constexpr int64_t per_block = Layout<G>::kRowsPerBlock;
    return grid_for((rows + per_block - 1) / per_block, op);
}

template <int G>
struct GroupCfg {
    static constexpr int g = G;
};

template <typename Fn>
void visit_group(int64_t n, Fn&& fn) {
    if (n <= 8) return fn(GroupCfg<1>{});
    if (n <= 64) return fn(GroupCfg<8>{});
    if (n <= 4096) return fn(GroupCfg<32>{});
    return fn(GroupCfg<256>{});
}

Params make_params(const LossArgs& a, std::uint64_t* scratch) {
    Params p;
    p.rows = a.rows;
    p.n = a.n;
    p.t = a.y_true;
    p.l32 = a.labels32;
    p.l64 = a.labels64;
    p.p = a.y_pred;
    p.ls_scale = 1.0f - a.label_smoothing;
    p.ls_shift = a.label_smoothing / static_cast<float>(a.n);  // categorical; binary passes its own
    p.loss = a.loss;
    p.grad_rows = a.grad_rows;
    p.grad_scale = a.grad_scale;
    p.grad = a.grad;
    p.flags = reinterpret_cast<unsigned long long*>(scratch);
    p.check_finite = a.check_finite && scratch != nullptr;
    return p;
}

template <int G, bool BACKWARD, typename Op>
void launch_mean(const Params& p, const Op& op, cudaStream_t s, const char* name) {
    const unsigned grid = grid_rows<G>(p.rows, name);
    if (BACKWARD)
        mean_backward_kernel<G, Op><<<grid, kThreads, 0, s>>>(p, op);
    else
        mean_forward_kernel<G, Op><<<grid, kThreads, 0, s>>>(p, op);
}

template <int G, bool BACKWARD>
void launch_kind(const LossArgs& a, const Params& p, cudaStream_t s, const char* name) {
    const float ls = a.label_smoothing;
    switch (a.kind) {
        case LossKind::mse: return launch_mean<G, BACKWARD>(p, Mse{}, s, name);
        case LossKind::mae: return launch_mean<G, BACKWARD>(p, Mae{}, s, name);
        case LossKind::huber: return launch_mean<G, BACKWARD>(p, Huber{a.delta, 0.5f * (a.delta * a.delta)}, s, name);
        case LossKind::log_cosh: return launch_mean<G, BACKWARD>(p, LogCosh{}, s, name);
        case LossKind::binary_crossentropy:
            if (a.from_logits) return launch_mean<G, BACKWARD>(p, BceLogit{1.0f - ls, 0.5f * ls}, s, name);
            return launch_mean<G, BACKWARD>(p, BceProb{1.0f - ls, 0.5f * ls}, s, name);
        case LossKind::categorical_crossentropy:
            if (BACKWARD)
                categorical_backward_kernel<G><<<grid_rows<G>(p.rows, name), kThreads, 0, s>>>(p);
            else
                categorical_forward_kernel<G><<<grid_rows<G>(p.rows, name), kThreads, 0, s>>>(p);
            return;
        case LossKind::sparse_categorical_crossentropy:
            sparse_kernel<G, BACKWARD><<<grid_rows<G>(p.rows, name), kThreads, 0, s>>>(p);
            return;
    }
}

// Reads the flags back (synchronising the stream) into a status.
LossStatus read_flags(const std::uint64_t* scratch, const int32_t* l32, const int64_t* l64, cudaStream_t s,
                      const char* op) {
    std::uint64_t host[3] = {0, 0, 0};
    check_cuda(cudaMemcpyAsync(host, scratch, sizeof host, cudaMemcpyDeviceToHost, s), op);
    check_cuda(cudaStreamSynchronize(s), op);
    LossStatus st;
    const std::uint64_t none = ~std::uint64_t(0);
    if (host[0] != none) {
        st.bad_label_row = static_cast<std::int64_t>(host[0]);
        // the error path only: one more small copy on the same stream
        if (l32) {
            std::int32_t v = 0;
            check_cuda(cudaMemcpyAsync(&v, l32 + st.bad_label_row, sizeof v, cudaMemcpyDeviceToHost, s), op);
            check_cuda(cudaStreamSynchronize(s), op);
            st.bad_label = v;
        } else if (l64) {
            std::int64_t v = 0;
            check_cuda(cudaMemcpyAsync(&v, l64 + st.bad_label_row, sizeof v, cudaMemcpyDeviceToHost, s), op);
            check_cuda(cudaStreamSynchronize(s), op);
            st.bad_label = v;
        }
    }
    if (host[1] != none) st.nonfinite_true_row = static_cast<std::int64_t>(host[1]);
    if (host[2] != none) st.nonfinite_pred_row = static_cast<std::int64_t>(host[2]);
    return st;
}

template <bool BACKWARD>
LossStatus run(const LossArgs& a, std::uint64_t* scratch, std::uintptr_t stream) {
    const char* name = BACKWARD ? "loss_backward" : "loss";
    check_loss_args(name, a, BACKWARD);
    const bool sparse = a.kind == LossKind::sparse_categorical_crossentropy;
    const bool checking = a.check_finite || (sparse && a.check_labels);
    if (checking && scratch == nullptr)
        throw ValueError(message(name, ": the CUDA checks need a device scratch buffer of ", kLossScratchWords,
                                 " words"));
    if (a.rows == 0) return LossStatus{};
    std::uint64_t* flags = checking ? scratch : nullptr;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (flags) check_cuda(cudaMemsetAsync(flags, 0xff, kLossScratchWords * sizeof(std::uint64_t), s), name);
    const Params p = make_params(a, flags);
    visit_group(a.n, [&](auto cfg) { launch_kind<decltype(cfg)::g, BACKWARD>(a, p, s, name); });
    check_cuda(cudaGetLastError(), name);
    if (!flags) return LossStatus{};
    LossStatus st = read_flags(flags, a.labels32, a.labels64, s, name);
    if (!a.check_labels) st.bad_label_row = -1;
    return st;
}

}  // namespace

LossStatus loss_forward(const LossArgs& args, std::uint64_t* scratch, std::uintptr_t stream) {
    return run<false>(args, scratch, stream);
}

LossStatus loss_backward(const LossArgs& args, std::uint64_t* scratch, std::uintptr_t stream) {
    return run<true>(args, scratch, stream);
}

LossStatus check_labels(const std::int32_t* labels32, const std::int64_t* labels64, std::int64_t rows,
                        std::int64_t classes, std::uint64_t* scratch, std::uintptr_t stream) {
    const char* op = "check_labels";
    if ((labels32 != nullptr) == (labels64 != nullptr) && rows > 0)
        throw ValueError(message(op, ": exactly one of int32 and int64 labels must be given"));
    if (rows <= 0) return LossStatus{};
    if (scratch == nullptr) throw ValueError(message(op, ": a device scratch buffer is needed"));
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    check_cuda(cudaMemsetAsync(scratch, 0xff, kLossScratchWords * sizeof(std::uint64_t), s), op);
    label_check_kernel<<<grid_for((rows + kThreads - 1) / kThreads, op), kThreads, 0, s>>>(
        labels32, labels64, rows, classes, reinterpret_cast<unsigned long long*>(scratch));
    check_cuda(cudaGetLastError(), op);
    return read_flags(scratch, labels32, labels64, s, op);
}

}  // namespace fastnn::cuda
