// 2-D convolution on the GPU (fastnn/conv.h): implicit GEMM, no im2col buffer.
//
// Each pass is a GEMM C (M x N) = A (M x K) @ B (K x N) whose operands are read straight out
// of the NHWC tensors through a "problem" struct that maps (row, inner) to an address or to a
// zero (a tap in the padding, or -- backward-data -- a tap no output pixel touches):
//
//   forward          M = N*OH*OW pixels,  N = O,  K = KH*KW*C   A = im2col(x),  B = w
//   backward-data    M = N*H*W pixels,    N = C,  K = KH*KW*O   A = gathered dy, B = w^T
//   backward-filter  M = KH*KW*C taps,    N = O,  K = N*OH*OW   A = im2col(x)^T, B = dy
//
// One templated kernel runs them all: 64 x 64 block tiles, BK = 16, 256 threads each owning a
// 4 x 4 micro-tile (rows ty + 16 i, columns tx + 16 j: conflict-free shared reads). Per k-tile
// every thread fetches 4 elements of A and 4 of B into shared memory; the thread -> element
// map follows the operand's contiguous axis (kAlongK / kBAlongN) so that neighbouring threads
// read neighbouring addresses. Out-of-range elements read as 0, so edges need no special case.
// The backward-filter's K (every output pixel) is long and its M x N small: it is split over
// gridDim.z, each split writing a partial product to stream-ordered scratch, and a second
// kernel adds the partials in split order (deterministic, no atomics). The forward applies
// bias and relu as it stores. Index arithmetic is 32-bit when every extent fits (the
// divisions that decode a pixel are several times cheaper), 64-bit otherwise.
//
// Numerics: float32 FMA accumulation in k order within a split (nvcc defaults, no fast-math).

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>

#include "fastnn/conv.h"
#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"
#include "scratch.cuh"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int BM = 64, BN = 64, BK = 16;
constexpr int kLoads = BM * BK / kThreads;  // elements of each operand per thread per k-tile
static_assert(BM * BK == BN * BK && kLoads * kThreads == BM * BK, "tile shapes");

// Geometry copied into kernel arguments in the index type I.
template <typename I>
struct Dims {
    I n, h, w, c, kh, kw, o, oh, ow, sh, sw, dh, dw, pt, pl;
};

template <typename I>
Dims<I> dims_of(const ConvGeometry& g) {
    return {I(g.n), I(g.h), I(g.w), I(g.c), I(g.kh), I(g.kw), I(g.o), I(g.oh), I(g.ow),
            I(g.sh), I(g.sw), I(g.dh), I(g.dw), I(g.pt), I(g.pl)};
}

// im2col(x)[pixel, tap]: pixel = (n, oh, ow), tap = (kh, kw, c).
template <typename I>
__device__ __forceinline__ float im2col_at(const float* __restrict__ x, const Dims<I>& d, I pixel, I tap) {
    const I ow = pixel % d.ow;
    const I t = pixel / d.ow;
    const I oh = t % d.oh;
    const I n = t / d.oh;
    const I c = tap % d.c;
    const I t2 = tap / d.c;
    const I kw = t2 % d.kw;
    const I kh = t2 / d.kw;
    const I ih = oh * d.sh - d.pt + kh * d.dh;
    const I iw = ow * d.sw - d.pl + kw * d.dw;
    if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) return 0.0f;
    return x[((n * d.h + ih) * d.w + iw) * d.c + c];
}

template <typename I>
struct ForwardProblem {
    static constexpr bool kAlongK = true;   // A's contiguous axis is k (channels)
    static constexpr bool kBAlongN = true;  // B = w (K x O) row-major
    const float* x;
    const float* w;
    const float* bias;
    float* y;
    Dims<I> d;
    I M, N, K;
    bool relu;

    __device__ __forceinline__ float a(I m, I k) const { return im2col_at(x, d, m, k); }
    __device__ __forceinline__ float b(I k, I n) const { return w[k * N + n]; }
    __device__ __forceinline__ void store(I m, I n, float v) const {
        if (bias) v += bias[n];
        if (relu) v = v < 0.0f ? 0.0f : v;  // NaN passes through
        y[m * N + n] = v;
    }
};

template <typename I>
struct BackwardDataProblem {
    static constexpr bool kAlongK = true;   // k = (kh, kw, o): o contiguous in dy
    static constexpr bool kBAlongN = true;
    const float* dy;
    const float* w;
    float* dx;
    Dims<I> d;
    I M, N, K;

