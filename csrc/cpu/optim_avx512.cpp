// The optimizer loops compiled for avx512 (see optim_impl.h).
#include <cstdint>
#include <utility>

#include "fastnn/optim.h"
#include "optim_kernels.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see activation_math.h
#include "optim_impl.h"
}  // namespace
}  // namespace avx512

const OptimTable& optim_table_avx512() {
    static const OptimTable table = [] {
        OptimTable t{};
        for (int i = 0; i < 16 * kOptimizerKinds; ++i) t.update[i] = avx512::optim::kTable.fn[i];
        t.sum_squares = avx512::optim::sum_squares;
        return t;
    }();
    return table;
}

}  // namespace fastnn::cpu
