// 2-D max and average pooling over NHWC float32 arrays (Keras' channels_last),
// forward and backward (fastnn.reference.pooling is the NumPy twin).
//
//   x (N, H, W, C), y (N, OH, OW, C); window kh x kw, strides sh, sw; pad_top,
//   pad_left cells of padding before the first row / column (what 'same'
//   asks for; the rest of the padding falls past the end and is implied by
//   OH, OW). Padded cells are ignored: the max is over the window's real
//   cells and the average divides by their count, as TensorFlow does.
//
//   max_pool2d_forward(x, y, indices, g)   indices (optional, int32, y's
//       shape): the argmax as h * W + w within the image; on ties the first
//       cell in the window's row-major order; a NaN wins (and the first NaN).
//   max_pool2d_backward(indices, dy, dx, g)  dx (N, H, W, C) = the sum of dy
//       over the windows whose argmax each cell is.
//   avg_pool2d_forward(x, y, g)
//   avg_pool2d_backward(dy, dx, g)          dx = the sum of dy / count over
//       the windows holding each cell.
//
// The backward passes gather (each dx cell sums over the windows that cover
// it) rather than scatter, so they need no atomics and no zeroing pass and
// give the same bits for any thread count. The bindings check every argument
// (shapes against the geometry, every window holding a real cell) first.
#pragma once

#include <cstdint>

#include "fastnn/view.h"

namespace fastnn {

struct PoolGeometry {
    std::int64_t kh, kw, sh, sw, pad_top, pad_left;
};

namespace cpu {
void max_pool2d_forward(const View& x, const View& y, const View* indices, const PoolGeometry& g);
void max_pool2d_backward(const View& indices, const View& dy, const View& dx, const PoolGeometry& g);
void avg_pool2d_forward(const View& x, const View& y, const PoolGeometry& g);
void avg_pool2d_backward(const View& dy, const View& dx, const PoolGeometry& g);
}  // namespace cpu

namespace cuda {
// On `stream` (a cudaStream_t as an integer).
void max_pool2d_forward(const View& x, const View& y, const View* indices, const PoolGeometry& g,
                        std::uintptr_t stream);
void max_pool2d_backward(const View& indices, const View& dy, const View& dx, const PoolGeometry& g,
                         std::uintptr_t stream);
void avg_pool2d_forward(const View& x, const View& y, const PoolGeometry& g, std::uintptr_t stream);
void avg_pool2d_backward(const View& dy, const View& dx, const PoolGeometry& g, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