    // dx pixel m = (n, ih, iw) receives tap (kh, kw) of output pixel (oh, ow) when
    // ih = oh*sh - pt + kh*dh and iw likewise: the gathered dy value, or 0 when no such pixel.
    __device__ __forceinline__ float a(I m, I k) const {
        const I iw = m % d.w;
        const I t = m / d.w;
        const I ih = t % d.h;
        const I n = t / d.h;
        const I o = k % d.o;
        const I t2 = k / d.o;
        const I kw = t2 % d.kw;
        const I kh = t2 / d.kw;
        const I th = ih + d.pt - kh * d.dh;
        const I tw = iw + d.pl - kw * d.dw;
        if (th < 0 || tw < 0 || th % d.sh != 0 || tw % d.sw != 0) return 0.0f;
        const I oh = th / d.sh, ow = tw / d.sw;
        if (oh >= d.oh || ow >= d.ow) return 0.0f;
        return dy[((n * d.oh + oh) * d.ow + ow) * d.o + o];
    }
    // B[k, c] = w[kh, kw, c, o] with k = (kh, kw, o).
    __device__ __forceinline__ float b(I k, I c) const {
        const I o = k % d.o;
        const I tap = k / d.o;
        return w[(tap * d.c + c) * d.o + o];
    }
    __device__ __forceinline__ void store(I m, I n, float v) const { dx[m * N + n] = v; }
};

template <typename I>
struct BackwardFilterProblem {
    static constexpr bool kAlongK = false;  // A[m = tap, k = pixel]: consecutive taps are consecutive channels
    static constexpr bool kBAlongN = true;  // B = dy (pixels x O)
    const float* x;
    const float* dy;
    float* dw;
    Dims<I> d;
    I M, N, K;

    __device__ __forceinline__ float a(I m, I k) const { return im2col_at(x, d, k, m); }
    __device__ __forceinline__ float b(I k, I n) const { return dy[k * N + n]; }
    __device__ __forceinline__ void store(I m, I n, float v) const { dw[m * N + n] = v; }
};

// C = A @ B for the problem P over k in [blockIdx.z * k_split, ...); writes through
// P::store, or into partial[blockIdx.z] (M x N) when partial is not null.
template <typename P, typename I>
__global__ void __launch_bounds__(kThreads) implicit_gemm(P p, I k_split, float* __restrict__ partial) {
    __shared__ float As[BK][BM + 1];
    __shared__ float Bs[BK][BN + 1];
    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    const I m0 = I(blockIdx.x) * BM, n0 = I(blockIdx.y) * BN;
    const I k_begin = I(blockIdx.z) * k_split;
    const I k_end = k_begin + k_split < p.K ? k_begin + k_split : p.K;

    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    for (I k0 = k_begin; k0 < k_end; k0 += BK) {
#pragma unroll
        for (int l = 0; l < kLoads; ++l) {
            const int idx = tid + l * kThreads;
            int mm, kk;
            if (P::kAlongK) {
                mm = idx / BK;
                kk = idx % BK;
            } else {
                kk = idx / BM;
                mm = idx % BM;
            }
            const I m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < p.M && k < k_end) ? p.a(m, k) : 0.0f;
            int nn, kb;
            if (P::kBAlongN) {
                kb = idx / BN;
                nn = idx % BN;
            } else {
                nn = idx / BK;
                kb = idx % BK;
            }
            const I n = n0 + nn, kn = k0 + kb;
            Bs[kb][nn] = (n < p.N && kn < k_end) ? p.b(kn, n) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const I m = m0 + ty + 16 * i;
        if (m >= p.M) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const I n = n0 + tx + 16 * j;
            if (n >= p.N) continue;
            if (partial)
                partial[(std::int64_t(blockIdx.z) * p.M + m) * p.N + n] = acc[i][j];
            else
                p.store(m, n, acc[i][j]);
        }
    }
}

// out[i] = sum over s < splits of partial[s * count + i], in split order.
__global__ void sum_partials(const float* __restrict__ partial, int splits, std::int64_t count, float* __restrict__ out) {
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        float s = 0.0f;
        for (int z = 0; z < splits; ++z) s += partial[z * count + i];
        out[i] = s;
    }
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

void check_launch(const char* op) { check(static_cast<int>(cudaGetLastError()), op); }

