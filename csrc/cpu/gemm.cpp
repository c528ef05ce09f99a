// CPU single-precision GEMM, BLIS-style:
//
//   for each NC-wide block of columns (jc)
//     for each KC-deep slice of the inner dimension (pc)
//       pack op(B)[pc, jc] into NR-wide panels       (all threads, shared, stays in L2)
//       for each MR-tall panel of rows (ir)          (split across threads)
//         pack op(A)[ir, pc] into an MR x KC panel   (per thread, stays in L1)
//         for each NR-wide panel (jr): micro-kernel  (register-blocked FMA)
//
// Transposes are absorbed by the packing. The epilogue (alpha, beta, bias,
// relu) is applied by the micro-kernel as the tile is written, so no extra
// pass over C is made. Packed B is double-buffered so one barrier per slice
// suffices.
#include <algorithm>
#include <cstring>

#include "fastnn/dispatch.h"
#include "fastnn/gemm.h"
#include "gemm_kernels.h"
#include "workspace.h"

#ifdef FASTNN_WITH_OPENMP
#include <omp.h>
#endif

namespace fastnn::cpu {

namespace {

constexpr std::int64_t KC = 256;  // packed A panel (MR x KC) stays in L1
constexpr std::int64_t NC = 512;  // packed B block (KC x NC, 512 KiB) stays in L2

MicroKernel select_kernel() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return microkernel_avx512();
        case Isa::avx2: return microkernel_avx2();
#endif
        default: return microkernel_portable();
    }
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Rows [i0, i0 + m) and inner indices [p0, p0 + kc) of op(A) -> ap[p * MR + r],
// rows m..MR-1 zero-filled.
void pack_a(const GemmArgs& g, std::int64_t i0, int m, std::int64_t p0, std::int64_t kc, int MR, float* ap) {
    if (!g.trans_a) {
        for (int r = 0; r < m; ++r) {
            const float* src = g.a + (i0 + r) * g.lda + p0;
            for (std::int64_t p = 0; p < kc; ++p) ap[p * MR + r] = src[p];
        }
        for (int r = m; r < MR; ++r)
            for (std::int64_t p = 0; p < kc; ++p) ap[p * MR + r] = 0.0f;
    } else {
        for (std::int64_t p = 0; p < kc; ++p) {
            const float* src = g.a + (p0 + p) * g.lda + i0;
            float* dst = ap + p * MR;
            std::memcpy(dst, src, sizeof(float) * m);
            for (int r = m; r < MR; ++r) dst[r] = 0.0f;
        }
    }
}

// Columns [j0, j0 + n) and inner indices [p0, p0 + kc) of op(B) -> bp[p * NR + c],
// columns n..NR-1 zero-filled.
void pack_b(const GemmArgs& g, std::int64_t j0, int n, std::int64_t p0, std::int64_t kc, int NR, float* bp) {
    if (!g.trans_b) {
        for (std::int64_t p = 0; p < kc; ++p) {
            const float* src = g.b + (p0 + p) * g.ldb + j0;
            float* dst = bp + p * NR;
            std::memcpy(dst, src, sizeof(float) * n);
            for (int c = n; c < NR; ++c) dst[c] = 0.0f;
        }
    } else {
        for (int c = 0; c < n; ++c) {
            const float* src = g.b + (j0 + c) * g.ldb + p0;
            for (std::int64_t p = 0; p < kc; ++p) bp[p * NR + c] = src[p];
        }
        for (int c = n; c < NR; ++c)
            for (std::int64_t p = 0; p < kc; ++p) bp[p * NR + c] = 0.0f;
    }
}

// C = beta * C + bias, relu: the whole product when k == 0 or alpha == 0
// (BLAS semantics: A and B are then not read).
void epilogue_only(const GemmArgs& g) {
    for (std::int64_t i = 0; i < g.m; ++i) {
        float* crow = g.c + i * g.ldc;
        for (std::int64_t j = 0; j < g.n; ++j) {
            float v = g.beta != 0.0f ? g.beta * crow[j] : 0.0f;
            if (g.bias) v += g.bias[j];
            if (g.activation == Activation::relu && v < 0.0f) v = 0.0f;
            crow[j] = v;
        }
    }
}

// How the threads split the micro-tiles of one block: tm groups along M times
// tn groups along N, choosing the split whose busiest thread has least work.
struct ThreadGrid {
    int tm = 1, tn = 1;
};

ThreadGrid split_threads(int threads, std::int64_t m_panels, std::int64_t n_panels) {
    ThreadGrid best;
    std::int64_t best_cost = -1;
    for (int tm = threads; tm >= 1; --tm) {
        if (threads % tm) continue;
        const int tn = threads / tm;
        const std::int64_t cost = ceil_div(m_panels, tm) * ceil_div(n_panels, tn);
        if (best_cost < 0 || cost < best_cost) {
            best_cost = cost;
            best = {tm, tn};
        }
    }
    return best;
}

// Threads worth using: below ~256 KFLOP per thread the fork/join and barrier
// costs (~1 us each) outweigh the work.
int choose_threads(const GemmArgs& g, std::int64_t tiles) {
    const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
    const std::int64_t by_work = std::max<std::int64_t>(1, std::int64_t(flops / 262144.0));
    return int(std::max<std::int64_t>(1, std::min<std::int64_t>({num_threads(), by_work, tiles})));
}

// Packed panels of the calling thread's GEMMs: two B blocks, then one A panel
// per thread. Allocated before the parallel region so that nothing inside it
// can throw.
thread_local Workspace tl_packed;

// The body every thread runs; `tid` in [0, threads).
void gemm_thread(const GemmArgs& g, const MicroKernel& uk, int tid, int threads, float* packed_b,
                 std::int64_t b_stride, float* ap) {
    const int MR = uk.mr, NR = uk.nr;
    const std::int64_t nk = ceil_div(g.k, KC);
    const std::int64_t kc_max = ceil_div(g.k, nk);  // balanced slices
    const std::int64_t m_panels = ceil_div(g.m, MR);

    std::int64_t slice = 0;
    for (std::int64_t jc = 0; jc < g.n; jc += NC) {
        const std::int64_t nc = std::min(NC, g.n - jc);
        const std::int64_t n_panels = ceil_div(nc, NR);
        const ThreadGrid grid = split_threads(threads, m_panels, n_panels);
        const int gm = tid / grid.tn, gn = tid % grid.tn;
        const std::int64_t ir_begin = m_panels * gm / grid.tm, ir_end = m_panels * (gm + 1) / grid.tm;
        const std::int64_t jr_begin = n_panels * gn / grid.tn, jr_end = n_panels * (gn + 1) / grid.tn;

        for (std::int64_t pk = 0; pk < nk; ++pk, ++slice) {
            const std::int64_t p0 = pk * kc_max;
            const std::int64_t kc = std::min(kc_max, g.k - p0);
            float* bblock = packed_b + (slice & 1) * b_stride;

            for (std::int64_t jr = tid; jr < n_panels; jr += threads) {
                const std::int64_t j0 = jc + jr * NR;
                pack_b(g, j0, int(std::min<std::int64_t>(NR, g.n - j0)), p0, kc, NR, bblock + jr * NR * kc);
            }
#ifdef FASTNN_WITH_OPENMP
            if (threads > 1) {
#pragma omp barrier
            }
#endif
            Epilogue ep;
            ep.alpha = g.alpha;
            ep.beta = pk == 0 ? g.beta : 1.0f;
            const bool last = pk == nk - 1;
            ep.relu = last && g.activation == Activation::relu;

            for (std::int64_t ir = ir_begin; ir < ir_end; ++ir) {
                const std::int64_t i0 = ir * MR;
                const int m = int(std::min<std::int64_t>(MR, g.m - i0));
                pack_a(g, i0, m, p0, kc, MR, ap);
                for (std::int64_t jr = jr_begin; jr < jr_end; ++jr) {
                    const std::int64_t j0 = jc + jr * NR;
                    ep.bias = last && g.bias ? g.bias + j0 : nullptr;
                    uk.fn(kc, ap, bblock + jr * NR * kc, g.c + i0 * g.ldc + j0, g.ldc,
                          m, int(std::min<std::int64_t>(NR, g.n - j0)), ep);
                }
            }
        }
    }
}

}  // namespace

