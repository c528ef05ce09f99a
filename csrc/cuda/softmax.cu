// Row-wise softmax / log-softmax (forward and backward) and the fused softmax
// cross-entropy on the GPU (DESIGN.md §6). x is rows x classes, contiguous
// float32; every op works on whole rows (see fastnn/softmax.h).
//
// Two kernel shapes, picked on the host from `classes`:
//   rows of <= 1024 classes (kWarpMaxClasses): a "sub-warp" of W lanes per row
//       (W = next power of two >= classes, capped at 32; W < 32 packs 32 / W
//       rows into one warp, so 10-class rows do not idle 22 lanes). Each lane
//       holds N = ceil(classes / W) elements in registers (N a power of two,
//       1..32; element k of a lane is column lane + k * W, so loads coalesce).
//       The row is read once: max, then sum of exp(x - max) (a true two-pass
//       softmax over registers), reductions with __shfl_xor_sync inside the W
//       lanes. 256-thread blocks, grid-stride loop over row groups.
//   longer rows (up to any size; 100000 classes is ~400 KB a row): one
//       512-thread block per row, grid-stride over rows. Pass 1 is an online
//       softmax: each thread keeps a running (max m, sum s of exp(x - m)) and
//       rescales s when m grows, so the row is read twice in total (pass 1,
//       then pass 2 writes the outputs) rather than three times. Per-thread
//       states are merged with warp shuffles, then across the 16 warps through
//       shared memory (every thread folds the 16 partials in the same order, so
//       all threads get bit-identical results without a broadcast step).
//
// Numerics: float32 accumulation, accurate expf / logf (never __expf). The
// formulas mirror csrc/cpu/softmax_impl.h:
//   softmax       y = exp(x - m) * (1 / s)
//   log_softmax   y = x - (m + log s)
//   backward      softmax dx = y (dy - <dy, y>); log_softmax dx = dy - exp(y) sum(dy)
//   cross-entropy with t' = (1 - ls) t + ls / classes, T = sum t':
//       loss = T log s + sum_j t'_j (m - x_j), assembled from the non-negative
//       gaps m - x_j (never lse - x_j, which cancels when the logits are large
//       and close): gap = (1 - ls) sum_j t_j (m - x_j) + [ls != 0] ls / classes
//       sum_j (m - x_j); sparse labels have T = 1 and gap (1 - ls)(m - x_L).
//       grad = grad_scale (exp(x - m) T / s - t').
// Special values give what the two-pass CPU code gives: a NaN logit, or a row
// whose maximum is +inf or -inf, makes the whole output row (and the loss) NaN
// (exp(inf - inf) is NaN in the sum). The online pass reproduces that
// explicitly: -inf elements contribute 0 and a non-finite row maximum sets
// s = NaN. Logits of +-1e4 stay finite (everything is relative to the max).
// A sparse label outside [0, classes) gives loss NaN and a NaN gradient row
// (the caller checks labels on the host; see the header).
//
// Aliasing: y == x, dx == y or dx == dy, grad == logits are allowed: every
// element is read (in all passes) before the same thread overwrites it, and the
// block-wide reductions separate the passes.

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"
#include "fastnn/softmax.h"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;          // sub-warp kernels
constexpr int kWarpBlocksPerSm = 32;   // their grid cap (as activation.cu)
constexpr int kRowThreads = 512;       // block-per-row kernels
constexpr int kRowWarps = kRowThreads / 32;
constexpr int kRowBlocksPerSm = 8;     // their grid cap; the grid-stride loop covers the rest
constexpr int64_t kWarpMaxClasses = 1024;  // 32 lanes x 32 registers

[[noreturn]] void throw_cuda(cudaError_t err) {
    throw RuntimeError(message("softmax: CUDA error: ", cudaGetErrorString(err)));
}

inline void check_cuda(cudaError_t err) {
    if (err != cudaSuccess) throw_cuda(err);
}

#define FASTNN_D __device__ __forceinline__

FASTNN_D float neg_inf() { return -__int_as_float(0x7f800000); }
FASTNN_D float qnan() { return __int_as_float(0x7fc00000); }

// Max like the CPU's `x > m ? x : m`: NaN never becomes the max (the NaN
// reaches the result through the sum of exp(x - m) instead).
FASTNN_D float max_f(float a, float b) { return b > a ? b : a; }

