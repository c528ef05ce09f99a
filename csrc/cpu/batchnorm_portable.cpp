// The batchnorm loops compiled for portable (see batchnorm_impl.h).
#include <cstdint>

#include "batchnorm_kernels.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see gemm_kernels.h
#include "batchnorm_impl.h"
}  // namespace
}  // namespace portable

const BatchNormTable& batchnorm_table_portable() {
    static const BatchNormTable table = portable::bn::make_table();
    return table;
}

}  // namespace fastnn::cpu
