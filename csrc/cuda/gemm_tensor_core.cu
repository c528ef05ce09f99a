// Tensor-core GEMM for fastnn.set_matmul_precision("high") (TF32) and ("medium") (BF16): the
// same contract as gemm.cu (float32 operands and result, any transposes, the fused epilogue),
// with the products on the tensor cores and float32 accumulation.
//
// The instruction is mma.sync (the warp-level MMA of Ampere, which Hopper also runs):
// m16n8k8 with TF32 operands, m16n8k16 with BF16 ones. Hopper's own warpgroup MMA (wgmma, with
// TMA loads) is faster still and is the next step (see /work/.library/device/HOPPER.md); this
// kernel is the portable path for compute capability 8.0 and up.
//
// Tiling: a 128 x 128 block tile, 256 threads = 8 warps as 2 (M) x 4 (N), each warp 64 x 32 =
// 4 x 4 MMA tiles of 16 x 8. Shared memory holds both operands "k-contiguous": A as [row of
// op(A)][k], B as [column of op(B)][k], in 32-bit words, 16 words of k per tile (16 TF32 values
// or 32 BF16 ones, so 2 MMA k-steps either way) and rows padded to 20 words: a warp's fragment
// loads (8 rows x 4 words) then hit 32 different banks. Operands are rounded to TF32 (cvt.rna)
// or BF16 (round to nearest even) as they are stored to shared memory. Each thread loads groups
// of 4 consecutive k at one row / column (Loader: one float4 when k is the contiguous axis, else
// 4 loads coalesced across the warp; out of bounds reads as 0); the next k-tile is fetched into
// registers while the current one is multiplied, one __syncthreads per k-tile, as in gemm.cu.
//
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k8 / m16n8k16"), g = lane / 4,
// t = lane % 4, in 32-bit words of k (a TF32 value, or two adjacent BF16 ones):
//   A (16 rows x 8 words): a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4)
//   B (8 words x 8 cols):  b0 (t, g), b1 (t + 4, g)
//   C (16 x 8 floats):     c0, c1 (g, 2t and 2t + 1), c2, c3 (g + 8, 2t and 2t + 1)
//
// Written without a GPU at hand (stop 10): tests/test_gpu_matmul_precision.py and
// bench/test_bench_gpu_precision.py verify and time it on the next GPU session.

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"
#include "fastnn/gemm.h"
#include "gemm_tensor_core.cuh"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 128;      // block tile, both ways
constexpr int kWords = 16;      // words of k per tile
constexpr int kRow = 20;        // shared row length in words (kWords + 4: no bank conflicts)
constexpr int kGroupM = 8;      // block-tile swizzle, as gemm.cu
constexpr int kWarpM = 64, kWarpN = 32;

struct Tf32 {
    static constexpr int kPerWord = 1;  // values per 32-bit word
    __device__ __forceinline__ static uint32_t pack1(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        uint32_t r;
        asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
        return r;
#else  // never launched below 8.0 (tensor_core_gemm_available)
        return __float_as_uint(x);
#endif
    }
    __device__ __forceinline__ static void mma(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        asm volatile(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
    }
};

struct Bf16 {
    static constexpr int kPerWord = 2;
    // Two values (lo at the lower k) as one word.
    __device__ __forceinline__ static uint32_t pack2(float lo, float hi) {
        const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&v);
    }
    __device__ __forceinline__ static void mma(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
    }
};

// One operand's 128 x (16 * kPerWord) tile: global -> registers -> shared [x][k] words.
// KCONTIG: element (x, k) at src[x * ld + k] (A untransposed, B transposed); otherwise at
// src[k * ld + x]. Each thread owns kGroups groups of 4 consecutive k at one x, at fixed tile
// positions whose global addresses advance by a constant per k-tile, and stores each group as
// one 16-byte (TF32) or 8-byte (BF16) vector. KCONTIG groups are one float4 in global memory,
// 4 lanes per row; otherwise the lanes run along x (each of the group's 4 loads is coalesced
// across the warp) and a quarter-warp's vector stores land on rows 20 words apart, in distinct
// banks -- scattering 4 x-values of one k into 4 rows instead would be a 16-way conflict.
template <class P, bool KCONTIG>
struct Loader {
    static constexpr int kK = kWords * P::kPerWord;    // floats of k per tile
    static constexpr int kGroups = kTile * kK / 4 / kThreads;
    static_assert(kGroups * 4 * kThreads == kTile * kK, "tile must split evenly over the threads");

    const float* ptr[kGroups];
    int64_t gx[kGroups];  // the group's x in the operand
    int kof[kGroups];     // the group's first k within the tile
    int64_t step, ld, xext, krem;
    bool vec;
    float r[kGroups][4];

    __device__ __forceinline__ static void coords(int tid, int p, int& x, int& k) {
        const int idx = tid + p * kThreads;
        if (KCONTIG) {
            x = idx / (kK / 4);
            k = (idx % (kK / 4)) * 4;
        } else {
            x = idx % kTile;
            k = (idx / kTile) * 4;
        }
    }

