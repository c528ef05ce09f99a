// Fused optimizer updates on the GPU (DESIGN.md §6): every parameter of a step
// in one launch (see fastnn/optim.h for the slots, states and update rules).
//
// Launch shape. `slots` is a host array of ParamSlot holding device pointers.
// The host copies up to kMaxSlots (64) non-empty slots into a StepArgs struct
// passed BY VALUE as the kernel parameter (~3.7 KB, under the classic 4 KB
// kernel-parameter limit), so there is no device allocation and no host sync;
// more than 64 slots take one launch per chunk of 64, in slot order on the
// stream. Each slot is cut into tiles of kTile (2048) elements;
// StepArgs::tile_start holds the prefix sums of the tile counts. Blocks
// grid-stride over the chunk's tiles; a block finds the slot of its tile by a
// binary search over tile_start (the index is block-uniform, so the parameter
// reads broadcast), then its 256 threads sweep the tile: float4 loads and
// stores when every pointer the slot uses is 16-byte aligned (tiles start at
// multiples of 2048 elements, so alignment holds inside the slot), a scalar
// tail for the last len % 4 elements, or all-scalar otherwise. Tiles never
// span two slots, so the slot lookup costs once per 2048 elements, not once
// per element. Grid: min(tiles, kBlocksPerSm * SMs).
//
// Numerics: float32, accurate sqrtf and IEEE division (never the fast-math
// intrinsics), operations in the order of the CPU implementation (the rules
// below are written exactly as optim.h / the CPU kernel evaluates them; nvcc
// may contract a * b + c into an FMA, which only removes a rounding). Adam's
// lr_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t) is computed on the host in
// double and passed as float. Clipping and amsgrad's max propagate NaN.
//
// grad_sum_squares: the same tiling over the gradients; each thread sums
// double(g)^2 in double, blocks reduce with warp shuffles and write one
// partial each to a scratch buffer (cudaMallocAsync on the stream, freed with
// cudaFreeAsync; plain cudaMalloc where the device has no memory pools), and
// a one-block kernel folds the partials in a fixed order. No atomics: the
// result is bit-identical from run to run on the same device (DESIGN.md §3,
// determinism). One D2H copy and a stream sync return it.
//
// Norm clipping (clip_norm, global_clip_norm; optim.h steps 2-3) without a
// host synchronisation: before the step launches, on the same stream,
//   tile_sumsq_kernel   one double per tile: the sum of grad^2 over the tile
//                       (a block reduction per tile, fixed order);
//   slot_sumsq_kernel   one block per 64-slot chunk, one warp per slot: folds
//                       the slot's tile sums (lane-strided, then shuffles),
//                       applies grad_scale^2 and the clip_norm factor;
//   scale_kernel        one block: the global sum over every slot (fixed
//                       order), the global_clip_norm factor, and one float per
//                       slot: grad_scale * clip_norm factor * global factor.
// The step kernel then reads its slot's factor from that buffer
// (StepArgs::scales) instead of h.grad_scale. The buffer is scratch on the
// stream (as grad_sum_squares', freed stream-ordered after the step kernels):
// tiles + 2 * slots doubles + slots floats (2^20 parameters: ~4 KB).
//
// Aliasing: each element of param, grad and the states is read and written by
// one thread only (grad is read before anything is written).

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "fastnn/cuda_runtime.h"
#include "scratch.cuh"
#include "fastnn/errors.h"
#include "fastnn/optim.h"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kVecPerThread = 2;                          // float4s per thread per tile
constexpr int kTile = kThreads * 4 * kVecPerThread;       // 2048 elements
constexpr int kBlocksPerSm = 8;                           // grid cap: 2048 resident threads/SM
constexpr int kMaxSlots = 64;                             // slots per launch

[[noreturn]] void throw_cuda(cudaError_t err) {
    throw RuntimeError(message("optimizer: CUDA error: ", cudaGetErrorString(err)));
}

inline void check_cuda(cudaError_t err) {
    if (err != cudaSuccess) throw_cuda(err);
}

