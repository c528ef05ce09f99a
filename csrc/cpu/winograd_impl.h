// The Winograd transform loops, F(2x2, 3x3) and F(4x4, 3x3) (see winograd_kernels.h). Included by
// conv_<isa>.cpp inside an anonymous namespace within a namespace named for the ISA (after
// <cstdint> and winograd_kernels.h), so each ISA compiles its own private copy (no std::
// templates, no shared inline functions and only WinogradShape's fields, never member functions:
// see gemm_kernels.h). Every loop runs across channels, L at a time, as plain vector-extension
// arithmetic the compiler maps onto the file's ISA.
//
// The 1-D transforms, per tile size M (alpha = M + 2 points), as Lavin & Gray give them:
//   M = 2  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//          G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]      A^T = [1 1 1 0; 0 1 -1 -1]
//   M = 4  B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
//                 0 4 0 -5 0 1]
//          G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//          A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// Each 2-D transform X^T d X applies the 1-D one down the columns, then along the rows.

namespace wg {

using fastnn::cpu::WinogradShape;

constexpr int L = 16;
// L floats as one value (as conv_impl.h's Vec): unaligned, may alias float arrays.
typedef float Vec __attribute__((vector_size(4 * L), aligned(4), may_alias));

inline Vec load(const float* p) { return *reinterpret_cast<const Vec*>(p); }
inline void store(float* p, Vec v) { *reinterpret_cast<Vec*>(p) = v; }
inline Vec splat(float f) { return Vec{} + f; }

// The first n (< L) floats at p into v (zeros beyond) and back: the last, partial channel
// block. Kept out of line so that the full-vector loops around them keep their values in
// registers; vectors pass by pointer (a 64-byte vector argument has no portable ABI).
__attribute__((noinline)) void load_tail(const float* p, std::int64_t n, Vec* v) {
    for (std::int64_t i = 0; i < n; ++i) (*v)[i] = p[i];
}

__attribute__((noinline)) void store_tail(float* p, const Vec* v, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) p[i] = (*v)[i];
}

// The first n floats at p (all L when n >= L; none when n <= 0), zeros beyond.
inline Vec load_n(const float* p, std::int64_t n) {
    if (n >= L) return load(p);
    Vec v = {};
    if (n > 0) load_tail(p, n, &v);
    return v;
}

inline void store_n(float* p, Vec v, std::int64_t n) {
    if (n >= L)
        store(p, v);
    else
        store_tail(p, &v, n);
}

// x where mask > 0, zero elsewhere (a relu's gradient mask, read from its output).
inline Vec masked(Vec x, Vec mask) {
    const Vec zero = {};
    return mask > zero ? x : zero;
}

// ---- the 1-D transforms ------------------------------------------------------------------------

// out = B^T in (alpha values).
inline void bt(const Vec (&d)[4], Vec (&t)[4]) {
    t[0] = d[0] - d[2];
    t[1] = d[1] + d[2];
    t[2] = d[2] - d[1];
    t[3] = d[1] - d[3];
}

inline void bt(const Vec (&d)[6], Vec (&t)[6]) {
    const Vec four = splat(4.0f), five = splat(5.0f), two = splat(2.0f);
    const Vec a = d[4] - four * d[2], b = d[3] - four * d[1];
    const Vec c = d[4] - d[2], e = two * (d[3] - d[1]);
    t[0] = four * d[0] - five * d[2] + d[4];
    t[1] = a + b;
    t[2] = a - b;
    t[3] = c + e;
    t[4] = c - e;
    t[5] = four * d[1] - five * d[3] + d[5];
}

// out = A^T in (alpha values -> M).
inline void at(const Vec (&m)[4], Vec (&y)[2]) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
}

inline void at(const Vec (&m)[6], Vec (&y)[4]) {
    const Vec p = m[1] + m[2], q = m[1] - m[2], r = m[3] + m[4], s = m[3] - m[4];
    y[0] = m[0] + p + r;
    y[1] = q + splat(2.0f) * s;
    y[2] = p + splat(4.0f) * r;
    y[3] = q + splat(8.0f) * s + m[5];
}

// out = G in (3 values -> alpha).
inline void gt(const Vec (&g)[3], Vec (&u)[4]) {
    const Vec half = splat(0.5f);
    u[0] = g[0];
    u[1] = half * (g[0] + g[1] + g[2]);
    u[2] = half * (g[0] - g[1] + g[2]);
    u[3] = g[2];
}