// Reductions over aligned groups of W lanes (xor offsets < W stay in the group).
template <int W>
FASTNN_D float group_max(float v) {
#pragma unroll
    for (int o = W / 2; o > 0; o >>= 1) v = max_f(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <int W>
FASTNN_D float group_sum(float v) {
#pragma unroll
    for (int o = W / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// ---------------------------------------------------------------------------
// Online (max, sum of exp(x - max)) state for the block-per-row kernels.
// Empty state: m = -inf, s = 0. s may become NaN (a NaN element, or a
// -inf - -inf); NaN is sticky through updates and merges.
struct Online {
    float m, s;
};

FASTNN_D void online_add(Online& st, float x) {
    if (x > st.m) {
        // m = -inf: s * exp(-inf) = s * 0 keeps a NaN s NaN, and 0 otherwise.
        st.s = st.s * expf(st.m - x) + 1.0f;
        st.m = x;
    } else if (x != neg_inf()) {  // -inf contributes exp(-inf) = 0 (whatever the max)
        st.s += expf(x - st.m);   // NaN x: s becomes NaN
    }
}

FASTNN_D void online_merge(Online& a, Online b) {
    if (b.m == neg_inf()) {  // b holds no finite element: b.s is 0 or NaN
        a.s += b.s;
        return;
    }
    if (a.m == neg_inf()) {
        a.s += b.s;
        a.m = b.m;
        return;
    }
    const float m = a.m > b.m ? a.m : b.m;  // both > -inf (+inf allowed: fixed up by the caller)
    a.s = a.s * expf(a.m - m) + b.s * expf(b.m - m);
    a.m = m;
}

// The shared scratch for the block reductions: per-warp partials.
struct RowShared {
    float a[kRowWarps];
    float b[kRowWarps];
};

// Block-wide online merge; every thread returns the same (m, s). The row max
// being +-inf makes s NaN, as the two-pass exp(x - max) sum would.
FASTNN_D Online block_online(Online st, RowShared& sh) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        Online other{__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o)};
        online_merge(st, other);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // the previous reduction's readers are done with sh
    if (lane == 0) {
        sh.a[warp] = st.m;
        sh.b[warp] = st.s;
    }
    __syncthreads();
    Online r{sh.a[0], sh.b[0]};
#pragma unroll
    for (int w = 1; w < kRowWarps; ++w) online_merge(r, Online{sh.a[w], sh.b[w]});
    if (!(r.m > neg_inf() && r.m < -neg_inf())) r.s = qnan();
    return r;
}

// Block-wide sums of two values (b ignored when TWO is false).
template <bool TWO>
FASTNN_D float2 block_sum2(float a, float b, RowShared& sh) {
    a = group_sum<32>(a);
    if (TWO) b = group_sum<32>(b);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) {
        sh.a[warp] = a;
        if (TWO) sh.b[warp] = b;
    }
    __syncthreads();
    float2 r = make_float2(sh.a[0], TWO ? sh.b[0] : 0.0f);
#pragma unroll
    for (int w = 1; w < kRowWarps; ++w) {
        r.x += sh.a[w];
        if (TWO) r.y += sh.b[w];
    }
    return r;
}

// ---------------------------------------------------------------------------
// Sub-warp kernels: W lanes per row, N elements per lane.

// Row handled by this lane in the current iteration, and its column base.
template <int W>
struct Lanes {
    static constexpr int kRowsPerWarp = 32 / W;
    static constexpr int kRowsPerBlock = (kThreads / 32) * kRowsPerWarp;
    int64_t base;  // first row of this warp in the current iteration (warp-uniform)
    int sub, col;  // row within the warp, first column of this lane
    FASTNN_D Lanes() {
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        sub = lane / W;
        col = lane % W;
        base = (static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + warp) * kRowsPerWarp;
    }
    static FASTNN_D int64_t stride() {
        return static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
    }
};

template <int N, int W, bool LOG>
__global__ void __launch_bounds__(kThreads)
warp_forward_kernel(const float* x, float* y, int64_t rows, int64_t classes) {
    Lanes<W> ln;
    for (int64_t base = ln.base; base < rows; base += Lanes<W>::stride()) {  // warp-uniform
        const int64_t row = base + ln.sub;
        const bool ok = row < rows;
        const int64_t off = row * classes;
        float v[N];
#pragma unroll
        for (int k = 0; k < N; ++k) {
            const int64_t j = ln.col + static_cast<int64_t>(k) * W;
            v[k] = (ok && j < classes) ? x[off + j] : neg_inf();
        }
        float m = neg_inf();
#pragma unroll
        for (int k = 0; k < N; ++k) m = max_f(m, v[k]);
        m = group_max<W>(m);
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < N; ++k) {
            const int64_t j = ln.col + static_cast<int64_t>(k) * W;
            if (j < classes) {
                const float e = expf(v[k] - m);
                if (!LOG) v[k] = e;
                s += e;
            }
        }
        s = group_sum<W>(s);
        if (!ok) continue;
        if (LOG) {
            const float shift = m + logf(s);
#pragma unroll
            for (int k = 0; k < N; ++k) {
                const int64_t j = ln.col + static_cast<int64_t>(k) * W;
                if (j < classes) y[off + j] = v[k] - shift;
            }
        } else {
            const float inv = 1.0f / s;
#pragma unroll
            for (int k = 0; k < N; ++k) {
                const int64_t j = ln.col + static_cast<int64_t>(k) * W;
                if (j < classes) y[off + j] = v[k] * inv;
            }
        }
    }
}

