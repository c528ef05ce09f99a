// Winograd F(2x2, 3x3) / F(4x4, 3x3) convolution passes (the algebra and layouts:
// winograd_kernels.h).
//
// Tiles are cut into blocks small enough that a block's transformed input and its products
// stay in L2 (kBlockFloats); each block is transformed, multiplied by the GEMM micro-kernel
// once per transform point xi (out of and into those L2-resident buffers) and transformed back
// while hot. The filter is transformed once per call, straight into the micro-kernel's packed
// panels. Threads take contiguous runs of blocks: the forward and backward-data passes write
// disjoint output tiles; the backward-filter pass gives each task its own transformed-domain
// accumulator, added in task order (the same bits for a given thread count, as everywhere in
// the CPU kernels).
#include <algorithm>
#include <cstring>

#include "fastnn/dispatch.h"
#include "fastnn/thread_pool.h"
#include "gemm_kernels.h"
#include "winograd_kernels.h"
#include "workspace.h"

namespace fastnn::cpu {

namespace {

// A block's transformed input and products (or transformed dy): 512 KiB, half of Zen 4's L2.
constexpr std::int64_t kBlockFloats = 1 << 17;
constexpr std::int64_t kMaxBlockTiles = 256;
constexpr int kTasksPerThread = 2;  // a thread slowed by another process takes fewer tasks
// Below this many channels (either way) a transform point's GEMM has too little work per
// micro-kernel call for the fewer multiplies to pay for the transforms; above the filter size
// the packed transformed kernels no longer stay in cache between blocks. Both measured against
// the im2col path on 3x3 layers of 4..512 channels.
constexpr std::int64_t kMinChannels = 16;
constexpr std::int64_t kMaxFilterFloats = 1 << 20;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
std::int64_t round16(std::int64_t n) { return ceil_div(n, 16) * 16; }
std::int64_t points(const WinogradShape& s) { return (s.m + 2) * (s.m + 2); }
std::int64_t tiles(const WinogradShape& s) { return s.n * ceil_div(s.oh, s.m) * ceil_div(s.ow, s.m); }
// A tile's transform points of `width` floats each, plus one cache line: rows a power of two
// apart would map the micro-kernel's rows onto one L1 set.
std::int64_t padded_row(const WinogradShape& s, std::int64_t width) { return points(s) * width + 16; }

// The packed transformed filter of tile side m: P x kin x kout rounded up to the widest panel (32).
std::int64_t filter_floats(std::int64_t m, std::int64_t kin, std::int64_t kout) {
    return (m + 2) * (m + 2) * kin * ceil_div(kout, 32) * 32;
}

// The tile side for an output of oh x ow, kin -> kout channels: 4 unless its overhang leaves 2
// with fewer points to multiply (F(4x4) has 36 points per 16 outputs, F(2x2) 16 per 4), as for
// outputs under ~6, or its filter would not stay in cache.
std::int64_t tile_side(std::int64_t oh, std::int64_t ow, std::int64_t kin, std::int64_t kout) {
    if (filter_floats(4, kin, kout) > kMaxFilterFloats) return 2;
    const std::int64_t four = 36 * ceil_div(oh, 4) * ceil_div(ow, 4), two = 16 * ceil_div(oh, 2) * ceil_div(ow, 2);
    return four < two ? 4 : 2;
}

const WinogradTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return winograd_table_avx512();
        case Isa::avx2: return winograd_table_avx2();
#endif
        default: return winograd_table_portable();
    }
}

const WinogradTransforms& transforms(const WinogradShape& s) { return s.m == 4 ? table().f4 : table().f2; }

// Tiles per block: as many as fit kBlockFloats at `per_tile` floats each, whole MR panels.
std::int64_t block_tiles(std::int64_t per_tile, int mr) {
    const std::int64_t t = std::clamp<std::int64_t>(kBlockFloats / per_tile, mr, kMaxBlockTiles);
    return t / mr * mr;
}

struct Split {
    int threads;
    std::int64_t tasks;
};

Split split(std::int64_t blocks) {
    const int threads = int(std::min<std::int64_t>(num_threads(), blocks));
    return {threads, threads <= 1 ? 1 : std::min<std::int64_t>(blocks, std::int64_t(kTasksPerThread) * threads)};
}

// The filter pass's tasks each own a P x C x op accumulator: no more than kAccumulatorFloats
// of them in all, so a many-core machine does not hold hundreds of MiB of them (the thread's
// workspace keeps its size).
constexpr std::int64_t kAccumulatorFloats = 1 << 24;  // 64 MiB

Split filter_split(std::int64_t blocks, std::int64_t acc_floats) {
    const Split sp = split(blocks);
    const std::int64_t cap = std::max<std::int64_t>(1, kAccumulatorFloats / std::max<std::int64_t>(acc_floats, 1));
    const std::int64_t tasks = std::min(sp.tasks, cap);
    return {int(std::min<std::int64_t>(sp.threads, tasks)), tasks};
}