    __device__ __forceinline__ void init(const float* src, int64_t ld_, int64_t x0, int64_t xext_, int64_t kext,
                                         bool vec_, int tid) {
        ld = ld_;
        step = KCONTIG ? kK : kK * ld;
        xext = xext_;
        krem = kext;
        vec = vec_;
#pragma unroll
        for (int p = 0; p < kGroups; ++p) {
            int x, k;
            coords(tid, p, x, k);
            gx[p] = x0 + x;
            kof[p] = k;
            ptr[p] = KCONTIG ? src + gx[p] * ld + k : src + k * ld + gx[p];
        }
    }

    // The current k-tile's 4 consecutive k of each group into registers (0 out of bounds), then
    // on to the next k-tile.
    __device__ __forceinline__ void load() {
#pragma unroll
        for (int p = 0; p < kGroups; ++p) {
            const float* q = ptr[p];
            r[p][0] = r[p][1] = r[p][2] = r[p][3] = 0.0f;
            const int64_t kleft = krem - kof[p];
            if (gx[p] < xext && kleft > 0) {
                if (KCONTIG && vec && kleft >= 4) {
                    const float4 v = __ldg(reinterpret_cast<const float4*>(q));
                    r[p][0] = v.x; r[p][1] = v.y; r[p][2] = v.z; r[p][3] = v.w;
                } else {
#pragma unroll
                    for (int j = 0; j < 4; ++j)
                        if (j < kleft) r[p][j] = __ldg(q + (KCONTIG ? j : j * ld));
                }
            }
            ptr[p] = q + step;
        }
        krem -= kK;
    }

    // s: shared tile [kTile][kRow] words.
    __device__ __forceinline__ void store(uint32_t* s, int tid) const {
#pragma unroll
        for (int p = 0; p < kGroups; ++p) {
            int x, k;
            coords(tid, p, x, k);
            if constexpr (P::kPerWord == 1)  // TF32: one word per value
                *reinterpret_cast<uint4*>(s + x * kRow + k) =
                    make_uint4(P::pack1(r[p][0]), P::pack1(r[p][1]), P::pack1(r[p][2]), P::pack1(r[p][3]));
            else  // BF16: two values per word
                *reinterpret_cast<uint2*>(s + x * kRow + k / 2) =
                    make_uint2(P::pack2(r[p][0], r[p][1]), P::pack2(r[p][2], r[p][3]));
        }
    }
};

struct Epilogue {
    float alpha, beta;
    float* c;
    int64_t ldc;
    const float* bias;
    bool relu;
    bool vec_c;  // c 8-byte aligned and ldc even: column pairs as float2
};