// 32-bit indices when every extent and every tensor fits comfortably.
bool fits_int32(const ConvGeometry& g) {
    const std::int64_t lim = std::numeric_limits<std::int32_t>::max() / 2;
    const std::int64_t sizes[] = {g.n * g.h * g.w * g.c, g.rows() * g.o, g.taps() * g.o, g.rows(), g.taps(),
                                  g.n * g.h * g.w, g.kh * g.kw * g.o,
                                  // decoded coordinates before the bounds test
                                  (g.oh * g.sh + g.kh * g.dh) + g.pt + g.h, (g.ow * g.sw + g.kw * g.dw) + g.pl + g.w};
    for (std::int64_t s : sizes)
        if (s > lim) return false;
    return true;
}

// Launches the implicit GEMM for p (M x N over K), split `splits` ways along K.
template <typename P, typename I>
void launch(const char* op, const P& p, int splits, cudaStream_t s, float* final_out) {
    const std::int64_t gx = ceil_div(p.M, BM), gy = ceil_div(p.N, BN);
    if (gx > std::numeric_limits<int>::max() || gy > 65535)
        throw ValueError(message(op, ": the problem is too large for one launch (", std::int64_t(p.M), " x ",
                                 std::int64_t(p.N), ")"));
    const std::int64_t k_split = splits > 1 ? ceil_div(ceil_div(p.K, splits), BK) * BK : std::int64_t(p.K);
    if (splits > 1) splits = int(ceil_div(p.K, k_split));  // no empty splits
    const dim3 grid(unsigned(gx), unsigned(gy), unsigned(splits > 1 ? splits : 1));
    if (splits <= 1) {
        implicit_gemm<P, I><<<grid, kThreads, 0, s>>>(p, I(k_split > 0 ? k_split : 1), nullptr);
        check_launch(op);
        return;
    }
    const std::int64_t count = std::int64_t(p.M) * p.N;
    Scratch scratch(std::size_t(ceil_div(count * splits, 2)), s, op);  // doubles -> 2 floats each
    float* partial = reinterpret_cast<float*>(scratch.get());
    implicit_gemm<P, I><<<grid, kThreads, 0, s>>>(p, I(k_split), partial);
    check_launch(op);
    const std::int64_t blocks = std::min<std::int64_t>(ceil_div(count, kThreads), 4096);
    sum_partials<<<unsigned(blocks), kThreads, 0, s>>>(partial, splits, count, final_out);
    check_launch(op);
}

template <typename I>
void forward_impl(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act, float* y,
                  cudaStream_t s) {
    ForwardProblem<I> p{x, w, bias, y, dims_of<I>(g), I(g.rows()), I(g.o), I(g.taps()), act == Activation::relu};
    launch<ForwardProblem<I>, I>("conv2d", p, 1, s, nullptr);
}

template <typename I>
void backward_data_impl(const ConvGeometry& g, const float* dy, const float* w, float* dx, cudaStream_t s) {
    BackwardDataProblem<I> p{dy, w, dx, dims_of<I>(g), I(g.n * g.h * g.w), I(g.c), I(g.kh * g.kw * g.o)};
    launch<BackwardDataProblem<I>, I>("conv2d_backward_data", p, 1, s, nullptr);
}

template <typename I>
void backward_filter_impl(const ConvGeometry& g, const float* x, const float* dy, float* dw, cudaStream_t s) {
    const char* op = "conv2d_backward_filter";
    BackwardFilterProblem<I> p{x, dy, dw, dims_of<I>(g), I(g.taps()), I(g.o), I(g.rows())};
    // Enough blocks to fill the GPU twice over, each split at least 16 k-tiles long.
    const std::int64_t tiles = ceil_div(g.taps(), BM) * ceil_div(g.o, BN);
    const std::int64_t want = ceil_div(2 * std::int64_t(sm_count(op)), tiles);
    const std::int64_t most = std::max<std::int64_t>(1, g.rows() / (16 * BK));
    const int splits = int(std::min<std::int64_t>({want, most, 256}));
    launch<BackwardFilterProblem<I>, I>(op, p, splits, s, dw);
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act, float* y,
                    std::uintptr_t stream) {
    if (g.rows() == 0 || g.o == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (fits_int32(g))
        forward_impl<std::int32_t>(g, x, w, bias, act, y, s);
    else
        forward_impl<std::int64_t>(g, x, w, bias, act, y, s);
}

void conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx, std::uintptr_t stream) {
    if (g.n * g.h * g.w == 0 || g.c == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (fits_int32(g))
        backward_data_impl<std::int32_t>(g, dy, w, dx, s);
    else
        backward_data_impl<std::int64_t>(g, dy, w, dx, s);
}

void conv2d_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw, std::uintptr_t stream) {
    if (g.taps() == 0 || g.o == 0) return;
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    if (fits_int32(g))
        backward_filter_impl<std::int32_t>(g, x, dy, dw, s);
    else
        backward_filter_impl<std::int64_t>(g, x, dy, dw, s);
}

