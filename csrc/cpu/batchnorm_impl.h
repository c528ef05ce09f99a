// The batch-normalisation loops (see batchnorm_kernels.h). Included by
// batchnorm_<isa>.cpp inside an anonymous namespace within a namespace named
// for the ISA (after <cstdint> and batchnorm_kernels.h), so each ISA compiles
// its own private copy (see gemm_kernels.h). Plain loops over the channel
// axis that the compiler vectorises with the file's flags.

namespace bn {

void stats(const float* x, std::int64_t rows, std::int64_t C, const float* k, double* s1, double* s2) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* __restrict v = x + r * C;
        for (std::int64_t c = 0; c < C; ++c) {
            const double d = static_cast<double>(v[c]) - static_cast<double>(k[c]);  // exact
            s1[c] += d;
            s2[c] += d * d;
        }
    }
}

void normalize(const float* x, float* y, std::int64_t rows, std::int64_t C, const float* mean,
               const float* scale, const float* shift) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* __restrict v = x + r * C;
        float* __restrict o = y + r * C;
        for (std::int64_t c = 0; c < C; ++c) o[c] = (v[c] - mean[c]) * scale[c] + shift[c];
    }
}

void grad_sums(const float* x, const float* dy, std::int64_t rows, std::int64_t C, const float* mean,
               double* s1, double* s2) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* __restrict v = x + r * C;
        const float* __restrict g = dy + r * C;
        for (std::int64_t c = 0; c < C; ++c) {
            const double gd = static_cast<double>(g[c]);
            s1[c] += gd;
            s2[c] += gd * (static_cast<double>(v[c]) - static_cast<double>(mean[c]));
        }
    }
}

// No __restrict on dx: it may be dy (each element read before it is written).
void grad_input(const float* x, const float* dy, float* dx, std::int64_t rows, std::int64_t C,
                const float* mean, const float* a, const float* b, const float* d) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* v = x + r * C;
        const float* g = dy + r * C;
        float* o = dx + r * C;
        for (std::int64_t c = 0; c < C; ++c) o[c] = a[c] * g[c] + b[c] + (v[c] - mean[c]) * d[c];
    }
}

fastnn::cpu::BatchNormTable make_table() {
    fastnn::cpu::BatchNormTable t{};
    t.stats = stats;
    t.normalize = normalize;
    t.grad_sums = grad_sums;
    t.grad_input = grad_input;
    return t;
}

}  // namespace bn