// Hyper-parameters as the kernel uses them (derived values precomputed on the
// host; 1 - beta etc. are float subtractions, identical to the device ones).
struct Hyper {
    float lr;
    float momentum;
    float one_minus_beta_1;
    float one_minus_beta_2;
    float epsilon;
    float rho;
    float one_minus_rho;
    float weight_decay;
    float grad_scale;
    float clip_value;
    float lr_t;  // adam: lr sqrt(1 - beta_2^t) / (1 - beta_1^t), computed in double
    float clip_norm;
    float global_clip_norm;
    bool nesterov;
    bool amsgrad;
    bool centered;
    bool use1, use2, use3;  // which state arrays this step reads and writes
};

struct Slot {
    float* param;
    const float* grad;
    float* s1;
    float* s2;
    float* s3;
    std::int64_t n;
};

struct StepArgs {
    Slot slots[kMaxSlots];
    std::int64_t tile_start[kMaxSlots + 1];  // prefix sums of ceil(n / kTile)
    std::uint64_t vec_mask;                  // bit s: slot s takes the float4 path
    const float* scales;                     // norm clipping: scales[slot_base + s] replaces h.grad_scale
    int slot_base;                           // index of slots[0] among all non-empty slots of the step
    int count;                               // slots in this chunk (1..kMaxSlots)
    Hyper h;
};
static_assert(sizeof(StepArgs) <= 4096, "kernel parameter struct must stay under 4 KB");

#define FASTNN_D __device__ __forceinline__
#define FASTNN_HD __host__ __device__ __forceinline__  // host too: unit-testable math

