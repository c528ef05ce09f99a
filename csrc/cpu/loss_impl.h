// The loss family's row loops (formulas: fastnn/loss.h). Included by
// loss_<isa>.cpp inside the ISA's private namespace (after <cstdint>,
// <cstring> and fastnn/loss.h), like softmax_impl.h; activation_math.h gives
// exp, expm1, tanh, sigmoid and log1p(exp(-a)).
//
// No std:: templates and no functions shared with other files here (see
// gemm_kernels.h): everything below has internal linkage through the
// including file's anonymous namespace. Loops are plain, with selects instead
// of branches and 16 independent partial sums, so the compiler vectorises them
// (as in softmax_impl.h). Each row is reduced by one thread, so results do not
// depend on the thread count.
//
// check_finite costs two multiply-adds per element (x * 0 is NaN exactly when
// x is NaN or +-inf, so a sum of them turns NaN); when it trips, the range is
// rescanned for the first offending row (the error path only).
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
inline bool unclipped(float p) { return clip(p) == p || p != p; }
inline bool finite(float x) { return x - x == 0.0f; }

// log x for normal positive x (NaN passes; other inputs never reach it):
// x = 2^k m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1),
// |s| <= 0.1716, series to s^11 (truncation < 1e-10 relative). ~1 ulp.
inline float log_pos(float x) {
    std::int32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const std::int32_t ix = bits + (0x3f800000 - 0x3f3504f3);
    const std::int32_t k = (ix >> 23) - 127;
    const float mm = m::bits_to_float((ix & 0x007fffff) + 0x3f3504f3);
    const float s = (mm - 1.0f) / (mm + 1.0f);
    const float s2 = s * s;
    float q = 1.0f / 11;
    q = q * s2 + 1.0f / 9;
    q = q * s2 + 1.0f / 7;
    q = q * s2 + 1.0f / 5;
    q = q * s2 + 1.0f / 3;
    q = q * s2 + 1.0f;
    const float kf = static_cast<float>(k);
    constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723e-6f;
    const float r = kf * ln2_hi + (2.0f * s * q + kf * ln2_lo);
    return m::select(x == x, r, x);
}

// log1p(z) for z >= 0, accurate for tiny z (the rounding of 1 + z corrected).
inline float log1p_pos(float z) {
    const float u = 1.0f + z;
    const float um1 = u - 1.0f;
    return m::select(um1 == 0.0f, z, log_pos(u) * (z / m::select(um1 == 0.0f, 1.0f, um1)));
}

// log cosh e without cancellation: log1p(2 sinh^2(e / 2)) up to |e| = 8 (the
// naive |e| + log1p(exp(-2|e|)) - log 2 loses all digits of e^2 / 2 for small
// e), then |e| - log 2 + log1p(exp(-2|e|)).
inline float log_cosh(float e) {
    const float a = __builtin_fabsf(e);
    const float h = 0.5f * m::select(a > 8.0f, 8.0f, a);
    const float em = m::expm1(h);
    const float sh = 0.5f * (em + em / (em + 1.0f));  // sinh h, both terms >= 0
    const float small = log1p_pos(2.0f * sh * sh);
    const float large = (a - kLn2) + m::log1p_exp_neg(2.0f * a);
    return m::select(a > 8.0f, large, small);
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
        const float e = p - t, a = __builtin_fabsf(e);
        return a <= d ? 0.5f * (e * e) : d * a - half_d2;
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
        return (x > 0.0f ? x : 0.0f) - x * ts + m::log1p_exp_neg(__builtin_fabsf(x));
    }
    float deriv(float t, float x) const { return m::sigmoid(x) - (t * ls_scale + ls_shift); }
};

// ---- helpers --------------------------------------------------------------

inline float hsum(const float* acc) {
    float s = 0.0f;
    for (int k = 0; k < W; ++k) s += acc[k];
    return s;
}

