// CPU single-precision GEMM, BLIS-style:
//
//   for each NC-wide block of columns (jc)
//     for each KC-deep slice of the inner dimension (pc)
//       pack op(B)[pc, jc] into NR-wide panels       (each task its own, stays in L2/L3)
//       for each MR-tall panel of rows (ir)          (split across tasks)
//         pack op(A)[ir, pc] into an MR x KC panel   (or read in place; stays in L1)
//         for each NR-wide panel (jr): micro-kernel  (register-blocked FMA)
//
// Transposes are absorbed by the packing. The epilogue (alpha, beta, bias,
// relu) is applied by the micro-kernel as the tile is written, so no extra
// pass over C is made. The threads split the (ir, jr) tiles into independent
// tasks (see split_tasks): no barriers.
#include <algorithm>
#include <cstring>

#include "fastnn/dispatch.h"
#include "fastnn/gemm.h"
#include "fastnn/thread_pool.h"
#include "gemm_kernels.h"
#include "workspace.h"

namespace fastnn::cpu {

namespace {

constexpr std::int64_t KC = 256;   // packed A panel (MR x KC) stays in L1
constexpr std::int64_t NC = 2048;  // packed B block (KC x NC, 2 MiB) stays in L3; a wide block
                                   // means A is packed fewer times (measured best on Zen 4)
constexpr std::int64_t kInPlaceMaxPanels = 2;
constexpr int kTasksPerThread = 2;


std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// The two packing moves. Packing op(A) or op(B) into panels either copies
// rows (the panel runs along the stored rows) or transposes (it runs across
// them); which one depends on the transpose flag. The AVX2 versions need the
// panel width to be a multiple of 8 (every AVX2/AVX-512 panel but the 6-row A).

// dst[p * w + c] = src[p * ld + c] for c < cols, zero for cols <= c < w.
void pack_copy(const float* src, std::int64_t ld, int cols, std::int64_t kc, int w, float* dst) {
#ifdef FASTNN_X86
    if (w % 8 == 0 && active_isa() != Isa::portable) return pack_copy_avx2(src, ld, cols, kc, w, dst);
#endif
    for (std::int64_t p = 0; p < kc; ++p) {
        std::memcpy(dst + p * w, src + p * ld, sizeof(float) * cols);
        std::fill(dst + p * w + cols, dst + (p + 1) * w, 0.0f);
    }
}

// dst[p * w + r] = src[r * ld + p] for r < rows, zero for rows <= r < w.
void pack_transposed(const float* src, std::int64_t ld, int rows, std::int64_t kc, int w, float* dst) {
#ifdef FASTNN_X86
    if (w % 8 == 0 && active_isa() != Isa::portable) return pack_transposed_avx2(src, ld, rows, kc, w, dst);
#endif
    for (int r = 0; r < w; ++r)
        for (std::int64_t p = 0; p < kc; ++p) dst[p * w + r] = r < rows ? src[r * ld + p] : 0.0f;
}

// Rows [i0, i0 + m) and inner indices [p0, p0 + kc) of op(A) -> ap[p * MR + r].
void pack_a(const GemmArgs& g, std::int64_t i0, int m, std::int64_t p0, std::int64_t kc, int MR, float* ap) {
    if (g.trans_a)
        pack_copy(g.a + p0 * g.lda + i0, g.lda, m, kc, MR, ap);
    else
        pack_transposed(g.a + i0 * g.lda + p0, g.lda, m, kc, MR, ap);
}

// Columns [j0, j0 + n) and inner indices [p0, p0 + kc) of op(B) -> bp[p * NR + c].
void pack_b(const GemmArgs& g, std::int64_t j0, int n, std::int64_t p0, std::int64_t kc, int NR, float* bp) {
    if (g.trans_b)
        pack_transposed(g.b + j0 * g.ldb + p0, g.ldb, n, kc, NR, bp);
    else
        pack_copy(g.b + p0 * g.ldb + j0, g.ldb, n, kc, NR, bp);
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

// How the work is split into tasks: tm groups of A panels
// times tn groups of B panels. Tasks share nothing: each packs the B panels it
// uses itself (they stay in its own cache) and writes its own block of C, so
// there is no barrier anywhere. Splitting along N only (tm == 1) makes every
// task pack all of A; splitting along M makes every task pack all of B. Pick
// the split with the least estimated cycles for the busiest task, per unit
// of kc:
//   micro-tile   MR * NR / 16   (16 FMA lanes per cycle, AVX2 or AVX-512)
//   A panel      MR             (transposing pack, ~1 cycle per float; free
//                                when read in place, see kInPlaceMaxPanels)
//   B panel      NR / 2         (contiguous copy or transpose)
struct TaskGrid {
    int tm = 1, tn = 1;
};

TaskGrid split_tasks(int tasks, std::int64_t m_panels, std::int64_t n_panels, int MR, int NR) {
    TaskGrid best;
    double best_cost = -1.0;
    for (int tm = 1; tm <= tasks; ++tm) {
        if (tasks % tm) continue;
        const int tn = tasks / tm;
        const std::int64_t my_m = ceil_div(m_panels, tm), my_n = ceil_div(n_panels, tn);
        double cost = double(my_m * my_n) * MR * NR / 16.0 + double(my_n) * NR / 2.0;
        if (my_n > kInPlaceMaxPanels) cost += double(my_m) * MR;
        if (best_cost < 0 || cost < best_cost) {
            best_cost = cost;
            best = {tm, tn};
        }
    }
    return best;
}

// Threads worth using, given the least work (flops) that pays for one: handing
// a task to a worker costs about a microsecond. Measured on Zen 4: 64^3
// (524 KFLOP) gains nothing from a second thread, 80^3 gains 20%.
int choose_threads(const GemmArgs& g, std::int64_t tiles, double flops_per_thread) {
    const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
    const std::int64_t by_work = std::max<std::int64_t>(1, std::int64_t(flops / flops_per_thread));
    const std::int64_t limit = g.max_threads > 0 ? std::min(g.max_threads, num_threads()) : num_threads();
    return int(std::max<std::int64_t>(1, std::min<std::int64_t>({limit, by_work, tiles})));
}

// Packed panels of the calling thread's GEMMs (every task's B panels and A
// panel), allocated before the tasks start so that no task can throw.
thread_local Workspace tl_packed;

// One task of the blocked GEMM: A panels [ir range of group gm] times B panels
// [jr range of group gn] of every NC block, over all KC slices.
void gemm_task(const GemmArgs& g, const MicroKernel& uk, TaskGrid grid, int task, float* bp, float* ap) {
    const int MR = uk.mr, NR = uk.nr;
    const std::int64_t nk = ceil_div(g.k, KC);
    const std::int64_t kc_max = ceil_div(g.k, nk);  // balanced slices
    const std::int64_t m_panels = ceil_div(g.m, MR);
    const int gm = task / grid.tn, gn = task % grid.tn;
    const std::int64_t ir_begin = m_panels * gm / grid.tm, ir_end = m_panels * (gm + 1) / grid.tm;

    for (std::int64_t jc = 0; jc < g.n; jc += NC) {
        const std::int64_t n_panels = ceil_div(std::min(NC, g.n - jc), NR);
        const std::int64_t jr_begin = n_panels * gn / grid.tn, jr_end = n_panels * (gn + 1) / grid.tn;
        // An A panel used for few B panels is read in place: packing it
        // would cost about as much as the multiply.
        const bool a_in_place = jr_end - jr_begin <= kInPlaceMaxPanels;

        for (std::int64_t pk = 0; pk < nk; ++pk) {
            const std::int64_t p0 = pk * kc_max;
            const std::int64_t kc = std::min(kc_max, g.k - p0);
            for (std::int64_t jr = jr_begin; jr < jr_end; ++jr) {
                const std::int64_t j0 = jc + jr * NR;
                pack_b(g, j0, int(std::min<std::int64_t>(NR, g.n - j0)), p0, kc, NR, bp + (jr - jr_begin) * NR * kc);
            }
            Epilogue ep;
            ep.alpha = g.alpha;
            ep.beta = pk == 0 ? g.beta : 1.0f;
            const bool last = pk == nk - 1;
            ep.relu = last && g.activation == Activation::relu;

            for (std::int64_t ir = ir_begin; ir < ir_end; ++ir) {
                const std::int64_t i0 = ir * MR;
                const int m = int(std::min<std::int64_t>(MR, g.m - i0));
                MicroKernelFn fn = uk.fn;
                const float* a = ap;
                std::int64_t a_rs = 1, a_ks = MR;
                if (a_in_place && m == MR) {  // edge panels are packed: reading past m could leave the array
                    if (g.trans_a) {
                        a = g.a + p0 * g.lda + i0;
                        a_ks = g.lda;
                    } else {
                        a = g.a + i0 * g.lda + p0;
                        a_rs = g.lda;
                        a_ks = 1;
                        fn = uk.fn_rows;
                    }
                } else {
                    pack_a(g, i0, m, p0, kc, MR, ap);
                }
                for (std::int64_t jr = jr_begin; jr < jr_end; ++jr) {
                    const std::int64_t j0 = jc + jr * NR;
                    ep.bias = last && g.bias ? g.bias + j0 : nullptr;
                    fn(kc, a, a_rs, a_ks, bp + (jr - jr_begin) * NR * kc, g.c + i0 * g.ldc + j0, g.ldc, m,
                       int(std::min<std::int64_t>(NR, g.n - j0)), ep);
                }
            }
        }
    }
}

#ifdef FASTNN_X86
// Outputs at most 16 wide on AVX-512: column kernels over 16-row blocks of C,
// one task per thread. Each task packs its own copy of op(B) (k x 16, small);
// op(A) is read in place when transposed (its columns are then contiguous),
// else each 16-row block is transposed into a k x 16 panel.
void gemm_columns(const GemmArgs& g, int tasks) {
    const ColumnKernelFn fn = column_kernel_avx512(int(g.n));
    const std::int64_t blocks = ceil_div(g.m, 16);
    const std::int64_t b_size = 16 * g.k, a_size = g.trans_a ? 0 : 16 * g.k;
    float* workspace = tl_packed.floats(std::size_t(tasks * (b_size + a_size)));
    Epilogue ep;
    ep.alpha = g.alpha;
    ep.beta = g.beta;
    ep.bias = g.bias;
    ep.relu = g.activation == Activation::relu;
    const int n = int(g.n);
    parallel_for(tasks, tasks, [&](std::int64_t task) {
        float* bp = workspace + task * (b_size + a_size);
        float* ap = bp + b_size;
        if (g.trans_b)
            pack_transposed(g.b, g.ldb, n, g.k, 16, bp);
        else
            pack_copy(g.b, g.ldb, n, g.k, 16, bp);
        for (std::int64_t blk = blocks * task / tasks; blk < blocks * (task + 1) / tasks; ++blk) {
            const std::int64_t i0 = blk * 16;
            const int m = int(std::min<std::int64_t>(16, g.m - i0));
            if (g.trans_a) {
                fn(g.k, g.a + i0, g.lda, bp, g.c + i0 * g.ldc, g.ldc, m, ep);
            } else {
                pack_transposed(g.a + i0 * g.lda, g.lda, m, g.k, 16, ap);
                fn(g.k, ap, 16, bp, g.c + i0 * g.ldc, g.ldc, m, ep);
            }
        }
    });
}
#endif

}  // namespace

MicroKernel microkernel_for(std::int64_t n) {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return n <= 16 ? microkernel_avx512_narrow() : microkernel_avx512();
        case Isa::avx2: return microkernel_avx2();
#endif
        default: return microkernel_portable();
    }
}

void gemm(const GemmArgs& g) {
    if (g.m == 0 || g.n == 0) return;
    if (g.k == 0 || g.alpha == 0.0f) {
        epilogue_only(g);
        return;
    }
#ifdef FASTNN_X86
    // (Its panels span all of k: beyond 16384 the blocked path keeps workspaces small.)
    if (g.n <= 16 && g.k <= 16384 && active_isa() == Isa::avx512) {
        // Cheap to split (a 16-row block per step), so smaller problems pay for a second thread.
        gemm_columns(g, choose_threads(g, ceil_div(g.m, 16), 65536.0));
        return;
    }
#endif
    const MicroKernel uk = microkernel_for(g.n);
    const std::int64_t kc_max = ceil_div(g.k, ceil_div(g.k, KC));
    const std::int64_t m_panels = ceil_div(g.m, uk.mr);
    const std::int64_t n_panels = ceil_div(std::min(NC, g.n), uk.nr);  // of the widest NC block
    const int threads = choose_threads(g, m_panels * n_panels, 262144.0);
    // A few tasks per thread: a thread slowed by another process on its core
    // (OpenBLAS's spinning threads, say) then takes fewer of them.
    const int tasks = threads == 1 ? 1 : int(std::min<std::int64_t>(kTasksPerThread * threads, m_panels * n_panels));
    const TaskGrid grid = split_tasks(tasks, m_panels, n_panels, uk.mr, uk.nr);
    const std::int64_t b_size = ceil_div(n_panels, grid.tn) * uk.nr * kc_max;
    const std::int64_t a_size = std::int64_t(uk.mr) * kc_max;
    const std::int64_t stride = ceil_div(b_size + a_size, 16) * 16;  // packed B is read with aligned loads
    float* workspace = tl_packed.floats(std::size_t(tasks * stride));
    parallel_for(tasks, threads, [&](std::int64_t task) {
        float* bp = workspace + task * stride;
        gemm_task(g, uk, grid, int(task), bp, bp + b_size);
    });
}

}  // namespace fastnn::cpu
