// Run-time choice of the CPU instruction set and the thread count.
#pragma once

#include <string>

namespace fastnn {

enum class Isa : int { portable = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Best ISA this CPU and OS support (probed once).
Isa best_isa();
// ISA the kernels use now: best_isa(), or what FASTNN_ISA / set_isa() asked for.
Isa active_isa();
// Throws ValueError for an unknown name or an ISA this CPU lacks.
void set_isa(const std::string& name);

int num_threads();
// n >= 1; throws ValueError otherwise.
void set_num_threads(int n);

}  // namespace fastnn