template <int N, int W, bool LOG>
__global__ void __launch_bounds__(kThreads)
warp_backward_kernel(const float* y, const float* dy, float* dx, int64_t rows, int64_t classes) {
    Lanes<W> ln;
    for (int64_t base = ln.base; base < rows; base += Lanes<W>::stride()) {
        const int64_t row = base + ln.sub;
        const bool ok = row < rows;
        const int64_t off = row * classes;
        float yv[N], gv[N];
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < N; ++k) {
            const int64_t j = ln.col + static_cast<int64_t>(k) * W;
            const bool in = ok && j < classes;
            yv[k] = in ? y[off + j] : 0.0f;
            gv[k] = in ? dy[off + j] : 0.0f;
            if (in) s += LOG ? gv[k] : gv[k] * yv[k];
        }
        s = group_sum<W>(s);
        if (!ok) continue;
#pragma unroll
        for (int k = 0; k < N; ++k) {
            const int64_t j = ln.col + static_cast<int64_t>(k) * W;
            if (j < classes)
                dx[off + j] = LOG ? gv[k] - expf(yv[k]) * s : yv[k] * (gv[k] - s);
        }
    }
}

// Arguments of the cross-entropy kernels (CrossEntropyArgs by value, resolved).
struct CeParams {
    int64_t rows, classes;
    const float* logits;
    const int32_t* labels32;
    const int64_t* labels64;
    const float* targets;  // null: sparse
    float ls, uniform;     // label smoothing, ls / classes
    float* loss;
    float* grad;
    float scale;
};

// Sparse label of `row` and whether it is inside [0, classes).
FASTNN_D int64_t label_of(const CeParams& p, int64_t row, bool& bad) {
    const int64_t l = p.labels32 ? static_cast<int64_t>(p.labels32[row]) : p.labels64[row];
    bad = l < 0 || l >= p.classes;
    return l;
}

