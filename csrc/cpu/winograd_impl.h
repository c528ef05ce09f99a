// The Winograd F(2x2, 3x3) transform loops (see winograd_kernels.h). Included by conv_<isa>.cpp
// inside an anonymous namespace within a namespace named for the ISA (after <cstdint> and
// winograd_kernels.h), so each ISA compiles its own private copy (no std:: templates, no shared
// inline functions: see gemm_kernels.h). Every loop runs across channels, L at a time, as plain
// vector-extension arithmetic the compiler maps onto the file's ISA; a channel count that is not
// a multiple of L ends in one partial vector.

namespace wg {

using fastnn::cpu::WinogradShape;

constexpr int L = 16;
// L floats as one value (as conv_impl.h's Vec): unaligned, may alias float arrays.
typedef float Vec __attribute__((vector_size(4 * L), aligned(4), may_alias));

inline Vec load(const float* p) { return *reinterpret_cast<const Vec*>(p); }
inline void store(float* p, Vec v) { *reinterpret_cast<Vec*>(p) = v; }

// The first n (< L) floats at p, zeros beyond: the last, partial channel block. Kept out of
// line so that the full-vector loops around it keep their values in registers.
__attribute__((noinline)) Vec load_tail(const float* p, std::int64_t n) {
    Vec v = {};
    for (std::int64_t i = 0; i < n; ++i) v[i] = p[i];
    return v;
}

__attribute__((noinline)) void store_tail(float* p, Vec v, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) p[i] = v[i];
}

// The first n floats at p (all L when n >= L; none when n <= 0), zeros beyond.
inline Vec load_n(const float* p, std::int64_t n) {
    if (n >= L) return load(p);
    return n > 0 ? load_tail(p, n) : Vec{};
}

inline void store_n(float* p, Vec v, std::int64_t n) {
    if (n >= L)
        store(p, v);
    else
        store_tail(p, v, n);
}

// x where mask > 0, zero elsewhere (a relu's gradient mask, read from its output).
inline Vec masked(Vec x, Vec mask) {
    const Vec zero = {};
    return mask > zero ? x : zero;
}

struct Tile {
    std::int64_t n, i, j;
};

Tile tile_of(const WinogradShape& s, std::int64_t t) {
    const std::int64_t tw = s.tiles_w(), per_image = s.tiles_h() * tw, rem = t % per_image;
    return {t / per_image, rem / tw, rem % tw};
}

// One channel block of one tile: V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
// with d(a, b) the window's element (a, b) and point xi stored at v + xi * vs. Column transforms
// first, so at most 16 + 4 vectors are live (registers on AVX-512).
template <class Window>
inline void input_block(const Window& d, float* v, std::int64_t vs) {
    Vec t[4][4];
    for (int b = 0; b < 4; ++b) {
        const Vec d0 = d(0, b), d1 = d(1, b), d2 = d(2, b), d3 = d(3, b);
        t[0][b] = d0 - d2;
        t[1][b] = d1 + d2;
        t[2][b] = d2 - d1;
        t[3][b] = d1 - d3;
    }
    for (int a = 0; a < 4; ++a) {
        float* va = v + a * 4 * vs;
        store(va, t[a][0] - t[a][2]);
        store(va + vs, t[a][1] + t[a][2]);
        store(va + 2 * vs, t[a][2] - t[a][1]);
        store(va + 3 * vs, t[a][1] - t[a][3]);
    }
}

