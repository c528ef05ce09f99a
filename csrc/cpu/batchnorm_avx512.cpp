// The batchnorm loops compiled for avx512 (see batchnorm_impl.h).
#include <cstdint>

#include "batchnorm_kernels.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see gemm_kernels.h
#include "batchnorm_impl.h"
}  // namespace
}  // namespace avx512

const BatchNormTable& batchnorm_table_avx512() {
    static const BatchNormTable table = avx512::bn::make_table();
    return table;
}

}  // namespace fastnn::cpu