void gemm(const GemmArgs& g) {
    if (g.m == 0 || g.n == 0) return;
    if (g.k == 0 || g.alpha == 0.0f) {
        epilogue_only(g);
        return;
    }
    const MicroKernel uk = select_kernel();
    const std::int64_t nk = ceil_div(g.k, KC);
    const std::int64_t kc_max = ceil_div(g.k, nk);
    const std::int64_t nc_max = std::min(NC, g.n);
    const std::int64_t b_stride = ceil_div(nc_max, uk.nr) * uk.nr * kc_max;
    const std::int64_t tiles = ceil_div(g.m, uk.mr) * ceil_div(nc_max, uk.nr);
    const int threads = choose_threads(g, tiles);
    const std::int64_t a_stride = std::int64_t(uk.mr) * kc_max;
    // Two packed-B blocks: threads may pack slice s+1 while others finish slice s.
    float* packed_b = tl_packed.floats(std::size_t(2 * b_stride + threads * a_stride));
    float* packed_a = packed_b + 2 * b_stride;

#ifdef FASTNN_WITH_OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            const int tid = omp_get_thread_num();
            gemm_thread(g, uk, tid, omp_get_num_threads(), packed_b, b_stride, packed_a + tid * a_stride);
        }
        return;
    }
#endif
    gemm_thread(g, uk, 0, 1, packed_b, b_stride, packed_a);
}

}  // namespace fastnn::cpu
