// The pooling loops (see pool_kernels.h). Included by pool_<isa>.cpp inside
// an anonymous namespace within a namespace named for the ISA (after
// <cstdint> and pool_kernels.h), so each ISA compiles its own private copy
// (see gemm_kernels.h). Plain loops over the channel axis that the compiler
// vectorises with the file's flags; selects, not branches.

namespace pool {

using fastnn::cpu::PoolRow;

inline std::int64_t lo(std::int64_t a) { return a < 0 ? 0 : a; }
inline std::int64_t hi(std::int64_t a, std::int64_t n) { return a > n ? n : a; }

void max_row(const PoolRow& g, const float* x, std::int64_t oh, float* y_row, std::int32_t* idx_row) {
    const std::int64_t C = g.C;
    const std::int64_t h0 = lo(oh * g.sh - g.pad_top), h1 = hi(oh * g.sh - g.pad_top + g.kh, g.H);
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const std::int64_t w0 = lo(ow * g.sw - g.pad_left), w1 = hi(ow * g.sw - g.pad_left + g.kw, g.W);
        float* __restrict y = y_row + ow * C;
        std::int32_t* __restrict idx = idx_row ? idx_row + ow * C : nullptr;
        const float* first = x + (h0 * g.W + w0) * C;
        for (std::int64_t c = 0; c < C; ++c) y[c] = first[c];
        if (idx) {
            const std::int32_t cell0 = static_cast<std::int32_t>(h0 * g.W + w0);
            for (std::int64_t c = 0; c < C; ++c) idx[c] = cell0;
        }
        for (std::int64_t h = h0; h < h1; ++h)
            for (std::int64_t w = (h == h0 ? w0 + 1 : w0); w < w1; ++w) {
                const float* __restrict v = x + (h * g.W + w) * C;
                if (idx) {
                    const std::int32_t cell = static_cast<std::int32_t>(h * g.W + w);
                    for (std::int64_t c = 0; c < C; ++c) {
                        // strictly greater: ties keep the first; a NaN replaces a number once
                        const bool take = v[c] > y[c] || (v[c] != v[c] && y[c] == y[c]);
                        y[c] = take ? v[c] : y[c];
                        idx[c] = take ? cell : idx[c];
                    }
                } else {
                    for (std::int64_t c = 0; c < C; ++c) {
                        const bool take = v[c] > y[c] || (v[c] != v[c] && y[c] == y[c]);
                        y[c] = take ? v[c] : y[c];
                    }
                }
            }
    }
}

void avg_row(const PoolRow& g, const float* x, std::int64_t oh, float* y_row) {
    const std::int64_t C = g.C;
    const std::int64_t h0 = lo(oh * g.sh - g.pad_top), h1 = hi(oh * g.sh - g.pad_top + g.kh, g.H);
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const std::int64_t w0 = lo(ow * g.sw - g.pad_left), w1 = hi(ow * g.sw - g.pad_left + g.kw, g.W);
        float* __restrict y = y_row + ow * C;
        for (std::int64_t c = 0; c < C; ++c) y[c] = 0.0f;
        for (std::int64_t h = h0; h < h1; ++h)
            for (std::int64_t w = w0; w < w1; ++w) {
                const float* __restrict v = x + (h * g.W + w) * C;
                for (std::int64_t c = 0; c < C; ++c) y[c] += v[c];
            }
        const float inv = 1.0f / static_cast<float>((h1 - h0) * (w1 - w0));
        for (std::int64_t c = 0; c < C; ++c) y[c] *= inv;
    }
}

// The output rows [oh0, oh1) whose windows cover input row ih.
inline void covering(const PoolRow& g, std::int64_t ih, std::int64_t& oh0, std::int64_t& oh1) {
    const std::int64_t t = ih + g.pad_top;  // >= 0
    const std::int64_t first = t - g.kh + 1;
    oh0 = first <= 0 ? 0 : (first + g.sh - 1) / g.sh;
    oh1 = hi(t / g.sh + 1, g.OH);
}

void max_grad_row(const PoolRow& g, const std::int32_t* idx, const float* dy, std::int64_t ih, float* dx_row) {
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
                for (std::int64_t c = 0; c < C; ++c) o[c] += id[c] == cell ? d[c] : 0.0f;
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
                for (std::int64_t c = 0; c < C; ++c) o[c] += d[c] * inv;
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
