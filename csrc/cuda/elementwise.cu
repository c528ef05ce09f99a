// Broadcasting binary ops, their fused backward and the sum reduction on the
// GPU (see fastnn/elementwise.h). The layouts are built and collapsed on the
// host (fastnn/broadcast.h) and passed to the kernels by value.
//
// Forward (and a backward that sums nothing): grid-stride loops.
//   * one collapsed axis whose operands are contiguous or a single broadcast
//     value (same-shape arrays, x * s, x + scalar): float4 loads and stores
//     when the pointers are 16-byte aligned, a scalar tail;
//   * anything else (bias rows, columns, N-d broadcasting, strided views):
//     each thread unravels its flat output index over the collapsed axes
//     (32-bit index arithmetic when the size allows).
// Reductions (reduce_sum, and the backward when the operand was broadcast):
// deterministic and atomic-free, the split fixed by the shapes alone:
//   * "columns" (the innermost axis is kept, e.g. a bias gradient, or few
//     terms per output): one thread per output, consecutive threads on
//     consecutive outputs (coalesced), looping over its terms; when there are
//     few outputs the terms are cut into chunks along blockIdx.y, each chunk
//     writing a partial sum, and a second kernel adds the partials in chunk
//     order;
//   * "rows" (the innermost axis is summed, e.g. row sums, full sums): a warp
//     per output up to kWarpTerms terms, else a block per (output, chunk of
//     kChunkTerms terms); lanes stride through the terms (coalesced), a fixed
//     shuffle tree adds the lanes, partials as above.
// Terms (float32: x, or g * d(a OP b)/d(side) rounded once, as on the CPU)
// are accumulated in double and the sum rounded to float once. Partial sums
// live in a scratch buffer from cudaMallocAsync on the stream (cudaMalloc
// where the device has no memory pools).
//
// Numerics: float32, IEEE division, no fast-math intrinsics; maximum/minimum
// propagate NaN; backward formulas are those of the CPU loops
// (cpu/elementwise_impl.h). Aliasing: out may be an input of the same layout
// (element-wise cases only; the bindings enforce it): each element is read
// and written by one thread.

#include <cuda_runtime.h>

#include <cstdint>

#include "fastnn/broadcast.h"
#include "fastnn/cuda_runtime.h"
#include "scratch.cuh"
#include "fastnn/elementwise.h"
#include "fastnn/errors.h"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocksPerSm = 32;
constexpr std::int64_t kWarpTerms = 8192;       // "rows": a warp per output up to this many terms
constexpr std::int64_t kChunkTerms = 1 << 14;   // "rows": terms per block beyond that
constexpr std::int64_t kTargetThreads = 1 << 17;  // "columns": cut terms into chunks below this many outputs
constexpr std::int64_t kMinChunkTerms = 32;
constexpr std::int64_t kMaxChunks = 65535;      // gridDim.y

#define FASTNN_D __device__ __forceinline__

// ---- ops -----------------------------------------------------------------------
struct Add {
    static FASTNN_D float f(float a, float b) { return a + b; }
};
struct Sub {
    static FASTNN_D float f(float a, float b) { return a - b; }
};
struct Mul {
    static FASTNN_D float f(float a, float b) { return a * b; }
};
struct Div {
    static FASTNN_D float f(float a, float b) { return a / b; }
};
struct Max {
    static FASTNN_D float f(float a, float b) { return (a > b || a != a) ? a : b; }
};
struct Min {
    static FASTNN_D float f(float a, float b) { return (a < b || a != a) ? a : b; }
};