namespace {

// out[i] = y[i] > 0 ? dy[i] : 0 (relu's gradient from its output; NaN in y masks to 0, as
// activation_backward(..., from_output=True) and the CPU kernel do).
__global__ void relu_mask(const float* __restrict__ y, const float* __restrict__ dy, std::int64_t count,
                          float* __restrict__ out) {
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
         i += std::int64_t(gridDim.x) * blockDim.x)
        out[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// partial[z * n + j] = the sum, in row order, of column j over rows [z * chunk, (z + 1) * chunk)
// of a (rows x n, row-major); threads run along the (contiguous) columns.
__global__ void column_partials(const float* __restrict__ a, std::int64_t rows, std::int64_t n, std::int64_t chunk,
                                float* __restrict__ partial) {
    const std::int64_t r0 = std::int64_t(blockIdx.y) * chunk;
    const std::int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
    for (std::int64_t j = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
         j += std::int64_t(gridDim.x) * blockDim.x) {
        float s = 0.0f;
        for (std::int64_t r = r0; r < r1; ++r) s += a[r * n + j];
        partial[std::int64_t(blockIdx.y) * n + j] = s;
    }
}

}  // namespace

void conv2d_backward(const ConvGeometry& g, const float* x, const float* w, const float* y, const float* dy, float* dx,
                     float* dw, float* db, std::uintptr_t stream) {
    const char* op = "conv2d_backward";
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    auto zero = [&](float* p, std::int64_t n) {  // (an empty array may have a null pointer)
        if (n > 0) check(static_cast<int>(cudaMemsetAsync(p, 0, sizeof(float) * std::size_t(n), s)), op);
    };
    const std::int64_t rows = g.rows(), count = rows * g.o;
    const float* grad = dy;
    std::unique_ptr<Scratch> masked;
    if (y != nullptr && count > 0) {
        masked = std::make_unique<Scratch>(std::size_t(ceil_div(count, 2)), s, op);  // doubles: 2 floats each
        float* m = reinterpret_cast<float*>(masked->get());
        relu_mask<<<unsigned(std::min<std::int64_t>(ceil_div(count, kThreads), 4096)), kThreads, 0, s>>>(y, dy, count, m);
        check_launch(op);
        grad = m;
    }
    if (dx != nullptr) {
        if (count == 0) {  // nothing flows back (the backward-data kernel would not write dx)
            zero(dx, g.n * g.h * g.w * g.c);
        } else {
            conv2d_backward_data(g, grad, w, dx, stream);
        }
    }
    if (count == 0) {
        zero(dw, g.taps() * g.o);
    } else {
        conv2d_backward_filter(g, x, grad, dw, stream);
    }
    if (db != nullptr && g.o > 0) {
        if (rows == 0) {
            zero(db, g.o);
            return;
        }
        // Column sums in two deterministic steps: partial sums of `chunk` rows (256, or more so
        // that there are at most 4096 partials), then the partials added in order (sum_partials).
        const std::int64_t chunk = std::max<std::int64_t>(256, ceil_div(rows, 4096));
        const std::int64_t chunks = ceil_div(rows, chunk);
        Scratch partial(std::size_t(ceil_div(chunks * g.o, 2)), s, op);
        float* p = reinterpret_cast<float*>(partial.get());
        const unsigned threads = unsigned(std::min<std::int64_t>(kThreads, ((g.o + 31) / 32) * 32));
        const dim3 grid(unsigned(std::min<std::int64_t>(ceil_div(g.o, threads), 65535)), unsigned(chunks));
        column_partials<<<grid, threads, 0, s>>>(grad, rows, g.o, chunk, p);
        check_launch(op);
        const std::int64_t blocks = std::min<std::int64_t>(ceil_div(g.o, kThreads), 4096);
        sum_partials<<<unsigned(blocks), kThreads, 0, s>>>(p, int(chunks), g.o, db);
        check_launch(op);
    }
}

}  // namespace fastnn::cuda
