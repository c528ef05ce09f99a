// The Keras L1/L2 weight penalty as one fused kernel pair
// (fastnn.regularizers.L1L2; fastnn.reference.penalty is the NumPy twin).
//
//   penalty_forward(w, out, l1, l2)         out (0-d) = l1 * sum|w| + l2 * sum w^2
//   penalty_backward(w, grad, out, l1, l2)  out = grad * (l1 * sign(w) + 2 * l2 * w)
//
// w: float32, C-contiguous, any shape (0-d and empty included). grad: a 0-d
// float32 array on w's device, read there (no host synchronisation); out of
// the backward has w's shape and may be w itself. sign(0) = 0, a subgradient
// (TensorFlow's gradient of abs); a NaN w gives NaN in both directions.
// The bindings validate every argument (l1, l2 finite and >= 0) first.
//
// Numerics. Forward: |w| and w * w are formed in double from the exact
// float32 w and accumulated in double, in an order fixed by the size alone
// (CPU: chunks of 2^15 elements, 16 running sums per chunk added in a fixed
// tree, chunks added in order; GPU: a grid fixed by the size, a fixed shuffle
// tree per block, the block partials added in order by a second kernel, no
// atomics), then l1 * s1 + l2 * s2 is formed in double and rounded to float32
// once: the result is the same for any thread count and from run to run, and
// within a few float32 ulps of the exact value. Backward: float32,
// g * (float(l1) * sign(w) + float(2 l2) * w), 3 roundings.
#pragma once

#include <cstdint>

#include "fastnn/view.h"

namespace fastnn {

namespace cpu {
void penalty_forward(const View& w, const View& out, double l1, double l2);
void penalty_backward(const View& w, const View& grad, const View& out, double l1, double l2);
}  // namespace cpu

namespace cuda {
// On `stream` (a cudaStream_t as an integer).
void penalty_forward(const View& w, const View& out, double l1, double l2, std::uintptr_t stream);
void penalty_backward(const View& w, const View& grad, const View& out, double l1, double l2,
                      std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