// Largest s in [0, count) with tile_start[s] <= t (slots are non-empty, so it
// is the slot holding tile t). t is block-uniform.
FASTNN_HD int find_slot(const StepArgs& a, std::int64_t t) {
    int lo = 0, hi = a.count - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (a.tile_start[mid] <= t) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

// One element: p, and the states a (s1), b (s2), c (s3), updated in place.
template <OptimizerKind K>
struct Rule;

template <>
struct Rule<OptimizerKind::sgd> {
    // s1 = velocity; momentum <= 0 is plain sgd (as the CPU kernel; Keras
    // rejects a negative momentum)
    static FASTNN_HD void apply(const Hyper& h, float& p, float g, float& v, float&, float&) {
        if (!(h.momentum > 0.0f)) {
            p -= h.lr * g;
            return;
        }
        v = h.momentum * v - h.lr * g;
        if (h.nesterov) p += h.momentum * v - h.lr * g;
        else p += v;
    }
};

template <>
struct Rule<OptimizerKind::adam> {
    // s1 = m, s2 = v, s3 = v_hat
    static FASTNN_HD void apply(const Hyper& h, float& p, float g, float& m, float& v, float& vh) {
        m += (g - m) * h.one_minus_beta_1;
        v += (g * g - v) * h.one_minus_beta_2;
        float vv = v;
        if (h.amsgrad) {
            vh = vh > v ? vh : v;  // NaN in v propagates
            vv = vh;
        }
        p -= h.lr_t * m / (sqrtf(vv) + h.epsilon);
    }
};

template <>
struct Rule<OptimizerKind::rmsprop> {
    // s1 = mean square, s2 = momentum buffer, s3 = mean gradient
    static FASTNN_HD void apply(const Hyper& h, float& p, float g, float& ms, float& mom,
                               float& mg) {
        ms = h.rho * ms + h.one_minus_rho * g * g;
        float denom;
        if (h.centered) {
            mg = h.rho * mg + h.one_minus_rho * g;
            denom = ms - mg * mg + h.epsilon;
        } else {
            denom = ms + h.epsilon;
        }
        const float inc = h.lr * g / sqrtf(denom);
        if (h.momentum > 0.0f) {
            mom = h.momentum * mom + inc;
            p -= mom;
        } else {
            p -= inc;
        }
    }
};

template <>
struct Rule<OptimizerKind::adagrad> {
    // s1 = accumulator
    static FASTNN_HD void apply(const Hyper& h, float& p, float g, float& acc, float&, float&) {
        acc += g * g;
        p -= h.lr * g / sqrtf(acc + h.epsilon);
    }
};

// Shared prologue: gradient scaling (grad_scale, or the slot's norm-clipping
// factor gs) and clipping, decoupled weight decay.
template <OptimizerKind K>
FASTNN_HD void update(const Hyper& h, float gs, float& p, float graw, float& a, float& b, float& c) {
    float g = graw * gs;
    if (h.clip_value > 0.0f) {
        const float cv = h.clip_value;
        g = g < -cv ? -cv : (g > cv ? cv : g);  // NaN passes through
    }
    if (h.weight_decay != 0.0f) p -= h.lr * h.weight_decay * p;
    Rule<K>::apply(h, p, g, a, b, c);
}

template <OptimizerKind K>
FASTNN_D void update_scalar(const Hyper& h, float gs, float* p, const float* g, float* s1,
                            float* s2, float* s3, int i) {
    float pv = p[i];
    float a = h.use1 ? s1[i] : 0.0f;
    float b = h.use2 ? s2[i] : 0.0f;
    float c = h.use3 ? s3[i] : 0.0f;
    update<K>(h, gs, pv, g[i], a, b, c);
    p[i] = pv;
    if (h.use1) s1[i] = a;
    if (h.use2) s2[i] = b;
    if (h.use3) s3[i] = c;
}

template <OptimizerKind K>
FASTNN_D void update_vec(const Hyper& h, float gs, float* p, const float* g, float* s1,
                         float* s2, float* s3, int i) {
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float4 pv = reinterpret_cast<const float4*>(p)[i];
    const float4 gv = reinterpret_cast<const float4*>(g)[i];
    float4 av = h.use1 ? reinterpret_cast<const float4*>(s1)[i] : zero;
    float4 bv = h.use2 ? reinterpret_cast<const float4*>(s2)[i] : zero;
    float4 cv = h.use3 ? reinterpret_cast<const float4*>(s3)[i] : zero;
    update<K>(h, gs, pv.x, gv.x, av.x, bv.x, cv.x);
    update<K>(h, gs, pv.y, gv.y, av.y, bv.y, cv.y);
    update<K>(h, gs, pv.z, gv.z, av.z, bv.z, cv.z);
    update<K>(h, gs, pv.w, gv.w, av.w, bv.w, cv.w);
    reinterpret_cast<float4*>(p)[i] = pv;
    if (h.use1) reinterpret_cast<float4*>(s1)[i] = av;
    if (h.use2) reinterpret_cast<float4*>(s2)[i] = bv;
    if (h.use3) reinterpret_cast<float4*>(s3)[i] = cv;
}

template <OptimizerKind K>
__global__ void __launch_bounds__(kThreads) step_kernel(const StepArgs a) {
    const std::int64_t tiles = a.tile_start[a.count];
    for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
        const int s = find_slot(a, t);
        const std::int64_t base = (t - a.tile_start[s]) * kTile;
        const std::int64_t rest = a.slots[s].n - base;
        const int len = rest < kTile ? static_cast<int>(rest) : kTile;
        float* p = a.slots[s].param + base;
        const float* g = a.slots[s].grad + base;
        // Unused states may be null: never offset a null pointer.
        float* s1 = a.h.use1 ? a.slots[s].s1 + base : nullptr;
        float* s2 = a.h.use2 ? a.slots[s].s2 + base : nullptr;
        float* s3 = a.h.use3 ? a.slots[s].s3 + base : nullptr;
        const float gs = a.scales != nullptr ? a.scales[a.slot_base + s] : a.h.grad_scale;
        int start = 0;
        if ((a.vec_mask >> s) & 1u) {
            const int n4 = len >> 2;
#pragma unroll
            for (int k = 0; k < kVecPerThread; ++k) {
                const int i = static_cast<int>(threadIdx.x) + k * kThreads;
                if (i < n4) update_vec<K>(a.h, gs, p, g, s1, s2, s3, i);
            }
            start = n4 * 4;
        }
        for (int i = start + static_cast<int>(threadIdx.x); i < len; i += kThreads)
            update_scalar<K>(a.h, gs, p, g, s1, s2, s3, i);
    }
}

