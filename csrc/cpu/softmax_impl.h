// Row-wise softmax, log-softmax and the fused softmax cross-entropy. Included
// by softmax_<isa>.cpp inside the ISA's private namespace (after <cstdint>,
// <cstring> and fastnn/softmax.h), like activation_impl.h, together with
// activation_math.h for exp.
//
// Sums use 16 independent partial sums so the compiler vectorises them
// without reassociating a single running sum (which it may not do).
#include "activation_math.h"

namespace rows {
namespace m = math;
constexpr int W = 16;

inline float hsum(const float* acc) {
    float s = 0.0f;
    for (int k = 0; k < W; ++k) s += acc[k];
    return s;
}

inline float row_max(const float* x, std::int64_t n) {
    float acc[W];
    for (int k = 0; k < W; ++k) acc[k] = -__builtin_inff();
    std::int64_t j = 0;
    for (; j + W <= n; j += W)
        for (int k = 0; k < W; ++k) acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
    float mx = -__builtin_inff();
    for (int k = 0; k < W; ++k) mx = acc[k] > mx ? acc[k] : mx;
    for (; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

// e_j = exp(x_j - mx) written to e (when not null); returns sum_j e_j.
inline float exp_sum(const float* x, float mx, float* e, std::int64_t n) {
    float acc[W] = {};
    std::int64_t j = 0;
    for (; j + W <= n; j += W)
        for (int k = 0; k < W; ++k) {
            const float v = m::exp(x[j + k] - mx);
            if (e) e[j + k] = v;
            acc[k] += v;
        }
    float s = hsum(acc);
    for (; j < n; ++j) {
        const float v = m::exp(x[j] - mx);
        if (e) e[j] = v;
        s += v;
    }
    return s;
}

inline float dot(const float* a, const float* b, std::int64_t n) {
    float acc[W] = {};
    std::int64_t j = 0;
    for (; j + W <= n; j += W)
        for (int k = 0; k < W; ++k) acc[k] += a[j + k] * b[j + k];
    float s = hsum(acc);
    for (; j < n; ++j) s += a[j] * b[j];
    return s;
}

// sum_j (mx - x_j) and sum_j t_j (mx - x_j): the loss is assembled from these
// non-negative gaps, never from lse - x (which loses all digits when the
// logits are large and close, e.g. all -1e4).
inline float sum_gap(const float* x, float mx, std::int64_t n) {
    float acc[W] = {};
    std::int64_t j = 0;
    for (; j + W <= n; j += W)
        for (int k = 0; k < W; ++k) acc[k] += mx - x[j + k];
    float s = hsum(acc);
    for (; j < n; ++j) s += mx - x[j];
    return s;
}

inline float dot_gap(const float* t, const float* x, float mx, std::int64_t n) {
    float acc[W] = {};
    std::int64_t j = 0;
    for (; j + W <= n; j += W)
        for (int k = 0; k < W; ++k) acc[k] += t[j + k] * (mx - x[j + k]);
    float s = hsum(acc);
    for (; j < n; ++j) s += t[j] * (mx - x[j]);
    return s;
}

inline float sum(const float* a, std::int64_t n) {
    float acc[W] = {};
    std::int64_t j = 0;
    for (; j + W <= n; j += W)
        for (int k = 0; k < W; ++k) acc[k] += a[j + k];
    float s = hsum(acc);
    for (; j < n; ++j) s += a[j];
    return s;
}

void softmax_rows(bool log, const float* x, float* y, std::int64_t r0, std::int64_t r1, std::int64_t n) {
    for (std::int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        const float mx = row_max(xr, n);
        if (log) {
            const float shift = mx + __builtin_logf(exp_sum(xr, mx, nullptr, n));
            for (std::int64_t j = 0; j < n; ++j) yr[j] = xr[j] - shift;
        } else {
            const float inv = 1.0f / exp_sum(xr, mx, yr, n);
            for (std::int64_t j = 0; j < n; ++j) yr[j] *= inv;
        }
    }
}

void softmax_backward_rows(bool log, const float* y, const float* dy, float* dx, std::int64_t r0, std::int64_t r1,
                           std::int64_t n) {
    for (std::int64_t r = r0; r < r1; ++r) {
        const float* yr = y + r * n;
        const float* dyr = dy + r * n;
        float* dxr = dx + r * n;
        if (log) {
            const float s = sum(dyr, n);
            for (std::int64_t j = 0; j < n; ++j) dxr[j] = dyr[j] - m::exp(yr[j]) * s;
        } else {
            const float s = dot(dyr, yr, n);
            for (std::int64_t j = 0; j < n; ++j) dxr[j] = yr[j] * (dyr[j] - s);
        }
    }
}

void cross_entropy_rows(const fastnn::CrossEntropyArgs& a, std::int64_t r0, std::int64_t r1) {
    const std::int64_t n = a.classes;
    const float ls = a.label_smoothing, uniform = a.label_smoothing / float(n);
    for (std::int64_t r = r0; r < r1; ++r) {
        const float* xr = a.logits + r * n;
        float* gr = a.grad ? a.grad + r * n : nullptr;
        const float mx = row_max(xr, n);
        const float s = exp_sum(xr, mx, gr, n);  // exp(x - mx) parked in the gradient row
        // loss = sum_j t'_j (lse - x_j) = sum_j t'_j (mx - x_j) + T log s, T = sum_j t'_j
        float total, gap;
        if (a.targets) {
            const float* tr = a.targets + r * n;
            total = (1.0f - ls) * sum(tr, n) + ls;
            gap = (1.0f - ls) * dot_gap(tr, xr, mx, n);
        } else {
            const std::int64_t label = a.labels32 ? std::int64_t(a.labels32[r]) : a.labels64[r];
            total = 1.0f;
            gap = (1.0f - ls) * (mx - xr[label]);
        }
        if (ls != 0.0f) gap += uniform * sum_gap(xr, mx, n);
        a.loss[r] = gap + total * __builtin_logf(s);
        if (!gr) continue;
        // grad = scale (softmax * T - t')
        const float p_scale = a.grad_scale * total / s;
        if (a.targets) {
            const float* tr = a.targets + r * n;
            const float t_scale = a.grad_scale * (1.0f - ls), u = a.grad_scale * uniform;
            for (std::int64_t j = 0; j < n; ++j) gr[j] = gr[j] * p_scale - t_scale * tr[j] - u;
        } else {
            const std::int64_t label = a.labels32 ? std::int64_t(a.labels32[r]) : a.labels64[r];
            const float u = a.grad_scale * uniform;
            for (std::int64_t j = 0; j < n; ++j) gr[j] = gr[j] * p_scale - u;
            gr[label] -= a.grad_scale * (1.0f - ls);
        }
    }
}

}  // namespace rows
