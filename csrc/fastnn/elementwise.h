// Element-wise binary ops with NumPy broadcasting, their backward (fused with
// the sum over broadcast axes), and the sum reduction.
//
// Arrays are float32 views (fastnn/view.h). Inputs may have any strides
// (broadcast views with stride 0, transposes, slices); outputs are
// C-contiguous. The bindings validate every argument before calling these
// (dtype, device, broadcasting, aliasing); the kernels assume it was done.
//
//   binary(op, a, b, out)           out = a OP b, a and b broadcast to out's shape.
//   binary_backward(op, side, g, a, b, out)
//                                   out = sum over the broadcast axes of
//                                   g * d(a OP b)/d(side), shaped like the
//                                   operand `side` (0: a, 1: b); a and b
//                                   broadcast to g's shape.
//   reduce_sum(x, out)              out = x summed down to out's shape, which
//                                   broadcasts to x's (keepdims form: x's rank,
//                                   reduced axes of size 1; leading axes may
//                                   also be missing).
//
// Derivatives (fastnn.reference.elementwise is the NumPy twin):
//   add        da = g, db = g            subtract  da = g, db = -g
//   multiply   da = g b, db = g a        divide    da = g / b, db = -(g / b)(a / b)
//   maximum    da = g if a > b, g/2 if a == b, 0 if a < b; db mirrored
//   minimum    da = g if a < b, g/2 if a == b, 0 if a > b; db mirrored
// Ties split the gradient in halves and a NaN operand passes the whole
// gradient to both sides: what PyTorch does (torch.maximum's derivative is
// where(a == b, g / 2, g).masked_fill_(a < b, 0); checked with torch 2.13).
// The forward maximum/minimum propagate NaN like np.maximum/np.minimum.
//
// Sums accumulate in double (each float32 term converted exactly), in an
// order fixed by the shapes alone: results do not depend on the thread
// count, and are the same from run to run.
#pragma once

#include <cstdint>

#include "fastnn/view.h"

namespace fastnn {

// Codes shared with Python (fastnn/ops.py BINARY_OPS); append only.
enum class BinaryOp : int { add = 0, subtract = 1, multiply = 2, divide = 3, maximum = 4, minimum = 5 };
constexpr int kBinaryOps = 6;

// "add", "subtract", ...; nullptr for an unknown code.
const char* binary_op_name(int code);

namespace cpu {
void binary(BinaryOp op, const View& a, const View& b, const View& out);
void binary_backward(BinaryOp op, int side, const View& grad, const View& a, const View& b, const View& out);
void reduce_sum(const View& x, const View& out);
}  // namespace cpu

namespace cuda {
// On `stream` (a cudaStream_t as an integer).
void binary(BinaryOp op, const View& a, const View& b, const View& out, std::uintptr_t stream);
void binary_backward(BinaryOp op, int side, const View& grad, const View& a, const View& b, const View& out,
                     std::uintptr_t stream);
void reduce_sum(const View& x, const View& out, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
