// The pool loops compiled for portable (see pool_impl.h).
#include <cstdint>

#include "pool_kernels.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see gemm_kernels.h
#define POOL_VECTOR_BYTES 16
#include "pool_impl.h"
#undef POOL_VECTOR_BYTES
}  // namespace
}  // namespace portable

const PoolTable& pool_table_portable() {
    static const PoolTable table = portable::pool::make_table();
    return table;
}

}  // namespace fastnn::cpu