template <int N, int W, bool SPARSE>
__global__ void __launch_bounds__(kThreads)
warp_ce_kernel(CeParams p) {
    Lanes<W> ln;
    const int64_t classes = p.classes;
    for (int64_t base = ln.base; base < p.rows; base += Lanes<W>::stride()) {
        const int64_t row = base + ln.sub;
        const bool ok = row < p.rows;
        const int64_t off = row * classes;
        bool bad = false;
        const int64_t label = (SPARSE && ok) ? label_of(p, row, bad) : -1;
        float v[N], t[N];
#pragma unroll
        for (int k = 0; k < N; ++k) {
            const int64_t j = ln.col + static_cast<int64_t>(k) * W;
            const bool in = ok && j < classes;
            v[k] = in ? p.logits[off + j] : neg_inf();
            t[k] = (!SPARSE && in) ? p.targets[off + j] : 0.0f;
        }
        float m = neg_inf();
#pragma unroll
        for (int k = 0; k < N; ++k) m = max_f(m, v[k]);
        m = group_max<W>(m);
        // s = sum exp(x - m); tsum = sum t; gap_t = sum t (m - x) (dense) or
        // m - x_L (sparse); gap_u = sum (m - x) when smoothing.
        float s = 0.0f, tsum = 0.0f, gap_t = 0.0f, gap_u = 0.0f;
#pragma unroll
        for (int k = 0; k < N; ++k) {
            const int64_t j = ln.col + static_cast<int64_t>(k) * W;
            if (j < classes) {
                const float d = m - v[k];
                if (SPARSE) {
                    if (j == label) gap_t = d;
                } else {
                    tsum += t[k];
                    gap_t += t[k] * d;
                }
                gap_u += d;
                v[k] = expf(v[k] - m);  // v now holds exp(x - m)
                s += v[k];
            }
        }
        s = group_sum<W>(s);
        gap_t = group_sum<W>(gap_t);
        if (p.ls != 0.0f) gap_u = group_sum<W>(gap_u);  // p.ls is uniform over the grid
        if (!SPARSE) tsum = group_sum<W>(tsum);
        if (!ok) continue;
        const float total = SPARSE ? 1.0f : (1.0f - p.ls) * tsum + p.ls;
        float gap = (1.0f - p.ls) * gap_t;
        if (p.ls != 0.0f) gap += p.uniform * gap_u;
        if (p.loss && ln.col == 0) p.loss[row] = (SPARSE && bad) ? qnan() : gap + total * logf(s);
        if (!p.grad) continue;
        const float p_scale = p.scale * total / s;
        const float t_scale = p.scale * (1.0f - p.ls), u = p.scale * p.uniform;
#pragma unroll
        for (int k = 0; k < N; ++k) {
            const int64_t j = ln.col + static_cast<int64_t>(k) * W;
            if (j >= classes) continue;
            float g;
            if (SPARSE) {
                g = v[k] * p_scale - u;
                if (j == label) g -= t_scale;
                if (bad) g = qnan();
            } else {
                g = v[k] * p_scale - t_scale * t[k] - u;
            }
            p.grad[off + j] = g;
        }
    }
}

// ---------------------------------------------------------------------------
// Block-per-row kernels (classes > kWarpMaxClasses, any size).

template <bool LOG>
__global__ void __launch_bounds__(kRowThreads)
row_forward_kernel(const float* x, float* y, int64_t rows, int64_t classes) {
    __shared__ RowShared sh;
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* xr = x + row * classes;
        float* yr = y + row * classes;
        Online st{neg_inf(), 0.0f};
        for (int64_t j = threadIdx.x; j < classes; j += kRowThreads) online_add(st, xr[j]);
        const Online r = block_online(st, sh);
        if (LOG) {
            const float shift = r.m + logf(r.s);
            for (int64_t j = threadIdx.x; j < classes; j += kRowThreads) yr[j] = xr[j] - shift;
        } else {
            const float inv = 1.0f / r.s;
            for (int64_t j = threadIdx.x; j < classes; j += kRowThreads)
                yr[j] = expf(xr[j] - r.m) * inv;
        }
    }
}

template <bool LOG>
__global__ void __launch_bounds__(kRowThreads)
row_backward_kernel(const float* y, const float* dy, float* dx, int64_t rows, int64_t classes) {
    __shared__ RowShared sh;
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const int64_t off = row * classes;
        float s = 0.0f;
        for (int64_t j = threadIdx.x; j < classes; j += kRowThreads)
            s += LOG ? dy[off + j] : dy[off + j] * y[off + j];
        s = block_sum2<false>(s, 0.0f, sh).x;
        for (int64_t j = threadIdx.x; j < classes; j += kRowThreads) {
            const float yv = y[off + j], gv = dy[off + j];
            dx[off + j] = LOG ? gv - expf(yv) * s : yv * (gv - s);
        }
    }
}

