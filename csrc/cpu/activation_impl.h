// The activation loops, one instantiation per activation. Included by
// activation_<isa>.cpp inside a namespace named for the ISA (after
// <cstdint>, <cstring> and fastnn/activation.h), so the same code is compiled
// once per instruction set with that file's flags and no inline function is
// shared between ISAs.
//
// Each op is a struct with forward(x) and derivative(x), and, where f' is a
// cheap function of y = f(x) (kFromOutput), derivative_from_output(y); the
// loops are plain so the compiler vectorises them (see activation_math.h).
#include "activation_math.h"

namespace ops {
namespace m = math;

constexpr float kSeluAlpha = 1.67326324235437728f;
constexpr float kSeluScale = 1.05070098735548049f;
constexpr float kSeluScaleAlpha = 1.75809934084737685f;  // scale * alpha
constexpr float kGeluC = 0.797884560802865356f;  // sqrt(2 / pi)

// max(x, 0) and friends keep NaN, as np.maximum does.
inline float keep_nan_max0(float x) { return x < 0.0f ? 0.0f : x; }

struct Linear {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float) { return x; }
    static float derivative(float, float) { return 1.0f; }
    static float derivative_from_output(float, float) { return 1.0f; }
};
struct Relu {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float) { return keep_nan_max0(x); }
    static float derivative(float x, float) { return x > 0.0f ? 1.0f : 0.0f; }
    static float derivative_from_output(float y, float) { return y > 0.0f ? 1.0f : 0.0f; }
};
struct LeakyRelu {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float a) { return x < 0.0f ? a * x : x; }
    static float derivative(float x, float a) { return x > 0.0f ? 1.0f : a; }
    static float derivative_from_output(float y, float a) { return y > 0.0f ? 1.0f : a; }  // a >= 0
};
struct Elu {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float a) { return x > 0.0f ? x : a * m::expm1(x); }
    static float derivative(float x, float a) { return x > 0.0f ? 1.0f : a * m::exp(x); }
    // a exp(x) = a expm1(x) + a = y + a for x <= 0 (a >= 0)
    static float derivative_from_output(float y, float a) { return y > 0.0f ? 1.0f : y + a; }
};
struct Selu {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float) { return kSeluScale * (x > 0.0f ? x : kSeluAlpha * m::expm1(x)); }
    static float derivative(float x, float) { return kSeluScale * (x > 0.0f ? 1.0f : kSeluAlpha * m::exp(x)); }
    static float derivative_from_output(float y, float) { return y > 0.0f ? kSeluScale : y + kSeluScaleAlpha; }
};
struct Gelu {
    static constexpr bool kFromOutput = false;  // f' is not a cheap function of f
    static float forward(float x, float) { return x * m::normal_cdf(x); }
    static float derivative(float x, float) {
        const m::NormalCdfPdf n = m::normal_cdf_pdf(x);
        return n.cdf + x * n.pdf;
    }
};
// 0.5 (1 + tanh u) = sigmoid(2u): the sigmoid form keeps the negative tail
// accurate (1 + tanh u cancels to nothing in float32 below u ~ -8).
struct GeluTanh {
    static constexpr bool kFromOutput = false;  // f' is not a cheap function of f
    static float u(float x) { return kGeluC * (x + 0.044715f * x * x * x); }
    static float forward(float x, float) { return x * m::sigmoid(2.0f * u(x)); }
    static float derivative(float x, float) {
        const float v = 2.0f * u(x);
        const float s = m::sigmoid(v);
        const float ds = m::sigmoid_derivative(v);
        // Far out ds is 0 while x^3 may be inf: skip the term rather than make 0 * inf.
        const float tail = 2.0f * x * ds * kGeluC * (1.0f + 3.0f * 0.044715f * x * x);
        return s + (ds == 0.0f ? 0.0f : tail);
    }
};
struct Silu {
    static constexpr bool kFromOutput = false;  // f' is not a cheap function of f
    static float forward(float x, float) { return x * m::sigmoid(x); }
    static float derivative(float x, float) {
        float s, complement;
        m::sigmoid_pair(x, s, complement);
        return s * (1.0f + x * complement);
    }
};
struct Sigmoid {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float) { return m::sigmoid(x); }
    static float derivative(float x, float) { return m::sigmoid_derivative(x); }
    static float derivative_from_output(float y, float) { return y * (1.0f - y); }
};
struct HardSigmoid {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float) {
        const float y = x * (1.0f / 6.0f) + 0.5f;
        return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
    }
    static float derivative(float x, float) { return (x > -3.0f && x < 3.0f) ? 1.0f / 6.0f : 0.0f; }
    static float derivative_from_output(float y, float) { return (y > 0.0f && y < 1.0f) ? 1.0f / 6.0f : 0.0f; }
};
struct Tanh {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float) { return m::tanh(x); }
    static float derivative(float x, float) {
        // 1 - tanh^2 x = 4 sigmoid'(2x), which does not cancel in the tails.
        return 4.0f * m::sigmoid_derivative(2.0f * x);
    }
    // (1 - y)(1 + y): 1 - y is exact near y = 1, where 1 - y * y would round.
    static float derivative_from_output(float y, float) { return (1.0f - y) * (1.0f + y); }
};
struct Softplus {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float) { return keep_nan_max0(x) + m::log1p_exp_neg(__builtin_fabsf(x)); }
    static float derivative(float x, float) { return m::sigmoid(x); }
    // sigmoid(x) = 1 - exp(-y); -expm1(-y) keeps the left tail (y ~ e^x tiny) accurate.
    static float derivative_from_output(float y, float) { return -m::expm1(-y); }
};
struct Softsign {
    static constexpr bool kFromOutput = false;  // f' is not a cheap function of f
    static float forward(float x, float) { return x / (1.0f + __builtin_fabsf(x)); }
    static float derivative(float x, float) {
        const float d = 1.0f + __builtin_fabsf(x);
        return 1.0f / (d * d);
    }
};
struct Exponential {
    static constexpr bool kFromOutput = true;
    static float forward(float x, float) { return m::exp(x); }
    static float derivative(float x, float) { return m::exp(x); }
    static float derivative_from_output(float y, float) { return y; }
};

