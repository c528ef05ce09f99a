// Dropout with a counter-based RNG: no mask is stored, the backward pass
// recomputes it from (key, offset).
//
// Element i of a call (its flat, C-order index) is kept or dropped by the
// Philox4x32-10 block number offset + i / 4 (fastnn/philox.h), output word
// i % 4: with r that uint32 and T = floor(rate * 2^32) (exact in double),
//     element i is dropped  iff  r < T,
// so P(drop) = T / 2^32, within 2^-32 of rate. Kept elements are scaled by
// scale = float(1 / (1 - rate)) (computed in double, rounded once); dropped
// ones are exactly 0, even where x is inf or NaN (their gradient is 0 too).
// The mask depends only on (key, offset, i): the same on the CPU and the GPU
// and for any thread count. A call on n elements uses blocks offset ..
// offset + ceil(n / 4) - 1; fastnn.random.philox_stream hands out disjoint
// ranges.
//
// The backward of y = dropout(x) is dx = dropout(dy) with the same key,
// offset and rate: the same kernel.
#pragma once

#include <cstdint>

namespace fastnn {

struct DropoutArgs {
    std::uint64_t key = 0;
    std::uint64_t offset = 0;     // first Philox block
    std::uint32_t threshold = 0;  // T: dropped iff r < T
    float scale = 1.0f;           // 1 / (1 - rate)
};

namespace cpu {
// y = dropout(x) over n contiguous elements; y may be x.
void dropout(const DropoutArgs& args, const float* x, float* y, std::int64_t n);
}  // namespace cpu

namespace cuda {
void dropout(const DropoutArgs& args, const float* x, float* y, std::int64_t n, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
