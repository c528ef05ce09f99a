// The direct convolution loops (see conv_kernels.h). Included by conv_<isa>.cpp inside an
// anonymous namespace within a namespace named for the ISA (after <cstdint> and
// conv_kernels.h), so each ISA compiles its own private copy (no std:: templates, no shared
// inline functions: see gemm_kernels.h; only ConvGeometry's fields are read, never its member
// functions). Plain fixed-width loops the compiler vectorises with the file's flags.

namespace cv {

using fastnn::ConvGeometry;

// The K taps of output pixel (n, oh, ow) in (kh, kw, c) order; zeros in the padding. A window
// inside the image with no dilation along W copies one KW*C run per kernel row.
void gather(const ConvGeometry& g, const float* x, std::int64_t n, std::int64_t oh, std::int64_t ow, float* t) {
    const std::int64_t C = g.c, run = g.kw * C;
    const float* img = x + n * g.h * g.w * C;
    const std::int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
    const bool cols_in = g.dw == 1 && iw0 >= 0 && iw0 + g.kw <= g.w;
    float* dst = t;
    for (std::int64_t kh = 0; kh < g.kh; ++kh, dst += run) {
        const std::int64_t ih = ih0 + kh * g.dh;
        if (ih < 0 || ih >= g.h) {
            for (std::int64_t j = 0; j < run; ++j) dst[j] = 0.0f;
            continue;
        }
        const float* row = img + ih * g.w * C;
        if (cols_in) {
            const float* src = row + iw0 * C;
            for (std::int64_t j = 0; j < run; ++j) dst[j] = src[j];
            continue;
        }
        for (std::int64_t kw = 0; kw < g.kw; ++kw) {
            const std::int64_t iw = iw0 + kw * g.dw;
            const bool in = iw >= 0 && iw < g.w;
            for (std::int64_t c = 0; c < C; ++c) dst[kw * C + c] = in ? row[iw * C + c] : 0.0f;
        }
    }
}

struct Cursor {
    std::int64_t n, oh, ow;
};

Cursor cursor(const ConvGeometry& g, std::int64_t r) {
    const std::int64_t per_image = g.oh * g.ow, rem = r % per_image;
    return {r / per_image, rem / g.ow, rem % g.ow};
}

void advance(const ConvGeometry& g, Cursor& p) {
    if (++p.ow == g.ow) {
        p.ow = 0;
        if (++p.oh == g.oh) {
            p.oh = 0;
            ++p.n;
        }
    }
}

constexpr int L = static_cast<int>(fastnn::cpu::kDirectLanes);

// L floats as one value (GCC / Clang vector extension): one AVX-512 register, two AVX2 ones,
// four SSE ones, as the file's flags allow. aligned(4): loads and stores need no alignment;
// may_alias: it reads float arrays.
typedef float Vec __attribute__((vector_size(4 * L), aligned(4), may_alias));

// Pixels handled together: P independent accumulator chains hide the FMA latency (a single
// pixel's K-long chain would wait ~4 cycles per tap).
constexpr int P = 8;

// Gathers the taps of up to P pixels from cursor p (advancing it) into t[q * kDirectMaxK + k];
// rows beyond `count` are zero.
void gather_block(const ConvGeometry& g, const float* x, Cursor& p, std::int64_t count, float* t) {
    const std::int64_t K = g.kh * g.kw * g.c;
    for (int q = 0; q < P; ++q) {
        float* tq = t + q * fastnn::cpu::kDirectMaxK;
        if (q < count) {
            gather(g, x, p.n, p.oh, p.ow, tq);
            advance(g, p);
        } else {
            for (std::int64_t k = 0; k < K; ++k) tq[k] = 0.0f;
        }
    }
}

// Tap k of a pixel sits at a fixed offset from its window's origin: off[k] = (kh*dh*W + kw*dw)*C + c.
void tap_offsets(const ConvGeometry& g, std::int64_t* off) {
    std::int64_t k = 0;
    for (std::int64_t kh = 0; kh < g.kh; ++kh)
        for (std::int64_t kw = 0; kw < g.kw; ++kw)
            for (std::int64_t c = 0; c < g.c; ++c) off[k++] = (kh * g.dh * g.w + kw * g.dw) * g.c + c;
}

// The window origin of pixel p when the P pixels from p lie in one output row and all their
// windows inside the image (so taps are read straight from x, no gather); null otherwise.
const float* interior_origin(const ConvGeometry& g, const float* x, const Cursor& p) {
    if (p.ow + P > g.ow) return nullptr;
    const std::int64_t ih0 = p.oh * g.sh - g.pt, iw0 = p.ow * g.sw - g.pl;
    if (ih0 < 0 || ih0 + (g.kh - 1) * g.dh >= g.h) return nullptr;
    if (iw0 < 0 || iw0 + (P - 1) * g.sw + (g.kw - 1) * g.dw >= g.w) return nullptr;
    return x + ((p.n * g.h + ih0) * g.w + iw0) * g.c;
}

// Advances the cursor by P pixels known to lie in one row.
void skip_block(Cursor& p, const ConvGeometry& g) {
    p.ow += P;
    if (p.ow == g.ow) {
        p.ow = 0;
        if (++p.oh == g.oh) {
            p.oh = 0;
            ++p.n;
        }
    }
}

void forward(const ConvGeometry& g, const float* x, const float* wp, std::int64_t op, const float* bias, bool relu,
             float* y, std::int64_t r0, std::int64_t m) {
    constexpr std::int64_t S = fastnn::cpu::kDirectMaxK;
    const std::int64_t K = g.kh * g.kw * g.c, O = g.o, step = g.sw * g.c;
    float t[P * S];
    std::int64_t off[S];
    tap_offsets(g, off);
    const Vec zero = {};
    Cursor p = cursor(g, r0);
    for (std::int64_t i = 0; i < m; i += P) {
        const std::int64_t count = m - i < P ? m - i : P;
        // Tap k of pixel q: src[q * qs + ks[k]] (interior: x itself; else the gathered copy).
        const float* src = count == P ? interior_origin(g, x, p) : nullptr;
        std::int64_t qs = step;
        const std::int64_t* ks = off;
        std::int64_t seq[S];
        if (src) {
            skip_block(p, g);
        } else {
            gather_block(g, x, p, count, t);
            for (std::int64_t k = 0; k < K; ++k) seq[k] = k;
            src = t;
            qs = S;
            ks = seq;
        }
        for (std::int64_t ob = 0; ob < op; ob += L) {
            const Vec b = bias ? *reinterpret_cast<const Vec*>(bias + ob) : zero;
            Vec acc[P];
            for (int q = 0; q < P; ++q) acc[q] = b;
            for (std::int64_t k = 0; k < K; ++k) {
                const Vec wv = *reinterpret_cast<const Vec*>(wp + k * op + ob);
                const float* sk = src + ks[k];
                for (int q = 0; q < P; ++q) acc[q] += sk[q * qs] * wv;
            }
            for (int q = 0; q < count; ++q) {
                Vec v = acc[q];
                if (relu) v = v < zero ? zero : v;  // NaN passes through (NaN < 0 is false)
                float* yr = y + (r0 + i + q) * O + ob;
                if (O - ob >= L) {
                    *reinterpret_cast<Vec*>(yr) = v;
                } else {
                    for (std::int64_t j = 0; j < O - ob; ++j) yr[j] = v[j];
                }
            }
        }
    }
}

void filter(const ConvGeometry& g, const float* x, const float* dy, float* acc, std::int64_t r0, std::int64_t m) {
    constexpr std::int64_t S = fastnn::cpu::kDirectMaxK;
    const std::int64_t K = g.kh * g.kw * g.c, O = g.o, full = O / L * L, step = g.sw * g.c;
    float t[P * S];
    std::int64_t off[S], seq[S];
    tap_offsets(g, off);
    for (std::int64_t k = 0; k < K; ++k) seq[k] = k;
    Cursor p = cursor(g, r0);
    for (std::int64_t i = 0; i < m; i += P) {
        const std::int64_t count = m - i < P ? m - i : P;
        const float* src = count == P ? interior_origin(g, x, p) : nullptr;
        std::int64_t qs = step;
        const std::int64_t* ks = off;
        if (src) {
            skip_block(p, g);
        } else {
            gather_block(g, x, p, count, t);
            src = t;
            qs = S;
            ks = seq;
        }
        const float* d = dy + i * O;
        for (std::int64_t ob = 0; ob < full; ob += L) {
            Vec dv[P];
            for (int q = 0; q < P; ++q) dv[q] = q < count ? *reinterpret_cast<const Vec*>(d + q * O + ob) : Vec{};
            for (std::int64_t k = 0; k < K; ++k) {
                const float* sk = src + ks[k];
                Vec a = *reinterpret_cast<const Vec*>(acc + k * O + ob);
                for (int q = 0; q < P; ++q) a += sk[q * qs] * dv[q];
                *reinterpret_cast<Vec*>(acc + k * O + ob) = a;
            }
        }
        for (std::int64_t q = 0; q < count; ++q)
            for (std::int64_t k = 0; k < K; ++k)
                for (std::int64_t j = full; j < O; ++j) acc[k * O + j] += src[q * qs + ks[k]] * d[q * O + j];
    }
}

fastnn::cpu::ConvTable make_table() {
    fastnn::cpu::ConvTable table{};
    table.forward = forward;
    table.filter = filter;
    return table;
}

}  // namespace cv