// Sum of a double over the block, valid in thread 0. Fixed order.
FASTNN_D double block_sum(double v) {
    __shared__ double warp_sums[kThreads / 32];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    const int warp = static_cast<int>(threadIdx.x) >> 5;
    const int lane_id = static_cast<int>(threadIdx.x) & 31;
    if (lane_id == 0) warp_sums[warp] = v;
    __syncthreads();
    double total = 0.0;
    if (threadIdx.x == 0) {
#pragma unroll
        for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
    }
    return total;
}

FASTNN_D double sq(float x) {
    const double d = static_cast<double>(x);
    return d * d;
}

// One partial per block: partials[blockIdx.x] = sum of grad^2 over its tiles.
__global__ void __launch_bounds__(kThreads) sumsq_kernel(const StepArgs a, double* partials) {
    const std::int64_t tiles = a.tile_start[a.count];
    double acc = 0.0;
    for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
        const int s = find_slot(a, t);
        const std::int64_t base = (t - a.tile_start[s]) * kTile;
        const std::int64_t rest = a.slots[s].n - base;
        const int len = rest < kTile ? static_cast<int>(rest) : kTile;
        const float* g = a.slots[s].grad + base;
        int start = 0;
        if ((a.vec_mask >> s) & 1u) {
            const int n4 = len >> 2;
#pragma unroll
            for (int k = 0; k < kVecPerThread; ++k) {
                const int i = static_cast<int>(threadIdx.x) + k * kThreads;
                if (i < n4) {
                    const float4 v = reinterpret_cast<const float4*>(g)[i];
                    acc += sq(v.x) + sq(v.y) + sq(v.z) + sq(v.w);
                }
            }
            start = n4 * 4;
        }
        for (int i = start + static_cast<int>(threadIdx.x); i < len; i += kThreads) acc += sq(g[i]);
    }
    const double total = block_sum(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// One block: *out = sum of partials[0..m), each thread striding in order.
__global__ void __launch_bounds__(kThreads)
finish_kernel(const double* partials, std::int64_t m, double* out) {
    double acc = 0.0;
    for (std::int64_t i = threadIdx.x; i < m; i += kThreads) acc += partials[i];
    const double total = block_sum(acc);
    if (threadIdx.x == 0) *out = total;
}

// Sum of grad^2 over one tile of a chunk (every thread of the block calls it).
FASTNN_D double tile_sumsq(const StepArgs& a, int s, std::int64_t t) {
    const std::int64_t base = (t - a.tile_start[s]) * kTile;
    const std::int64_t rest = a.slots[s].n - base;
    const int len = rest < kTile ? static_cast<int>(rest) : kTile;
    const float* g = a.slots[s].grad + base;
    double acc = 0.0;
    int start = 0;
    if ((a.vec_mask >> s) & 1u) {
        const int n4 = len >> 2;
#pragma unroll
        for (int k = 0; k < kVecPerThread; ++k) {
            const int i = static_cast<int>(threadIdx.x) + k * kThreads;
            if (i < n4) {
                const float4 v = reinterpret_cast<const float4*>(g)[i];
                acc += sq(v.x) + sq(v.y) + sq(v.z) + sq(v.w);
            }
        }
        start = n4 * 4;
    }
    for (int i = start + static_cast<int>(threadIdx.x); i < len; i += kThreads) acc += sq(g[i]);
    return acc;
}

// Norm clipping, pass 1: tile_sums[t] = sum of grad^2 over tile t of the chunk.
__global__ void __launch_bounds__(kThreads) tile_sumsq_kernel(const StepArgs a, double* tile_sums) {
    const std::int64_t tiles = a.tile_start[a.count];
    for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
        const double total = block_sum(tile_sumsq(a, find_slot(a, t), t));
        if (threadIdx.x == 0) tile_sums[t] = total;
        __syncthreads();  // block_sum's shared partials are reused by the next tile
    }
}

FASTNN_D double warp_sum(double v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;  // valid in lane 0
}

