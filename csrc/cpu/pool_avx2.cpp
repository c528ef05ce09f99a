// The pool loops compiled for avx2 (see pool_impl.h).
#include <cstdint>

#include "pool_kernels.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see gemm_kernels.h
#define POOL_VECTOR_BYTES 32
#include "pool_impl.h"
#undef POOL_VECTOR_BYTES
}  // namespace
}  // namespace avx2

const PoolTable& pool_table_avx2() {
    static const PoolTable table = avx2::pool::make_table();
    return table;
}

}  // namespace fastnn::cpu
