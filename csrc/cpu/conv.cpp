// 2-D convolution on the CPU (fastnn/conv.h), lowered to the packed GEMM
// (gemm.cpp, which dispatches its micro-kernels per ISA):
//
//   forward          y (M x O)  = col (M x K) @ w (K x O)      + bias, relu in the GEMM epilogue
//   backward-data    dcol       = dy (M x O) @ w^T (O x K),   then col2im (scatter-add) into dx
//   backward-filter  dw (K x O) = col^T (K x M) @ dy (M x O), accumulated chunk by chunk
//
// with col = im2col(x): row r = (n, oh, ow) holds the K = KH*KW*C taps of that output pixel in
// (kh, kw, c) order, the order of the kernel's own flattening. col is never materialised
// whole. Which path runs:
//
//   1x1, stride 1, no padding   x itself is col: one GEMM each way
//   K <= kDirectMaxK            (a first layer: 3x3 over 1 or 3 channels) forward and
//                               backward-filter by conv_impl.h's direct loops, per ISA
//   3x3, stride 1, >= 16        all three passes by Winograd F(4x4, 3x3) or F(2x2, 3x3)
//   channels both ways          (winograd.cpp): 4x / 2.25x fewer multiplies than the GEMM over
//                               im2col; a non-finite input makes its whole output tile NaN
//                               (as in any Winograd convolution), and F(4x4)'s transforms
//                               overflow float32 ~100x sooner than the direct sum
//   packed w fits L2            forward by implicit GEMM: the micro-kernel reads x in place
//                               (forward_implicit)
//   otherwise                   chunks of col rows small enough to stay in L2, built by
//                               im2col and multiplied by a one-thread GEMM per task
//
// conv2d_backward (what autograd calls) makes dx, dw and db in one pass over dy, chunk by
// chunk, with the relu mask taken from y as each chunk is read; the separate
// backward-data / backward-filter kernels serve the ops of those names. Threads work on
// independent chunks or images, so there is no barrier between im2col and GEMM.
//
// Determinism: every split depends only on the problem and the thread count, and per-task
// partial sums (dw, db) are added in task order, so a fixed thread count gives the same bits
// from run to run.
#include <algorithm>
#include <cstring>

#include "conv_kernels.h"
#include "fastnn/conv.h"
#include "fastnn/dispatch.h"
#include "fastnn/gemm.h"
#include "fastnn/thread_pool.h"
#include "gemm_kernels.h"
#include "winograd_kernels.h"
#include "workspace.h"