inline void gt(const Vec (&g)[3], Vec (&u)[6]) {
    const Vec sixth = splat(1.0f / 6.0f), quarter = splat(0.25f), half = splat(0.5f);
    const Vec e = g[0] + g[2], f = quarter * g[0] + g[2], h = half * g[1];
    u[0] = quarter * g[0];
    u[1] = -sixth * (e + g[1]);
    u[2] = -sixth * (e - g[1]);
    u[3] = sixth * (f + h);
    u[4] = sixth * (f - h);
    u[5] = g[2];
}

// out = A in (M values -> alpha): the transform of a block of dy (the filter gradient).
inline void a_of(const Vec (&g)[2], Vec (&u)[4]) {
    u[0] = g[0];
    u[1] = g[0] + g[1];
    u[2] = g[0] - g[1];
    u[3] = -g[1];
}

inline void a_of(const Vec (&g)[4], Vec (&u)[6]) {
    const Vec e = g[0] + g[2], o = g[1] + g[3];
    const Vec e2 = g[0] + splat(4.0f) * g[2], o2 = splat(2.0f) * g[1] + splat(8.0f) * g[3];
    u[0] = g[0];
    u[1] = e + o;
    u[2] = e - o;
    u[3] = e2 + o2;
    u[4] = e2 - o2;
    u[5] = g[3];
}

// out = G^T in (alpha values -> 3).
inline void g_t(const Vec (&m)[4], Vec (&w)[3]) {
    const Vec half = splat(0.5f), s = half * (m[1] + m[2]);
    w[0] = m[0] + s;
    w[1] = half * (m[1] - m[2]);
    w[2] = s + m[3];
}

inline void g_t(const Vec (&m)[6], Vec (&w)[3]) {
    const Vec sixth = splat(1.0f / 6.0f);
    const Vec s12 = m[1] + m[2], d12 = m[2] - m[1], s34 = m[3] + m[4], d34 = m[3] - m[4];
    w[0] = splat(0.25f) * m[0] - sixth * s12 + splat(1.0f / 24.0f) * s34;
    w[1] = sixth * d12 + splat(1.0f / 12.0f) * d34;
    w[2] = sixth * (s34 - s12) + m[5];
}

// ---- tiles -------------------------------------------------------------------------------------

struct Tile {
    std::int64_t n, i, j;
};

Tile tile_of(const WinogradShape& s, std::int64_t t) {
    const std::int64_t tw = (s.ow + s.m - 1) / s.m, per_image = (s.oh + s.m - 1) / s.m * tw, rem = t % per_image;
    return {t / per_image, rem / tw, rem % tw};
}

// One channel block of one tile: V = B^T d B with d(a, b) the window's element (a, b), point
// a * alpha + b stored at v + (a * alpha + b) * vs.
template <int M, class Window>
inline void input_block(const Window& d, float* v, std::int64_t vs) {
    constexpr int A = M + 2;
    Vec t[A][A];
    for (int b = 0; b < A; ++b) {
        Vec col[A], out[A];
        for (int a = 0; a < A; ++a) col[a] = d(a, b);
        bt(col, out);
        for (int a = 0; a < A; ++a) t[a][b] = out[a];
    }
    for (int a = 0; a < A; ++a) {
        Vec out[A];
        bt(t[a], out);
        for (int b = 0; b < A; ++b) store(v + (a * A + b) * vs, out[b]);
    }
}

