// The optimizer update loops, one instantiation per (optimizer, variant).
// Included by optim_<isa>.cpp inside the ISA's private namespace (after
// <cstdint>, <utility> and fastnn/optim.h), like activation_impl.h.
//
// Variant bits are template parameters so every loop is branch-free and
// vectorises: Mom (sgd/rmsprop momentum), Flag (sgd nesterov, adam amsgrad,
// rmsprop centered), WD (decoupled weight decay), Clip (clip_value).

namespace optim {

// lr: the learning rate (Adam: the bias-corrected lr_t); decay: learning_rate * weight_decay.
using Step = fastnn::cpu::OptimStep;

template <int Kind, bool Mom, bool Flag, bool WD, bool Clip>
void update(const Step& s, float* p, const float* g, float* s1, float* s2, float* s3, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        float gi = g[i] * s.grad_scale;
        if (Clip) gi = gi < -s.clip ? -s.clip : (gi > s.clip ? s.clip : gi);
        float pi = p[i];
        if (WD) pi -= s.decay * pi;
        if (Kind == 0) {  // sgd
            if (Mom) {
                const float v = s.momentum * s1[i] - s.lr * gi;
                s1[i] = v;
                pi += Flag ? s.momentum * v - s.lr * gi : v;
            } else {
                pi -= s.lr * gi;
            }
        } else if (Kind == 1) {  // adam
            const float m = s1[i] + (gi - s1[i]) * (1.0f - s.beta_1);
            const float v = s2[i] + (gi * gi - s2[i]) * (1.0f - s.beta_2);
            s1[i] = m;
            s2[i] = v;
            float vv = v;
            if (Flag) {
                vv = s3[i] > v ? s3[i] : v;
                s3[i] = vv;
            }
            pi -= s.lr * m / (__builtin_sqrtf(vv) + s.epsilon);
        } else if (Kind == 2) {  // rmsprop
            const float ms = s.rho * s1[i] + (1.0f - s.rho) * gi * gi;
            s1[i] = ms;
            float denom = ms + s.epsilon;
            if (Flag) {
                const float mg = s.rho * s3[i] + (1.0f - s.rho) * gi;
                s3[i] = mg;
                denom = ms - mg * mg + s.epsilon;
            }
            const float inc = s.lr * gi / __builtin_sqrtf(denom);
            if (Mom) {
                const float mom = s.momentum * s2[i] + inc;
                s2[i] = mom;
                pi -= mom;
            } else {
                pi -= inc;
            }
        } else {  // adagrad
            const float acc = s1[i] + gi * gi;
            s1[i] = acc;
            pi -= s.lr * gi / __builtin_sqrtf(acc + s.epsilon);
        }
        p[i] = pi;
    }
}

using UpdateFn = void (*)(const Step&, float*, const float*, float*, float*, float*, std::int64_t);

// Index: kind * 16 + Mom * 8 + Flag * 4 + WD * 2 + Clip.
template <int I>
constexpr UpdateFn entry() {
    return update<I / 16, bool(I & 8), bool(I & 4), bool(I & 2), bool(I & 1)>;
}

template <int... I>
constexpr auto make_table(std::integer_sequence<int, I...>) {
    struct Table {
        UpdateFn fn[sizeof...(I)];
    };
    return Table{{entry<I>()...}};
}

constexpr auto kTable = make_table(std::make_integer_sequence<int, 16 * fastnn::kOptimizerKinds>{});

double sum_squares(const float* g, std::int64_t n) {
    // 16 partial sums in double: vectorised without reassociating one sum.
    double acc[16] = {};
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; ++k) acc[k] += double(g[i + k]) * double(g[i + k]);
    double s = 0.0;
    for (int k = 0; k < 16; ++k) s += acc[k];
    for (; i < n; ++i) s += double(g[i]) * double(g[i]);
    return s;
}

}  // namespace optim
