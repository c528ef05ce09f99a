// The pool loops compiled for avx512 (see pool_impl.h).
#include <cstdint>

#include "pool_kernels.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see gemm_kernels.h
#define POOL_VECTOR_BYTES 64
#include "pool_impl.h"
#undef POOL_VECTOR_BYTES
}  // namespace
}  // namespace avx512

const PoolTable& pool_table_avx512() {
    static const PoolTable table = avx512::pool::make_table();
    return table;
}

}  // namespace fastnn::cpu
