// The element-wise loops compiled for portable (see elementwise_impl.h).
#include <cstdint>

#include "elementwise_kernels.h"
#include "fastnn/philox.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see gemm_kernels.h
#include "elementwise_impl.h"
}  // namespace
}  // namespace portable

const ElementwiseTable& elementwise_table_portable() {
    static const ElementwiseTable table = portable::ew::make_table();
    return table;
}

}  // namespace fastnn::cpu