// Norm clipping, pass 2 (one block per chunk, one warp per slot): the slot's
// sum of squares after grad_scale and clip_norm (slot_ss) and its clip_norm
// factor (slot_factor), at slot_base + s.
__global__ void __launch_bounds__(kThreads)
slot_sumsq_kernel(const StepArgs a, const double* tile_sums, double* slot_ss, double* slot_factor) {
    const int warp = static_cast<int>(threadIdx.x) >> 5;
    const int lane_id = static_cast<int>(threadIdx.x) & 31;
    const double gs = static_cast<double>(a.h.grad_scale);
    for (int s = warp; s < a.count; s += kThreads / 32) {
        double acc = 0.0;
        for (std::int64_t t = a.tile_start[s] + lane_id; t < a.tile_start[s + 1]; t += 32) acc += tile_sums[t];
        acc = warp_sum(acc);
        if (lane_id == 0) {
            double v = acc * gs * gs;
            double f = 1.0;
            if (a.h.clip_norm > 0.0f) {
                f = clip_norm_factor(v, static_cast<double>(a.h.clip_norm));
                v *= f * f;
            }
            slot_ss[a.slot_base + s] = v;
            slot_factor[a.slot_base + s] = f;
        }
    }
}

// Norm clipping, pass 3 (one block): scales[i] = grad_scale * slot_factor[i] * global factor.
__global__ void __launch_bounds__(kThreads)
scale_kernel(const double* slot_ss, const double* slot_factor, int slots, float grad_scale,
             float global_clip_norm, float* scales) {
    __shared__ double global;
    double acc = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < slots; i += kThreads) acc += slot_ss[i];
    const double total = block_sum(acc);
    if (threadIdx.x == 0) {
        global = global_clip_norm > 0.0f ? global_clip_factor(total, static_cast<double>(global_clip_norm))
                                         : 1.0;
    }
    __syncthreads();
    for (int i = static_cast<int>(threadIdx.x); i < slots; i += kThreads)
        scales[i] = static_cast<float>(static_cast<double>(grad_scale) * slot_factor[i] * global);
}

#undef FASTNN_D
#undef FASTNN_HD

inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