// Terms g * d(a OP b)/d(side) (the CPU's formulas).
struct Grad {
    static FASTNN_D float f(float g, float, float) { return g; }
};
struct MulA {
    static FASTNN_D float f(float g, float, float b) { return g * b; }
};
struct MulB {
    static FASTNN_D float f(float g, float a, float) { return g * a; }
};
struct DivA {
    static FASTNN_D float f(float g, float, float b) { return g / b; }
};
struct DivB {
    static FASTNN_D float f(float g, float a, float b) { return -(g / b) * (a / b); }
};
struct MaxA {
    static FASTNN_D float f(float g, float a, float b) { return a == b ? 0.5f * g : (a < b ? 0.0f : g); }
};
struct MaxB {
    static FASTNN_D float f(float g, float a, float b) { return a == b ? 0.5f * g : (a > b ? 0.0f : g); }
};
struct MinA {
    static FASTNN_D float f(float g, float a, float b) { return a == b ? 0.5f * g : (a > b ? 0.0f : g); }
};
struct MinB {
    static FASTNN_D float f(float g, float a, float b) { return a == b ? 0.5f * g : (a < b ? 0.0f : g); }
};

// Offsets of the flat index `i` (C order over the layout's axes) for the
// first `nops` operands.
template <typename Index, int NOPS>
FASTNN_D void unravel(const Layout& l, Index i, std::int64_t* off) {
#pragma unroll
    for (int k = 0; k < NOPS; ++k) off[k] = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d) {
        if (d < l.ndim) {
            const Index len = static_cast<Index>(l.shape[d]);
            const Index q = i / len;
            const Index c = i - q * len;
#pragma unroll
            for (int k = 0; k < NOPS; ++k) off[k] += static_cast<std::int64_t>(c) * l.stride[k][d];
            i = q;
        }
    }
}

// ---- forward -----------------------------------------------------------------------

// One axis; a and b contiguous (S = 1) or one broadcast value (S = 0).
// VEC: every contiguous pointer is 16-byte aligned.
template <class Op, int SA, int SB, bool VEC>
__global__ void __launch_bounds__(kThreads) binary_1d(const float* a, const float* b, float* out, std::int64_t n) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
    const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const float av = SA ? 0.0f : a[0];
    const float bv = SB ? 0.0f : b[0];
    std::int64_t start = 0;
    if (VEC) {
        const std::int64_t n4 = n / 4;
        const float4* a4 = reinterpret_cast<const float4*>(a);
        const float4* b4 = reinterpret_cast<const float4*>(b);
        float4* o4 = reinterpret_cast<float4*>(out);
        for (std::int64_t i = tid; i < n4; i += stride) {
            const float4 x = SA ? a4[i] : make_float4(av, av, av, av);
            const float4 y = SB ? b4[i] : make_float4(bv, bv, bv, bv);
            o4[i] = make_float4(Op::f(x.x, y.x), Op::f(x.y, y.y), Op::f(x.z, y.z), Op::f(x.w, y.w));
        }
        start = n4 * 4;
    }
    for (std::int64_t i = start + tid; i < n; i += stride) out[i] = Op::f(SA ? a[i] : av, SB ? b[i] : bv);
}

// Any layout; out is C-contiguous (operand 0, offset = the flat index).
template <class Op, typename Index>
__global__ void __launch_bounds__(kThreads) binary_nd(const Layout l, const float* a, const float* b, float* out,
                                                      Index n) {
    const Index stride = static_cast<Index>(gridDim.x) * kThreads;
    for (Index i = static_cast<Index>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
        std::int64_t off[3];
        unravel<Index, 3>(l, i, off);
        out[i] = Op::f(a[off[1]], b[off[2]]);
    }
}

// ---- terms -------------------------------------------------------------------------

// The values summed: x (T = Grad, a and b unused) or g * d(a OP b)/d(side).
template <class T>
struct Source {
    const float* x;
    const float* a;
    const float* b;
    FASTNN_D float at(const std::int64_t* off) const { return T::f(x[off[1]], a[off[2]], b[off[3]]); }
};

// No summed axis: out[off0] = sign * term, element-wise.
template <class T, typename Index>
__global__ void __launch_bounds__(kThreads) map_nd(const Layout l, const Source<T> src, float* out, Index n,
                                                   float sign) {
    const Index stride = static_cast<Index>(gridDim.x) * kThreads;
    for (Index i = static_cast<Index>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
        std::int64_t off[4];
        unravel<Index, 4>(l, i, off);
        out[off[0]] = sign * src.at(off);
    }
}

