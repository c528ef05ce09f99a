// The pooling loops (see pool_kernels.h). Included by pool_<isa>.cpp inside
// an anonymous namespace within a namespace named for the ISA (after
// <cstdint> and pool_kernels.h), so each ISA compiles its own private copy
// (see gemm_kernels.h). The channel axis (contiguous) is the vector axis:
// blocks of GCC vectors of the ISA's width, then a scalar tail; selects, not
// branches.

namespace pool {

using fastnn::cpu::PoolRow;

inline std::int64_t lo(std::int64_t a) { return a < 0 ? 0 : a; }
inline std::int64_t hi(std::int64_t a, std::int64_t n) { return a > n ? n : a; }

// kLanes channels as one GCC vector of the ISA's register width (POOL_VECTOR_BYTES, set by
// pool_<isa>.cpp: a wider vector than the ISA's registers is lowered element by element): the
// running max / sum and argmax stay in registers while the window's cells stream through, and
// the selects are vector blends -- no data-dependent branches.
constexpr std::int64_t kLanes = POOL_VECTOR_BYTES / 4;
typedef float fvec __attribute__((vector_size(POOL_VECTOR_BYTES)));
typedef std::int32_t ivec __attribute__((vector_size(POOL_VECTOR_BYTES)));

inline fvec vload(const float* p) {
    fvec v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
inline void vstore(float* p, fvec v) { __builtin_memcpy(p, &v, sizeof v); }
inline void vstore(std::int32_t* p, ivec v) { __builtin_memcpy(p, &v, sizeof v); }

template <bool WithIdx>
inline void max_vec(const PoolRow& g, const float* x, std::int64_t c0, std::int64_t h0, std::int64_t h1,
                    std::int64_t w0, std::int64_t w1, float* y, std::int32_t* idx) {
    fvec best = vload(x + (h0 * g.W + w0) * g.C + c0);
    ivec arg = ivec{} + static_cast<std::int32_t>(h0 * g.W + w0);
    for (std::int64_t h = h0; h < h1; ++h)
        for (std::int64_t w = (h == h0 ? w0 + 1 : w0); w < w1; ++w) {
            const fvec v = vload(x + (h * g.W + w) * g.C + c0);
            // strictly greater: ties keep the first; a NaN replaces a number once
            const ivec take = (v > best) | ((v != v) & (best == best));
            best = take ? v : best;
            if (WithIdx) arg = take ? (ivec{} + static_cast<std::int32_t>(h * g.W + w)) : arg;
        }
    vstore(y + c0, best);
    if (WithIdx) vstore(idx + c0, arg);
}

// Channels [c0, C) one at a time (the tail after the vector blocks).
inline void max_tail(const PoolRow& g, const float* x, std::int64_t c0, std::int64_t h0, std::int64_t h1,
                     std::int64_t w0, std::int64_t w1, float* y, std::int32_t* idx) {
    for (std::int64_t c = c0; c < g.C; ++c) {
        float best = x[(h0 * g.W + w0) * g.C + c];
        std::int32_t arg = static_cast<std::int32_t>(h0 * g.W + w0);
        for (std::int64_t h = h0; h < h1; ++h)
            for (std::int64_t w = (h == h0 ? w0 + 1 : w0); w < w1; ++w) {
                const float v = x[(h * g.W + w) * g.C + c];
                const bool take = v > best || (v != v && best == best);
                best = take ? v : best;
                arg = take ? static_cast<std::int32_t>(h * g.W + w) : arg;
            }
        y[c] = best;
        if (idx) idx[c] = arg;
    }
}

void max_row(const PoolRow& g, const float* x, std::int64_t oh, float* y_row, std::int32_t* idx_row) {
    const std::int64_t C = g.C;
    const std::int64_t h0 = lo(oh * g.sh - g.pad_top), h1 = hi(oh * g.sh - g.pad_top + g.kh, g.H);
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const std::int64_t w0 = lo(ow * g.sw - g.pad_left), w1 = hi(ow * g.sw - g.pad_left + g.kw, g.W);
        float* y = y_row + ow * C;
        std::int32_t* idx = idx_row ? idx_row + ow * C : nullptr;
        std::int64_t c = 0;
        if (idx)
            for (; c + kLanes <= C; c += kLanes) max_vec<true>(g, x, c, h0, h1, w0, w1, y, idx);
        else
            for (; c + kLanes <= C; c += kLanes) max_vec<false>(g, x, c, h0, h1, w0, w1, y, idx);
        max_tail(g, x, c, h0, h1, w0, w1, y, idx);
    }
}

void avg_row(const PoolRow& g, const float* x, std::int64_t oh, float* y_row) {
    const std::int64_t C = g.C;
    const std::int64_t h0 = lo(oh * g.sh - g.pad_top), h1 = hi(oh * g.sh - g.pad_top + g.kh, g.H);
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const std::int64_t w0 = lo(ow * g.sw - g.pad_left), w1 = hi(ow * g.sw - g.pad_left + g.kw, g.W);
        const float inv = 1.0f / static_cast<float>((h1 - h0) * (w1 - w0));
        float* y = y_row + ow * C;
        std::int64_t c = 0;
        for (; c + kLanes <= C; c += kLanes) {
            fvec s = fvec{};
            for (std::int64_t h = h0; h < h1; ++h)
                for (std::int64_t w = w0; w < w1; ++w) s += vload(x + (h * g.W + w) * C + c);
            vstore(y + c, s * inv);
        }
        for (; c < C; ++c) {
            float s = 0.0f;
            for (std::int64_t h = h0; h < h1; ++h)
                for (std::int64_t w = w0; w < w1; ++w) s += x[(h * g.W + w) * C + c];
            y[c] = s * inv;
        }
    }
}

