// The activation loops compiled for portable (see activation_impl.h).
#include <cstdint>
#include <cstring>

#include "activation_kernels.h"
#include "fastnn/activation.h"

namespace fastnn::cpu {
namespace portable {
namespace {  // internal linkage: see activation_math.h
#include "activation_impl.h"
}  // namespace
}  // namespace portable

const ActivationTable& activation_table_portable() {
    static const ActivationTable table = [] {
        ActivationTable t{};
        for (int k = 0; k < kActivationKinds; ++k) {
            t.forward[k] = portable::ops::kTable.forward[k];
            t.backward[k] = portable::ops::kTable.backward[k];
            t.backward_from_output[k] = portable::ops::kTable.backward_from_output[k];
        }
        return t;
    }();
    return table;
}

}  // namespace fastnn::cpu