// A reduction as two index spaces: m over the kept axes (outputs), r over the
// summed axes (terms of one output), each C-ordered.
struct Reduction {
    Layout kept;     // axes the output walks (operand strides as in the full layout)
    Layout summed;   // axes summed over (the output's stride is 0 there)
    std::int64_t outputs = 1, terms = 1;
};

template <int NOPS>
FASTNN_D void offsets_of(const Layout& l, std::int64_t i, std::int64_t* off) {
    if (l.ndim == 1) {  // the common case after collapsing: no division
#pragma unroll
        for (int k = 0; k < NOPS; ++k) off[k] = i * l.stride[k][0];
        return;
    }
    unravel<std::int64_t, NOPS>(l, i, off);
}

// "Columns": thread per output; chunk blockIdx.y of `per_chunk` terms.
// partial == nullptr: one chunk, write the output.
template <class T>
__global__ void __launch_bounds__(kThreads) reduce_columns(const Reduction red, const Source<T> src, float* out,
                                                           double* partial, std::int64_t per_chunk, float sign) {
    const std::int64_t m = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (m >= red.outputs) return;
    std::int64_t base[4];
    offsets_of<4>(red.kept, m, base);
    const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * per_chunk;
    const std::int64_t r1 = r0 + per_chunk < red.terms ? r0 + per_chunk : red.terms;
    double acc = 0.0;
    for (std::int64_t r = r0; r < r1; ++r) {
        std::int64_t off[4];
        offsets_of<4>(red.summed, r, off);
#pragma unroll
        for (int k = 0; k < 4; ++k) off[k] += base[k];
        acc += static_cast<double>(src.at(off));
    }
    if (partial)
        partial[static_cast<std::int64_t>(blockIdx.y) * red.outputs + m] = acc;
    else
        out[base[0]] = sign * static_cast<float>(acc);
}

FASTNN_D double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;  // lane 0 holds the sum
}

// "Rows", few terms: a warp per output (8 per block).
template <class T>
__global__ void __launch_bounds__(kThreads) reduce_rows_warp(const Reduction red, const Source<T> src, float* out,
                                                             float sign) {
    const int lane = threadIdx.x & 31;
    const std::int64_t m = static_cast<std::int64_t>(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5);
    if (m >= red.outputs) return;  // whole warps leave together
    std::int64_t base[4];
    offsets_of<4>(red.kept, m, base);
    double acc = 0.0;
    for (std::int64_t r = lane; r < red.terms; r += 32) {
        std::int64_t off[4];
        offsets_of<4>(red.summed, r, off);
#pragma unroll
        for (int k = 0; k < 4; ++k) off[k] += base[k];
        acc += static_cast<double>(src.at(off));
    }
    acc = warp_sum(acc);
    if (lane == 0) out[base[0]] = sign * static_cast<float>(acc);
}

// "Rows", many terms: block (output blockIdx.x, chunk blockIdx.y of kChunkTerms).
template <class T>
__global__ void __launch_bounds__(kThreads) reduce_rows_block(const Reduction red, const Source<T> src, float* out,
                                                              double* partial, float sign) {
    __shared__ double warps[kThreads / 32];
    const std::int64_t m = blockIdx.x;
    std::int64_t base[4];
    offsets_of<4>(red.kept, m, base);
    const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * kChunkTerms;
    const std::int64_t r1 = r0 + kChunkTerms < red.terms ? r0 + kChunkTerms : red.terms;
    double acc = 0.0;
    for (std::int64_t r = r0 + threadIdx.x; r < r1; r += kThreads) {
        std::int64_t off[4];
        offsets_of<4>(red.summed, r, off);
#pragma unroll
        for (int k = 0; k < 4; ++k) off[k] += base[k];
        acc += static_cast<double>(src.at(off));
    }
    acc = warp_sum(acc);
    if ((threadIdx.x & 31) == 0) warps[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        double s = 0.0;
        for (int w = 0; w < kThreads / 32; ++w) s += warps[w];
        if (partial)
            partial[m * gridDim.y + blockIdx.y] = s;
        else
            out[base[0]] = sign * static_cast<float>(s);
    }
}