unsigned grid_for(std::int64_t tiles) {
    const std::int64_t cap = static_cast<std::int64_t>(sm_count("optimizer")) * kBlocksPerSm;
    const std::int64_t blocks = tiles < cap ? tiles : cap;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

void check_table(const char* op, const ParamSlot* slots, int count) {
    if (count < 0) throw ValueError(message(op, ": count must be >= 0, got ", count));
    if (count > 0 && slots == nullptr)
        throw ValueError(message(op, ": slots is null with count ", count));
    for (int i = 0; i < count; ++i) {
        if (slots[i].n < 0)
            throw ValueError(message(op, ": slot ", i, ": n must be >= 0, got ", slots[i].n));
    }
}

void require(const char* op, int i, const void* ptr, const char* what, const char* why) {
    if (ptr == nullptr)
        throw ValueError(message(op, ": slot ", i, ": ", what, " is null (needed ", why, ")"));
}

// Splits the non-empty slots into chunks of kMaxSlots; `use` picks the
// pointers that must be 16-byte aligned for the float4 path.
std::vector<StepArgs> build_chunks(const ParamSlot* slots, int count, const Hyper& h,
                                   bool grad_only) {
    std::vector<StepArgs> chunks;
    for (int i = 0; i < count; ++i) {
        const ParamSlot& ps = slots[i];
        if (ps.n == 0) continue;
        if (chunks.empty() || chunks.back().count == kMaxSlots) {
            chunks.emplace_back();
            StepArgs& c = chunks.back();
            c.vec_mask = 0;
            c.scales = nullptr;
            c.slot_base = 0;
            c.count = 0;
            c.tile_start[0] = 0;
            c.h = h;
        }
        StepArgs& c = chunks.back();
        const int s = c.count++;
        c.slots[s] = Slot{ps.param, ps.grad, ps.s1, ps.s2, ps.s3, ps.n};
        c.tile_start[s + 1] = c.tile_start[s] + (ps.n + kTile - 1) / kTile;
        bool vec = aligned16(ps.grad);
        if (!grad_only) {
            vec = vec && aligned16(ps.param) && (!h.use1 || aligned16(ps.s1)) &&
                  (!h.use2 || aligned16(ps.s2)) && (!h.use3 || aligned16(ps.s3));
        }
        if (vec) c.vec_mask |= std::uint64_t{1} << s;
    }
    return chunks;
}

// The kernel's hyper-parameters for `kind`; why[k] names the state s(k+1)
// for error messages. Throws ValueError on an unknown kind or a bad iteration.
Hyper make_hyper(const char* op, OptimizerKind kind, const OptimizerHyper& hy, const char* why[3]) {
    Hyper h{};
    h.lr = hy.learning_rate;
    h.momentum = hy.momentum;
    h.one_minus_beta_1 = 1.0f - hy.beta_1;
    h.one_minus_beta_2 = 1.0f - hy.beta_2;
    h.epsilon = hy.epsilon;
    h.rho = hy.rho;
    h.one_minus_rho = 1.0f - hy.rho;
    h.weight_decay = hy.weight_decay;
    h.grad_scale = hy.grad_scale;
    h.clip_value = hy.clip_value;
    h.lr_t = hy.learning_rate;
    h.clip_norm = hy.clip_norm;
    h.global_clip_norm = hy.global_clip_norm;
    h.nesterov = hy.nesterov;
    h.amsgrad = hy.amsgrad;
    h.centered = hy.centered;
    h.use1 = h.use2 = h.use3 = false;
    switch (kind) {
        case OptimizerKind::sgd:
            h.use1 = hy.momentum > 0.0f;
            why[0] = "velocity for sgd with momentum > 0";
            break;
        case OptimizerKind::adam: {
            if (hy.iteration < 1)
                throw ValueError(message(op, ": adam: iteration must be >= 1, got ", hy.iteration));
            h.lr_t = adam_step_size(hy);
            h.use1 = h.use2 = true;
            h.use3 = hy.amsgrad;
            why[0] = "m for adam";
            why[1] = "v for adam";
            why[2] = "v_hat for adam with amsgrad";
            break;
        }
        case OptimizerKind::rmsprop:
            h.use1 = true;
            h.use2 = hy.momentum > 0.0f;
            h.use3 = hy.centered;
            why[0] = "mean square for rmsprop";
            why[1] = "momentum buffer for rmsprop with momentum > 0";
            why[2] = "mean gradient for centered rmsprop";
            break;
        case OptimizerKind::adagrad:
            h.use1 = true;
            why[0] = "accumulator for adagrad";
            break;
        default:
            throw ValueError(message(op, ": unknown optimizer kind ", static_cast<int>(kind),
                                     " (expected 0..", kOptimizerKinds - 1, ")"));
    }
    return h;
}

template <OptimizerKind K>
void launch_steps(const std::vector<StepArgs>& chunks, cudaStream_t stream) {
    for (const StepArgs& c : chunks) {
        step_kernel<K><<<grid_for(c.tile_start[c.count]), kThreads, 0, stream>>>(c);
        check_cuda(cudaGetLastError());
    }
}

// Queues the three norm-clipping passes on the stream and points every chunk
// at the per-slot factors; returns the scratch holding them.
std::unique_ptr<Scratch> clip_prepass(std::vector<StepArgs>& chunks, const Hyper& h, cudaStream_t stream) {
    std::int64_t tiles = 0;
    int slots = 0;
    for (StepArgs& c : chunks) {
        c.slot_base = slots;
        slots += c.count;
        tiles += c.tile_start[c.count];
    }
    const std::size_t doubles =
        static_cast<std::size_t>(tiles) + 2 * static_cast<std::size_t>(slots) + (static_cast<std::size_t>(slots) + 1) / 2;
    auto scratch = std::make_unique<Scratch>(doubles, stream, "optimizer_step");
    double* tile_sums = scratch->get();
    double* slot_ss = tile_sums + tiles;
    double* slot_factor = slot_ss + slots;
    float* scales = reinterpret_cast<float*>(slot_factor + slots);
    std::int64_t off = 0;
    for (const StepArgs& c : chunks) {
        tile_sumsq_kernel<<<grid_for(c.tile_start[c.count]), kThreads, 0, stream>>>(c, tile_sums + off);
        check_cuda(cudaGetLastError());
        slot_sumsq_kernel<<<1, kThreads, 0, stream>>>(c, tile_sums + off, slot_ss, slot_factor);
        check_cuda(cudaGetLastError());
        off += c.tile_start[c.count];
    }
    scale_kernel<<<1, kThreads, 0, stream>>>(slot_ss, slot_factor, slots, h.grad_scale, h.global_clip_norm, scales);
    check_cuda(cudaGetLastError());
    for (StepArgs& c : chunks) c.scales = scales;
    return scratch;
}

}  // namespace

