// Iteration spaces for broadcasting kernels, shared by the CPU and CUDA
// sides: several arrays walked together over one shape, each with its own
// element strides (0 along the axes it is broadcast over, and 0 for an
// output along the axes a reduction sums over).
#pragma once

#include <cstdint>

#include "fastnn/view.h"

namespace fastnn {

constexpr int kMaxOperands = 4;

struct Layout {
    int ndim = 0;  // >= 1 after collapse() (a single element is shape (1,))
    int nops = 0;
    std::int64_t shape[kMaxDims] = {};
    std::int64_t stride[kMaxOperands][kMaxDims] = {};  // elements

    std::int64_t numel() const {
        std::int64_t n = 1;
        for (int d = 0; d < ndim; ++d) n *= shape[d];
        return n;
    }
};

// True when `v` broadcasts to the shape (ndim, shape) under NumPy's rules
// (right-aligned; each axis of v equal to the target's or 1).
bool broadcasts_to(const View& v, int ndim, const std::int64_t* shape);

// A layout over (ndim, shape) with the given views as operands 0..count-1,
// each broadcast to it (the caller checked broadcasts_to).
Layout make_layout(int ndim, const std::int64_t* shape, const View* const* views, int count);

// Removes axes of length 1, optionally orders the axes by operand
// `sort_by`'s |stride| (largest first; stride 0 counts as largest, so the
// innermost axis is the one that operand walks most densely), then merges
// neighbouring axes along which every operand is contiguous. Leaves at least
// one axis; a layout with a zero-length axis becomes shape (0,).
void collapse(Layout& l, int sort_by = -1);

// A reduction split along its innermost axis (after collapse; operand 0 is
// the output, with stride 0 along the reduced axes):
//   inner:           the innermost axis, kept (the output walks it) or reduced;
//   kept / reduced:  the other axes, in order, split by whether the output
//                    walks them.
struct ReduceSplit {
    bool inner_kept = true;
    std::int64_t inner = 1;  // length of the innermost axis
    int n_kept = 0, n_reduced = 0;
    int kept[kMaxDims] = {}, reduced[kMaxDims] = {};  // axis indices into the layout
    std::int64_t kept_count = 1, reduced_count = 1;    // products of their lengths
};
ReduceSplit split_reduction(const Layout& l);

}  // namespace fastnn