namespace fastnn::cpu {

namespace {

// Target col chunk: 512 KiB, inside Zen 4's 1 MiB L2 beside the GEMM's packed panels. Each chunk's
// GEMM packs w again, so chunks must not be small: at K = 288 a 448-row chunk spends ~3% of
// its time packing w, a 112-row one ~12% (and the backward-filter reads and writes its dw
// accumulator once per chunk).
constexpr std::int64_t kChunkFloats = 1 << 17;
constexpr std::int64_t kMinChunkRows = 128;
constexpr std::int64_t kMaxChunkRows = 4096;
constexpr int kTasksPerThread = 2;  // a thread slowed by another process takes fewer tasks

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

std::int64_t chunk_rows(const ConvGeometry& g) {
    const std::int64_t k = std::max<std::int64_t>(g.taps(), 1);
    std::int64_t rows = std::clamp(kChunkFloats / k, kMinChunkRows, kMaxChunkRows);
    return std::max<std::int64_t>(8, rows / 8 * 8);  // whole 8-row micro-panels of the GEMM
}

// Short runs (C of 1..15 floats) are common in the first layer; memcpy's call costs more
// than a loop there.
inline void copy_floats(const float* src, std::int64_t n, float* dst) {
    if (n >= 16) {
        std::memcpy(dst, src, sizeof(float) * std::size_t(n));
    } else {
        for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i];
    }
}

inline void zero_floats(std::int64_t n, float* dst) { std::fill(dst, dst + n, 0.0f); }

inline void add_floats(const float* src, std::int64_t n, float* dst) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// out = y > 0 ? g : 0. Both operands are loaded unconditionally so the loop is a vector select
// (a conditional load of g would be a branch per element, mispredicted half the time).
void relu_mask(const float* __restrict y, const float* __restrict g, std::int64_t n, float* __restrict out) {
    for (std::int64_t i = 0; i < n; ++i) {
        const float gv = g[i];
        out[i] = y[i] > 0.0f ? gv : 0.0f;
    }
}

// The output pixel of GEMM row r.
struct Pixel {
    std::int64_t n, oh, ow;
};

Pixel pixel_of(const ConvGeometry& g, std::int64_t r) {
    const std::int64_t per_image = g.oh * g.ow;
    const std::int64_t rem = r % per_image;
    return {r / per_image, rem / g.ow, rem % g.ow};
}

void next_pixel(const ConvGeometry& g, Pixel& p) {
    if (++p.ow == g.ow) {
        p.ow = 0;
        if (++p.oh == g.oh) {
            p.oh = 0;
            ++p.n;
        }
    }
}

// Rows [r0, r0 + m) of im2col(x) into col (m x K, row-major). With no dilation along W a
// kernel row's KW*C taps are one contiguous run of x (NHWC), copied at once when in bounds.
void im2col(const ConvGeometry& g, const float* x, std::int64_t r0, std::int64_t m, float* col) {
    const std::int64_t K = g.taps(), C = g.c, run = g.kw * C;
    Pixel p = pixel_of(g, r0);
    for (std::int64_t i = 0; i < m; ++i, next_pixel(g, p)) {
        const float* img = x + p.n * g.h * g.w * C;
        const std::int64_t ih0 = p.oh * g.sh - g.pt, iw0 = p.ow * g.sw - g.pl;
        for (std::int64_t kh = 0; kh < g.kh; ++kh) {
            float* dst = col + i * K + kh * run;
            const std::int64_t ih = ih0 + kh * g.dh;
            if (ih < 0 || ih >= g.h) {
                zero_floats(run, dst);
                continue;
            }
            const float* src = img + ih * g.w * C;
            if (g.dw == 1 && iw0 >= 0 && iw0 + g.kw <= g.w) {
                copy_floats(src + iw0 * C, run, dst);
                continue;
            }
            for (std::int64_t kw = 0; kw < g.kw; ++kw) {
                const std::int64_t iw = iw0 + kw * g.dw;
                if (iw < 0 || iw >= g.w)
                    zero_floats(C, dst + kw * C);
                else
                    copy_floats(src + iw * C, C, dst + kw * C);
            }
        }
    }
}

// The transpose of im2col for channels [c0, c1): dx[pixel taps] += dcol rows [r0, r0 + m).
// Taps in the padding are dropped.
void col2im(const ConvGeometry& g, const float* dcol, std::int64_t r0, std::int64_t m, std::int64_t c0,
            std::int64_t c1, float* dx) {
    const std::int64_t K = g.taps(), C = g.c, width = c1 - c0;
    Pixel p = pixel_of(g, r0);
    for (std::int64_t i = 0; i < m; ++i, next_pixel(g, p)) {
        float* img = dx + p.n * g.h * g.w * C;
        const std::int64_t ih0 = p.oh * g.sh - g.pt, iw0 = p.ow * g.sw - g.pl;
        for (std::int64_t kh = 0; kh < g.kh; ++kh) {
            const std::int64_t ih = ih0 + kh * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            const float* src = dcol + i * K + kh * g.kw * C + c0;
            float* row = img + ih * g.w * C + c0;
            for (std::int64_t kw = 0; kw < g.kw; ++kw) {
                const std::int64_t iw = iw0 + kw * g.dw;
                if (iw >= 0 && iw < g.w) add_floats(src + kw * C, width, row + iw * C);
            }
        }
    }
}

GemmArgs plain_gemm(std::int64_t m, std::int64_t n, std::int64_t k) {
    GemmArgs a;
    a.m = m;
    a.n = n;
    a.k = k;
    return a;
}

// Column chunks of the calling thread's conv calls; each task gets its own slot.
thread_local Workspace tl_cols;

const ConvTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return conv_table_avx512();
        case Isa::avx2: return conv_table_avx2();
#endif
        default: return conv_table_portable();
    }
}

bool direct(const ConvGeometry& g) { return g.taps() <= kDirectMaxK && !g.pointwise(); }

// Threads worth using for `flops` of direct-loop work (a task costs about a microsecond to hand out).
int direct_threads(std::int64_t flops) {
    return int(std::clamp<std::int64_t>(flops / (1 << 18), 1, num_threads()));
}

