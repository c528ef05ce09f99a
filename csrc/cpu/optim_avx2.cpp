// The optimizer loops compiled for avx2 (see optim_impl.h).
#include <cstdint>
#include <utility>

#include "fastnn/optim.h"
#include "optim_kernels.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see activation_math.h
#include "optim_impl.h"
}  // namespace
}  // namespace avx2

const OptimTable& optim_table_avx2() {
    static const OptimTable table = [] {
        OptimTable t{};
        for (int i = 0; i < 16 * kOptimizerKinds; ++i) t.update[i] = avx2::optim::kTable.fn[i];
        t.sum_squares = avx2::optim::sum_squares;
        return t;
    }();
    return table;
}

}  // namespace fastnn::cpu
