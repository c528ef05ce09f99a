// The activation loops compiled for avx512 (see activation_impl.h).
#include <cstdint>
#include <cstring>

#include "activation_kernels.h"
#include "fastnn/activation.h"

namespace fastnn::cpu {
namespace avx512 {
namespace {  // internal linkage: see activation_math.h
#include "activation_impl.h"
}  // namespace
}  // namespace avx512

const ActivationTable& activation_table_avx512() {
    static const ActivationTable table = [] {
        ActivationTable t{};
        for (int k = 0; k < kActivationKinds; ++k) {
            t.forward[k] = avx512::ops::kTable.forward[k];
            t.backward[k] = avx512::ops::kTable.backward[k];
            t.backward_from_output[k] = avx512::ops::kTable.backward_from_output[k];
        }
        return t;
    }();
    return table;
}

}  // namespace fastnn::cpu
