// The per-ISA loops of batch normalisation (batchnorm_<isa>.cpp), chosen at
// run time by batchnorm.cpp, which cuts the rows into chunks and threads.
// Every loop runs over rows of C floats, innermost over the channel.
#pragma once

#include <cstdint>

namespace fastnn::cpu {

struct BatchNormTable {
    // s1[c] += sum (x - k[c]), s2[c] += sum (x - k[c])^2 over `rows` rows, in double.
    void (*stats)(const float* x, std::int64_t rows, std::int64_t C, const float* k, double* s1, double* s2);
    // y = (x - mean[c]) * scale[c] + shift[c].
    void (*normalize)(const float* x, float* y, std::int64_t rows, std::int64_t C, const float* mean,
                      const float* scale, const float* shift);
    // s1[c] += sum dy, s2[c] += sum dy * (x - mean[c]), in double.
    void (*grad_sums)(const float* x, const float* dy, std::int64_t rows, std::int64_t C, const float* mean,
                      double* s1, double* s2);
    // dx = a[c] * dy + b[c] + (x - mean[c]) * d[c].
    void (*grad_input)(const float* x, const float* dy, float* dx, std::int64_t rows, std::int64_t C,
                       const float* mean, const float* a, const float* b, const float* d);
};

const BatchNormTable& batchnorm_table_portable();
#ifdef FASTNN_X86
const BatchNormTable& batchnorm_table_avx2();
const BatchNormTable& batchnorm_table_avx512();
#endif

}  // namespace fastnn::cpu