thread_local Workspace tl_work;

// The filter transform of the pass, packed: P x panels x kin x NR floats at the workspace start.
struct PackedFilter {
    std::int64_t kin, panels, stride;  // stride: floats per transform point (64-byte multiple)
};

// The blocking of forward_pass: T tiles per block; V (T x P x cp) and M (T x P x op), tile-major
// (a row of the point xi GEMM is P points long), and one task's slot of V, M and the gather
// scratch.
struct ForwardBlocks {
    std::int64_t P, cp, op, T, v_row, m_row, v_size, m_size, slot;
};

ForwardBlocks forward_blocks(const WinogradShape& s, const MicroKernel& uk, const PackedFilter& pf) {
    ForwardBlocks b;
    b.P = points(s);
    b.cp = ceil_div(s.c, 16) * 16;
    b.op = pf.panels * uk.nr;
    b.T = block_tiles(b.P * (b.cp + b.op), uk.mr);
    b.v_row = padded_row(s, b.cp);
    b.m_row = padded_row(s, b.op);
    b.v_size = b.T * b.v_row;
    b.m_size = b.T * b.m_row;
    b.slot = b.v_size + b.m_size + b.P * b.cp;
    return b;
}

// Workspace for the packed filter and forward_pass's slots, for up to 2 x threads tasks.
float* forward_workspace(const ForwardBlocks& b, const PackedFilter& pf) {
    const std::int64_t tasks = std::int64_t(kTasksPerThread) * num_threads();
    return tl_work.floats(std::size_t(b.P * pf.stride + tasks * b.slot));
}

// y = act(conv3x3(x masked) + bias) on shape s (the forward and, transposed, backward-data);
// work: forward_workspace's, starting with the packed transformed filter (P x s.c x op,
// pf.stride floats per point).
void forward_pass(const WinogradShape& s, const MicroKernel& uk, const ForwardBlocks& b, const float* x,
                  const float* mask, const float* bias, bool relu, float* y, float* work, const PackedFilter& pf) {
    const std::int64_t C = s.c, NR = uk.nr, MR = uk.mr, P = b.P, T = b.T;
    const std::int64_t count_all = tiles(s), blocks = ceil_div(count_all, T);
    const Split sp = split(blocks);
    const float* u = work;
    float* slots = work + P * pf.stride;
    const WinogradTransforms& t = transforms(s);
    parallel_for(sp.tasks, sp.threads, [&](std::int64_t task) {
        float* v = slots + task * b.slot;
        float* m = v + b.v_size;
        float* scratch = m + b.m_size;
        const Epilogue ep;
        for (std::int64_t blk = blocks * task / sp.tasks; blk < blocks * (task + 1) / sp.tasks; ++blk) {
            const std::int64_t t0 = blk * T, count = std::min(T, count_all - t0), rows = ceil_div(count, MR) * MR;
            t.input(s, x, mask, t0, count, rows, v, b.v_row, scratch);
            for (std::int64_t xi = 0; xi < P; ++xi)
                for (std::int64_t j = 0; j < pf.panels; ++j) {
                    const float* bp = u + xi * pf.stride + j * C * NR;
                    for (std::int64_t r0 = 0; r0 < rows; r0 += MR)
                        uk.fn_rows(C, v + r0 * b.v_row + xi * b.cp, b.v_row, 1, bp,
                                   m + r0 * b.m_row + xi * b.op + j * NR, b.m_row, int(MR), int(NR), ep);
                }
            t.output(s, m, b.op, b.m_row, bias, relu, t0, count, y);
        }
    });
}

}  // namespace

bool winograd_eligible(const ConvGeometry& g) {
    if (g.kh != 3 || g.kw != 3 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1) return false;
    if (g.c < kMinChannels || g.o < kMinChannels || g.oh < 1 || g.ow < 1 || g.n < 1) return false;
    return filter_floats(2, g.c, g.o) <= kMaxFilterFloats && filter_floats(2, g.o, g.c) <= kMaxFilterFloats;
}

void winograd_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act,
                      float* y) {
    const WinogradShape s{g.n, g.h, g.w, g.c, g.oh, g.ow, g.o, g.pt, g.pl, tile_side(g.oh, g.ow, g.c, g.o)};
    const MicroKernel uk = microkernel_for(g.o);
    const std::int64_t panels = ceil_div(g.o, uk.nr);
    const PackedFilter pf{g.c, panels, panels * g.c * uk.nr};
    const ForwardBlocks b = forward_blocks(s, uk, pf);
    float* work = forward_workspace(b, pf);
    // U from w (3, 3, C, O): tap stride C*O, input channel stride O, output channel stride 1.
    transforms(s).filter(w, g.c * g.o, g.o, 1, g.c, g.o, uk.nr, work, pf.stride);
    forward_pass(s, uk, b, x, nullptr, bias, act == Activation::relu, y, work, pf);
}