// out(m) = sign * sum over chunks c of partial(m, c), c ascending.
// Element (m, c) sits at m * m_stride + c * c_stride.
__global__ void __launch_bounds__(kThreads) finish_partials(const Layout kept, const double* partial,
                                                            std::int64_t outputs, std::int64_t chunks,
                                                            std::int64_t m_stride, std::int64_t c_stride, float* out,
                                                            float sign) {
    const std::int64_t m = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (m >= outputs) return;
    double s = 0.0;
    for (std::int64_t c = 0; c < chunks; ++c) s += partial[m * m_stride + c * c_stride];
    std::int64_t base[1];
    offsets_of<1>(kept, m, base);
    out[base[0]] = sign * static_cast<float>(s);
}

#undef FASTNN_D

// ---- host side -------------------------------------------------------------------------

void check_launch(const char* op) { check(static_cast<int>(cudaGetLastError()), op); }

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

unsigned grid_for(std::int64_t work, const char* op) {
    const std::int64_t want = (work + kThreads - 1) / kThreads;
    const std::int64_t cap = static_cast<std::int64_t>(sm_count(op)) * kBlocksPerSm;
    const std::int64_t blocks = want < cap ? want : cap;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

template <class Op>
void launch_binary(const Layout& l, const float* a, const float* b, float* out, std::int64_t n, cudaStream_t s,
                   const char* op) {
    const std::int64_t sa = l.stride[1][0], sb = l.stride[2][0];
    const bool one_axis = l.ndim == 1 && (sa == 0 || sa == 1) && (sb == 0 || sb == 1);
    if (one_axis) {
        const bool vec = aligned16(out) && (sa == 0 || aligned16(a)) && (sb == 0 || aligned16(b));
        const unsigned grid = grid_for(vec ? (n / 4 > n % 4 ? n / 4 : n % 4) : n, op);
        const int mode = 2 * int(sa) + int(sb);
#define FASTNN_LAUNCH(SA, SB)                                                                   \
    if (vec)                                                                                    \
        binary_1d<Op, SA, SB, true><<<grid, kThreads, 0, s>>>(a, b, out, n);                   \
    else                                                                                        \
        binary_1d<Op, SA, SB, false><<<grid, kThreads, 0, s>>>(a, b, out, n);
        switch (mode) {
            case 0: FASTNN_LAUNCH(0, 0) break;
            case 1: FASTNN_LAUNCH(0, 1) break;
            case 2: FASTNN_LAUNCH(1, 0) break;
            default: FASTNN_LAUNCH(1, 1) break;
        }
#undef FASTNN_LAUNCH
    } else if (n <= 0x7fffffff) {
        binary_nd<Op, std::uint32_t><<<grid_for(n, op), kThreads, 0, s>>>(l, a, b, out, static_cast<std::uint32_t>(n));
    } else {
        binary_nd<Op, std::int64_t><<<grid_for(n, op), kThreads, 0, s>>>(l, a, b, out, n);
    }
    check_launch(op);
}

// A layout holding the listed axes of `l` (in order).
Layout sub_layout(const Layout& l, const int* axes, int count) {
    Layout s;
    s.nops = l.nops;
    s.ndim = count > 0 ? count : 1;
    s.shape[0] = 1;
    for (int j = 0; j < count; ++j) {
        s.shape[j] = l.shape[axes[j]];
        for (int k = 0; k < l.nops; ++k) s.stride[k][j] = l.stride[k][axes[j]];
    }
    return s;
}

// out = sign * (terms summed where out's stride is 0) over the layout `l`
// (operands: out, x or grad, a, b).
template <class T>
void reduce(Layout& l, const Source<T>& src, float* out, float sign, cudaStream_t s, const char* op) {
    collapse(l, 1);
    const std::int64_t n = l.numel();
    if (n == 0) return;
    const ReduceSplit sp = split_reduction(l);
    if (sp.n_reduced == 0 && sp.inner_kept) {
        if (n <= 0x7fffffff)
            map_nd<T, std::uint32_t><<<grid_for(n, op), kThreads, 0, s>>>(l, src, out, static_cast<std::uint32_t>(n),
                                                                          sign);
        else
            map_nd<T, std::int64_t><<<grid_for(n, op), kThreads, 0, s>>>(l, src, out, n, sign);
        check_launch(op);
        return;
    }
    int kept_axes[kMaxDims], summed_axes[kMaxDims];
    int nk = 0, ns = 0;
    for (int j = 0; j < sp.n_kept; ++j) kept_axes[nk++] = sp.kept[j];
    for (int j = 0; j < sp.n_reduced; ++j) summed_axes[ns++] = sp.reduced[j];
    (sp.inner_kept ? kept_axes[nk++] : summed_axes[ns++]) = l.ndim - 1;
    Reduction red;
    red.kept = sub_layout(l, kept_axes, nk);
    red.summed = sub_layout(l, summed_axes, ns);
    red.outputs = red.kept.numel();
    red.terms = red.summed.numel();
    const std::int64_t M = red.outputs, R = red.terms;

    if (sp.inner_kept || R <= kMinChunkTerms * 2) {
        // "columns": a thread per output, the terms cut into chunks when outputs are few.
        std::int64_t chunks = 1;
        if (M < kTargetThreads) {
            chunks = ceil_div(kTargetThreads, M);
            const std::int64_t most = R / kMinChunkTerms > 1 ? R / kMinChunkTerms : 1;
            chunks = chunks < most ? chunks : most;
            chunks = chunks < kMaxChunks ? chunks : kMaxChunks;
        }
        const std::int64_t per_chunk = ceil_div(R, chunks);
        chunks = ceil_div(R, per_chunk);
        const dim3 grid(static_cast<unsigned>(ceil_div(M, kThreads)), static_cast<unsigned>(chunks));
        if (chunks == 1) {
            reduce_columns<T><<<grid, kThreads, 0, s>>>(red, src, out, nullptr, per_chunk, sign);
            check_launch(op);
            return;
        }
        Scratch scratch(static_cast<std::size_t>(M * chunks), s, op);
        reduce_columns<T><<<grid, kThreads, 0, s>>>(red, src, out, scratch.get(), per_chunk, sign);
        check_launch(op);
        finish_partials<<<static_cast<unsigned>(ceil_div(M, kThreads)), kThreads, 0, s>>>(
            red.kept, scratch.get(), M, chunks, 1, M, out, sign);
        check_launch(op);
        return;
    }
    if (R <= kWarpTerms) {
        reduce_rows_warp<T><<<static_cast<unsigned>(ceil_div(M, kThreads / 32)), kThreads, 0, s>>>(red, src, out,
                                                                                                   sign);
        check_launch(op);
        return;
    }
    std::int64_t chunks = ceil_div(R, kChunkTerms);
    if (chunks > kMaxChunks)
        throw ValueError(message(op, ": ", R, " terms per output is more than this kernel sums (",
                                 kMaxChunks * kChunkTerms, ")"));
    if (M > 0x7fffffff) throw ValueError(message(op, ": too many outputs (", M, ") for one launch"));
    const dim3 grid(static_cast<unsigned>(M), static_cast<unsigned>(chunks));
    if (chunks == 1) {
        reduce_rows_block<T><<<grid, kThreads, 0, s>>>(red, src, out, nullptr, sign);
        check_launch(op);
        return;
    }
    Scratch scratch(static_cast<std::size_t>(M * chunks), s, op);
    reduce_rows_block<T><<<grid, kThreads, 0, s>>>(red, src, out, scratch.get(), sign);
    check_launch(op);
    finish_partials<<<static_cast<unsigned>(ceil_div(M, kThreads)), kThreads, 0, s>>>(red.kept, scratch.get(), M,
                                                                                      chunks, chunks, 1, out, sign);
    check_launch(op);
}

void zero(const View& out, cudaStream_t s, const char* op) {
    const std::int64_t n = out.numel();
    if (n > 0) check(static_cast<int>(cudaMemsetAsync(out.data, 0, static_cast<std::size_t>(n) * sizeof(float), s)), op);
}

template <class DA, class DB>
void backward_terms(int side, Layout& l, const View& g, const View& a, const View& b, float* out, cudaStream_t s,
                    const char* op) {
    if (side == 0)
        reduce(l, Source<DA>{g.ptr<const float>(), a.ptr<const float>(), b.ptr<const float>()}, out, 1.0f, s, op);
    else
        reduce(l, Source<DB>{g.ptr<const float>(), a.ptr<const float>(), b.ptr<const float>()}, out, 1.0f, s, op);
}

}  // namespace

