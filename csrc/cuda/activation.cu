// Element-wise activations on the GPU (DESIGN.md §6): forward y = f(x) and
// backward dx = dy * f'(x), f' recomputed from x, or from y = f(x) for the
// kinds with a cheap from-output form (see fastnn/activation.h).
//
// One templated kernel per direction, instantiated per activation: the host
// switches on the kind and launches kernel<Kind, Vec>. Grid-stride loop with
// int64 indices; when every pointer is 16-byte aligned the body moves float4s
// and a scalar tail finishes the last n % 4 elements. Block 256, grid capped at
// kBlocksPerSm blocks per SM (enough waves to hide latency, few enough that the
// grid-stride loop amortises the index math).
//
// Numerics: float32 with the accurate libm-style functions (expf, expm1f,
// log1pf, erfcf, tanhf), never the fast-math intrinsics. Formulas are Keras',
// rewritten where the literal form loses precision or overflows in float32:
//   sigmoid      both sigmoid(x) and 1 - sigmoid(x) = sigmoid(-x) from one
//                expf(-|x|): no overflow, no cancellation in either tail.
//   tanh'        1 - tanh(x)^2 = 4 sigmoid(2x) sigmoid(-2x) (no cancellation
//                for large |x|, where 1 - t*t would be 0).
//   gelu         Phi(x) = 0.5 erfc(-x / sqrt 2) (accurate in the left tail,
//                where 1 + erf(...) cancels to 0).
//   gelu_tanh    0.5 (1 + tanh(u)) = sigmoid(2u), 1 - tanh(u)^2 =
//                4 sigmoid(2u) sigmoid(-2u); the x * du term is skipped when
//                its sech^2 factor is 0 (avoids 0 * inf for |x| > ~1e13).
//   softplus     max(x, 0) + log1p(exp(-|x|)).
// NaN inputs give NaN forward outputs (relu included, like np.maximum). The
// backward uses the derivative formulas as written (x > 0 ? 1 : 0 and so on),
// so a NaN x gives dx = dy * 0 for relu/leaky_relu/hard_sigmoid, as does the
// NumPy twin evaluated with np.where.
//
// Aliasing: y == x (forward) and dx == dy or dx == x (backward) are allowed:
// each element is read before it is written, by the same thread.

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "fastnn/activation.h"
#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"

namespace fastnn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocksPerSm = 32;  // grid cap: 4 waves of 8 resident 256-thread blocks per SM

[[noreturn]] void throw_cuda(cudaError_t err) {
    throw RuntimeError(message("activation: CUDA error: ", cudaGetErrorString(err)));
}

inline void check_cuda(cudaError_t err) {
    if (err != cudaSuccess) throw_cuda(err);
}

#define FASTNN_HD __host__ __device__ __forceinline__

// relu / max(x, 0) with NaN propagating (fmaxf(NaN, 0) would give 0).
FASTNN_HD float relu_f(float x) { return x > 0.0f ? x : (x <= 0.0f ? 0.0f : x); }

// sigmoid(x) and its complement 1 - sigmoid(x) = sigmoid(-x), both accurate
// to a few ulp over the whole float range (e = exp(-|x|) never overflows).
struct Sig {
    float s, c;
};
FASTNN_HD Sig sigmoid_pair(float x) {
    const float e = expf(-fabsf(x));
    const float r = 1.0f / (1.0f + e);
    const float er = e * r;
    return x >= 0.0f ? Sig{r, er} : Sig{er, r};  // NaN: r and er are NaN
}

constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;
constexpr float kSeluScaleAlpha = 1.7580993408473766f;  // scale * alpha
constexpr float kSqrtHalf = 0.70710678118654752f;     // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;   // 1 / sqrt(2 pi)
constexpr float kSqrt2OverPi = 0.79788456080286536f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

// Act<K>::f(x, alpha) = f(x); Act<K>::df(x, alpha) = f'(x); where kFromOutput,
// Act<K>::dfy(y, alpha) = f'(x) from y = f(x) (see fastnn/activation.h).
template <ActivationKind K>
struct Act;

template <>
struct Act<ActivationKind::linear> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float) { return x; }
    static FASTNN_HD float df(float, float) { return 1.0f; }
    static FASTNN_HD float dfy(float, float) { return 1.0f; }
};

template <>
struct Act<ActivationKind::relu> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float) { return relu_f(x); }
    static FASTNN_HD float df(float x, float) { return x > 0.0f ? 1.0f : 0.0f; }
    static FASTNN_HD float dfy(float y, float) { return y > 0.0f ? 1.0f : 0.0f; }
};