template <class P, bool TA, bool TB>
__global__ void __launch_bounds__(kThreads, 1)
tc_gemm_kernel(int64_t m, int64_t n, int64_t k, const float* __restrict__ a, int64_t lda, bool va,
               const float* __restrict__ b, int64_t ldb, bool vb, int tiles_m, int tiles_n, Epilogue ep) {
    __shared__ __align__(16) uint32_t As[2][kTile * kRow];
    __shared__ __align__(16) uint32_t Bs[2][kTile * kRow];

    const int bid = static_cast<int>(blockIdx.x);
    const int group_size = kGroupM * tiles_n;
    const int first_m = (bid / group_size) * kGroupM;
    const int rows_in_group = min(tiles_m - first_m, kGroupM);
    const int in_group = bid % group_size;
    const int64_t m0 = static_cast<int64_t>(first_m + in_group % rows_in_group) * kTile;
    const int64_t n0 = static_cast<int64_t>(in_group / rows_in_group) * kTile;

    const int tid = static_cast<int>(threadIdx.x);
    const int lane = tid % 32, warp = tid / 32;
    const int g = lane / 4, t = lane % 4;
    const int wm = (warp / 4) * kWarpM, wn = (warp % 4) * kWarpN;

    // op(A) row x, inner k: stored M x K (k-contiguous) unless TA. op(B) column x, inner k:
    // stored N x K (k-contiguous) when TB.
    Loader<P, !TA> la;
    Loader<P, TB> lb;

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    const int64_t ktiles = (k + Loader<P, true>::kK - 1) / Loader<P, true>::kK;
    if (ktiles > 0) {
        la.init(a, lda, m0, m, k, va, tid);
        lb.init(b, ldb, n0, n, k, vb, tid);
        la.load();
        lb.load();
        la.store(As[0], tid);
        lb.store(Bs[0], tid);
        __syncthreads();
    }

    for (int64_t kt = 0; kt < ktiles; ++kt) {
        const int cur = static_cast<int>(kt & 1);
        const bool has_next = kt + 1 < ktiles;
        if (has_next) {
            la.load();
            lb.load();
        }
        const uint32_t* as = As[cur];
        const uint32_t* bs = Bs[cur];
#pragma unroll
        for (int ks = 0; ks < kWords; ks += 8) {
            uint32_t af[4][4], bf[4][2];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const uint32_t* row = as + (wm + i * 16 + g) * kRow + ks + t;
                af[i][0] = row[0];
                af[i][1] = row[8 * kRow];
                af[i][2] = row[4];
                af[i][3] = row[8 * kRow + 4];
            }
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const uint32_t* col = bs + (wn + j * 8 + g) * kRow + ks + t;
                bf[j][0] = col[0];
                bf[j][1] = col[4];
            }
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) P::mma(acc[i][j], af[i], bf[j]);
        }
        if (has_next) {
            // The other buffer was last read in iteration kt - 1, before the barrier that ended it.
            la.store(As[cur ^ 1], tid);
            lb.store(Bs[cur ^ 1], tid);
        }
        __syncthreads();
    }

    // ---- fused epilogue: alpha * acc (+ beta * C) (+ bias) (relu), as gemm.cu ----
    const bool read_c = ep.beta != 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const int64_t col = n0 + wn + j * 8 + 2 * t;
        if (col >= n) continue;
        const bool pair = col + 1 < n;
        const float b0 = ep.bias != nullptr ? __ldg(ep.bias + col) : 0.0f;
        const float b1 = ep.bias != nullptr && pair ? __ldg(ep.bias + col + 1) : 0.0f;
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int64_t row = m0 + wm + i * 16 + g + 8 * h;
                if (row >= m) continue;
                float* cp = ep.c + row * ep.ldc + col;
                float v0 = ep.alpha * acc[i][j][2 * h], v1 = ep.alpha * acc[i][j][2 * h + 1];
                const bool vec = ep.vec_c && pair;
                if (read_c) {
                    if (vec) {
                        const float2 cv = *reinterpret_cast<const float2*>(cp);
                        v0 = fmaf(ep.beta, cv.x, v0);
                        v1 = fmaf(ep.beta, cv.y, v1);
                    } else {
                        v0 = fmaf(ep.beta, cp[0], v0);
                        if (pair) v1 = fmaf(ep.beta, cp[1], v1);
                    }
                }
                v0 += b0;
                v1 += b1;
                if (ep.relu) {  // NaN-propagating, like np.maximum(x, 0)
                    if (v0 < 0.0f) v0 = 0.0f;
                    if (v1 < 0.0f) v1 = 0.0f;
                }
                if (vec) {
                    *reinterpret_cast<float2*>(cp) = make_float2(v0, v1);
                } else {
                    cp[0] = v0;
                    if (pair) cp[1] = v1;
                }
            }
    }
}

inline bool aligned(const void* p, unsigned bytes) { return (reinterpret_cast<std::uintptr_t>(p) & (bytes - 1)) == 0; }

template <class P, bool TA, bool TB>
void launch(const GemmArgs& g, const Epilogue& ep, cudaStream_t stream) {
    const int64_t tiles_m = (g.m + kTile - 1) / kTile, tiles_n = (g.n + kTile - 1) / kTile;
    const int64_t blocks = tiles_m * tiles_n;
    if (blocks > 0x7fffffffLL || tiles_n > 0x7fffffffLL / kGroupM)
        throw RuntimeError(message("gemm: problem too large for one launch (M=", g.m, ", N=", g.n, ")"));
    const bool va = g.k > 0 && aligned(g.a, 16) && g.lda % 4 == 0;
    const bool vb = g.k > 0 && aligned(g.b, 16) && g.ldb % 4 == 0;
    tc_gemm_kernel<P, TA, TB><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        g.m, g.n, g.k, g.a, g.lda, va, g.b, g.ldb, vb, static_cast<int>(tiles_m), static_cast<int>(tiles_n), ep);
}

template <class P>
void dispatch(const GemmArgs& g, const Epilogue& ep, cudaStream_t s) {
    if (g.trans_a)
        g.trans_b ? launch<P, true, true>(g, ep, s) : launch<P, true, false>(g, ep, s);
    else
        g.trans_b ? launch<P, false, true>(g, ep, s) : launch<P, false, false>(g, ep, s);
}

}  // namespace

bool tensor_core_gemm_available() { return compute_capability("gemm") >= 80; }

void tensor_core_gemm(const GemmArgs& args, cudaStream_t stream) {
    Epilogue ep;
    ep.alpha = args.alpha;
    ep.beta = args.beta;
    ep.c = args.c;
    ep.ldc = args.ldc;
    ep.bias = args.bias;
    ep.relu = args.activation == Activation::relu;
    ep.vec_c = aligned(args.c, 8) && args.ldc % 2 == 0;
    if (args.precision == MatmulPrecision::medium)
        dispatch<Bf16>(args, ep, stream);
    else
        dispatch<Tf32>(args, ep, stream);
}

}  // namespace fastnn::cuda
