// Single-precision GEMM on the GPU (DESIGN.md §6).
//
//   C = alpha * op(A) @ op(B) + beta * C   [+ bias row vector] [relu]
//
// This file is the float32 SIMT kernel; set_matmul_precision("high" / "medium") sends the work
// to the tensor-core kernel of gemm_tensor_core.cu instead.
//
// One templated kernel, two tile configurations:
//   large: 128 x 128 block tile, BK = 8,  8 x 8 micro-tile per thread, 256 threads
//   small:  64 x  64 block tile, BK = 16, 4 x 4 micro-tile per thread, 256 threads
// The small one is chosen when the large one would not give every SM a block.
//
// Shared memory holds both operands "k-major": As[k][m] and Bs[k][n], so the
// inner product loop reads a row of As and a row of Bs with float4 loads. The
// global -> shared load handles the storage order of each operand directly:
//   k-major source (A when trans_a, B when !trans_b): element (k, x) is at
//       src[k * ld + x]; a thread reads 4 consecutive x and stores one float4.
//   x-major source (A when !trans_a, B when trans_b): element (x, k) is at
//       src[x * ld + k]; a thread reads 4 consecutive k and scatters them into
//       4 rows of the shared tile (transposing on the fly).
// The 4-element global reads are one float4 when the operand is "vectorisable"
// (16-byte aligned base pointer and ld % 4 == 0, a template flag) and all 4
// elements are in bounds; otherwise 4 guarded scalar reads. Out-of-bounds
// elements read as 0, so edge tiles need no special case in the main loop.
//
// Double buffering: the next k-tile is fetched into registers while the
// current one is multiplied out of shared memory, then stored into the other
// shared buffer; one __syncthreads per k-tile.
//
// Epilogue (fused): alpha * acc (+ beta * C unless beta == 0, in which case C
// is never read) (+ bias[col]) (relu), with float4 stores of C when C is
// 16-byte aligned with ldc % 4 == 0 and the 4 columns are in bounds.

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"
#include "fastnn/gemm.h"
#include "gemm_tensor_core.cuh"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kPad = 4;  // shared row padding (floats): keeps float4 alignment, breaks bank conflicts
constexpr int kGroupM = 8;  // block-tile swizzle: groups of 8 tile rows share B tiles in L2

[[noreturn]] void throw_cuda(cudaError_t err) {
    throw RuntimeError(message("gemm: CUDA error: ", cudaGetErrorString(err)));
}

inline void check_cuda(cudaError_t err) {
    if (err != cudaSuccess) throw_cuda(err);
}

// Loads one BK x X tile of an operand (X = BM for A, BN for B) into registers,
// then stores it into shared memory laid out [BK][X + kPad].
//
// Each thread owns kPerThread groups of 4 elements at fixed positions (k, x)
// inside the tile: (k, x..x+3) when KMAJOR, (k..k+3, x) otherwise. Their
// global addresses advance by a constant step per k-tile (BK * ld when KMAJOR,
// BK otherwise), so the per-k-tile work is one pointer add and bounds checks
// against the remaining extent along k.
template <int BK, int X, bool KMAJOR, bool VEC>
struct TileLoader {
    static constexpr int kVecs = BK * X / 4;  // 4-element groups per tile
    static constexpr int kPerThread = kVecs / kThreads;
    static_assert(kVecs % kThreads == 0, "tile must split evenly over the threads");
    static_assert(X % 4 == 0 && BK % 4 == 0, "tile sizes must be multiples of 4");

    const float* ptr[kPerThread];  // global address of the group's first element, current k-tile
    int nx[kPerThread];            // KMAJOR: valid x in the group (0..4); else: 1 if x in bounds
    int64_t step;                  // elements to advance per k-tile
    int64_t krem;                  // kext - k0 of the current k-tile
    float r[kPerThread][4];

    __device__ __forceinline__ static void coords(int tid, int p, int& k, int& x) {
        const int idx = tid + p * kThreads;
        if (KMAJOR) {
            k = idx / (X / 4);
            x = (idx % (X / 4)) * 4;
        } else {
            x = idx / (BK / 4);
            k = (idx % (BK / 4)) * 4;
        }
    }

    // src: operand base pointer; ld: its leading dimension; x0: tile origin
    // along x; xext / kext: operand extents along x (M or N) and k (K).
    // The pointers of out-of-bounds groups are computed but never dereferenced.
    __device__ __forceinline__ void init(const float* src, int64_t ld, int64_t x0, int64_t xext,
                                         int64_t kext, int tid) {
        step = KMAJOR ? BK * ld : BK;
        krem = kext;
#pragma unroll
        for (int p = 0; p < kPerThread; ++p) {
            int k, x;
            coords(tid, p, k, x);
            const int64_t gx = x0 + x;
            if (KMAJOR) {
                ptr[p] = src + k * ld + gx;
                const int64_t left = xext - gx;
                nx[p] = left <= 0 ? 0 : (left >= 4 ? 4 : static_cast<int>(left));
            } else {
                ptr[p] = src + gx * ld + k;
                nx[p] = gx < xext ? 1 : 0;
            }
        }
    }