inline float row_sum(const float* x, std::int64_t n) {
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
void mean_forward(const Op& op, const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1,
                  fastnn::LossStatus* st) {
    const std::int64_t n = a.n;
    float zt = 0.0f, zp = 0.0f;
    if (n == 1) {  // one element a row: vectorise across rows
        for (std::int64_t r = r0; r < r1; ++r) a.loss[r] = op.value(a.y_true[r], a.y_pred[r]);
        if (CHECK) {
            zt = nonfinite_probe(a.y_true + r0, r1 - r0);
            zp = nonfinite_probe(a.y_pred + r0, r1 - r0);
        }
    } else {
        const float fn = static_cast<float>(n);
        for (std::int64_t r = r0; r < r1; ++r) {
            const float* t = a.y_true + r * n;
            const float* p = a.y_pred + r * n;
            float acc[W] = {}, at[W] = {}, ap[W] = {};
            std::int64_t j = 0;
            for (; j + W <= n; j += W)
                for (int k = 0; k < W; ++k) {
                    acc[k] += op.value(t[j + k], p[j + k]);
                    if (CHECK) {
                        at[k] += t[j + k] * 0.0f;
                        ap[k] += p[j + k] * 0.0f;
                    }
                }
            float s = hsum(acc);
            for (; j < n; ++j) {
                s += op.value(t[j], p[j]);
                if (CHECK) {
                    zt += t[j] * 0.0f;
                    zp += p[j] * 0.0f;
                }
            }
            if (CHECK) {
                zt += hsum(at);
                zp += hsum(ap);
            }
            a.loss[r] = s / fn;
        }
    }
    if (CHECK) report_nonfinite(a, r0, r1, zt, zp, st);
}

template <bool CHECK, typename Op>
void mean_backward(const Op& op, const fastnn::LossArgs& a, std::int64_t r0, std::int64_t r1,
                   fastnn::LossStatus* st) {
    const std::int64_t n = a.n;
    if (n == 1) {
        if (a.grad_rows) {
            const float s = a.grad_scale;
            for (std::int64_t r = r0; r < r1; ++r) a.grad[r] = (s * a.grad_rows[r]) * op.deriv(a.y_true[r], a.y_pred[r]);
        } else {
            const float s = a.grad_scale;
            for (std::int64_t r = r0; r < r1; ++r) a.grad[r] = s * op.deriv(a.y_true[r], a.y_pred[r]);
        }
    } else {
        const float fn = static_cast<float>(n);
        for (std::int64_t r = r0; r < r1; ++r) {
            const float c = row_grad_scale(a, r) / fn;
            const float* t = a.y_true + r * n;
            const float* p = a.y_pred + r * n;
            float* g = a.grad + r * n;
            for (std::int64_t j = 0; j < n; ++j) g[j] = c * op.deriv(t[j], p[j]);
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
    for (std::int64_t r = r0; r < r1; ++r) {
        const float* t = a.y_true + r * n;
        const float* p = a.y_pred + r * n;
        const float inv = 1.0f / row_sum(p, n);
        float acc[W] = {};
        std::int64_t j = 0;
        for (; j + W <= n; j += W)
            for (int k = 0; k < W; ++k)
                acc[k] += (t[j + k] * ls_scale + ls_shift) * log_pos(clip(p[j + k] * inv));
        float s = hsum(acc);
        for (; j < n; ++j) s += (t[j] * ls_scale + ls_shift) * log_pos(clip(p[j] * inv));
        a.loss[r] = -s;
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
        float acc[W] = {};
        std::int64_t j = 0;
        for (; j + W <= n; j += W)
            for (int k = 0; k < W; ++k)
                acc[k] += unclipped(p[j + k] * inv) ? t[j + k] * ls_scale + ls_shift : 0.0f;
        float t_in = hsum(acc);
        for (; j < n; ++j) t_in += unclipped(p[j] * inv) ? t[j] * ls_scale + ls_shift : 0.0f;
        const float c = row_grad_scale(a, r) * inv;
        for (j = 0; j < n; ++j) {
            const float u = p[j] * inv;
            const float ts = t[j] * ls_scale + ls_shift;
            g[j] = c * (t_in - (unclipped(u) ? ts / u : 0.0f));
        }
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