template <bool SPARSE>
__global__ void __launch_bounds__(kRowThreads)
row_ce_kernel(CeParams p) {
    __shared__ RowShared sh;
    const int64_t classes = p.classes;
    for (int64_t row = blockIdx.x; row < p.rows; row += gridDim.x) {
        const int64_t off = row * classes;
        const float* xr = p.logits + off;
        const float* tr = SPARSE ? nullptr : p.targets + off;
        int64_t label = -1;
        if (SPARSE) {
            bool bad = false;
            label = label_of(p, row, bad);
            if (bad) {  // block-uniform; the next row's reductions start with a barrier
                if (p.loss && threadIdx.x == 0) p.loss[row] = qnan();
                if (p.grad)
                    for (int64_t j = threadIdx.x; j < classes; j += kRowThreads) p.grad[off + j] = qnan();
                continue;
            }
        }
        // x_L is read before the first barrier: with grad == logits, pass 2
        // overwrites it.
        const float x_label = SPARSE ? xr[label] : 0.0f;
        // Pass 1: online (m, s), and sum t for the dense total.
        Online st{neg_inf(), 0.0f};
        float tsum = 0.0f;
        for (int64_t j = threadIdx.x; j < classes; j += kRowThreads) {
            online_add(st, xr[j]);
            if (!SPARSE) tsum += tr[j];
        }
        const Online r = block_online(st, sh);
        if (!SPARSE) tsum = block_sum2<false>(tsum, 0.0f, sh).x;
        const float m = r.m, s = r.s;
        const float total = SPARSE ? 1.0f : (1.0f - p.ls) * tsum + p.ls;
        const float p_scale = p.scale * total / s;
        const float t_scale = p.scale * (1.0f - p.ls), u = p.scale * p.uniform;
        // Pass 2: the gaps (they need m) and the gradient.
        float gap_t = 0.0f, gap_u = 0.0f;
        if (!SPARSE || p.grad || p.ls != 0.0f) {  // grid-uniform
            for (int64_t j = threadIdx.x; j < classes; j += kRowThreads) {
                const float xv = xr[j];
                const float tv = SPARSE ? 0.0f : tr[j];
                const float d = m - xv;
                if (!SPARSE) gap_t += tv * d;
                gap_u += d;
                if (p.grad) {
                    float g = expf(xv - m) * p_scale - (SPARSE ? 0.0f : t_scale * tv) - u;
                    if (SPARSE && j == label) g -= t_scale;
                    p.grad[off + j] = g;
                }
            }
            if (!SPARSE || p.ls != 0.0f) {
                const float2 g2 = block_sum2<true>(gap_t, gap_u, sh);
                gap_t = g2.x;
                gap_u = g2.y;
            }
        }
        if (SPARSE) gap_t = m - x_label;
        if (p.loss && threadIdx.x == 0) {
            float gap = (1.0f - p.ls) * gap_t;
            if (p.ls != 0.0f) gap += p.uniform * gap_u;
            p.loss[row] = gap + total * logf(s);
        }
    }
}

#undef FASTNN_D

// ---------------------------------------------------------------------------
// Host side.


unsigned capped_grid(int64_t want, int per_sm) {
    const int64_t cap = static_cast<int64_t>(sm_count("softmax")) * per_sm;
    const int64_t blocks = want < cap ? want : cap;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// Grid of the sub-warp kernels with W lanes per row.
template <int W>
unsigned warp_grid(int64_t rows) {
    constexpr int64_t per_block = Lanes<W>::kRowsPerBlock;
    return capped_grid((rows + per_block - 1) / per_block, kWarpBlocksPerSm);
}

unsigned row_grid(int64_t rows) { return capped_grid(rows, kRowBlocksPerSm); }

template <int N, int W>
struct WarpCfg {
    static constexpr int n = N, w = W;
};

// Calls fn(WarpCfg<N, W>{}) for 1 <= classes <= kWarpMaxClasses.
template <typename Fn>
void visit_warp_cfg(int64_t classes, Fn&& fn) {
    if (classes <= 1) return fn(WarpCfg<1, 1>{});
    if (classes <= 2) return fn(WarpCfg<1, 2>{});
    if (classes <= 4) return fn(WarpCfg<1, 4>{});
    if (classes <= 8) return fn(WarpCfg<1, 8>{});
    if (classes <= 16) return fn(WarpCfg<1, 16>{});
    if (classes <= 32) return fn(WarpCfg<1, 32>{});
    if (classes <= 64) return fn(WarpCfg<2, 32>{});
    if (classes <= 128) return fn(WarpCfg<4, 32>{});
    if (classes <= 256) return fn(WarpCfg<8, 32>{});
    if (classes <= 512) return fn(WarpCfg<16, 32>{});
    return fn(WarpCfg<32, 32>{});
}

void check_shape(const char* op, int64_t rows, int64_t classes) {
    if (rows < 0) throw ValueError(message(op, ": rows must be >= 0, got ", rows));
    if (classes < 0) throw ValueError(message(op, ": classes must be >= 0, got ", classes));
}

}  // namespace

