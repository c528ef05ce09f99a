// The batchnorm loops compiled for avx2 (see batchnorm_impl.h).
#include <cstdint>

#include "batchnorm_kernels.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see gemm_kernels.h
#include "batchnorm_impl.h"
}  // namespace
}  // namespace avx2

const BatchNormTable& batchnorm_table_avx2() {
    static const BatchNormTable table = avx2::bn::make_table();
    return table;
}

}  // namespace fastnn::cpu