    // Loads the current k-tile into registers, then advances to the next one.
    __device__ __forceinline__ void load(int tid) {
#pragma unroll
        for (int p = 0; p < kPerThread; ++p) {
            int k, x;
            coords(tid, p, k, x);
            const float* q = ptr[p];
            r[p][0] = r[p][1] = r[p][2] = r[p][3] = 0.0f;
            if (KMAJOR) {
                // 4 consecutive x in row k: q[0..3], valid while j < nx
                if (k < krem) {
                    if (VEC && nx[p] == 4) {
                        const float4 v = __ldg(reinterpret_cast<const float4*>(q));
                        r[p][0] = v.x; r[p][1] = v.y; r[p][2] = v.z; r[p][3] = v.w;
                    } else {
#pragma unroll
                        for (int j = 0; j < 4; ++j)
                            if (j < nx[p]) r[p][j] = __ldg(q + j);
                    }
                }
            } else {
                // 4 consecutive k in row x: q[0..3], valid while k + j < krem
                if (nx[p]) {
                    if (VEC && k + 3 < krem) {
                        const float4 v = __ldg(reinterpret_cast<const float4*>(q));
                        r[p][0] = v.x; r[p][1] = v.y; r[p][2] = v.z; r[p][3] = v.w;
                    } else {
#pragma unroll
                        for (int j = 0; j < 4; ++j)
                            if (k + j < krem) r[p][j] = __ldg(q + j);
                    }
                }
            }
            ptr[p] = q + step;
        }
        krem -= BK;
    }

    // s: shared tile [BK][X + kPad]
    __device__ __forceinline__ void store(float* s, int tid) const {
#pragma unroll
        for (int p = 0; p < kPerThread; ++p) {
            int k, x;
            coords(tid, p, k, x);
            if (KMAJOR) {
                *reinterpret_cast<float4*>(s + k * (X + kPad) + x) =
                    make_float4(r[p][0], r[p][1], r[p][2], r[p][3]);
            } else {
#pragma unroll
                for (int j = 0; j < 4; ++j) s[(k + j) * (X + kPad) + x] = r[p][j];
            }
        }
    }
};

struct EpilogueArgs {
    float alpha, beta;
    float* c;
    int64_t ldc;
    const float* bias;
    bool relu;
    bool vec_c;
};