void softmax_forward(bool log, const float* x, float* y, std::int64_t rows, std::int64_t classes,
                     std::uintptr_t stream) {
    check_shape("softmax_forward", rows, classes);
    if (rows == 0 || classes == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (classes <= kWarpMaxClasses) {
        visit_warp_cfg(classes, [&](auto cfg) {
            using C = decltype(cfg);
            if (log)
                warp_forward_kernel<C::n, C::w, true><<<warp_grid<C::w>(rows), kThreads, 0, s>>>(x, y, rows, classes);
            else
                warp_forward_kernel<C::n, C::w, false><<<warp_grid<C::w>(rows), kThreads, 0, s>>>(x, y, rows, classes);
        });
    } else if (log) {
        row_forward_kernel<true><<<row_grid(rows), kRowThreads, 0, s>>>(x, y, rows, classes);
    } else {
        row_forward_kernel<false><<<row_grid(rows), kRowThreads, 0, s>>>(x, y, rows, classes);
    }
    check_cuda(cudaGetLastError());
}

void softmax_backward(bool log, const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t classes,
                      std::uintptr_t stream) {
    check_shape("softmax_backward", rows, classes);
    if (rows == 0 || classes == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (classes <= kWarpMaxClasses) {
        visit_warp_cfg(classes, [&](auto cfg) {
            using C = decltype(cfg);
            if (log)
                warp_backward_kernel<C::n, C::w, true>
                    <<<warp_grid<C::w>(rows), kThreads, 0, s>>>(y, dy, dx, rows, classes);
            else
                warp_backward_kernel<C::n, C::w, false>
                    <<<warp_grid<C::w>(rows), kThreads, 0, s>>>(y, dy, dx, rows, classes);
        });
    } else if (log) {
        row_backward_kernel<true><<<row_grid(rows), kRowThreads, 0, s>>>(y, dy, dx, rows, classes);
    } else {
        row_backward_kernel<false><<<row_grid(rows), kRowThreads, 0, s>>>(y, dy, dx, rows, classes);
    }
    check_cuda(cudaGetLastError());
}

void cross_entropy(const CrossEntropyArgs& args, std::uintptr_t stream) {
    constexpr const char* kOp = "cross_entropy";
    check_shape(kOp, args.rows, args.classes);
    const int given = (args.labels32 ? 1 : 0) + (args.labels64 ? 1 : 0) + (args.targets ? 1 : 0);
    if (given != 1)
        throw ValueError(message(kOp, ": exactly one of labels (int32 or int64) and targets must be given, got ",
                                 given));
    if (args.rows == 0 || args.classes == 0) return;
    if (!args.loss && !args.grad) return;  // nothing to write

    CeParams p;
    p.rows = args.rows;
    p.classes = args.classes;
    p.logits = args.logits;
    p.labels32 = args.labels32;
    p.labels64 = args.labels64;
    p.targets = args.targets;
    p.ls = args.label_smoothing;
    p.uniform = args.label_smoothing / static_cast<float>(args.classes);
    p.loss = args.loss;
    p.grad = args.grad;
    p.scale = args.grad_scale;
    const bool sparse = args.targets == nullptr;

    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (args.classes <= kWarpMaxClasses) {
        visit_warp_cfg(args.classes, [&](auto cfg) {
            using C = decltype(cfg);
            if (sparse)
                warp_ce_kernel<C::n, C::w, true><<<warp_grid<C::w>(p.rows), kThreads, 0, s>>>(p);
            else
                warp_ce_kernel<C::n, C::w, false><<<warp_grid<C::w>(p.rows), kThreads, 0, s>>>(p);
        });
    } else if (sparse) {
        row_ce_kernel<true><<<row_grid(p.rows), kRowThreads, 0, s>>>(p);
    } else {
        row_ce_kernel<false><<<row_grid(p.rows), kRowThreads, 0, s>>>(p);
    }
    check_cuda(cudaGetLastError());
}

}  // namespace fastnn::cuda
