// Broadcasting binary ops, their fused backward and the sum reduction on the
// CPU: the layouts are collapsed (fastnn/broadcast.h), walked as row segments
// along the innermost axis, and each segment goes to the ISA's row loop
// (elementwise_kernels.h).
//
// Work is cut into tasks by the shapes alone (never by the thread count), so
// the order of every sum -- and so every result -- is the same for any number
// of threads:
//   * element-wise (forward, backward without reduced axes): flat ranges of
//     kTask outputs, or whole rows for two-axis layouts (a batch plus a bias
//     row), one row-loop call per task;
//   * reductions whose innermost axis is kept (summing rows into a row, e.g.
//     a bias gradient): tasks are (output row, column block of <= kBlock,
//     chunk of the summed rows); each accumulates its columns in double,
//     adding the rows in float32 in fours first (at most two roundings per
//     term: |error| <= 2u sum|x|, Kahan's bound); when the rows are x itself
//     (reduce_sum, the bias gradient) a chunk streams past registers holding
//     32 columns (column_sums). Chunks (of ~kSumChunk elements) are cut only
//     when there are few output blocks, and their partial sums are added in
//     chunk order;
//   * reductions whose innermost axis is summed (row sums, full sums): tasks
//     are groups of outputs, or chunks of kTask terms of one output when it
//     sums more than that, added in chunk order; all in double.
// Terms are float32 values (x, or the backward's g * d(a OP b)/d(side)
// rounded once to float32); sums are rounded to float32 once at the end.
#include <algorithm>
#include <cstring>

#include "elementwise_kernels.h"
#include "fastnn/broadcast.h"
#include "fastnn/dispatch.h"
#include "fastnn/elementwise.h"
#include "fastnn/thread_pool.h"
#include "workspace.h"

namespace fastnn::cpu {

const ElementwiseTable& elementwise_table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return elementwise_table_avx512();
        case Isa::avx2: return elementwise_table_avx2();
#endif
        default: return elementwise_table_portable();
    }
}

