// Winograd F(2x2, 3x3) convolution on the CPU: the per-ISA transform loops (winograd_impl.h,
// compiled into each conv_<isa>.cpp) and the entry points conv.cpp calls (winograd.cpp).
//
// A 3x3 stride-1 convolution is computed on tiles of 2x2 output pixels, each read from a 4x4
// window of the input (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//
//   y_tile = A^T [ (G w G^T) (.) (B^T d B) ] A          (.) = elementwise, over 4x4 points xi
//
// Summed over the input channels, the 16 elementwise products become 16 GEMMs per block of
// tiles, M[xi] (tiles x O) = V[xi] (tiles x C) @ U[xi] (C x O): 16 multiplies per 4 outputs
// where direct convolution needs 36 (2.25x fewer, less the tiles' overhang at odd sizes).
// The transforms only add, subtract and halve, so the results stay within a few ulps of the
// direct sum. The same algebra gives the other two passes:
//
//   backward-data    the forward convolution of dy with the kernel rotated 180 degrees and its
//                    channel axes swapped, on the padding 2 - p (winograd.cpp's transposed())
//   backward-filter  dw = G^T [ sum over tiles (A g A^T) (.) (B^T d B) ] G, g the tile's 2x2
//                    block of dy: 16 GEMMs V[xi]^T (C x tiles) @ Gy[xi] (tiles x O) summed over
//                    every tile, one output transform at the end
//
// (The filter rule is the transpose of the forward's bilinear form: sum g (.) y = sum w (.)
// G^T[(A g A^T) (.) V]G for every w.)
//
// Layouts (one block of `count` tiles, ptile = the block's capacity):
//   V[r][xi][c]          input transform of tile t0 + r, cp = C rounded up to 16 floats a
//                        point (zeros beyond C); tile-major, so it is written sequentially
//                        (point-major, 16 strided streams, cost twice as much); rows 16 * cp
//                        + 16 floats apart: a power-of-two stride would put the micro-kernel's
//                        8 rows in one L1 set
//   U[xi][j][c][NR]      filter transform packed in the GEMM micro-kernel's NR-wide panels
//   M[r][xi][o]          products, op = O rounded up to NR floats a point; tile-major too,
//                        rows 16 * op + 16 floats apart
//   Gy[xi][j][r][NR]     dy transform packed in NR-wide panels (filter pass)
// Columns o >= O of every packed panel are zero.
#pragma once

#include <cstdint>

#include "fastnn/conv.h"

namespace fastnn::cpu {

// The tiling of one Winograd pass: the input (n, h, w, c) read through windows whose top-left
// corner for tile (i, j) is (2i - pt, 2j - pl) (zeros outside), the output (oh, ow) cut into
// tiles_h x tiles_w tiles of 2x2, tile index t = (n * tiles_h + i) * tiles_w + j.
struct WinogradShape {
    std::int64_t n = 0, h = 0, w = 0, c = 0;
    std::int64_t oh = 0, ow = 0, o = 0;
    std::int64_t pt = 0, pl = 0;
    std::int64_t tiles_h() const { return (oh + 1) / 2; }
    std::int64_t tiles_w() const { return (ow + 1) / 2; }
    std::int64_t tiles() const { return n * tiles_h() * tiles_w(); }
};

struct WinogradTable {
    // V[r * ldv + xi * cp + c] = (B^T d B)[xi] for tiles t0 + r, r < count, of x (N, H, W, C),
    // cp = C rounded up to 16 (zeros for c >= C); when mask is not null (same shape as x) an
    // element of x counts only where mask > 0 (the relu of the layer that made x). Rows count ..
    // rows - 1 are zeroed. scratch: 16 * cp floats.
    void (*input)(const WinogradShape& s, const float* x, const float* mask, std::int64_t t0, std::int64_t count,
                  std::int64_t rows, float* v, std::int64_t ldv, float* scratch);
    // y (N, OH, OW, O) tiles t0 .. t0 + count - 1 = act(A^T M A + bias) from M[xi * ms + r * ldm + o]
    // (ms and ldm multiples of 16, ms >= O rounded up to 16).
    void (*output)(const WinogradShape& s, const float* m, std::int64_t ms, std::int64_t ldm, const float* bias,
                   bool relu, std::int64_t t0, std::int64_t count, float* y);
    // Gy[xi * gs + j * rows * nr + r * nr + col] = (A g A^T)[xi], g the 2x2 block of dy (N, OH,
    // OW, O) of tile t0 + r, channel j * nr + col (zero beyond O and for rows >= count); masked
    // by y > 0 when y is not null. db (O floats, or null) += the (masked) dy of these tiles.
    void (*grad)(const WinogradShape& s, const float* dy, const float* y, std::int64_t t0, std::int64_t count,
                 std::int64_t rows, std::int64_t nr, float* gy, std::int64_t gs, float* db);
    // U[xi * us + j * kin * nr + k * nr + col] = (G w G^T)[xi] for input channel k < kin and output
    // channel j * nr + col < kout of the 3x3 kernel w[kh][kw] at w + (kh * 3 + kw) * ts +
    // k * ks + col * os (zero beyond kout). ts, ks, os: strides of the tap, input and output axes.
    void (*filter)(const float* w, std::int64_t ts, std::int64_t ks, std::int64_t os, std::int64_t kin,
                   std::int64_t kout, std::int64_t nr, float* u, std::int64_t us);
    // dw (3, 3, C, O) = G^T M G from M[xi * ms + c * ldm + o] (ldm as for output).
    void (*filter_output)(const float* m, std::int64_t ms, std::int64_t ldm, std::int64_t c, std::int64_t o,
                          float* dw);
};

const WinogradTable& winograd_table_portable();
#ifdef FASTNN_X86
const WinogradTable& winograd_table_avx2();
const WinogradTable& winograd_table_avx512();
#endif

// Whether the Winograd passes serve this convolution (3x3, stride 1, no dilation, enough
// channels both ways for its small GEMMs to run near peak).
bool winograd_eligible(const ConvGeometry& g);
void winograd_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act,
                      float* y);
// dx from dy (masked by y > 0 when y is not null).
void winograd_backward_data(const ConvGeometry& g, const float* dy, const float* y, const float* w, float* dx);
// dw and db (null: not wanted) from x and dy (masked by y > 0 when y is not null).
void winograd_backward_filter(const ConvGeometry& g, const float* x, const float* dy, const float* y, float* dw,
                              float* db);

}  // namespace fastnn::cpu
