// The penalty loops (see penalty_kernels.h). Included by penalty_<isa>.cpp
// inside an anonymous namespace within a namespace named for the ISA (after
// <cstdint> and penalty_kernels.h), so each ISA compiles its own private copy
// (no std:: templates, no shared inline functions: see gemm_kernels.h).
// Plain loops the compiler vectorises with the file's flags; selects, not
// branches (-fno-trapping-math lets GCC vectorise them).

namespace pen {

void sums(const float* w, std::int64_t n, double* out) {
    // 16 running sums of each (4 AVX-512 / 8 AVX2 registers: independent add
    // chains), added in a fixed tree: the order depends on n alone.
    double s1[16] = {}, s2[16] = {};
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; ++k) {
            const double x = static_cast<double>(w[i + k]);
            s1[k] += __builtin_fabs(x);
            s2[k] += x * x;
        }
    for (int k = 0; i < n; ++i, ++k) {
        const double x = static_cast<double>(w[i]);
        s1[k] += __builtin_fabs(x);
        s2[k] += x * x;
    }
    for (int h = 8; h >= 1; h /= 2)
        for (int k = 0; k < h; ++k) {
            s1[k] += s1[k + h];
            s2[k] += s2[k + h];
        }
    out[0] = s1[0];
    out[1] = s2[0];
}

// No __restrict: out may be w (each index read before it is written).
void grad(const float* w, float* out, std::int64_t n, float g, float a, float b) {
    for (std::int64_t i = 0; i < n; ++i) {
        const float x = w[i];
        const float s = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
        out[i] = g * (a * s + b * x);
    }
}

fastnn::cpu::PenaltyTable make_table() {
    fastnn::cpu::PenaltyTable t{};
    t.sums = sums;
    t.grad = grad;
    return t;
}

}  // namespace pen