void winograd_backward_data(const ConvGeometry& g, const float* dy, const float* y, const float* w, float* dx) {
    // dx is the forward convolution of dy (channels O -> C) with w rotated by 180 degrees and
    // its channel axes swapped, padded by 2 - p: dx[ih] sums dy[ih + p - kh] w[kh].
    const WinogradShape s{g.n, g.oh, g.ow, g.o, g.h, g.w, g.c, 2 - g.pt, 2 - g.pl, tile_side(g.h, g.w, g.o, g.c)};
    const MicroKernel uk = microkernel_for(g.c);
    const std::int64_t panels = ceil_div(g.c, uk.nr);
    const PackedFilter pf{g.o, panels, panels * g.o * uk.nr};
    const ForwardBlocks b = forward_blocks(s, uk, pf);
    float* work = forward_workspace(b, pf);
    // Rotated tap (kh, kw) is w's tap (2 - kh, 2 - kw): start at tap 8 and step back; input
    // channel o has stride 1 in w, output channel c stride O.
    transforms(s).filter(w + 8 * g.c * g.o, -g.c * g.o, 1, g.o, g.o, g.c, uk.nr, work, pf.stride);
    forward_pass(s, uk, b, dy, y, nullptr, false, dx, work, pf);
}

void winograd_backward_filter(const ConvGeometry& g, const float* x, const float* dy, const float* y, float* dw,
                              float* db) {
    const WinogradShape s{g.n, g.h, g.w, g.c, g.oh, g.ow, g.o, g.pt, g.pl, tile_side(g.oh, g.ow, g.c, g.o)};
    const MicroKernel uk = microkernel_for(g.o);
    const std::int64_t C = g.c, cp = ceil_div(C, 16) * 16, O = g.o, NR = uk.nr, MR = uk.mr;
    const std::int64_t panels = ceil_div(O, NR), op = panels * NR;
    const std::int64_t P = points(s), T = block_tiles(P * (cp + op), uk.mr);
    const std::int64_t count_all = tiles(s), blocks = ceil_div(count_all, T);
    const Split sp = filter_split(blocks, P * C * op);
    const std::int64_t v_row = padded_row(s, cp), gs = T * op, ms = C * op;
    // V is read MR channels at a time: the last panel may read past cp (into the row's pad).
    const std::int64_t v_size = round16(T * v_row + MR), g_size = P * gs, scratch_size = P * cp;
    const std::int64_t acc_size = P * ms, db_size = round16(O);
    const std::int64_t slot = v_size + g_size + scratch_size + acc_size + db_size;
    float* slots = tl_work.floats(std::size_t(sp.tasks * slot));
    const WinogradTransforms& t = transforms(s);
    parallel_for(sp.tasks, sp.threads, [&](std::int64_t task) {
        float* v = slots + task * slot;
        float* gy = v + v_size;
        float* scratch = gy + g_size;
        float* acc = scratch + scratch_size;
        float* dbp = acc + acc_size;
        if (db) std::fill(dbp, dbp + O, 0.0f);
        const std::int64_t first = blocks * task / sp.tasks, last = blocks * (task + 1) / sp.tasks;
        for (std::int64_t blk = first; blk < last; ++blk) {
            const std::int64_t t0 = blk * T, count = std::min(T, count_all - t0);
            t.input(s, x, nullptr, t0, count, count, v, v_row, scratch);
            t.grad(s, dy, y, t0, count, count, NR, gy, gs, db ? dbp : nullptr);
            Epilogue ep;
            ep.beta = blk == first ? 0.0f : 1.0f;
            // acc[xi] (C x O) += V[xi]^T (C x count) @ Gy[xi] (count x O)
            for (std::int64_t xi = 0; xi < P; ++xi)
                for (std::int64_t c0 = 0; c0 < C; c0 += MR)
                    for (std::int64_t j = 0; j < panels; ++j)
                        uk.fn(count, v + xi * cp + c0, 1, v_row, gy + xi * gs + j * count * NR,
                              acc + xi * ms + c0 * op + j * NR, op, int(std::min(MR, C - c0)), int(NR), ep);
        }
    });
    float* acc0 = slots + v_size + g_size + scratch_size;
    for (std::int64_t task = 1; task < sp.tasks; ++task) {  // task order
        const float* part = slots + task * slot + v_size + g_size + scratch_size;
        for (std::int64_t i = 0; i < acc_size; ++i) acc0[i] += part[i];
        if (db)
            for (std::int64_t o = 0; o < O; ++o) acc0[acc_size + o] += part[acc_size + o];
    }
    t.filter_output(acc0, ms, op, C, O, dw);
    if (db) std::memcpy(db, acc0 + acc_size, sizeof(float) * std::size_t(O));
}

}  // namespace fastnn::cpu