// V is tile-major (a tile's 16 points are one contiguous run, written sequentially); its rows are
// cp = C rounded up to L floats (zeros beyond C), so every channel block is whole.
void input(const WinogradShape& s, const float* x, const float* mask, std::int64_t t0, std::int64_t count,
           std::int64_t rows, float* v, std::int64_t ldv, float* scratch) {
    const std::int64_t C = s.c, cp = (C + L - 1) / L * L, image = s.h * s.w * C, row_stride = s.w * C;
    const std::int64_t vs = cp;  // between transform points
    const Vec zero = {};
    const bool whole = C == cp;  // whole vectors: x is read in place, padding from a zero block
    const float* zeros = scratch;
    if (whole)
        for (std::int64_t c = 0; c < cp; c += L) store(scratch + c, zero);
    for (std::int64_t r = 0; r < count; ++r) {
        const Tile tl = tile_of(s, t0 + r);
        const std::int64_t ih0 = 2 * tl.i - s.pt, iw0 = 2 * tl.j - s.pl;
        float* vr = v + r * ldv;
        if (whole && ih0 >= 0 && ih0 + 4 <= s.h && iw0 >= 0 && iw0 + 4 <= s.w) {  // inside x
            const float* src = x + tl.n * image + ih0 * row_stride + iw0 * C;
            if (mask) {
                const float* msk = mask + (src - x);
                for (std::int64_t c = 0; c < C; c += L) {
                    const std::int64_t at = c;
                    input_block([&](int a, int b) {
                        const std::int64_t e = at + a * row_stride + b * C;
                        return masked(load(src + e), load(msk + e));
                    }, vr + c, vs);
                }
            } else {
                for (std::int64_t c = 0; c < C; c += L) {
                    const float* sc = src + c;
                    input_block([&](int a, int b) { return load(sc + a * row_stride + b * C); }, vr + c, vs);
                }
            }
            continue;
        }
        if (whole) {  // at an edge: each pixel from x or, outside it, from the zero block
            const float* px[16];
            const float* pm[16];
            for (int a = 0; a < 4; ++a)
                for (int b = 0; b < 4; ++b) {
                    const std::int64_t ih = ih0 + a, iw = iw0 + b;
                    const bool in = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
                    const std::int64_t at = tl.n * image + ih * row_stride + iw * C;
                    px[a * 4 + b] = in ? x + at : zeros;
                    pm[a * 4 + b] = in && mask ? mask + at : zeros;
                }
            for (std::int64_t c = 0; c < C; c += L) {
                if (mask)
                    input_block([&](int a, int b) { return masked(load(px[a * 4 + b] + c), load(pm[a * 4 + b] + c)); },
                                vr + c, vs);
                else
                    input_block([&](int a, int b) { return load(px[a * 4 + b] + c); }, vr + c, vs);
            }
            continue;
        }
        // C is not whole vectors: a zero-padded (and masked) 4x4 x cp copy first.
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) {
                float* dst = scratch + (a * 4 + b) * cp;
                const std::int64_t ih = ih0 + a, iw = iw0 + b;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) {
                    for (std::int64_t c = 0; c < cp; c += L) store(dst + c, zero);
                    continue;
                }
                const std::int64_t at = tl.n * image + ih * row_stride + iw * C;
                for (std::int64_t c = 0; c < cp; c += L) {
                    const Vec d = load_n(x + at + c, C - c);
                    store(dst + c, mask ? masked(d, load_n(mask + at + c, C - c)) : d);
                }
            }
        for (std::int64_t c = 0; c < cp; c += L) {
            const float* sc = scratch + c;
            input_block([&](int a, int b) { return load(sc + (a * 4 + b) * cp); }, vr + c, vs);
        }
    }
    for (std::int64_t r = count; r < rows; ++r)
        for (std::int64_t i = 0; i < 16 * cp; ++i) v[r * ldv + i] = 0.0f;
}