constexpr std::int64_t kDirectRows = 1024;  // rows per direct forward task

void forward_direct(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act,
                    float* y) {
    const std::int64_t M = g.rows(), K = g.taps(), O = g.o;
    const std::int64_t op = ceil_div(O, kDirectLanes) * kDirectLanes;
    float* wp = tl_cols.floats(std::size_t(K * op + op));  // w and bias padded to whole lane blocks
    float* bp = wp + K * op;
    for (std::int64_t k = 0; k < K; ++k) {
        std::memcpy(wp + k * op, w + k * O, sizeof(float) * std::size_t(O));
        zero_floats(op - O, wp + k * op + O);
    }
    if (bias) {
        std::memcpy(bp, bias, sizeof(float) * std::size_t(O));
        zero_floats(op - O, bp + O);
    }
    const ConvTable& t = table();
    const bool relu = act == Activation::relu;
    const std::int64_t tasks = ceil_div(M, kDirectRows);
    parallel_for(tasks, direct_threads(2 * M * K * O), [&](std::int64_t task) {
        const std::int64_t r0 = task * kDirectRows;
        t.forward(g, x, wp, op, bias ? bp : nullptr, relu, y, r0, std::min(kDirectRows, M - r0));
    });
}

// Task i sums rows [M i / T, M (i+1) / T) into its own accumulator (task 0: dw itself); the
// accumulators are added in task order.
void filter_direct(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
    const std::int64_t M = g.rows(), K = g.taps(), O = g.o;
    const std::int64_t tasks = direct_threads(2 * M * K * O);
    const std::int64_t part = ceil_div(K * O, 16) * 16;
    float* parts = tl_cols.floats(std::size_t(tasks * part));
    const ConvTable& t = table();
    parallel_for(tasks, int(tasks), [&](std::int64_t task) {
        float* acc = task == 0 ? dw : parts + task * part;
        zero_floats(K * O, acc);
        const std::int64_t begin = M * task / tasks, end = M * (task + 1) / tasks;
        t.filter(g, x, dy + begin * O, acc, begin, end - begin);
    });
    for (std::int64_t task = 1; task < tasks; ++task) add_floats(parts + task * part, K * O, dw);
}

// ---- implicit-GEMM forward -----------------------------------------------------------------
// For MR output pixels of one output row whose windows lie inside the image, the im2col rows
// are x itself, read with a row stride of sw*C: along a kernel row (no dilation along W) a
// window's taps are one contiguous run of KW*C floats. The GEMM's micro-kernel then reads A in
// place, one call per kernel row (kc = KW*C; per tap, kc = C, when dilated along W), and
// accumulates into the output tile (beta = 1 after the first run; bias and relu on the last).
// w is packed once per call into the micro-kernel's NR-wide panels. Blocks touching the padding
// or an image edge gather their taps into a small packed panel instead. This skips im2col's
// write and re-read of K floats per pixel; it is used while the packed w stays in L2.

constexpr std::int64_t kImplicitMaxPacked = 1 << 17;  // floats of packed w (512 KiB)

bool implicit(const ConvGeometry& g, const MicroKernel& uk) {
    return !g.pointwise() && g.taps() > kDirectMaxK && g.taps() * ceil_div(g.o, uk.nr) * uk.nr <= kImplicitMaxPacked;
}

struct Run {
    std::int64_t offset;  // from the window's origin in x
    std::int64_t k0, kc;  // taps [k0, k0 + kc)
};