// Thread (tx, ty) owns rows   g * (BM * 4 / TM) + ty * 4 + i  (g < TM / 4, i < 4)
// and columns                 h * (BN * 4 / TN) + tx * 4 + j  (h < TN / 4, j < 4)
// of the block tile: groups of 4 contiguous rows/columns spread over the tile,
// so each shared-memory read is a float4 and a warp's reads do not conflict.
// MinBlocks is the __launch_bounds__ occupancy hint. For the 128x128 tile, 2 caps
// registers at 128 and ptxas then spills 16-32 bytes in some variants (CUDA 13),
// so it uses 1 (about 126-138 registers, no spills); worth re-tuning on hardware.
template <int BM, int BN, int BK, int TM, int TN, int MinBlocks, bool TA, bool TB, bool VA, bool VB>
__global__ void __launch_bounds__(kThreads, MinBlocks)
gemm_kernel(int64_t m, int64_t n, int64_t k, const float* __restrict__ a, int64_t lda,
            const float* __restrict__ b, int64_t ldb, int tiles_m, int tiles_n, EpilogueArgs ep) {
    static_assert((BM / TM) * (BN / TN) == kThreads, "one micro-tile per thread");
    static_assert(TM % 4 == 0 && TN % 4 == 0, "micro-tile sizes must be multiples of 4");
    constexpr int kRowStride = BM * 4 / TM;  // distance between a thread's row groups
    constexpr int kColStride = BN * 4 / TN;

    __shared__ __align__(16) float As[2][BK][BM + kPad];
    __shared__ __align__(16) float Bs[2][BK][BN + kPad];

    // Block -> tile, grouped so that consecutive blocks reuse B tiles in L2.
    const int bid = static_cast<int>(blockIdx.x);
    const int group_size = kGroupM * tiles_n;
    const int first_m = (bid / group_size) * kGroupM;
    const int rows_in_group = min(tiles_m - first_m, kGroupM);
    const int in_group = bid % group_size;
    const int tile_m = first_m + in_group % rows_in_group;
    const int tile_n = in_group / rows_in_group;
    const int64_t m0 = static_cast<int64_t>(tile_m) * BM;
    const int64_t n0 = static_cast<int64_t>(tile_n) * BN;

    const int tid = static_cast<int>(threadIdx.x);
    const int tx = tid % (BN / TN);
    const int ty = tid / (BN / TN);

    // A: element (m, k) of op(A). Stored K x M when trans_a (k-major), M x K otherwise.
    // B: element (k, n) of op(B). Stored K x N when !trans_b (k-major), N x K otherwise.
    TileLoader<BK, BM, TA, VA> la;
    TileLoader<BK, BN, !TB, VB> lb;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

    const int64_t ktiles = (k + BK - 1) / BK;
    if (ktiles > 0) {
        la.init(a, lda, m0, m, k, tid);
        lb.init(b, ldb, n0, n, k, tid);
        la.load(tid);
        lb.load(tid);
        la.store(&As[0][0][0], tid);
        lb.store(&Bs[0][0][0], tid);
        __syncthreads();
    }

    for (int64_t kt = 0; kt < ktiles; ++kt) {
        const int cur = static_cast<int>(kt & 1);
        const bool has_next = kt + 1 < ktiles;
        if (has_next) {
            la.load(tid);
            lb.load(tid);
        }

#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float fa[TM], fb[TN];
#pragma unroll
            for (int g = 0; g < TM / 4; ++g) {
                const float4 v =
                    *reinterpret_cast<const float4*>(&As[cur][kk][g * kRowStride + ty * 4]);
                fa[g * 4 + 0] = v.x; fa[g * 4 + 1] = v.y; fa[g * 4 + 2] = v.z; fa[g * 4 + 3] = v.w;
            }
#pragma unroll
            for (int h = 0; h < TN / 4; ++h) {
                const float4 v =
                    *reinterpret_cast<const float4*>(&Bs[cur][kk][h * kColStride + tx * 4]);
                fb[h * 4 + 0] = v.x; fb[h * 4 + 1] = v.y; fb[h * 4 + 2] = v.z; fb[h * 4 + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(fa[i], fb[j], acc[i][j]);
        }

        if (has_next) {
            // The other buffer was last read in iteration kt - 1, before the
            // barrier that ended it, so it is free to overwrite.
            la.store(&As[cur ^ 1][0][0], tid);
            lb.store(&Bs[cur ^ 1][0][0], tid);
        }
        __syncthreads();
    }

    // ---- fused epilogue ----
    float bias_v[TN];
#pragma unroll
    for (int h = 0; h < TN / 4; ++h)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int64_t col = n0 + h * kColStride + tx * 4 + j;
            bias_v[h * 4 + j] = (ep.bias != nullptr && col < n) ? __ldg(ep.bias + col) : 0.0f;
        }

    const bool read_c = ep.beta != 0.0f;
#pragma unroll
    for (int g = 0; g < TM / 4; ++g)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int64_t row = m0 + g * kRowStride + ty * 4 + i;
            if (row >= m) continue;
            float* crow = ep.c + row * ep.ldc;
#pragma unroll
            for (int h = 0; h < TN / 4; ++h) {
                const int64_t col = n0 + h * kColStride + tx * 4;
                if (col >= n) continue;
                float v[4];
#pragma unroll
                for (int j = 0; j < 4; ++j) v[j] = ep.alpha * acc[g * 4 + i][h * 4 + j];
                const bool full = ep.vec_c && col + 3 < n;
                if (read_c) {
                    if (full) {
                        const float4 cv = *reinterpret_cast<const float4*>(crow + col);
                        v[0] = fmaf(ep.beta, cv.x, v[0]);
                        v[1] = fmaf(ep.beta, cv.y, v[1]);
                        v[2] = fmaf(ep.beta, cv.z, v[2]);
                        v[3] = fmaf(ep.beta, cv.w, v[3]);
                    } else {
#pragma unroll
                        for (int j = 0; j < 4; ++j)
                            if (col + j < n) v[j] = fmaf(ep.beta, crow[col + j], v[j]);
                    }
                }
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    v[j] += bias_v[h * 4 + j];
                    // NaN-propagating relu (like np.maximum(x, 0)).
                    if (ep.relu && v[j] < 0.0f) v[j] = 0.0f;
                }
                if (full) {
                    *reinterpret_cast<float4*>(crow + col) = make_float4(v[0], v[1], v[2], v[3]);
                } else {
#pragma unroll
                    for (int j = 0; j < 4; ++j)
                        if (col + j < n) crow[col + j] = v[j];
                }
            }
        }
}

inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

template <int BM, int BN, int BK, int TM, int TN, int MinBlocks, bool TA, bool TB, bool VA,
          bool VB>