template <>
struct Act<ActivationKind::leaky_relu> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float alpha) { return x > 0.0f ? x : alpha * x; }
    static FASTNN_HD float df(float x, float alpha) { return x > 0.0f ? 1.0f : alpha; }
    static FASTNN_HD float dfy(float y, float alpha) { return y > 0.0f ? 1.0f : alpha; }  // alpha >= 0
};

template <>
struct Act<ActivationKind::elu> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float alpha) { return x > 0.0f ? x : alpha * expm1f(x); }
    static FASTNN_HD float df(float x, float alpha) { return x > 0.0f ? 1.0f : alpha * expf(x); }
    // alpha exp(x) = alpha expm1(x) + alpha = y + alpha for x <= 0 (alpha >= 0)
    static FASTNN_HD float dfy(float y, float alpha) { return y > 0.0f ? 1.0f : y + alpha; }
};

template <>
struct Act<ActivationKind::selu> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float) {
        return kSeluScale * (x > 0.0f ? x : kSeluAlpha * expm1f(x));
    }
    static FASTNN_HD float df(float x, float) {
        return kSeluScale * (x > 0.0f ? 1.0f : kSeluAlpha * expf(x));
    }
    static FASTNN_HD float dfy(float y, float) { return y > 0.0f ? kSeluScale : y + kSeluScaleAlpha; }
};

template <>
struct Act<ActivationKind::gelu> {
    static constexpr bool kFromOutput = false;  // f' is not a cheap function of f
    // x * Phi(x), Phi(x) = 0.5 erfc(-x / sqrt 2)
    static FASTNN_HD float f(float x, float) { return 0.5f * x * erfcf(-x * kSqrtHalf); }
    // Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    static FASTNN_HD float df(float x, float) {
        const float cdf = 0.5f * erfcf(-x * kSqrtHalf);
        const float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
        return cdf + x * pdf;
    }
};

template <>
struct Act<ActivationKind::gelu_tanh> {
    static constexpr bool kFromOutput = false;  // f' is not a cheap function of f
    // u = sqrt(2/pi) (x + 0.044715 x^3); 0.5 x (1 + tanh u) = x sigmoid(2u)
    static FASTNN_HD float u2(float x) {
        return 2.0f * kSqrt2OverPi * (x + kGeluCubic * x * x * x);
    }
    static FASTNN_HD float f(float x, float) { return x * sigmoid_pair(u2(x)).s; }
    // 0.5 (1 + t) + 0.5 x (1 - t^2) du  =  s + 2 x s c du,  s = sigmoid(2u), c = 1 - s,
    // du = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    static FASTNN_HD float df(float x, float) {
        const Sig p = sigmoid_pair(u2(x));
        const float sc = p.s * p.c;  // = (1 - t^2) / 4; 0 once |u| saturates (x^3 may be inf there)
        if (sc == 0.0f) return p.s;
        const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
        return p.s + 2.0f * x * sc * du;
    }
};

template <>
struct Act<ActivationKind::silu> {
    static constexpr bool kFromOutput = false;  // f' is not a cheap function of f
    static FASTNN_HD float f(float x, float) { return x * sigmoid_pair(x).s; }
    // s (1 + x (1 - s))
    static FASTNN_HD float df(float x, float) {
        const Sig p = sigmoid_pair(x);
        return p.s * (1.0f + x * p.c);
    }
};

template <>
struct Act<ActivationKind::sigmoid> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float) { return sigmoid_pair(x).s; }
    static FASTNN_HD float df(float x, float) {
        const Sig p = sigmoid_pair(x);
        return p.s * p.c;
    }
    static FASTNN_HD float dfy(float y, float) { return y * (1.0f - y); }
};

template <>
struct Act<ActivationKind::hard_sigmoid> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float) {
        const float v = x / 6.0f + 0.5f;
        return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);  // NaN passes through
    }
    static FASTNN_HD float df(float x, float) {
        return (x > -3.0f && x < 3.0f) ? 1.0f / 6.0f : 0.0f;
    }
    static FASTNN_HD float dfy(float y, float) { return (y > 0.0f && y < 1.0f) ? 1.0f / 6.0f : 0.0f; }
};

template <>
struct Act<ActivationKind::tanh> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float) { return tanhf(x); }
    // 1 - tanh(x)^2 = 4 sigmoid(2x) sigmoid(-2x)
    static FASTNN_HD float df(float x, float) {
        const Sig p = sigmoid_pair(2.0f * x);
        return 4.0f * p.s * p.c;
    }
    // (1 - y)(1 + y): 1 - y is exact near y = 1, where 1 - y * y would round
    static FASTNN_HD float dfy(float y, float) { return (1.0f - y) * (1.0f + y); }
};

