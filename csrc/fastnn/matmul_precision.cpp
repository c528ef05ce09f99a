// The process-wide float32 matmul precision (fastnn/gemm.h).
#include <atomic>

#include "fastnn/gemm.h"

namespace fastnn {

namespace {
std::atomic<int> g_precision{static_cast<int>(MatmulPrecision::highest)};
}

MatmulPrecision matmul_precision() { return static_cast<MatmulPrecision>(g_precision.load(std::memory_order_relaxed)); }

void set_matmul_precision(MatmulPrecision p) { g_precision.store(static_cast<int>(p), std::memory_order_relaxed); }

}  // namespace fastnn