void launch(const GemmArgs& g, const EpilogueArgs& ep, cudaStream_t stream) {
    const int64_t tiles_m = (g.m + BM - 1) / BM;
    const int64_t tiles_n = (g.n + BN - 1) / BN;
    const int64_t blocks = tiles_m * tiles_n;
    // blockIdx.x is at most 2^31 - 1; kGroupM * tiles_n is computed in int on the device.
    if (blocks > 0x7fffffffLL || tiles_n > 0x7fffffffLL / kGroupM)
        throw RuntimeError(message("gemm: problem too large for one launch (M=", g.m,
                                   ", N=", g.n, ")"));
    gemm_kernel<BM, BN, BK, TM, TN, MinBlocks, TA, TB, VA, VB>
        <<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
            g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, static_cast<int>(tiles_m),
            static_cast<int>(tiles_n), ep);
}

// Turns the run-time flags into template arguments.
template <int BM, int BN, int BK, int TM, int TN, int MinBlocks>
void dispatch(const GemmArgs& g, const EpilogueArgs& ep, bool va, bool vb, cudaStream_t s) {
    const int key = (g.trans_a ? 8 : 0) | (g.trans_b ? 4 : 0) | (va ? 2 : 0) | (vb ? 1 : 0);
    switch (key) {
        case 0:  launch<BM, BN, BK, TM, TN, MinBlocks, false, false, false, false>(g, ep, s); break;
        case 1:  launch<BM, BN, BK, TM, TN, MinBlocks, false, false, false, true>(g, ep, s); break;
        case 2:  launch<BM, BN, BK, TM, TN, MinBlocks, false, false, true, false>(g, ep, s); break;
        case 3:  launch<BM, BN, BK, TM, TN, MinBlocks, false, false, true, true>(g, ep, s); break;
        case 4:  launch<BM, BN, BK, TM, TN, MinBlocks, false, true, false, false>(g, ep, s); break;
        case 5:  launch<BM, BN, BK, TM, TN, MinBlocks, false, true, false, true>(g, ep, s); break;
        case 6:  launch<BM, BN, BK, TM, TN, MinBlocks, false, true, true, false>(g, ep, s); break;
        case 7:  launch<BM, BN, BK, TM, TN, MinBlocks, false, true, true, true>(g, ep, s); break;
        case 8:  launch<BM, BN, BK, TM, TN, MinBlocks, true, false, false, false>(g, ep, s); break;
        case 9:  launch<BM, BN, BK, TM, TN, MinBlocks, true, false, false, true>(g, ep, s); break;
        case 10: launch<BM, BN, BK, TM, TN, MinBlocks, true, false, true, false>(g, ep, s); break;
        case 11: launch<BM, BN, BK, TM, TN, MinBlocks, true, false, true, true>(g, ep, s); break;
        case 12: launch<BM, BN, BK, TM, TN, MinBlocks, true, true, false, false>(g, ep, s); break;
        case 13: launch<BM, BN, BK, TM, TN, MinBlocks, true, true, false, true>(g, ep, s); break;
        case 14: launch<BM, BN, BK, TM, TN, MinBlocks, true, true, true, false>(g, ep, s); break;
        default: launch<BM, BN, BK, TM, TN, MinBlocks, true, true, true, true>(g, ep, s); break;
    }
}


}  // namespace

void gemm(const GemmArgs& args, std::uintptr_t stream) {
    if (args.m <= 0 || args.n <= 0) return;  // nothing to write
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    // TF32 / BF16 on the tensor cores where the device has them (else float32, as PyTorch does).
    if (args.precision != MatmulPrecision::highest && args.k > 0 && tensor_core_gemm_available()) {
        tensor_core_gemm(args, s);
        check_cuda(cudaGetLastError());
        return;
    }

    EpilogueArgs ep;
    ep.alpha = args.alpha;
    ep.beta = args.beta;
    ep.c = args.c;
    ep.ldc = args.ldc;
    ep.bias = args.bias;
    ep.relu = args.activation == Activation::relu;
    ep.vec_c = aligned16(args.c) && args.ldc % 4 == 0;

    // k == 0: A and B are never dereferenced (the kernel runs no k-tiles).
    const bool va = args.k > 0 && aligned16(args.a) && args.lda % 4 == 0;
    const bool vb = args.k > 0 && aligned16(args.b) && args.ldb % 4 == 0;

    const int64_t big_tiles = ((args.m + 127) / 128) * ((args.n + 127) / 128);
    if (big_tiles >= sm_count("gemm"))
        dispatch<128, 128, 8, 8, 8, 1>(args, ep, va, vb, s);
    else
        dispatch<64, 64, 16, 4, 4, 2>(args, ep, va, vb, s);

    check_cuda(cudaGetLastError());
}

}  // namespace fastnn::cuda