void optimizer_step(OptimizerKind kind, const OptimizerHyper& hy, const ParamSlot* slots, int count,
                    std::uintptr_t stream) {
    constexpr const char* kOp = "optimizer_step";
    check_table(kOp, slots, count);

    const char* why[3] = {"", "", ""};
    const Hyper h = make_hyper(kOp, kind, hy, why);
    for (int i = 0; i < count; ++i) {
        const ParamSlot& ps = slots[i];
        if (ps.n == 0) continue;
        require(kOp, i, ps.param, "param", "for every non-empty slot");
        require(kOp, i, ps.grad, "grad", "for every non-empty slot");
        if (h.use1) require(kOp, i, ps.s1, "s1", why[0]);
        if (h.use2) require(kOp, i, ps.s2, "s2", why[1]);
        if (h.use3) require(kOp, i, ps.s3, "s3", why[2]);
    }

    std::vector<StepArgs> chunks = build_chunks(slots, count, h, false);
    if (chunks.empty()) return;  // count == 0 or every n == 0: no launch
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    std::unique_ptr<Scratch> scratch;  // freed (stream-ordered) after the step kernels are queued
    if (norm_clipping(hy)) scratch = clip_prepass(chunks, h, s);
    switch (kind) {
        case OptimizerKind::sgd: launch_steps<OptimizerKind::sgd>(chunks, s); return;
        case OptimizerKind::adam: launch_steps<OptimizerKind::adam>(chunks, s); return;
        case OptimizerKind::rmsprop: launch_steps<OptimizerKind::rmsprop>(chunks, s); return;
        case OptimizerKind::adagrad: launch_steps<OptimizerKind::adagrad>(chunks, s); return;
    }
}

double grad_sum_squares(const ParamSlot* slots, int count, std::uintptr_t stream) {
    constexpr const char* kOp = "grad_sum_squares";
    check_table(kOp, slots, count);
    for (int i = 0; i < count; ++i) {
        if (slots[i].n > 0) require(kOp, i, slots[i].grad, "grad", "for every non-empty slot");
    }
    const Hyper h{};
    const std::vector<StepArgs> chunks = build_chunks(slots, count, h, true);
    if (chunks.empty()) return 0.0;

    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    std::vector<unsigned> grids;
    grids.reserve(chunks.size());
    std::int64_t m = 0;
    for (const StepArgs& c : chunks) {
        grids.push_back(grid_for(c.tile_start[c.count]));
        m += grids.back();
    }
    Scratch scratch(static_cast<std::size_t>(m) + 1, s, "grad_sum_squares");  // m partials, then the result
    double* partials = scratch.get();
    std::int64_t off = 0;
    for (std::size_t k = 0; k < chunks.size(); ++k) {
        sumsq_kernel<<<grids[k], kThreads, 0, s>>>(chunks[k], partials + off);
        check_cuda(cudaGetLastError());
        off += grids[k];
    }
    finish_kernel<<<1, kThreads, 0, s>>>(partials, m, partials + m);
    check_cuda(cudaGetLastError());
    double result = 0.0;
    check_cuda(cudaMemcpyAsync(&result, partials + m, sizeof(double), cudaMemcpyDeviceToHost, s));
    check_cuda(cudaStreamSynchronize(s));
    return result;
}

}  // namespace fastnn::cuda