namespace {

const ElementwiseTable& table() { return elementwise_table(); }

constexpr std::int64_t kBlock = 1024;          // longest row segment handed to a row loop (stack buffers)
constexpr std::int64_t kTask = 1 << 15;        // elements per task
constexpr std::int64_t kSumChunk = 1 << 16;    // rows summed into rows: elements per chunk

constexpr std::int64_t kParallelMin = 1 << 16; // elements per thread, at least
constexpr std::int64_t kMinOutputTasks = 16;   // split a reduction's rows only below this many output tasks
constexpr std::int64_t kMaxChunks = 256;

int threads_for(std::int64_t work, std::int64_t tasks) {
    const std::int64_t t = std::min<std::int64_t>({std::int64_t(num_threads()), tasks, work / kParallelMin});
    return int(std::max<std::int64_t>(1, t));
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Walks the flat C-order range [begin, end) of `l` as segments along the
// innermost axis: fn(off, count), off[k] = element offset of operand k at the
// segment's first element.
template <class Fn>
void walk(const Layout& l, std::int64_t begin, std::int64_t end, const Fn& fn) {
    const int inner = l.ndim - 1;
    const std::int64_t len = l.shape[inner];
    std::int64_t idx[kMaxDims] = {};
    std::int64_t off[kMaxOperands] = {};
    std::int64_t row = begin / len, col = begin % len;
    for (int d = inner - 1; d >= 0; --d) {
        idx[d] = row % l.shape[d];
        row /= l.shape[d];
    }
    for (int k = 0; k < l.nops; ++k) {
        off[k] = col * l.stride[k][inner];
        for (int d = 0; d < inner; ++d) off[k] += idx[d] * l.stride[k][d];
    }
    for (std::int64_t pos = begin; pos < end;) {
        const std::int64_t count = std::min(len - col, end - pos);
        fn(static_cast<const std::int64_t*>(off), count);
        pos += count;
        if (pos >= end) break;
        for (int k = 0; k < l.nops; ++k) off[k] -= col * l.stride[k][inner];
        col = 0;
        for (int d = inner - 1; d >= 0; --d) {
            ++idx[d];
            for (int k = 0; k < l.nops; ++k) off[k] += l.stride[k][d];
            if (idx[d] < l.shape[d]) break;
            for (int k = 0; k < l.nops; ++k) off[k] -= l.shape[d] * l.stride[k][d];
            idx[d] = 0;
        }
    }
}

// Offsets of the multi-index `index` over the listed axes, added to off[].
void add_offsets(const Layout& l, const int* axes, int n_axes, std::int64_t index, std::int64_t* idx,
                 std::int64_t* off) {
    for (int j = n_axes - 1; j >= 0; --j) {
        const int d = axes[j];
        idx[j] = index % l.shape[d];
        index /= l.shape[d];
        for (int k = 0; k < l.nops; ++k) off[k] += idx[j] * l.stride[k][d];
    }
}

// Steps the multi-index over the listed axes by one (C order), updating off[].
void step(const Layout& l, const int* axes, int n_axes, std::int64_t* idx, std::int64_t* off) {
    for (int j = n_axes - 1; j >= 0; --j) {
        const int d = axes[j];
        ++idx[j];
        for (int k = 0; k < l.nops; ++k) off[k] += l.stride[k][d];
        if (idx[j] < l.shape[d]) return;
        for (int k = 0; k < l.nops; ++k) off[k] -= l.shape[d] * l.stride[k][d];
        idx[j] = 0;
    }
}

bool unit_or_zero(std::int64_t s) { return s == 0 || s == 1; }

// ---- forward -------------------------------------------------------------------

void binary_segment(const ElementwiseTable& t, BinaryOp op, const float* a, std::int64_t sa, const float* b,
                    std::int64_t sb, float* out, std::int64_t n) {
    const bool a_direct = unit_or_zero(sa), b_direct = unit_or_zero(sb);
    if (a_direct && b_direct) return t.binary[int(op)][2 * sa + sb](a, b, out, n);
    alignas(64) float abuf[kBlock], bbuf[kBlock];
    for (std::int64_t j = 0; j < n; j += kBlock) {
        const std::int64_t m = std::min(kBlock, n - j);
        const float* pa = a + j * sa;
        const float* pb = b + j * sb;
        std::int64_t ma = sa, mb = sb;
        if (!a_direct) {
            t.gather(pa, sa, abuf, m);
            pa = abuf;
            ma = 1;
        }
        if (!b_direct) {
            t.gather(pb, sb, bbuf, m);
            pb = bbuf;
            mb = 1;
        }
        t.binary[int(op)][2 * ma + mb](pa, pb, out + j, m);
    }
}

// ---- terms of a reduction --------------------------------------------------------

// Where the summed values come from. Operands of the layout: 0 = out, 1 = x
// (reduce_sum) or grad (backward), 2 = a, 3 = b (backward only).
struct Terms {
    const ElementwiseTable* t = nullptr;
    const float* x = nullptr;  // x or grad
    const float* a = nullptr;
    const float* b = nullptr;
    const TermRowFn* term = nullptr;  // null: the terms are x itself
    std::int64_t s[kMaxOperands] = {};  // innermost strides
};

struct Buffers {
    alignas(64) float g[kBlock];
    alignas(64) float a[kBlock];
    alignas(64) float b[kBlock];
    alignas(64) float t[kRowsAtOnce][kBlock];
};

// n (<= kBlock) consecutive terms along the innermost axis from the operand
// offsets `off`; returns a pointer to them (into x, or buf.t[slot]).
const float* terms(const Terms& src, const std::int64_t* off, std::int64_t n, Buffers& buf, int slot = 0) {
    const ElementwiseTable& t = *src.t;
    const float* g = src.x + off[1];
    if (src.s[1] != 1) {
        float* dst = src.term ? buf.g : buf.t[slot];
        t.gather(g, src.s[1], dst, n);
        g = dst;
    }
    if (!src.term) return g;
    const float* a = src.a + off[2];
    const float* b = src.b + off[3];
    std::int64_t sa = src.s[2], sb = src.s[3];
    if (!unit_or_zero(sa)) {
        t.gather(a, sa, buf.a, n);
        a = buf.a;
        sa = 1;
    }
    if (!unit_or_zero(sb)) {
        t.gather(b, sb, buf.b, n);
        b = buf.b;
        sb = 1;
    }
    src.term[2 * sa + sb](g, a, b, buf.t[slot], n);
    return buf.t[slot];
}

void store(float* out, std::int64_t stride, const float* v, std::int64_t n, float sign) {
    if (stride == 1 && sign == 1.0f) {
        std::memcpy(out, v, std::size_t(n) * sizeof(float));
        return;
    }
    for (std::int64_t i = 0; i < n; ++i) out[i * stride] = sign * v[i];
}

// No axis is summed: out = terms (times sign), element by element.
void map_terms(const Layout& l, const Terms& src, float* out, float sign) {
    const std::int64_t n = l.numel();
    const std::int64_t tasks = ceil_div(n, kTask);
    parallel_for(tasks, threads_for(n, tasks), [&](std::int64_t task) {
        Buffers buf;
        walk(l, task * kTask, std::min(n, (task + 1) * kTask), [&](const std::int64_t* off, std::int64_t count) {
            for (std::int64_t j = 0; j < count; j += kBlock) {
                const std::int64_t m = std::min(kBlock, count - j);
                std::int64_t o[kMaxOperands];
                for (int k = 0; k < l.nops; ++k) o[k] = off[k] + j * src.s[k];
                store(out + o[0], src.s[0], terms(src, o, m, buf), m, sign);
            }
        });
    });
}

// Scratch doubles for partial sums, kept per calling thread.
double* partials(std::size_t count) {
    static thread_local Workspace ws;
    return reinterpret_cast<double*>(ws.floats(2 * count));
}

// acc[0..cols) += the next `count` rows of terms over the reduced axes
// (multi-index ridx, offsets off), row by row in fours.
void rows_into(const Layout& l, const ReduceSplit& sp, const Terms& src, const std::int64_t* base, std::int64_t* off,
               std::int64_t* ridx, std::int64_t count, std::int64_t cols, double* acc) {
    Buffers buf;
    for (std::int64_t r = 0; r < count;) {
        const float* rows[kRowsAtOnce];
        int n = 0;
        for (; n < kRowsAtOnce && r < count; ++n, ++r) {
            std::int64_t o[kMaxOperands];
            for (int k = 0; k < l.nops; ++k) o[k] = base[k] + off[k];
            rows[n] = terms(src, o, cols, buf, n);
            step(l, sp.reduced, sp.n_reduced, ridx, off);
        }
        src.t->accumulate(rows, n, acc, cols);
    }
}

// The innermost axis is kept: out rows (one per index of the kept axes) are
// sums of input rows (one per index of the reduced axes).
void reduce_rows(const Layout& l, const ReduceSplit& sp, const Terms& src, float* out, float sign) {
    const std::int64_t L = sp.inner, Ko = sp.kept_count, Ro = sp.reduced_count;
    const std::int64_t Lb = std::min(L, kBlock), nLb = ceil_div(L, Lb);
    std::int64_t n_chunks = 1;
    if (Ko * nLb < kMinOutputTasks && Ro * Lb >= 2 * kSumChunk)
        n_chunks = std::max<std::int64_t>(1, std::min(ceil_div(Ro * Lb, kSumChunk), kMaxChunks / (Ko * nLb)));
    const std::int64_t rows_per_chunk = ceil_div(Ro, n_chunks);
    n_chunks = ceil_div(Ro, rows_per_chunk);
    double* part = n_chunks > 1 ? partials(std::size_t(Ko * nLb * n_chunks * Lb)) : nullptr;
    // x itself, contiguous rows, one summed axis: whole chunks go to column_sums.
    const bool direct_rows = !src.term && src.s[1] == 1 && sp.n_reduced == 1;
    const std::int64_t row_stride = direct_rows ? l.stride[1][sp.reduced[0]] : 0;

    const std::int64_t items = Ko * nLb * n_chunks;
    parallel_for(items, threads_for(Ko * L * Ro, items), [&](std::int64_t item) {
        const std::int64_t chunk = item % n_chunks, lb = (item / n_chunks) % nLb, ko = item / (n_chunks * nLb);
        const std::int64_t col0 = lb * Lb, cols = std::min(Lb, L - col0);
        std::int64_t base[kMaxOperands] = {}, kidx[kMaxDims], ridx[kMaxDims];
        add_offsets(l, sp.kept, sp.n_kept, ko, kidx, base);
        for (int k = 0; k < l.nops; ++k) base[k] += col0 * src.s[k];
        const std::int64_t r0 = chunk * rows_per_chunk, r1 = std::min(Ro, r0 + rows_per_chunk);
        std::int64_t off[kMaxOperands] = {};
        add_offsets(l, sp.reduced, sp.n_reduced, r0, ridx, off);
        alignas(64) double acc[kBlock];
        std::fill(acc, acc + cols, 0.0);
        if (direct_rows) {
            src.t->column_sums(src.x + base[1] + off[1], row_stride, r1 - r0, acc, cols);
        } else {
            rows_into(l, sp, src, base, off, ridx, r1 - r0, cols, acc);
        }
        if (part) {
            std::copy(acc, acc + cols, part + ((ko * nLb + lb) * n_chunks + chunk) * Lb);
        } else {
            float* dst = out + base[0];
            for (std::int64_t j = 0; j < cols; ++j) dst[j * src.s[0]] = sign * static_cast<float>(acc[j]);
        }
    });
    if (!part) return;
    const std::int64_t groups = Ko * nLb;
    parallel_for(groups, threads_for(groups * Lb * n_chunks, groups), [&](std::int64_t g) {
        const std::int64_t lb = g % nLb, ko = g / nLb;
        const std::int64_t col0 = lb * Lb, cols = std::min(Lb, L - col0);
        std::int64_t base[kMaxOperands] = {}, kidx[kMaxDims];
        add_offsets(l, sp.kept, sp.n_kept, ko, kidx, base);
        float* dst = out + base[0] + col0 * src.s[0];
        const double* p = part + g * n_chunks * Lb;
        alignas(64) double acc[kBlock];
        std::copy(p, p + cols, acc);
        for (std::int64_t c = 1; c < n_chunks; ++c)  // chunk order, each column on its own
            for (std::int64_t j = 0; j < cols; ++j) acc[j] += p[c * Lb + j];
        for (std::int64_t j = 0; j < cols; ++j) dst[j * src.s[0]] = sign * static_cast<float>(acc[j]);
    });
}

// Sum of the terms of flat positions [t0, t1) of one output's reduction
// space (reduced axes, then the innermost axis), from base offsets `base`.
double sum_range(const Layout& l, const ReduceSplit& sp, const Terms& src, const std::int64_t* base, std::int64_t t0,
                 std::int64_t t1, Buffers& buf) {
    const std::int64_t L = sp.inner;
    std::int64_t ridx[kMaxDims], off[kMaxOperands] = {};
    std::int64_t r = t0 / L, col = t0 % L;
    add_offsets(l, sp.reduced, sp.n_reduced, r, ridx, off);
    double s = 0.0;
    for (std::int64_t pos = t0; pos < t1;) {
        const std::int64_t count = std::min(L - col, t1 - pos);
        for (std::int64_t j = 0; j < count; j += kBlock) {
            const std::int64_t m = std::min(kBlock, count - j);
            std::int64_t o[kMaxOperands];
            for (int k = 0; k < l.nops; ++k) o[k] = base[k] + off[k] + (col + j) * src.s[k];
            s += src.t->sum(terms(src, o, m, buf), m);
        }
        pos += count;
        col = 0;
        step(l, sp.reduced, sp.n_reduced, ridx, off);
    }
    return s;
}

// The innermost axis is summed: each output is the sum of its reduced axes
// and of the innermost axis.
void reduce_inner(const Layout& l, const ReduceSplit& sp, const Terms& src, float* out, float sign) {
    const std::int64_t Ko = sp.kept_count, per_out = sp.reduced_count * sp.inner;
    auto output_base = [&](std::int64_t ko, std::int64_t* base) {
        std::int64_t kidx[kMaxDims];
        for (int k = 0; k < l.nops; ++k) base[k] = 0;
        add_offsets(l, sp.kept, sp.n_kept, ko, kidx, base);
    };
    if (per_out <= kTask) {
        const std::int64_t group = std::max<std::int64_t>(1, kTask / per_out), items = ceil_div(Ko, group);
        parallel_for(items, threads_for(Ko * per_out, items), [&](std::int64_t item) {
            Buffers buf;
            for (std::int64_t ko = item * group; ko < std::min(Ko, (item + 1) * group); ++ko) {
                std::int64_t base[kMaxOperands];
                output_base(ko, base);
                out[base[0]] = sign * static_cast<float>(sum_range(l, sp, src, base, 0, per_out, buf));
            }
        });
        return;
    }
    const std::int64_t n_chunks = ceil_div(per_out, kTask);
    double* part = partials(std::size_t(Ko * n_chunks));
    parallel_for(Ko * n_chunks, threads_for(Ko * per_out, Ko * n_chunks), [&](std::int64_t item) {
        const std::int64_t chunk = item % n_chunks, ko = item / n_chunks;
        std::int64_t base[kMaxOperands];
        output_base(ko, base);
        Buffers buf;
        part[item] = sum_range(l, sp, src, base, chunk * kTask, std::min(per_out, (chunk + 1) * kTask), buf);
    });
    for (std::int64_t ko = 0; ko < Ko; ++ko) {
        std::int64_t base[kMaxOperands];
        output_base(ko, base);
        double s = 0.0;
        for (std::int64_t c = 0; c < n_chunks; ++c) s += part[ko * n_chunks + c];
        out[base[0]] = sign * static_cast<float>(s);
    }
}

// out = sign * (terms summed over the axes where out's stride is 0).
void reduce(Layout& l, Terms& src, float* out, float sign) {
    collapse(l, 1);  // innermost: the axis x / grad walks most densely
    const std::int64_t n = l.numel();
    src.t = &table();
    for (int k = 0; k < l.nops; ++k) src.s[k] = l.stride[k][l.ndim - 1];
    if (n == 0) {
        // Nothing to sum: every output is 0 (out has no elements when the
        // zero-length axis is kept).
        return;
    }
    const ReduceSplit sp = split_reduction(l);
    if (sp.n_reduced == 0 && sp.inner_kept) return map_terms(l, src, out, sign);
    if (sp.inner_kept) return reduce_rows(l, sp, src, out, sign);
    reduce_inner(l, sp, src, out, sign);
}

void fill_zero(const View& out) {
    const std::int64_t n = out.numel();
    if (n > 0) std::memset(out.data, 0, std::size_t(n) * sizeof(float));
}

}  // namespace

void binary(BinaryOp op, const View& a, const View& b, const View& out) {
    const View* views[3] = {&out, &a, &b};
    Layout l = make_layout(out.ndim, out.shape, views, 3);
    collapse(l);
    const std::int64_t n = l.numel();
    if (n == 0) return;
    const ElementwiseTable& t = table();
    const int inner = l.ndim - 1;
    const std::int64_t sa = l.stride[1][inner], sb = l.stride[2][inner];
    const float* pa = a.ptr<const float>();
    const float* pb = b.ptr<const float>();
    float* po = out.ptr<float>();
    // out is C-contiguous: its innermost stride is 1 (or the layout is one element).
    if (l.ndim == 2 && unit_or_zero(sa) && unit_or_zero(sb)) {
        // Rows (a batch plus a bias row, a column, ...): whole rows per task, one call each.
        const std::int64_t rows = l.shape[0], len = l.shape[1];
        const std::int64_t per_task = std::max<std::int64_t>(1, kTask / len), tasks = ceil_div(rows, per_task);
        const auto fn = t.binary_rows[int(op)][2 * sa + sb];
        parallel_for(tasks, threads_for(n, tasks), [&](std::int64_t task) {
            const std::int64_t r0 = task * per_task, r1 = std::min(rows, r0 + per_task);
            fn(pa + r0 * l.stride[1][0], l.stride[1][0], pb + r0 * l.stride[2][0], l.stride[2][0],
               po + r0 * l.stride[0][0], l.stride[0][0], r1 - r0, len);
        });
        return;
    }
    const std::int64_t tasks = ceil_div(n, kTask);
    parallel_for(tasks, threads_for(n, tasks), [&](std::int64_t task) {
        walk(l, task * kTask, std::min(n, (task + 1) * kTask), [&](const std::int64_t* off, std::int64_t count) {
            binary_segment(t, op, pa + off[1], sa, pb + off[2], sb, po + off[0], count);
        });
    });
}

void reduce_sum(const View& x, const View& out) {
    const View* views[2] = {&out, &x};
    Layout l = make_layout(x.ndim, x.shape, views, 2);
    if (x.numel() == 0) return fill_zero(out);
    Terms src;
    src.x = x.ptr<const float>();
    reduce(l, src, out.ptr<float>(), 1.0f);
}

void binary_backward(BinaryOp op, int side, const View& grad, const View& a, const View& b, const View& out) {
    if (grad.numel() == 0) return fill_zero(out);
    Terms src;
    src.x = grad.ptr<const float>();
    float sign = 1.0f;
    if (op == BinaryOp::add || op == BinaryOp::subtract) {
        // The terms are +-grad: sum grad, negate the sums (exact) for subtract's b.
        const View* views[2] = {&out, &grad};
        Layout l = make_layout(grad.ndim, grad.shape, views, 2);
        if (op == BinaryOp::subtract && side == 1) sign = -1.0f;
        return reduce(l, src, out.ptr<float>(), sign);
    }
    const View* views[4] = {&out, &grad, &a, &b};
    Layout l = make_layout(grad.ndim, grad.shape, views, 4);
    src.a = a.ptr<const float>();
    src.b = b.ptr<const float>();
    src.term = table().term[int(op)][side];
    reduce(l, src, out.ptr<float>(), sign);
}

}  // namespace fastnn::cpu
