// Scalar float math written so the compiler vectorises the loops that call it
// (no libm calls, no data-dependent branches: selects only).
//
// Include only inside an ISA namespace of activation_<isa>.cpp (after
// <cstdint> and <cstring>): every ISA gets its own copy with internal names,
// so the linker can never hand an AVX-512 copy of an inline function to the
// portable code (one-definition merging of inline functions across files
// compiled with different -m flags is a classic source of SIGILL).
//
// Accuracy (float32, checked against float64 in tests/test_activation.py):
// exp/expm1 ~2 ulp; log1p_exp ~2 ulp; tanh, sigmoid ~3 ulp; Phi (normal CDF,
// via a fitted erfc) ~1.4e-7 relative.
namespace math {

inline float bits_to_float(std::int32_t i) {
    float f;
    std::memcpy(&f, &i, sizeof f);
    return f;
}

inline float select(bool c, float a, float b) { return c ? a : b; }

// exp(r) - 1 for |r| <= ln2 / 2: Taylor to degree 8 (remainder < 3e-9).
inline float expm1_poly(float r) {
    float p = 1.0f / 40320;
    p = p * r + 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    return p * r;
}

// x = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2); 2^k is
// returned as two factors (k split in halves) so that both stay normal floats
// over the whole range exp does not overflow or flush, k in [-126, 128].
struct Reduced {
    float r, scale_lo, scale_hi;
    std::int32_t k;
};

inline Reduced reduce(float x) {
    constexpr float log2e = 1.44269504088896341f;
    constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723e-6f;
    constexpr float lo = -87.3365f, hi = 88.7228f;
    const float xc = select(x < lo, lo, select(x > hi, hi, x));  // NaN passes through
    // Round to nearest by adding and removing 1.5 * 2^23 (floorf would not
    // vectorise); exact since |xc * log2e| < 2^22.
    constexpr float round_magic = 12582912.0f;
    const float k = (xc * log2e + round_magic) - round_magic;
    Reduced out;
    out.r = (xc - k * ln2_hi) - k * ln2_lo;
    const std::int32_t ki = static_cast<std::int32_t>(select(k == k, k, 0.0f));  // NaN: r carries it
    out.k = ki;
    const std::int32_t k1 = ki >> 1, k2 = ki - k1;
    out.scale_lo = bits_to_float((k1 + 127) << 23);
    out.scale_hi = bits_to_float((k2 + 127) << 23);
    return out;
}

// exp(r) for |r| <= ln2 / 2: Taylor to degree 7 (relative remainder < 6e-9).
inline float exp_poly(float r) {
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    return p * r + 1.0f;
}

inline float exp(float x) {
    const Reduced q = reduce(x);
    // e^r * 2^k by adding k to the exponent bits: one integer add instead of two
    // multiplies. Inside the clamps the result is a normal float (k = -126 only
    // with e^r >= 1, k = 128 only with e^r < 1), so the sum never leaves the
    // exponent field; the selects below handle everything past the clamps.
    std::int32_t bits;
    const float p = exp_poly(q.r);
    std::memcpy(&bits, &p, sizeof bits);
    const float y = bits_to_float(bits + q.k * (1 << 23));
    // Past the clamps: overflow to inf, underflow to 0 (denormals flushed).
    return select(x > 88.7228f, __builtin_inff(), select(x < -87.3365f, 0.0f, y));
}

inline float expm1(float x) {
    const Reduced q = reduce(x);
    // 2^k (e^r - 1) + (2^k - 1), exact in e^r - 1 for small x (k = 0).
    const float scale = q.scale_lo * q.scale_hi;
    const float y = (expm1_poly(q.r) * q.scale_lo) * q.scale_hi + (scale - 1.0f);
    return select(x > 88.7228f, __builtin_inff(), select(x < -87.3365f, -1.0f, y));
}

// log1p(exp(-a)) for a >= 0 (the softplus tail); accurate for tiny exp(-a).
inline float log1p_exp_neg(float a) {
    const float z = exp(-a);    // (0, 1]
    const float u = 1.0f + z;   // (1, 2]
    // log(u) = e ln2 + log(m), m in [sqrt(1/2), sqrt(2)); log(m) = 2 atanh(s).
    const bool big = u > 1.41421356f;
    const float m = select(big, 0.5f * u, u);
    const float s = (m - 1.0f) / (m + 1.0f);
    const float s2 = s * s;
    float q = 1.0f / 11;
    q = q * s2 + 1.0f / 9;
    q = q * s2 + 1.0f / 7;
    q = q * s2 + 1.0f / 5;
    q = q * s2 + 1.0f / 3;
    q = q * s2 + 1.0f;
    const float log_u = 2.0f * s * q + select(big, 0.693147180559945f, 0.0f);
    // log1p(z) = log(u) * z / (u - 1) corrects the rounding of 1 + z.
    const float um1 = u - 1.0f;
    return select(um1 == 0.0f, z, log_u * (z / select(um1 == 0.0f, 1.0f, um1)));
}

inline float sigmoid(float x) {
    const float e = exp(-__builtin_fabsf(x));
    const float inv = 1.0f / (1.0f + e);
    return select(x >= 0.0f, inv, e * inv);  // NaN: e is NaN, so is the result
}

// sigmoid'(x) = s (1 - s) = e / (1 + e)^2 with e = exp(-|x|): no cancellation
// of 1 - s in either tail.
inline float sigmoid_derivative(float x) {
    const float e = exp(-__builtin_fabsf(x));
    const float d = 1.0f + e;
    return e / (d * d);
}

// s = sigmoid(x) and its complement 1 - s = sigmoid(-x), both accurate.
inline void sigmoid_pair(float x, float& s, float& complement) {
    const float e = exp(-__builtin_fabsf(x));
    const float inv = 1.0f / (1.0f + e);
    s = select(x >= 0.0f, inv, e * inv);
    complement = select(x >= 0.0f, e * inv, inv);
}

inline float tanh(float x) {
    // tanh |x| = expm1(2|x|) / (expm1(2|x|) + 2), exact to float at |x| >= 9.
    const float a = __builtin_fabsf(x);
    const float ac = select(a > 9.0f, 9.0f, a);
    const float e = expm1(2.0f * ac);
    const float t = e / (e + 2.0f);
    return __builtin_copysignf(t, x);
}

// Standard normal CDF and density sharing one exp: with z = |x| / sqrt 2 and
// t = 1 / (1 + z / 2), erfc(z) = t exp(-z^2) Q(t), where Q is a degree-10
// polynomial fitted (weighted least squares on Chebyshev nodes, against
// erfc(z) exp(z^2) / t in 40-digit arithmetic) with relative error < 1.4e-7
// evaluated in float32. exp(-z^2) = exp(-x^2 / 2) is also sqrt(2 pi) * pdf(x),
// so GELU's derivative Phi(x) + x pdf(x) costs one exp, not two.
struct NormalCdfPdf {
    float cdf, pdf;
};

inline NormalCdfPdf normal_cdf_pdf(float x) {
    const float z = __builtin_fabsf(x) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.5f * z);
    float q = 0.04326707497239113f;
    q = q * t - 0.23509825766086578f;
    q = q * t + 0.49448782205581665f;
    q = q * t - 0.45593512058258057f;
    q = q * t + 0.13288815319538116f;
    q = q * t - 0.05954182520508766f;
    q = q * t + 0.09355809539556503f;
    q = q * t + 0.17529945075511932f;
    q = q * t + 0.24688613414764404f;
    q = q * t + 0.28209367394447327f;
    q = q * t + 0.282094806432724f;
    const float e = exp(-0.5f * x * x);
    const float erfc_z = t * e * q;
    NormalCdfPdf out;
    out.cdf = select(x >= 0.0f, 1.0f - 0.5f * erfc_z, 0.5f * erfc_z);
    out.pdf = 0.39894228040143268f * e;
    return out;
}

inline float normal_cdf(float x) { return normal_cdf_pdf(x).cdf; }

}  // namespace math
