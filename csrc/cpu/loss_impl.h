// The loss family's row loops (formulas: fastnn/loss.h). Included by
// loss_<isa>.cpp inside the ISA's private namespace (after <cstdint>,
// <cstring> and fastnn/loss.h), like softmax_impl.h; activation_math.h gives
// exp, tanh and sigmoid, the logs are below.
//
// No std:: templates and no functions shared with other files here (see
// gemm_kernels.h): everything below has internal linkage through the
// including file's anonymous namespace. Loops are plain, with selects instead
// of branches and 16 independent partial sums, so the compiler vectorises them
// (as in softmax_impl.h). Each row is reduced by one thread, so results do not
// depend on the thread count.
//
// check_finite adds one more read of y_true and y_pred (after each row, from
// cache, or over the whole range for narrow rows) summing x * 0, which is NaN
// exactly for NaN or +-inf; when that trips, the range is rescanned for the
// first offending row (the error path only). Sparse labels are range-checked
// in the same pass.
#include "activation_math.h"

namespace loss {
namespace m = math;
constexpr int W = 16;
constexpr float kEps = fastnn::kLossEpsilon;
constexpr float kOneMinusEps = 1.0f - fastnn::kLossEpsilon;  // 0.99999988f, as 1 - 1e-7 in float32
constexpr float kLn2 = 0.693147180559945309f;

inline float clip(float p) { return p < kEps ? kEps : (p > kOneMinusEps ? kOneMinusEps : p); }  // NaN passes
// True where clip_by_value passes its gradient (eps <= p <= 1 - eps, or NaN).
// Written as clip(p) == p: GCC 12 at -O3 -mavx2 -fno-trapping-math vectorises
// the plain !(p < eps || p > 1 - eps) wrongly inside a select (one compare's
// mask is dropped; tests/test_losses_kernels.py::test_every_isa caught it).
inline bool unclipped(float p) { return (clip(p) == p) | (p != p); }
inline bool finite(float x) { return x - x == 0.0f; }

// log x for normal positive x (NaN passes; other inputs never reach it),
// division-free: x = 2^k m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact),
// log m = f - f^2 / 2 + f^3 P(f) with P a degree-7 fit of (log1p f - f + f^2 / 2) / f^3
// (weighted least squares, made here with NumPy; 0.84 ulp worst case over m in
// float32, checked against float64 in the tests).
inline float log_pos(float x) {
    std::int32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const std::int32_t ix = bits + (0x3f800000 - 0x3f3504f3);
    const std::int32_t k = (ix >> 23) - 127;
    const float f = m::bits_to_float((ix & 0x007fffff) + 0x3f3504f3) - 1.0f;
    float q = -0.0763419718f;
    q = q * f + 0.127614588f;
    q = q * f - 0.131602392f;
    q = q * f + 0.142017782f;
    q = q * f - 0.16623354f;
    q = q * f + 0.200012267f;
    q = q * f - 0.250008225f;
    q = q * f + 0.333333313f;
    const float f2 = f * f;
    const float log_m = (f * f2 * q - 0.5f * f2) + f;
    const float kf = static_cast<float>(k);
    constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723e-6f;
    return m::select(x == x, kf * ln2_hi + (log_m + kf * ln2_lo), x);
}

// log1p(z) for 0 <= z <= 1: log(u), u = 1 + z, plus the rounding of 1 + z,
// (z - (u - 1)) / u, with 1 / u taken as (3 - u) / 2: exact to (u - 1)^2 / 2,
// which is small wherever the correction matters (u near 1; the correction is
// below 2^-24 and log u >= (u - 1) / 2). No division.
inline float log1p_unit(float z) {
    const float u = 1.0f + z;
    return log_pos(u) + (z - (u - 1.0f)) * (1.5f - 0.5f * u);
}

// log cosh e without cancellation and without division: log1p(2 sinh^2(|e| / 2))
// up to |e| = 1.3 (sinh by its Taylor series to h^11, exact in float32 for
// h <= 0.65, and 2 sinh^2 <= 0.98), then |e| - log 2 + log1p(exp(-2 |e|)) (the
// naive form everywhere would lose all digits of e^2 / 2 for small e).
inline float log_cosh(float e) {
    const float a = __builtin_fabsf(e);
    const float h = 0.5f * m::select(a > 1.3f, 1.3f, a);
    const float h2 = h * h;
    float p = 1.0f / 39916800;
    p = p * h2 + 1.0f / 362880;
    p = p * h2 + 1.0f / 5040;
    p = p * h2 + 1.0f / 120;
    p = p * h2 + 1.0f / 6;
    const float sh = h + h * h2 * p;
    const bool large = a > 1.3f;  // one log1p for both branches: its argument is chosen first
    const float z = m::select(large, m::exp(-2.0f * a), 2.0f * sh * sh);
    return m::select(large, a - kLn2, 0.0f) + log1p_unit(z);
}

// ---- element-wise kinds: value(t, p) is averaged over the row, deriv(t, p) is
// d value / d p.
struct Mse {
    float value(float t, float p) const {
        const float e = p - t;
        return e * e;
    }
    float deriv(float t, float p) const { return 2.0f * (p - t); }
};

struct Mae {
    float value(float t, float p) const { return __builtin_fabsf(p - t); }
    float deriv(float t, float p) const {
        const float e = p - t;
        return e > 0.0f ? 1.0f : (e < 0.0f ? -1.0f : e * 0.0f);  // 0 at e == 0, NaN stays NaN
    }
};

struct Huber {
    float d, half_d2;
    float value(float t, float p) const {
        // both branches computed: a load of half_d2 in one arm only would stop the vectoriser
        const float e = p - t, a = __builtin_fabsf(e);
        const float quadratic = 0.5f * (e * e), linear = d * a - half_d2;
        return a <= d ? quadratic : linear;
    }
    float deriv(float t, float p) const {
        const float e = p - t;
        return e < -d ? -d : (e > d ? d : e);
    }
};

struct LogCosh {
    float value(float t, float p) const { return log_cosh(p - t); }
    float deriv(float t, float p) const { return m::tanh(p - t); }
};

// Label smoothing of binary targets: t' = t (1 - ls) + ls / 2.
struct BceProb {
    float ls_scale, ls_shift;
    float value(float t, float p) const {
        const float ts = t * ls_scale + ls_shift, q = clip(p);
        return -(ts * log_pos(q) + (1.0f - ts) * log_pos(1.0f - q));
    }
    float deriv(float t, float p) const {
        const float ts = t * ls_scale + ls_shift, q = clip(p);
        return unclipped(p) ? (q - ts) / (q * (1.0f - q)) : 0.0f;
    }
};

struct BceLogit {
    float ls_scale, ls_shift;
    float value(float t, float x) const {
        const float ts = t * ls_scale + ls_shift;
        return (x > 0.0f ? x : 0.0f) - x * ts + log1p_unit(m::exp(-__builtin_fabsf(x)));
    }
    float deriv(float t, float x) const { return m::sigmoid(x) - (t * ls_scale + ls_shift); }
};

// ---- helpers --------------------------------------------------------------

inline float hsum(const float* acc) {
    float s = 0.0f;
    for (int k = 0; k < W; ++k) s += acc[k];
    return s;
}

// The loops that must vectorise live in two small helpers, flattened: GCC
// then inlines every call in them (exp, the logs), which it did not reliably
// do into the larger row functions, and a call left in a loop keeps it scalar
// (measured: log_cosh on 4M one-element rows 77 ms, 2 ms vectorised).
#define FASTNN_LOSS_FLATTEN __attribute__((flatten))

// out[j] = f(j) for j < n. f is taken by value and captures by value, so its
// constants (huber's delta, the label smoothing) are registers, not memory the
// stores through `out` might alias (which also kept loops scalar).
template <typename F>
FASTNN_LOSS_FLATTEN void fill(float* out, std::int64_t n, F f) {
    for (std::int64_t j = 0; j < n; ++j) out[j] = f(j);
}

// sum_{j < n} f(j): f is evaluated by a plain loop into a stack chunk (which
// the loop vectoriser handles whatever f is: exp, logs, bit tricks), and the
// chunk is summed in W partial sums. Summing f's values in the same loop as
// computing them left the compiler's SLP pass to vectorise the whole body,
// which it did not do for the longer ones (binary crossentropy from logits ran
// 2x slower). Rounding: at most n / 16 + 32 additions per value.
constexpr int kChunk = 256;

template <typename F>
FASTNN_LOSS_FLATTEN float chunked_sum(std::int64_t n, F f) {
    float buf[kChunk];
    if (n < W) {  // a short row: no lanes to fold
        for (std::int64_t j = 0; j < n; ++j) buf[j] = f(j);
        float s = 0.0f;
        for (std::int64_t j = 0; j < n; ++j) s += buf[j];
        return s;
    }
    float acc[W] = {};
    float tail = 0.0f;
    for (std::int64_t j0 = 0; j0 < n; j0 += kChunk) {
        const int len = static_cast<int>(n - j0 < kChunk ? n - j0 : kChunk);
        for (int j = 0; j < len; ++j) buf[j] = f(j0 + j);
        int j = 0;
        for (; j + W <= len; j += W)
            for (int k = 0; k < W; ++k) acc[k] += buf[j + k];
        for (; j < len; ++j) tail += buf[j];
    }
    return hsum(acc) + tail;
}

inline float row_sum(const float* x, std::int64_t n) {
    if (n < W) {
        float s = 0.0f;
        for (std::int64_t j = 0; j < n; ++j) s += x[j];
        return s;
    }
    float acc[W] = {};
    std::int64_t j = 0;
    for (; j + W <= n; j += W)
        for (int k = 0; k < W; ++k) acc[k] += x[j + k];
    float s = hsum(acc);
    for (; j < n; ++j) s += x[j];
    return s;
}

// Sum of x * 0 over the row: NaN exactly when the row holds a NaN or an inf.
inline float nonfinite_probe(const float* x, std::int64_t n) {
    float acc[W] = {};
    std::int64_t j = 0;
    for (; j + W <= n; j += W)
        for (int k = 0; k < W; ++k) acc[k] += x[j + k] * 0.0f;
    float s = hsum(acc);
    for (; j < n; ++j) s += x[j] * 0.0f;
    return s;
}

inline std::int64_t first_nonfinite_row(const float* x, std::int64_t r0, std::int64_t r1, std::int64_t n) {
    for (std::int64_t r = r0; r < r1; ++r)
        for (std::int64_t j = 0; j < n; ++j)
            if (!finite(x[r * n + j])) return r;
    return -1;
}

// After a range whose probes sum to zt (y_true) and zp (y_pred): record the
// first offending rows.
inline void report_nonfinite(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, float zt, float zp,
                             fastnn::LossStatus* st) {
    if (zt != zt && a.y_true) st->nonfinite_true_row = first_nonfinite_row(a.y_true, r0, r1, a.n);
    if (zp != zp) st->nonfinite_pred_row = first_nonfinite_row(a.y_pred, r0, r1, a.n);
}

inline float row_grad_scale(const fastnn::LossArgs& a, std::int64_t r) {
    return a.grad_rows ? a.grad_scale * a.grad_rows[r] : a.grad_scale;
}

// ---- element-wise kinds: forward and backward over rows [r0, r1) ----------

template <bool CHECK, typename Op>
void mean_forward(const Op op, const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1,
                  fastnn::LossStatus* st) {
    const std::int64_t n = a.n;
    float zt = 0.0f, zp = 0.0f;
    if (n == 1) {  // one element a row: vectorise across rows
        const float* t = a.y_true + r0;
        const float* p = a.y_pred + r0;
        fill(a.loss + r0, r1 - r0, [=](std::int64_t j) { return op.value(t[j], p[j]); });
        if (CHECK) {
            zt = nonfinite_probe(a.y_true + r0, r1 - r0);
            zp = nonfinite_probe(a.y_pred + r0, r1 - r0);
        }
    } else if (n < W) {  // narrow rows: values for a block of rows at once, then each row's sum
        const float fn = static_cast<float>(n);
        const std::int64_t per = kChunk / n;
        float buf[kChunk];
        for (std::int64_t r = r0; r < r1; r += per) {
            const std::int64_t nr = r1 - r < per ? r1 - r : per;
            const float* t = a.y_true + r * n;
            const float* p = a.y_pred + r * n;
            fill(buf, nr * n, [=](std::int64_t j) { return op.value(t[j], p[j]); });
            for (std::int64_t i = 0; i < nr; ++i) {
                float s = 0.0f;  // rows are independent chains: they overlap in the CPU
                for (std::int64_t j = 0; j < n; ++j) s += buf[i * n + j];
                a.loss[r + i] = s / fn;
            }
        }
        if (CHECK) {
            zt = nonfinite_probe(a.y_true + r0 * n, (r1 - r0) * n);
            zp = nonfinite_probe(a.y_pred + r0 * n, (r1 - r0) * n);
        }
    } else {
        const float fn = static_cast<float>(n);
        for (std::int64_t r = r0; r < r1; ++r) {
            const float* t = a.y_true + r * n;
            const float* p = a.y_pred + r * n;
            const float s = chunked_sum(n, [=](std::int64_t j) { return op.value(t[j], p[j]); });
            if (CHECK) {
                zt += nonfinite_probe(t, n);  // the row is in L1 now
                zp += nonfinite_probe(p, n);
            }
            a.loss[r] = s / fn;
        }
    }
    if (CHECK) report_nonfinite(a, r0, r1, zt, zp, st);
}

template <bool CHECK, typename Op>
void mean_backward(const Op op, const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1,
                   fastnn::LossStatus* st) {
    const std::int64_t n = a.n;
    if (n == 1) {
        const float* t = a.y_true + r0;
        const float* p = a.y_pred + r0;
        const float s = a.grad_scale;
        if (a.grad_rows) {
            const float* gr = a.grad_rows + r0;
            fill(a.grad + r0, r1 - r0, [=](std::int64_t j) { return (s * gr[j]) * op.deriv(t[j], p[j]); });
        } else {
            fill(a.grad + r0, r1 - r0, [=](std::int64_t j) { return s * op.deriv(t[j], p[j]); });
        }
    } else {
        const float fn = static_cast<float>(n);
        for (std::int64_t r = r0; r < r1; ++r) {
            const float c = row_grad_scale(a, r) / fn;
            const float* t = a.y_true + r * n;
            const float* p = a.y_pred + r * n;
            fill(a.grad + r * n, n, [=](std::int64_t j) { return c * op.deriv(t[j], p[j]); });
        }
    }
    if (CHECK) {
        const float zt = nonfinite_probe(a.y_true + r0 * n, (r1 - r0) * n);
        const float zp = nonfinite_probe(a.y_pred + r0 * n, (r1 - r0) * n);
        report_nonfinite(a, r0, r1, zt, zp, st);
    }
}

// ---- categorical crossentropy on probabilities -----------------------------

template <bool CHECK>
void categorical_forward(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, fastnn::LossStatus* st) {
    const std::int64_t n = a.n;
    const float ls_scale = 1.0f - a.label_smoothing, ls_shift = a.label_smoothing / static_cast<float>(n);
    float zt = 0.0f, zp = 0.0f;
    if (n < W) {  // narrow rows (10 classes): the logs of a block of rows in one vectorised loop
        const std::int64_t per = kChunk / n;
        float u[kChunk], v[kChunk];
        for (std::int64_t r = r0; r < r1; r += per) {
            const std::int64_t nr = r1 - r < per ? r1 - r : per;
            const float* t = a.y_true + r * n;
            const float* p = a.y_pred + r * n;
            for (std::int64_t i = 0; i < nr; ++i) {
                const float inv = 1.0f / row_sum(p + i * n, n);
                for (std::int64_t j = 0; j < n; ++j) u[i * n + j] = p[i * n + j] * inv;
            }
            const float* uu = u;
            fill(v, nr * n, [=](std::int64_t j) { return (t[j] * ls_scale + ls_shift) * log_pos(clip(uu[j])); });
            for (std::int64_t i = 0; i < nr; ++i) {
                float s = 0.0f;
                for (std::int64_t j = 0; j < n; ++j) s += v[i * n + j];
                a.loss[r + i] = -s;  // the order of chunked_sum for n < W: the same numbers as one row at a time
            }
        }
        if (CHECK) report_nonfinite(a, r0, r1, nonfinite_probe(a.y_true + r0 * n, (r1 - r0) * n),
                                    nonfinite_probe(a.y_pred + r0 * n, (r1 - r0) * n), st);
        return;
    }
    for (std::int64_t r = r0; r < r1; ++r) {
        const float* t = a.y_true + r * n;
        const float* p = a.y_pred + r * n;
        const float inv = 1.0f / row_sum(p, n);
        a.loss[r] = -chunked_sum(n, [=](std::int64_t j) {
            return (t[j] * ls_scale + ls_shift) * log_pos(clip(p[j] * inv));
        });
        if (CHECK) {
            zt += nonfinite_probe(t, n);
            zp += nonfinite_probe(p, n);
        }
    }
    if (CHECK) report_nonfinite(a, r0, r1, zt, zp, st);
}

template <bool CHECK>
void categorical_backward(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, fastnn::LossStatus* st) {
    const std::int64_t n = a.n;
    const float ls_scale = 1.0f - a.label_smoothing, ls_shift = a.label_smoothing / static_cast<float>(n);
    float zt = 0.0f, zp = 0.0f;
    for (std::int64_t r = r0; r < r1; ++r) {
        const float* t = a.y_true + r * n;
        const float* p = a.y_pred + r * n;
        float* g = a.grad + r * n;
        const float inv = 1.0f / row_sum(p, n);
        // T_in: the smoothed targets whose normalised probability is not clipped.
        const float t_in = chunked_sum(n, [=](std::int64_t j) {
            const float ts = t[j] * ls_scale + ls_shift;  // loaded unconditionally, or the loop stays scalar
            return unclipped(p[j] * inv) ? ts : 0.0f;
        });
        const float c = row_grad_scale(a, r) * inv;
        fill(g, n, [=](std::int64_t j) {
            const float u = p[j] * inv;
            const float ratio = (t[j] * ls_scale + ls_shift) / u;
            return c * (t_in - (unclipped(u) ? ratio : 0.0f));
        });
        if (CHECK) {
            zt += nonfinite_probe(t, n);
            zp += nonfinite_probe(p, n);
        }
    }
    if (CHECK) report_nonfinite(a, r0, r1, zt, zp, st);
}

// ---- sparse categorical crossentropy on probabilities ----------------------

inline std::int64_t label_at(const fastnn::LossArgs& a, std::int64_t r) {
    return a.labels32 ? static_cast<std::int64_t>(a.labels32[r]) : a.labels64[r];
}

inline void report_label(std::int64_t r, std::int64_t label, fastnn::LossStatus* st) {
    if (st->bad_label_row < 0) {
        st->bad_label_row = r;
        st->bad_label = label;
    }
}

template <bool CHECK>
void sparse_forward(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, fastnn::LossStatus* st) {
    const std::int64_t n = a.n;
    float zp = 0.0f;
    for (std::int64_t r = r0; r < r1; ++r) {
        const float* p = a.y_pred + r * n;
        const std::int64_t label = label_at(a, r);
        if (CHECK) zp += nonfinite_probe(p, n);
        if (label < 0 || label >= n) {
            report_label(r, label, st);
            a.loss[r] = __builtin_nanf("");
            continue;
        }
        a.loss[r] = -log_pos(clip(p[label] / row_sum(p, n)));
    }
    if (CHECK) report_nonfinite(a, r0, r1, 0.0f, zp, st);
}

template <bool CHECK>
void sparse_backward(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, fastnn::LossStatus* st) {
    const std::int64_t n = a.n;
    float zp = 0.0f;
    for (std::int64_t r = r0; r < r1; ++r) {
        const float* p = a.y_pred + r * n;
        float* g = a.grad + r * n;
        const std::int64_t label = label_at(a, r);
        if (CHECK) zp += nonfinite_probe(p, n);
        if (label < 0 || label >= n) {
            report_label(r, label, st);
            for (std::int64_t j = 0; j < n; ++j) g[j] = __builtin_nanf("");
            continue;
        }
        const float s = row_sum(p, n), pl = p[label];
        const float c = row_grad_scale(a, r);
        // d/dp_k -log(p_L / S) = 1 / S - [k == L] / p_L, zero when p_L / S is clipped.
        const bool pass = unclipped(pl / s);
        const float other = pass ? c / s : 0.0f;
        for (std::int64_t j = 0; j < n; ++j) g[j] = other;
        g[label] = pass ? c / s - c / pl : 0.0f;
    }
    if (CHECK) report_nonfinite(a, r0, r1, 0.0f, zp, st);
}

// ---- dispatch on the kind ---------------------------------------------------

template <bool CHECK>
void forward_kind(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, fastnn::LossStatus* st) {
    using K = fastnn::LossKind;
    const float ls = a.label_smoothing;
    switch (a.kind) {
        case K::mse: return mean_forward<CHECK>(Mse{}, a, r0, r1, st);
        case K::mae: return mean_forward<CHECK>(Mae{}, a, r0, r1, st);
        case K::huber: return mean_forward<CHECK>(Huber{a.delta, 0.5f * (a.delta * a.delta)}, a, r0, r1, st);
        case K::log_cosh: return mean_forward<CHECK>(LogCosh{}, a, r0, r1, st);
        case K::binary_crossentropy:
            if (a.from_logits) return mean_forward<CHECK>(BceLogit{1.0f - ls, 0.5f * ls}, a, r0, r1, st);
            return mean_forward<CHECK>(BceProb{1.0f - ls, 0.5f * ls}, a, r0, r1, st);
        case K::categorical_crossentropy: return categorical_forward<CHECK>(a, r0, r1, st);
        case K::sparse_categorical_crossentropy: return sparse_forward<CHECK>(a, r0, r1, st);
    }
}

template <bool CHECK>
void backward_kind(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, fastnn::LossStatus* st) {
    using K = fastnn::LossKind;
    const float ls = a.label_smoothing;
    switch (a.kind) {
        case K::mse: return mean_backward<CHECK>(Mse{}, a, r0, r1, st);
        case K::mae: return mean_backward<CHECK>(Mae{}, a, r0, r1, st);
        case K::huber: return mean_backward<CHECK>(Huber{a.delta, 0.5f * (a.delta * a.delta)}, a, r0, r1, st);
        case K::log_cosh: return mean_backward<CHECK>(LogCosh{}, a, r0, r1, st);
        case K::binary_crossentropy:
            if (a.from_logits) return mean_backward<CHECK>(BceLogit{1.0f - ls, 0.5f * ls}, a, r0, r1, st);
            return mean_backward<CHECK>(BceProb{1.0f - ls, 0.5f * ls}, a, r0, r1, st);
        case K::categorical_crossentropy: return categorical_backward<CHECK>(a, r0, r1, st);
        case K::sparse_categorical_crossentropy: return sparse_backward<CHECK>(a, r0, r1, st);
    }
}

void forward_rows(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, fastnn::LossStatus* st) {
    if (a.check_finite)
        forward_kind<true>(a, r0, r1, st);
    else
        forward_kind<false>(a, r0, r1, st);
}

void backward_rows(const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1, fastnn::LossStatus* st) {
    if (a.check_finite)
        backward_kind<true>(a, r0, r1, st);
    else
        backward_kind<false>(a, r0, r1, st);
}

}  // namespace loss