// ldm and ms are whole vectors (the GEMM's NR-padded rows), so M is read in whole vectors.
void output(const WinogradShape& s, const float* m, std::int64_t ms, std::int64_t ldm, const float* bias, bool relu,
            std::int64_t t0, std::int64_t count, float* y) {
    const std::int64_t O = s.o;
    const Vec zero = {};
    for (std::int64_t r = 0; r < count; ++r) {
        const Tile tl = tile_of(s, t0 + r);
        const std::int64_t oh0 = 2 * tl.i, ow0 = 2 * tl.j;
        const int hv = oh0 + 1 < s.oh ? 2 : 1, wv = ow0 + 1 < s.ow ? 2 : 1;  // pixels inside the output
        float* yt = y + ((tl.n * s.oh + oh0) * s.ow + ow0) * O;
        const float* mr = m + r * ldm;
        for (std::int64_t o = 0; o < O; o += L) {
            const std::int64_t n = O - o;
            // Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1]: columns first.
            Vec q[2][4];
            for (int b = 0; b < 4; ++b) {
                const Vec m0 = load(mr + b * ms + o), m1 = load(mr + (4 + b) * ms + o);
                const Vec m2 = load(mr + (8 + b) * ms + o), m3 = load(mr + (12 + b) * ms + o);
                q[0][b] = m0 + m1 + m2;
                q[1][b] = m1 - m2 - m3;
            }
            const Vec bv = bias ? load_n(bias + o, n) : zero;
            Vec out[2][2] = {{q[0][0] + q[0][1] + q[0][2] + bv, q[0][1] - q[0][2] - q[0][3] + bv},
                             {q[1][0] + q[1][1] + q[1][2] + bv, q[1][1] - q[1][2] - q[1][3] + bv}};
            if (relu)
                for (int a = 0; a < 2; ++a)
                    for (int b = 0; b < 2; ++b)
                        out[a][b] = out[a][b] < zero ? zero : out[a][b];  // NaN passes (NaN < 0 is false)
            if (hv == 2 && wv == 2 && n >= L) {  // an interior tile, a whole vector
                store(yt + o, out[0][0]);
                store(yt + O + o, out[0][1]);
                store(yt + s.ow * O + o, out[1][0]);
                store(yt + (s.ow + 1) * O + o, out[1][1]);
                continue;
            }
            for (int a = 0; a < hv; ++a)
                for (int b = 0; b < wv; ++b) store_n(yt + (a * s.ow + b) * O + o, out[a][b], n);
        }
    }
}

void grad(const WinogradShape& s, const float* dy, const float* y, std::int64_t t0, std::int64_t count,
          std::int64_t rows, std::int64_t nr, float* gy, std::int64_t gs, float* db) {
    const std::int64_t O = s.o, op = (O + nr - 1) / nr * nr;
    const Vec zero = {};
    for (std::int64_t r = 0; r < count; ++r) {
        const Tile tl = tile_of(s, t0 + r);
        const std::int64_t oh0 = 2 * tl.i, ow0 = 2 * tl.j;
        const int hv = oh0 + 1 < s.oh ? 2 : 1, wv = ow0 + 1 < s.ow ? 2 : 1;
        const std::int64_t at = ((tl.n * s.oh + oh0) * s.ow + ow0) * O;
        for (std::int64_t o = 0; o < op; o += L) {
            const std::int64_t n = O - o;
            Vec g[2][2] = {{zero, zero}, {zero, zero}};
            if (hv == 2 && wv == 2 && n >= L) {  // an interior tile, a whole vector
                const float* d = dy + at + o;
                g[0][0] = load(d);
                g[0][1] = load(d + O);
                g[1][0] = load(d + s.ow * O);
                g[1][1] = load(d + (s.ow + 1) * O);
                if (y) {
                    const float* m = y + at + o;
                    g[0][0] = masked(g[0][0], load(m));
                    g[0][1] = masked(g[0][1], load(m + O));
                    g[1][0] = masked(g[1][0], load(m + s.ow * O));
                    g[1][1] = masked(g[1][1], load(m + (s.ow + 1) * O));
                }
            } else if (n > 0) {
                for (int a = 0; a < hv; ++a)
                    for (int b = 0; b < wv; ++b) {
                        const std::int64_t e = at + (a * s.ow + b) * O + o;
                        g[a][b] = y ? masked(load_n(dy + e, n), load_n(y + e, n)) : load_n(dy + e, n);
                    }
            }
            if (db && n > 0) store_n(db + o, load_n(db + o, n) + g[0][0] + g[0][1] + g[1][0] + g[1][1], n);
            // A g A^T, A = [1 0; 1 1; 1 -1; 0 -1].
            Vec u[4][2];
            for (int b = 0; b < 2; ++b) {
                u[0][b] = g[0][b];
                u[1][b] = g[0][b] + g[1][b];
                u[2][b] = g[0][b] - g[1][b];
                u[3][b] = -g[1][b];
            }
            float* dst = gy + (o / nr) * rows * nr + r * nr + o % nr;
            for (int a = 0; a < 4; ++a) {
                store(dst + (a * 4 + 0) * gs, u[a][0]);
                store(dst + (a * 4 + 1) * gs, u[a][0] + u[a][1]);
                store(dst + (a * 4 + 2) * gs, u[a][0] - u[a][1]);
                store(dst + (a * 4 + 3) * gs, -u[a][1]);
            }
        }
    }
    for (std::int64_t r = count; r < rows; ++r)
        for (int xi = 0; xi < 16; ++xi)
            for (std::int64_t o = 0; o < op; ++o) gy[xi * gs + (o / nr) * rows * nr + r * nr + o % nr] = 0.0f;
}

