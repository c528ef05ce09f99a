// The activation loops compiled for avx2 (see activation_impl.h).
#include <cstdint>
#include <cstring>

#include "activation_kernels.h"
#include "fastnn/activation.h"

namespace fastnn::cpu {
namespace avx2 {
namespace {  // internal linkage: see activation_math.h
#include "activation_impl.h"
}  // namespace
}  // namespace avx2

const ActivationTable& activation_table_avx2() {
    static const ActivationTable table = [] {
        ActivationTable t{};
        for (int k = 0; k < kActivationKinds; ++k) {
            t.forward[k] = avx2::ops::kTable.forward[k];
            t.backward[k] = avx2::ops::kTable.backward[k];
            t.backward_from_output[k] = avx2::ops::kTable.backward_from_output[k];
        }
        return t;
    }();
    return table;
}

}  // namespace fastnn::cpu
