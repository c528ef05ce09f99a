// 2-D convolution, NHWC float32 (fastnn.reference.conv is the NumPy twin).
//
//   conv2d_forward(x, w, y)          y[n,oh,ow,o] = act(sum_{kh,kw,c} x[n, oh*sh - pt + kh*dh,
//                                                    ow*sw - pl + kw*dw, c] * w[kh,kw,c,o] + b[o])
//   conv2d_backward_data(dy, w, dx)  dx = the input gradient of the above (before the activation)
//   conv2d_backward_filter(x, dy, dw)  dw = the kernel gradient
//
// x (N, H, W, C), w (KH, KW, C, O) as Keras stores a Conv2D kernel, y / dy (N, OH, OW, O); all
// C-contiguous float32 (the bindings check everything first). Taps that fall in the padding
// read zero. Both devices see the problem as a GEMM over
//   M = N*OH*OW rows, O columns, K = KH*KW*C inner terms ordered (kh, kw, c),
// i.e. y = im2col(x) (M x K) @ w (K x O): the CPU lowers to the packed GEMM through im2col
// chunks (csrc/cpu/conv.cpp), the GPU runs implicit-GEMM kernels (csrc/cuda/conv.cu). The
// bias gradient (dy summed over N, OH, OW) comes with the fused conv2d_backward.
#pragma once

#include <cstdint>

#include "fastnn/gemm.h"
#include "fastnn/view.h"

namespace fastnn {

struct ConvGeometry {
    std::int64_t n = 0, h = 0, w = 0, c = 0;  // input
    std::int64_t kh = 0, kw = 0, o = 0;       // kernel (and output channels)
    std::int64_t oh = 0, ow = 0;              // output
    std::int64_t sh = 1, sw = 1;              // strides
    std::int64_t dh = 1, dw = 1;              // dilation
    std::int64_t pt = 0, pl = 0;              // padding before (top, left); after is implied by oh, ow

    std::int64_t rows() const { return n * oh * ow; }  // GEMM M
    std::int64_t taps() const { return kh * kw * c; }  // GEMM K
    // A 1x1 kernel at stride 1 without padding: x itself is the im2col matrix.
    bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && oh == h && ow == w; }
};

namespace cpu {
// bias: O floats or null; activation: none or relu (fused in the GEMM epilogue).
void conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act, float* y);
void conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx);
void conv2d_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw);
// The three gradients of y = act(conv(x, w) + b) in one pass over dy: y given (not null) means
// act = relu, whose mask is taken from y; dx and db may be null (not wanted).
void conv2d_backward(const ConvGeometry& g, const float* x, const float* w, const float* y, const float* dy, float* dx,
                     float* dw, float* db);
}  // namespace cpu

namespace cuda {
// On `stream` (a cudaStream_t as an integer); device pointers.
void conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act, float* y,
                    std::uintptr_t stream);
void conv2d_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx, std::uintptr_t stream);
void conv2d_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw, std::uintptr_t stream);
// cpu::conv2d_backward's contract in one call: the relu mask (y not null) into stream-ordered
// scratch, backward-data (dx not null), backward-filter and the bias sum (db not null), launched
// back to back from C++ (one Python call instead of four).
void conv2d_backward(const ConvGeometry& g, const float* x, const float* w, const float* y, const float* dy, float* dx,
                     float* dw, float* db, std::uintptr_t stream);
}  // namespace cuda

}  // namespace fastnn