void forward_implicit(const ConvGeometry& g, const MicroKernel& uk, const float* x, const float* w, const float* bias,
                      Activation act, float* y) {
    const std::int64_t K = g.taps(), O = g.o, C = g.c, MR = uk.mr, NR = uk.nr;
    const std::int64_t panels = ceil_div(O, NR), panel = K * NR;  // K * NR: whole 64-byte lines (NR % 16 == 0)
    const std::int64_t M = g.rows(), blocks = ceil_div(M, MR);
    const int threads = std::max(1, std::min<int>(num_threads(), int(std::min<std::int64_t>(blocks, 1 << 20))));
    const std::int64_t tasks = std::min<std::int64_t>(blocks, std::int64_t(kTasksPerThread) * threads);
    const std::int64_t scratch = ceil_div(MR * K, 16) * 16;  // one block's im2col rows
    float* bp = tl_cols.floats(std::size_t(panels * panel + tasks * scratch));
    float* scratch0 = bp + panels * panel;
    for (std::int64_t j = 0; j < panels; ++j)
        for (std::int64_t p = 0; p < K; ++p) {
            const std::int64_t j0 = j * NR, width = std::min(NR, O - j0);
            float* dst = bp + j * panel + p * NR;
            std::memcpy(dst, w + p * O + j0, sizeof(float) * std::size_t(width));
            zero_floats(NR - width, dst + width);
        }
    Run runs[64];
    std::int64_t nruns = 0;
    if (g.dw == 1 && g.kh <= 64) {
        for (std::int64_t kh = 0; kh < g.kh; ++kh) runs[nruns++] = {kh * g.dh * g.w * C, kh * g.kw * C, g.kw * C};
    } else if (g.kh * g.kw <= 64) {
        for (std::int64_t kh = 0; kh < g.kh; ++kh)
            for (std::int64_t kw = 0; kw < g.kw; ++kw)
                runs[nruns++] = {(kh * g.dh * g.w + kw * g.dw) * C, (kh * g.kw + kw) * C, C};
    }
    const bool relu = act == Activation::relu;
    parallel_for(tasks, threads, [&](std::int64_t t) {
        float* col = scratch0 + t * scratch;
        for (std::int64_t blk = blocks * t / tasks; blk < blocks * (t + 1) / tasks; ++blk) {
            const std::int64_t r = blk * MR;
            const int m = int(std::min(MR, M - r));
            const Pixel p = pixel_of(g, r);
            const std::int64_t ih0 = p.oh * g.sh - g.pt, iw0 = p.ow * g.sw - g.pl;
            float* yr = y + r * O;
            const bool inside = nruns > 0 && m == MR && p.ow + MR <= g.ow && ih0 >= 0 &&
                                ih0 + (g.kh - 1) * g.dh < g.h && iw0 >= 0 &&
                                iw0 + (MR - 1) * g.sw + (g.kw - 1) * g.dw < g.w;
            if (inside) {  // A read straight from x, one run at a time
                const float* origin = x + ((p.n * g.h + ih0) * g.w + iw0) * C;
                for (std::int64_t j = 0; j < panels; ++j) {
                    const std::int64_t j0 = j * NR;
                    Epilogue ep;
                    for (std::int64_t u = 0; u < nruns; ++u) {
                        const bool last = u == nruns - 1;
                        ep.beta = u == 0 ? 0.0f : 1.0f;
                        ep.bias = last && bias ? bias + j0 : nullptr;
                        ep.relu = last && relu;
                        uk.fn_rows(runs[u].kc, origin + runs[u].offset, g.sw * C, 1, bp + j * panel + runs[u].k0 * NR,
                                   yr + j0, O, m, int(std::min(NR, O - j0)), ep);
                    }
                }
                continue;
            }
            // Elsewhere (an image edge, the padding, a block spanning two output rows): this
            // block's im2col rows, built in L1 (rows >= m zero: the kernel reads MR rows).
            im2col(g, x, r, m, col);
            zero_floats((MR - m) * K, col + m * K);
            for (std::int64_t j = 0; j < panels; ++j) {
                const std::int64_t j0 = j * NR;
                Epilogue ep;
                ep.bias = bias ? bias + j0 : nullptr;
                ep.relu = relu;
                uk.fn_rows(K, col, K, 1, bp + j * panel, yr + j0, O, m, int(std::min(NR, O - j0)), ep);
            }
        }
    });
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act, float* y) {
    const std::int64_t M = g.rows(), K = g.taps(), O = g.o;
    if (M == 0 || O == 0) return;
    GemmArgs ga = plain_gemm(M, O, K);
    ga.b = w;
    ga.ldb = O;
    ga.ldc = O;
    ga.bias = bias;
    ga.activation = act;
    if (g.pointwise() || K == 0) {  // y = x (M x C) @ w; K == 0: bias and activation only
        ga.a = x;
        ga.lda = std::max<std::int64_t>(K, 1);
        ga.c = y;
        gemm(ga);
        return;
    }
    if (direct(g)) {
        forward_direct(g, x, w, bias, act, y);
        return;
    }
    if (winograd_eligible(g)) {
        winograd_forward(g, x, w, bias, act, y);
        return;
    }
    if (const MicroKernel uk = microkernel_for(O); implicit(g, uk)) {
        forward_implicit(g, uk, x, w, bias, act, y);
        return;
    }
    const std::int64_t rows = chunk_rows(g), chunks = ceil_div(M, rows);
    const int threads = num_threads();
    if (threads == 1 || chunks < threads) {
        // Too few chunks to share: one at a time, the GEMM threads itself.
        float* col = tl_cols.floats(std::size_t(rows * K));
        for (std::int64_t ch = 0; ch < chunks; ++ch) {
            const std::int64_t r0 = ch * rows, m = std::min(rows, M - r0);
            im2col(g, x, r0, m, col);
            GemmArgs c = ga;
            c.m = m;
            c.a = col;
            c.lda = K;
            c.c = y + r0 * O;
            gemm(c);
        }
        return;
    }
    const std::int64_t tasks = std::min<std::int64_t>(chunks, std::int64_t(kTasksPerThread) * threads);
    const std::int64_t slot = ceil_div(rows * K, 16) * 16;
    float* cols = tl_cols.floats(std::size_t(tasks * slot));
    parallel_for(tasks, threads, [&](std::int64_t t) {
        float* col = cols + t * slot;
        for (std::int64_t ch = chunks * t / tasks; ch < chunks * (t + 1) / tasks; ++ch) {
            const std::int64_t r0 = ch * rows, m = std::min(rows, M - r0);
            im2col(g, x, r0, m, col);
            GemmArgs c = ga;
            c.m = m;
            c.a = col;
            c.lda = K;
            c.c = y + r0 * O;
            c.max_threads = 1;
            gemm(c);
        }
    });
}