void filter(const float* w, std::int64_t ts, std::int64_t ks, std::int64_t os, std::int64_t kin, std::int64_t kout,
            std::int64_t nr, float* u, std::int64_t us) {
    const std::int64_t op = (kout + nr - 1) / nr * nr;
    const Vec half = Vec{} + 0.5f;
    for (std::int64_t k = 0; k < kin; ++k)
        for (std::int64_t o = 0; o < op; o += L) {
            const std::int64_t n = kout - o;
            Vec g[3][3];
            for (int a = 0; a < 3; ++a)
                for (int b = 0; b < 3; ++b) {
                    const float* p = w + (a * 3 + b) * ts + k * ks + o * os;
                    if (os == 1) {
                        g[a][b] = load_n(p, n);
                    } else {
                        Vec v = {};
                        for (std::int64_t l = 0; l < L && l < n; ++l) v[l] = p[l * os];
                        g[a][b] = v;
                    }
                }
            // U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
            Vec r[4][3];
            for (int b = 0; b < 3; ++b) {
                r[0][b] = g[0][b];
                r[1][b] = half * (g[0][b] + g[1][b] + g[2][b]);
                r[2][b] = half * (g[0][b] - g[1][b] + g[2][b]);
                r[3][b] = g[2][b];
            }
            float* dst = u + (o / nr) * kin * nr + k * nr + o % nr;
            for (int a = 0; a < 4; ++a) {
                store(dst + (a * 4 + 0) * us, r[a][0]);
                store(dst + (a * 4 + 1) * us, half * (r[a][0] + r[a][1] + r[a][2]));
                store(dst + (a * 4 + 2) * us, half * (r[a][0] - r[a][1] + r[a][2]));
                store(dst + (a * 4 + 3) * us, r[a][2]);
            }
        }
}

void filter_output(const float* m, std::int64_t ms, std::int64_t ldm, std::int64_t c, std::int64_t o, float* dw) {
    const Vec half = Vec{} + 0.5f;
    for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t j = 0; j < o; j += L) {
            const std::int64_t n = o - j;
            Vec mv[4][4];
            for (int a = 0; a < 4; ++a)
                for (int b = 0; b < 4; ++b) mv[a][b] = load(m + (a * 4 + b) * ms + k * ldm + j);
            // dw = G^T M G.
            Vec q[3][4];
            for (int b = 0; b < 4; ++b) {
                q[0][b] = mv[0][b] + half * (mv[1][b] + mv[2][b]);
                q[1][b] = half * (mv[1][b] - mv[2][b]);
                q[2][b] = half * (mv[1][b] + mv[2][b]) + mv[3][b];
            }
            for (int a = 0; a < 3; ++a) {
                float* dst = dw + (a * 3 * c + k) * o + j;
                store_n(dst, q[a][0] + half * (q[a][1] + q[a][2]), n);
                store_n(dst + c * o, half * (q[a][1] - q[a][2]), n);
                store_n(dst + 2 * c * o, half * (q[a][1] + q[a][2]) + q[a][3], n);
            }
        }
}

fastnn::cpu::WinogradTable make_table() {
    fastnn::cpu::WinogradTable table{};
    table.input = input;
    table.output = output;
    table.grad = grad;
    table.filter = filter;
    table.filter_output = filter_output;
    return table;
}

}  // namespace wg