template <>
struct Act<ActivationKind::softplus> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float) { return relu_f(x) + log1pf(expf(-fabsf(x))); }
    static FASTNN_HD float df(float x, float) { return sigmoid_pair(x).s; }
    // sigmoid(x) = 1 - exp(-y), as -expm1(-y): accurate where y ~ e^x is tiny
    static FASTNN_HD float dfy(float y, float) { return -expm1f(-y); }
};

template <>
struct Act<ActivationKind::softsign> {
    static constexpr bool kFromOutput = false;  // f' is not a cheap function of f
    static FASTNN_HD float f(float x, float) { return x / (1.0f + fabsf(x)); }
    static FASTNN_HD float df(float x, float) {
        const float r = 1.0f / (1.0f + fabsf(x));
        return r * r;
    }
};

template <>
struct Act<ActivationKind::exponential> {
    static constexpr bool kFromOutput = true;
    static FASTNN_HD float f(float x, float) { return expf(x); }
    static FASTNN_HD float df(float x, float) { return expf(x); }
    static FASTNN_HD float dfy(float y, float) { return y; }
};

// f'(x) from x, or from y = f(x) when FROM_Y.
template <ActivationKind K, bool FROM_Y>
FASTNN_HD float derivative(float v, float alpha) {
    if constexpr (FROM_Y) {
        return Act<K>::dfy(v, alpha);
    } else {
        return Act<K>::df(v, alpha);
    }
}

#undef FASTNN_HD

// VEC: x and y are 16-byte aligned; float4 body over n / 4 vectors, then a
// scalar tail over the last n % 4 elements.
template <ActivationKind K, bool VEC>
__global__ void __launch_bounds__(kThreads)
forward_kernel(const float* x, float* y, int64_t n, float alpha) {
    using A = Act<K>;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    int64_t start = 0;
    if (VEC) {
        const int64_t n4 = n / 4;
        const float4* x4 = reinterpret_cast<const float4*>(x);
        float4* y4 = reinterpret_cast<float4*>(y);
        for (int64_t i = tid; i < n4; i += stride) {
            const float4 v = x4[i];
            y4[i] = make_float4(A::f(v.x, alpha), A::f(v.y, alpha), A::f(v.z, alpha),
                                A::f(v.w, alpha));
        }
        start = n4 * 4;
    }
    for (int64_t i = start + tid; i < n; i += stride) y[i] = A::f(x[i], alpha);
}

// VEC: x, dy and dx are 16-byte aligned. FROM_Y: x holds the output y = f(x).
template <ActivationKind K, bool VEC, bool FROM_Y>
__global__ void __launch_bounds__(kThreads)
backward_kernel(const float* x, const float* dy, float* dx, int64_t n, float alpha) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    int64_t start = 0;
    if (VEC) {
        const int64_t n4 = n / 4;
        const float4* x4 = reinterpret_cast<const float4*>(x);
        const float4* g4 = reinterpret_cast<const float4*>(dy);
        float4* d4 = reinterpret_cast<float4*>(dx);
        for (int64_t i = tid; i < n4; i += stride) {
            const float4 v = x4[i];
            const float4 g = g4[i];
            d4[i] = make_float4(g.x * derivative<K, FROM_Y>(v.x, alpha), g.y * derivative<K, FROM_Y>(v.y, alpha),
                                g.z * derivative<K, FROM_Y>(v.z, alpha), g.w * derivative<K, FROM_Y>(v.w, alpha));
        }
        start = n4 * 4;
    }
    for (int64_t i = start + tid; i < n; i += stride) dx[i] = dy[i] * derivative<K, FROM_Y>(x[i], alpha);
}

inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }


// Blocks for `work` units of one thread each (n / 4 + tail when vectorised).
unsigned grid_for(int64_t work) {
    const int64_t want = (work + kThreads - 1) / kThreads;
    const int64_t cap = static_cast<int64_t>(sm_count("activation")) * kBlocksPerSm;
    const int64_t blocks = want < cap ? want : cap;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

template <ActivationKind K>
using KindTag = std::integral_constant<ActivationKind, K>;

// Calls fn(KindTag<kind>{}); an unknown kind is a ValueError naming `op`.
template <typename Fn>
void visit_kind(ActivationKind kind, const char* op, Fn&& fn) {
    switch (kind) {
        case ActivationKind::linear:       fn(KindTag<ActivationKind::linear>{}); return;
        case ActivationKind::relu:         fn(KindTag<ActivationKind::relu>{}); return;
        case ActivationKind::leaky_relu:   fn(KindTag<ActivationKind::leaky_relu>{}); return;
        case ActivationKind::elu:          fn(KindTag<ActivationKind::elu>{}); return;
        case ActivationKind::selu:         fn(KindTag<ActivationKind::selu>{}); return;
        case ActivationKind::gelu:         fn(KindTag<ActivationKind::gelu>{}); return;
        case ActivationKind::gelu_tanh:    fn(KindTag<ActivationKind::gelu_tanh>{}); return;
        case ActivationKind::silu:         fn(KindTag<ActivationKind::silu>{}); return;
        case ActivationKind::sigmoid:      fn(KindTag<ActivationKind::sigmoid>{}); return;
        case ActivationKind::hard_sigmoid: fn(KindTag<ActivationKind::hard_sigmoid>{}); return;
        case ActivationKind::tanh:         fn(KindTag<ActivationKind::tanh>{}); return;
        case ActivationKind::softplus:     fn(KindTag<ActivationKind::softplus>{}); return;
        case ActivationKind::softsign:     fn(KindTag<ActivationKind::softsign>{}); return;
        case ActivationKind::exponential:  fn(KindTag<ActivationKind::exponential>{}); return;
    }
    throw ValueError(message(op, ": unknown activation kind ", static_cast<int>(kind),
                             " (expected 0..", kActivationKinds - 1, ")"));
}

void check_n(const char* op, int64_t n) {
    if (n < 0) throw ValueError(message(op, ": n must be >= 0, got ", n));
}

template <ActivationKind K>
void launch_forward(float alpha, const float* x, float* y, int64_t n, cudaStream_t s) {
    if (aligned16(x) && aligned16(y)) {
        const int64_t work = n / 4 > n % 4 ? n / 4 : n % 4;
        forward_kernel<K, true><<<grid_for(work), kThreads, 0, s>>>(x, y, n, alpha);
    } else {
        forward_kernel<K, false><<<grid_for(n), kThreads, 0, s>>>(x, y, n, alpha);
    }
}

template <ActivationKind K, bool FROM_Y>
void launch_backward(float alpha, const float* x, const float* dy, float* dx, int64_t n,
                     cudaStream_t s) {
    if (aligned16(x) && aligned16(dy) && aligned16(dx)) {
        const int64_t work = n / 4 > n % 4 ? n / 4 : n % 4;
        backward_kernel<K, true, FROM_Y><<<grid_for(work), kThreads, 0, s>>>(x, dy, dx, n, alpha);
    } else {
        backward_kernel<K, false, FROM_Y><<<grid_for(n), kThreads, 0, s>>>(x, dy, dx, n, alpha);
    }
}

}  // namespace

void activation_forward(ActivationKind kind, float alpha, const float* x, float* y, std::int64_t n,
                        std::uintptr_t stream) {
    constexpr const char* kOp = "activation_forward";
    check_n(kOp, n);
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    visit_kind(kind, kOp, [&](auto tag) {
        if (n == 0) return;  // kind still validated
        launch_forward<decltype(tag)::value>(alpha, x, y, n, s);
        check_cuda(cudaGetLastError());
    });
}

void activation_backward(ActivationKind kind, float alpha, const float* x, const float* dy, float* dx,
                         std::int64_t n, std::uintptr_t stream) {
    constexpr const char* kOp = "activation_backward";
    check_n(kOp, n);
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    visit_kind(kind, kOp, [&](auto tag) {
        if (n == 0) return;
        launch_backward<decltype(tag)::value, false>(alpha, x, dy, dx, n, s);
        check_cuda(cudaGetLastError());
    });
}

void activation_backward_from_output(ActivationKind kind, float alpha, const float* y, const float* dy, float* dx,
                                     std::int64_t n, std::uintptr_t stream) {
    constexpr const char* kOp = "activation_backward";
    check_n(kOp, n);
    check_backward_from_output(kOp, kind, alpha);  // kind in range, has a from-output form, alpha >= 0
    const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    visit_kind(kind, kOp, [&](auto tag) {
        constexpr ActivationKind K = decltype(tag)::value;
        if constexpr (Act<K>::kFromOutput) {
            if (n == 0) return;
            launch_backward<K, true>(alpha, y, dy, dx, n, s);
            check_cuda(cudaGetLastError());
        }
    });
}

}  // namespace fastnn::cuda