void conv2d_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
    const std::int64_t M = g.rows(), K = g.taps(), O = g.o;
    if (K == 0 || O == 0) return;
    if (M == 0) {
        zero_floats(K * O, dw);
        return;
    }
    GemmArgs ga = plain_gemm(K, O, 0);
    ga.trans_a = true;  // op(A) = col^T: col is stored (rows x K)
    ga.lda = K;
    ga.ldb = O;
    ga.ldc = O;
    if (g.pointwise()) {  // dw = x^T (C x M) @ dy
        ga.k = M;
        ga.a = x;
        ga.b = dy;
        ga.c = dw;
        gemm(ga);
        return;
    }
    if (direct(g)) {
        filter_direct(g, x, dy, dw);
        return;
    }
    if (winograd_eligible(g)) {
        winograd_backward_filter(g, x, dy, nullptr, dw, nullptr);
        return;
    }
    const std::int64_t rows = chunk_rows(g), chunks = ceil_div(M, rows);
    const int threads = num_threads();
    // Task t accumulates rows [M t / T, M (t+1) / T) into its own partial dw (task 0: dw itself).
    const std::int64_t tasks = threads == 1 ? 1 : std::min<std::int64_t>(chunks, threads);
    const std::int64_t slot = ceil_div(rows * K, 16) * 16, part = ceil_div(K * O, 16) * 16;
    float* cols = tl_cols.floats(std::size_t(tasks * (slot + part)));
    float* parts = cols + tasks * slot;
    auto run = [&](std::int64_t t, int gemm_threads) {
        float* col = cols + t * slot;
        float* out = t == 0 ? dw : parts + t * part;
        const std::int64_t begin = M * t / tasks, end = M * (t + 1) / tasks;
        if (begin == end) zero_floats(K * O, out);
        for (std::int64_t r0 = begin; r0 < end; r0 += rows) {
            const std::int64_t m = std::min(rows, end - r0);
            im2col(g, x, r0, m, col);
            GemmArgs c = ga;
            c.k = m;
            c.a = col;
            c.b = dy + r0 * O;
            c.beta = r0 == begin ? 0.0f : 1.0f;
            c.c = out;
            c.max_threads = gemm_threads;
            gemm(c);
        }
    };
    if (tasks == 1) {
        run(0, 0);
        return;
    }
    parallel_for(tasks, threads, [&](std::int64_t t) { run(t, 1); });
    for (std::int64_t t = 1; t < tasks; ++t) add_floats(parts + t * part, K * O, dw);  // task order
}

void conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
    const std::int64_t M = g.rows(), K = g.taps(), O = g.o;
    const std::int64_t image = g.h * g.w * g.c;
    if (g.n == 0 || image == 0) return;
    GemmArgs ga = plain_gemm(0, K, O);
    ga.trans_b = true;  // op(B) = w^T: w is stored (K x O)
    ga.b = w;
    ga.ldb = O;
    ga.lda = O;
    ga.ldc = K;
    if (g.pointwise() || O == 0 || M == 0) {
        if (!g.pointwise()) {  // nothing flows back
            zero_floats(g.n * image, dx);
            return;
        }
        ga.m = M;  // dx (M x C) = dy @ w^T
        ga.a = dy;
        ga.c = dx;
        gemm(ga);
        return;
    }
    if (winograd_eligible(g)) {
        winograd_backward_data(g, dy, nullptr, w, dx);
        return;
    }
    const std::int64_t per_image = g.oh * g.ow;
    const std::int64_t rows = std::min(chunk_rows(g), per_image * g.n);
    const std::int64_t slot = ceil_div(rows * K, 16) * 16;
    const int threads = num_threads();
    // One image's rows scatter only into that image: tasks over whole images need no locks.
    // Within a task, chunks run over its rows regardless of image boundaries.
    auto image_range = [&](std::int64_t n0, std::int64_t n1, float* dcol, int gemm_threads, int col_threads) {
        zero_floats((n1 - n0) * image, dx + n0 * image);
        {
            const std::int64_t end = n1 * per_image;
            for (std::int64_t r0 = n0 * per_image; r0 < end; r0 += rows) {
                const std::int64_t m = std::min(rows, end - r0);
                GemmArgs c = ga;
                c.m = m;
                c.a = dy + r0 * O;
                c.c = dcol;
                c.max_threads = gemm_threads;
                gemm(c);
                if (col_threads <= 1) {
                    col2im(g, dcol, r0, m, 0, g.c, dx);
                } else {  // channel blocks write disjoint memory
                    const std::int64_t blocks = std::min<std::int64_t>(col_threads, ceil_div(g.c, 8));
                    parallel_for(blocks, col_threads, [&](std::int64_t b) {
                        col2im(g, dcol, r0, m, g.c * b / blocks, g.c * (b + 1) / blocks, dx);
                    });
                }
            }
        }
    };
    if (threads == 1 || g.n < threads) {
        image_range(0, g.n, tl_cols.floats(std::size_t(slot)), 0, threads);
        return;
    }
    const std::int64_t tasks = std::min<std::int64_t>(g.n, std::int64_t(kTasksPerThread) * threads);
    float* cols = tl_cols.floats(std::size_t(tasks * slot));
    parallel_for(tasks, threads, [&](std::int64_t t) {
        image_range(g.n * t / tasks, g.n * (t + 1) / tasks, cols + t * slot, 1, 1);
    });
}

}  // namespace fastnn::cpu