// The output rows [oh0, oh1) whose windows cover input row ih.
inline void covering(const PoolRow& g, std::int64_t ih, std::int64_t& oh0, std::int64_t& oh1) {
    const std::int64_t t = ih + g.pad_top;  // >= 0
    const std::int64_t first = t - g.kh + 1;
    oh0 = first <= 0 ? 0 : (first + g.sh - 1) / g.sh;
    oh1 = hi(t / g.sh + 1, g.OH);
}

// Windows that do not overlap (strides >= pool size, the usual 2x2 / 2): each input cell is in
// at most one window, so its gradient is written once -- dy where it was the window's argmax,
// else 0 -- with no zeroing pass and no read-modify-write.
void max_grad_row_disjoint(const PoolRow& g, const std::int32_t* idx, const float* dy, std::int64_t ih,
                           float* dx_row) {
    const std::int64_t C = g.C;
    std::int64_t oh0, oh1;
    covering(g, ih, oh0, oh1);
    const bool row_in = oh1 > oh0;  // at most one window row covers ih
    for (std::int64_t w = 0; w < g.W; ++w) {
        float* __restrict o = dx_row + w * C;
        const std::int64_t t = w + g.pad_left, ow = t / g.sw;
        if (!row_in || ow >= g.OW || t - ow * g.sw >= g.kw) {  // in no window
            for (std::int64_t c = 0; c < C; ++c) o[c] = 0.0f;
            continue;
        }
        const std::int32_t cell = static_cast<std::int32_t>(ih * g.W + w);
        const std::int32_t* __restrict id = idx + (oh0 * g.OW + ow) * C;
        const float* __restrict d = dy + (oh0 * g.OW + ow) * C;
        std::int64_t c = 0;
        for (; c + kLanes <= C; c += kLanes) {
            ivec ids;
            __builtin_memcpy(&ids, id + c, sizeof ids);
            vstore(o + c, ids == cell ? vload(d + c) : fvec{});
        }
        for (; c < C; ++c) o[c] = id[c] == cell ? d[c] : 0.0f;
    }
}

void max_grad_row(const PoolRow& g, const std::int32_t* idx, const float* dy, std::int64_t ih, float* dx_row) {
    if (g.sw >= g.kw && g.sh >= g.kh) return max_grad_row_disjoint(g, idx, dy, ih, dx_row);
    const std::int64_t C = g.C;
    for (std::int64_t i = 0; i < g.W * C; ++i) dx_row[i] = 0.0f;
    std::int64_t oh0, oh1;
    covering(g, ih, oh0, oh1);
    for (std::int64_t oh = oh0; oh < oh1; ++oh)
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
            const std::int64_t w0 = lo(ow * g.sw - g.pad_left), w1 = hi(ow * g.sw - g.pad_left + g.kw, g.W);
            const std::int32_t* __restrict id = idx + (oh * g.OW + ow) * C;
            const float* __restrict d = dy + (oh * g.OW + ow) * C;
            for (std::int64_t w = w0; w < w1; ++w) {
                const std::int32_t cell = static_cast<std::int32_t>(ih * g.W + w);
                float* __restrict o = dx_row + w * C;
                std::int64_t c = 0;
                for (; c + kLanes <= C; c += kLanes) {
                    ivec ids;
                    __builtin_memcpy(&ids, id + c, sizeof ids);
                    vstore(o + c, vload(o + c) + (ids == cell ? vload(d + c) : fvec{}));
                }
                for (; c < C; ++c) o[c] += id[c] == cell ? d[c] : 0.0f;
            }
        }
}

void avg_grad_row(const PoolRow& g, const float* dy, std::int64_t ih, float* dx_row) {
    const std::int64_t C = g.C;
    for (std::int64_t i = 0; i < g.W * C; ++i) dx_row[i] = 0.0f;
    std::int64_t oh0, oh1;
    covering(g, ih, oh0, oh1);
    for (std::int64_t oh = oh0; oh < oh1; ++oh) {
        const std::int64_t rows = hi(oh * g.sh - g.pad_top + g.kh, g.H) - lo(oh * g.sh - g.pad_top);
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
            const std::int64_t w0 = lo(ow * g.sw - g.pad_left), w1 = hi(ow * g.sw - g.pad_left + g.kw, g.W);
            const float inv = 1.0f / static_cast<float>(rows * (w1 - w0));
            const float* __restrict d = dy + (oh * g.OW + ow) * C;
            for (std::int64_t w = w0; w < w1; ++w) {
                float* __restrict o = dx_row + w * C;
                std::int64_t c = 0;
                for (; c + kLanes <= C; c += kLanes) vstore(o + c, vload(o + c) + vload(d + c) * inv);
                for (; c < C; ++c) o[c] += d[c] * inv;
            }
        }
    }
}

fastnn::cpu::PoolTable make_table() {
    fastnn::cpu::PoolTable t{};
    t.max_row = max_row;
    t.avg_row = avg_row;
    t.max_grad_row = max_grad_row;
    t.avg_grad_row = avg_grad_row;
    return t;
}

}  // namespace pool