// V is tile-major (a tile's points are one contiguous run, written sequentially); each point is
// cp = C rounded up to L floats (zeros beyond C), so every channel block is whole.
template <int M>
void input(const WinogradShape& s, const float* x, const float* mask, std::int64_t t0, std::int64_t count,
           std::int64_t rows, float* v, std::int64_t ldv, float* scratch) {
    constexpr int A = M + 2;
    const std::int64_t C = s.c, cp = (C + L - 1) / L * L, image = s.h * s.w * C, row_stride = s.w * C;
    const std::int64_t vs = cp;  // between transform points
    const Vec zero = {};
    const bool whole = C == cp;  // whole vectors: x is read in place, padding from a zero block
    const float* zeros = scratch;
    if (whole)
        for (std::int64_t c = 0; c < cp; c += L) store(scratch + c, zero);
    for (std::int64_t r = 0; r < count; ++r) {
        const Tile tl = tile_of(s, t0 + r);
        const std::int64_t ih0 = M * tl.i - s.pt, iw0 = M * tl.j - s.pl;
        float* vr = v + r * ldv;
        if (whole && ih0 >= 0 && ih0 + A <= s.h && iw0 >= 0 && iw0 + A <= s.w) {  // inside x
            const float* src = x + tl.n * image + ih0 * row_stride + iw0 * C;
            if (mask) {
                const float* msk = mask + (src - x);
                for (std::int64_t c = 0; c < C; c += L) {
                    const std::int64_t at0 = c;
                    input_block<M>([&](int a, int b) {
                        const std::int64_t e = at0 + a * row_stride + b * C;
                        return masked(load(src + e), load(msk + e));
                    }, vr + c, vs);
                }
            } else {
                for (std::int64_t c = 0; c < C; c += L) {
                    const float* sc = src + c;
                    input_block<M>([&](int a, int b) { return load(sc + a * row_stride + b * C); }, vr + c, vs);
                }
            }
            continue;
        }
        if (whole) {  // at an edge: each pixel from x or, outside it, from the zero block
            const float* px[A * A];
            const float* pm[A * A];
            for (int a = 0; a < A; ++a)
                for (int b = 0; b < A; ++b) {
                    const std::int64_t ih = ih0 + a, iw = iw0 + b;
                    const bool in = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
                    const std::int64_t e = tl.n * image + ih * row_stride + iw * C;
                    px[a * A + b] = in ? x + e : zeros;
                    pm[a * A + b] = in && mask ? mask + e : zeros;
                }
            for (std::int64_t c = 0; c < C; c += L) {
                if (mask)
                    input_block<M>([&](int a, int b) { return masked(load(px[a * A + b] + c), load(pm[a * A + b] + c)); },
                                   vr + c, vs);
                else
                    input_block<M>([&](int a, int b) { return load(px[a * A + b] + c); }, vr + c, vs);
            }
            continue;
        }
        // C is not whole vectors: a zero-padded (and masked) A x A x cp copy first.
        for (int a = 0; a < A; ++a)
            for (int b = 0; b < A; ++b) {
                float* dst = scratch + (a * A + b) * cp;
                const std::int64_t ih = ih0 + a, iw = iw0 + b;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) {
                    for (std::int64_t c = 0; c < cp; c += L) store(dst + c, zero);
                    continue;
                }
                const std::int64_t e = tl.n * image + ih * row_stride + iw * C;
                for (std::int64_t c = 0; c < cp; c += L) {
                    const Vec d = load_n(x + e + c, C - c);
                    store(dst + c, mask ? masked(d, load_n(mask + e + c, C - c)) : d);
                }
            }
        for (std::int64_t c = 0; c < cp; c += L) {
            const float* sc = scratch + c;
            input_block<M>([&](int a, int b) { return load(sc + (a * A + b) * cp); }, vr + c, vs);
        }
    }
    for (std::int64_t r = count; r < rows; ++r)
        for (std::int64_t i = 0; i < A * A * cp; ++i) v[r * ldv + i] = 0.0f;
}

// ms and ldm are whole vectors (the GEMM's NR-padded rows), so M is read in whole vectors.
template <int M>
void output(const WinogradShape& s, const float* m, std::int64_t ms, std::int64_t ldm, const float* bias, bool relu,
            std::int64_t t0, std::int64_t count, float* y) {
    constexpr int A = M + 2;
    const std::int64_t O = s.o;
    const Vec zero = {};
    for (std::int64_t r = 0; r < count; ++r) {
        const Tile tl = tile_of(s, t0 + r);
        const std::int64_t oh0 = M * tl.i, ow0 = M * tl.j;
        const std::int64_t hv = s.oh - oh0 < M ? s.oh - oh0 : M, wv = s.ow - ow0 < M ? s.ow - ow0 : M;
        float* yt = y + ((tl.n * s.oh + oh0) * s.ow + ow0) * O;
        const float* mr = m + r * ldm;
        for (std::int64_t o = 0; o < O; o += L) {
            const std::int64_t n = O - o;
            Vec q[M][A];  // A^T down the columns
            for (int b = 0; b < A; ++b) {
                Vec col[A], out[M];
                for (int a = 0; a < A; ++a) col[a] = load(mr + (a * A + b) * ms + o);
                at(col, out);
                for (int a = 0; a < M; ++a) q[a][b] = out[a];
            }
            const Vec bv = bias ? load_n(bias + o, n) : zero;
            for (int a = 0; a < hv; ++a) {
                Vec out[M];
                at(q[a], out);
                for (int b = 0; b < M; ++b) {
                    out[b] += bv;
                    if (relu) out[b] = out[b] < zero ? zero : out[b];  // NaN passes (NaN < 0 is false)
                }
                float* row = yt + a * s.ow * O + o;
                if (wv == M && n >= L) {
                    for (int b = 0; b < M; ++b) store(row + b * O, out[b]);
                } else {
                    for (int b = 0; b < wv; ++b) store_n(row + b * O, out[b], n);
                }
            }
        }
    }
}

