// The optimizer loops compiled for portable (see optim_impl.h).
#include <cstdint>
#include <utility>

#include "fastnn/optim.h"
#include "optim_kernels.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see activation_math.h
#include "optim_impl.h"
}  // namespace
}  // namespace portable

const OptimTable& optim_table_portable() {
    static const OptimTable table = [] {
        OptimTable t{};
        for (int i = 0; i < 16 * kOptimizerKinds; ++i) t.update[i] = portable::optim::kTable.fn[i];
        t.sum_squares = portable::optim::sum_squares;
        return t;
    }();
    return table;
}

}  // namespace fastnn::cpu