void binary(BinaryOp op, const View& a, const View& b, const View& out, std::uintptr_t stream) {
    const char* name = binary_op_name(int(op));
    const View* views[3] = {&out, &a, &b};
    Layout l = make_layout(out.ndim, out.shape, views, 3);
    collapse(l);
    const std::int64_t n = l.numel();
    if (n == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    const float* pa = a.ptr<const float>();
    const float* pb = b.ptr<const float>();
    float* po = out.ptr<float>();
    switch (op) {
        case BinaryOp::add: return launch_binary<Add>(l, pa, pb, po, n, s, name);
        case BinaryOp::subtract: return launch_binary<Sub>(l, pa, pb, po, n, s, name);
        case BinaryOp::multiply: return launch_binary<Mul>(l, pa, pb, po, n, s, name);
        case BinaryOp::divide: return launch_binary<Div>(l, pa, pb, po, n, s, name);
        case BinaryOp::maximum: return launch_binary<Max>(l, pa, pb, po, n, s, name);
        case BinaryOp::minimum: return launch_binary<Min>(l, pa, pb, po, n, s, name);
    }
    throw ValueError(message("binary: unknown op code ", int(op)));
}

void reduce_sum(const View& x, const View& out, std::uintptr_t stream) {
    const char* op = "reduce_sum";
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (x.numel() == 0) return zero(out, s, op);
    const View* views[2] = {&out, &x};
    Layout l = make_layout(x.ndim, x.shape, views, 2);
    const float* px = x.ptr<const float>();
    reduce(l, Source<Grad>{px, px, px}, out.ptr<float>(), 1.0f, s, op);
}

void binary_backward(BinaryOp op, int side, const View& grad, const View& a, const View& b, const View& out,
                     std::uintptr_t stream) {
    const char* name = "binary_backward";
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (grad.numel() == 0) return zero(out, s, name);
    const float* pg = grad.ptr<const float>();
    float* po = out.ptr<float>();
    if (op == BinaryOp::add || op == BinaryOp::subtract) {
        // Terms +-grad: sum grad, negate the sums (exact) for subtract's b.
        const View* views[2] = {&out, &grad};
        Layout l = make_layout(grad.ndim, grad.shape, views, 2);
        const float sign = op == BinaryOp::subtract && side == 1 ? -1.0f : 1.0f;
        return reduce(l, Source<Grad>{pg, pg, pg}, po, sign, s, name);
    }
    const View* views[4] = {&out, &grad, &a, &b};
    Layout l = make_layout(grad.ndim, grad.shape, views, 4);
    switch (op) {
        case BinaryOp::multiply: return backward_terms<MulA, MulB>(side, l, grad, a, b, po, s, name);
        case BinaryOp::divide: return backward_terms<DivA, DivB>(side, l, grad, a, b, po, s, name);
        case BinaryOp::maximum: return backward_terms<MaxA, MaxB>(side, l, grad, a, b, po, s, name);
        case BinaryOp::minimum: return backward_terms<MinA, MinB>(side, l, grad, a, b, po, s, name);
        default: break;
    }
    throw ValueError(message("binary_backward: unknown op code ", int(op)));
}

}  // namespace fastnn::cuda