namespace fastnn::cpu {

// The whole backward in one pass over dy, chunk by chunk: the relu mask (from y) and the bias
// gradient are taken as each chunk of dy is read, and the masked chunk feeds both GEMMs while
// it is in cache -- no full-size masked gradient is ever written. Tasks own whole images
// (col2im then needs no locks) and their own dw / db accumulators, added in task order.
void conv2d_backward(const ConvGeometry& g, const float* x, const float* w, const float* y, const float* dy, float* dx,
                     float* dw, float* db) {
    const std::int64_t M = g.rows(), K = g.taps(), O = g.o;
    const std::int64_t image = g.h * g.w * g.c, per_image = g.oh * g.ow;
    if (M == 0 || O == 0) {  // nothing flows back
        if (dx) zero_floats(g.n * image, dx);
        zero_floats(K * O, dw);
        if (db) zero_floats(O, db);
        return;
    }
    if (winograd_eligible(g)) {  // two passes over dy, each reading the relu mask as it goes
        winograd_backward_filter(g, x, dy, y, dw, db);
        if (dx) winograd_backward_data(g, dy, y, w, dx);
        return;
    }
    const bool pointwise = g.pointwise(), small = direct(g);
    // Half the forward's chunk: the masked dy chunk, the column chunk and dw share L2 here.
    const std::int64_t rows = std::max<std::int64_t>(8, chunk_rows(g) / 2 / 8 * 8);
    const int threads = num_threads();
    const bool shared = threads == 1 || g.n < threads;  // one task; the GEMMs and col2im thread themselves
    const std::int64_t tasks = shared ? 1 : std::min<std::int64_t>(g.n, std::int64_t(kTasksPerThread) * threads);
    const std::int64_t gc_size = ceil_div(rows * O, 16) * 16, col_size = ceil_div(rows * K, 16) * 16;
    const std::int64_t dw_size = ceil_div(K * O, 16) * 16, db_size = ceil_div(O, 16) * 16;
    const std::int64_t slot = gc_size + col_size + dw_size + db_size;
    const std::int64_t wt_size = dx ? ceil_div(K * O, 16) * 16 : 0;
    float* work = tl_cols.floats(std::size_t(tasks * slot + wt_size));
    const ConvTable& table_ = table();
    // w^T (O x K), made once: every chunk's GEMM then packs it by plain copies, not transposes.
    float* wt = work + tasks * slot;
    if (dx)
        for (std::int64_t k = 0; k < K; ++k)
            for (std::int64_t o = 0; o < O; ++o) wt[o * K + k] = w[k * O + o];

    GemmArgs data = plain_gemm(0, K, O);  // dcol (m x K) = g (m x O) @ w^T
    data.b = wt;
    data.ldb = K;
    data.lda = O;
    data.ldc = K;
    GemmArgs filt = plain_gemm(K, O, 0);  // dw (K x O) += col^T (K x m) @ g (m x O)
    filt.trans_a = true;
    filt.lda = K;
    filt.ldb = O;
    filt.ldc = O;
    filt.beta = 1.0f;

    auto run = [&](std::int64_t t) {
        const int gemm_threads = shared ? 0 : 1;
        float* gc = work + t * slot;
        float* col = gc + gc_size;
        float* dwp = t == 0 ? dw : col + col_size;
        float* dbp = t == 0 ? db : col + col_size + dw_size;
        const std::int64_t n0 = g.n * t / tasks, n1 = g.n * (t + 1) / tasks;
        zero_floats(K * O, dwp);
        if (db) zero_floats(O, dbp);
        if (dx && !pointwise) zero_floats((n1 - n0) * image, dx + n0 * image);
        for (std::int64_t r0 = n0 * per_image; r0 < n1 * per_image; r0 += rows) {
            const std::int64_t m = std::min(rows, n1 * per_image - r0);
            const float* gr = dy + r0 * O;
            if (y) {  // relu from its output: the gradient flows where y > 0
                const float* yr = y + r0 * O;
                relu_mask(yr, gr, m * O, gc);
                gr = gc;
            }
            if (db)
                for (std::int64_t i = 0; i < m; ++i) add_floats(gr + i * O, O, dbp);
            if (dx) {
                GemmArgs c = data;
                c.m = m;
                c.a = gr;
                c.max_threads = gemm_threads;
                if (pointwise) {  // dx rows are the pixels themselves
                    c.c = dx + r0 * g.c;
                    gemm(c);
                } else {
                    c.c = col;
                    gemm(c);
                    if (shared && threads > 1) {  // channel blocks write disjoint memory
                        const std::int64_t blocks = std::min<std::int64_t>(threads, ceil_div(g.c, 8));
                        parallel_for(blocks, threads, [&](std::int64_t b) {
                            col2im(g, col, r0, m, g.c * b / blocks, g.c * (b + 1) / blocks, dx);
                        });
                    } else {
                        col2im(g, col, r0, m, 0, g.c, dx);
                    }
                }
            }
            if (small) {
                table_.filter(g, x, gr, dwp, r0, m);
            } else {
                GemmArgs c = filt;
                c.k = m;
                if (pointwise) {
                    c.a = x + r0 * g.c;
                } else {
                    im2col(g, x, r0, m, col);
                    c.a = col;
                }
                c.b = gr;
                c.c = dwp;
                c.max_threads = gemm_threads;
                gemm(c);
            }
        }
    };
    if (shared) {
        run(0);
        return;
    }
    parallel_for(tasks, threads, run);
    for (std::int64_t t = 1; t < tasks; ++t) {  // task order
        float* part = work + t * slot + gc_size + col_size;
        add_floats(part, K * O, dw);
        if (db) add_floats(part + dw_size, O, db);
    }
}

}  // namespace fastnn::cpu