// No __restrict: y may be x (in place) and dx may be dy. Each element is read
// and written at the same index, so the compiler's vectorised loop (with its
// run-time overlap check) stays correct.
template <typename Op>
void forward(float alpha, const float* x, float* y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = Op::forward(x[i], alpha);
}

template <typename Op>
void backward(float alpha, const float* x, const float* dy, float* dx, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * Op::derivative(x[i], alpha);
}

// dx = dy * f'(x) computed from y = f(x) (only for ops with kFromOutput).
template <typename Op>
void backward_from_output(float alpha, const float* y, const float* dy, float* dx, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * Op::derivative_from_output(y[i], alpha);
}

using ForwardFn = void (*)(float, const float*, float*, std::int64_t);
using BackwardFn = void (*)(float, const float*, const float*, float*, std::int64_t);

template <typename Op>
constexpr BackwardFn from_output_fn() {
    if constexpr (Op::kFromOutput) {
        return backward_from_output<Op>;
    } else {
        return nullptr;
    }
}

struct Table {
    ForwardFn forward[fastnn::kActivationKinds];
    BackwardFn backward[fastnn::kActivationKinds];
    BackwardFn backward_from_output[fastnn::kActivationKinds];  // null: no from-output form
};

template <typename... Op>
constexpr Table make_table() {
    return Table{{forward<Op>...}, {backward<Op>...}, {from_output_fn<Op>()...}};
}

// In ActivationKind order.
constexpr Table kTable = make_table<Linear, Relu, LeakyRelu, Elu, Selu, Gelu, GeluTanh, Silu, Sigmoid, HardSigmoid,
                                    Tanh, Softplus, Softsign, Exponential>();
}  // namespace ops