template <int M>
void grad(const WinogradShape& s, const float* dy, const float* y, std::int64_t t0, std::int64_t count,
          std::int64_t rows, std::int64_t nr, float* gy, std::int64_t gs, float* db) {
    constexpr int A = M + 2;
    const std::int64_t O = s.o, op = (O + nr - 1) / nr * nr;
    const Vec zero = {};
    for (std::int64_t r = 0; r < count; ++r) {
        const Tile tl = tile_of(s, t0 + r);
        const std::int64_t oh0 = M * tl.i, ow0 = M * tl.j;
        const std::int64_t hv = s.oh - oh0 < M ? s.oh - oh0 : M, wv = s.ow - ow0 < M ? s.ow - ow0 : M;
        const std::int64_t at0 = ((tl.n * s.oh + oh0) * s.ow + ow0) * O;
        for (std::int64_t o = 0; o < op; o += L) {
            const std::int64_t n = O - o;
            Vec g[M][M];
            Vec sum = zero;
            for (int a = 0; a < M; ++a)
                for (int b = 0; b < M; ++b) {
                    Vec d = zero;
                    if (a < hv && b < wv && n > 0) {
                        const std::int64_t e = at0 + (a * s.ow + b) * O + o;
                        d = load_n(dy + e, n);
                        if (y) d = masked(d, load_n(y + e, n));
                    }
                    g[a][b] = d;
                    sum += d;
                }
            if (db && n > 0) store_n(db + o, load_n(db + o, n) + sum, n);
            Vec u[A][M];  // A g down the columns, then along the rows
            for (int b = 0; b < M; ++b) {
                Vec col[M], out[A];
                for (int a = 0; a < M; ++a) col[a] = g[a][b];
                a_of(col, out);
                for (int a = 0; a < A; ++a) u[a][b] = out[a];
            }
            float* dst = gy + (o / nr) * rows * nr + r * nr + o % nr;
            for (int a = 0; a < A; ++a) {
                Vec out[A];
                a_of(u[a], out);
                for (int b = 0; b < A; ++b) store(dst + (a * A + b) * gs, out[b]);
            }
        }
    }
    for (std::int64_t r = count; r < rows; ++r)
        for (int xi = 0; xi < A * A; ++xi)
            for (std::int64_t o = 0; o < op; ++o) gy[xi * gs + (o / nr) * rows * nr + r * nr + o % nr] = 0.0f;
}

template <int M>
void filter(const float* w, std::int64_t ts, std::int64_t ks, std::int64_t os, std::int64_t kin, std::int64_t kout,
            std::int64_t nr, float* u, std::int64_t us) {
    constexpr int A = M + 2;
    const std::int64_t op = (kout + nr - 1) / nr * nr;
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
            Vec r[A][3];  // G g down the columns, then along the rows
            for (int b = 0; b < 3; ++b) {
                const Vec col[3] = {g[0][b], g[1][b], g[2][b]};
                Vec out[A];
                gt(col, out);
                for (int a = 0; a < A; ++a) r[a][b] = out[a];
            }
            float* dst = u + (o / nr) * kin * nr + k * nr + o % nr;
            for (int a = 0; a < A; ++a) {
                Vec out[A];
                gt(r[a], out);
                for (int b = 0; b < A; ++b) store(dst + (a * A + b) * us, out[b]);
            }
        }
}

template <int M>
void filter_output(const float* m, std::int64_t ms, std::int64_t ldm, std::int64_t c, std::int64_t o, float* dw) {
    constexpr int A = M + 2;
    for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t j = 0; j < o; j += L) {
            const std::int64_t n = o - j;
            Vec q[3][A];  // G^T down the columns, then along the rows
            for (int b = 0; b < A; ++b) {
                Vec col[A], out[3];
                for (int a = 0; a < A; ++a) col[a] = load(m + (a * A + b) * ms + k * ldm + j);
                g_t(col, out);
                for (int a = 0; a < 3; ++a) q[a][b] = out[a];
            }
            for (int a = 0; a < 3; ++a) {
                Vec out[3];
                g_t(q[a], out);
                for (int b = 0; b < 3; ++b) store_n(dw + ((a * 3 + b) * c + k) * o + j, out[b], n);
            }
        }
}

template <int M>
fastnn::cpu::WinogradTransforms transforms() {
    fastnn::cpu::WinogradTransforms t{};
    t.input = input<M>;
    t.output = output<M>;
    t.grad = grad<M>;
    t.filter = filter<M>;
    t.filter_output = filter_output<M>;
    return t;
}

fastnn::cpu::WinogradTable make_table() {
    fastnn::cpu::WinogradTable table{};
    table.f2 = transforms<2>();
    table.f4 = transforms<4>();
    return table;
}

}  // namespace wg
