// Winograd convolution on the CPU, F(2x2, 3x3) and F(4x4, 3x3): the per-ISA transform loops
// (winograd_impl.h, compiled into each conv_<isa>.cpp) and the entry points conv.cpp calls
// (winograd.cpp).
//
// A 3x3 stride-1 convolution is computed on tiles of m x m output pixels, each read from an
// alpha x alpha window of the input, alpha = m + 2 (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016):
//
//   y_tile = A^T [ (G w G^T) (.) (B^T d B) ] A          (.) = elementwise, over the alpha^2 points xi
//
// Summed over the input channels, the P = alpha^2 elementwise products become P GEMMs per block
// of tiles, M[xi] (tiles x O) = V[xi] (tiles x C) @ U[xi] (C x O): per output pixel 4
// multiplies for m = 2 and 2.25 for m = 4, where direct convolution needs 9 (less the tiles'
// overhang at sizes that are not multiples of m). m = 2's transforms only add, subtract and
// halve; m = 4's multiply by up to 8 and by 1/6, so its rounding errors are some 10x larger
// (still ~1e-6 relative in float32; tests/test_conv.py bounds both) and its transformed values
// can overflow float32 ~100x sooner than the direct sum. Every output of a tile mixes every
// input of its window, so one NaN or infinity in a window makes the whole tile NaN (a direct
// convolution would give +-inf in some outputs). The same algebra gives the other two passes:
//
//   backward-data    the forward convolution of dy with the kernel rotated 180 degrees and its
//                    channel axes swapped, on the padding 2 - p
//   backward-filter  dw = G^T [ sum over tiles (A g A^T) (.) (B^T d B) ] G, g the tile's m x m
//                    block of dy: P GEMMs V[xi]^T (C x tiles) @ Gy[xi] (tiles x O) summed over
//                    every tile, one output transform at the end
//
// (The filter rule is the transpose of the forward's bilinear form: sum g (.) y = sum w (.)
// G^T[(A g A^T) (.) V]G for every w.)
//
// Layouts (one block of `count` tiles):
//   V[r][xi][c]          input transform of tile t0 + r, cp = C rounded up to 16 floats a
//                        point (zeros beyond C); tile-major, so it is written sequentially
//                        (point-major, P strided streams, cost twice as much); rows P * cp
//                        + 16 floats apart: a power-of-two stride would put the micro-kernel's
//                        8 rows in one L1 set
//   U[xi][j][c][NR]      filter transform packed in the GEMM micro-kernel's NR-wide panels
//   M[r][xi][o]          products, op = O rounded up to NR floats a point; tile-major too,
//                        rows P * op + 16 floats apart
//   Gy[xi][j][r][NR]     dy transform packed in NR-wide panels (filter pass)
// Columns o >= O of every packed panel are zero.
#pragma once

#include <cstdint>

#include "fastnn/conv.h"

namespace fastnn::cpu {

// The tiling of one Winograd pass: the input (n, h, w, c) read through alpha x alpha windows
// (alpha = m + 2) whose top-left corner for tile (i, j) is (m i - pt, m j - pl) (zeros outside),
// the output (oh, ow) cut into tiles of m x m, tile index t = (n * tiles_h + i) * tiles_w + j with
// tiles_h = ceil(oh / m), tiles_w = ceil(ow / m). Plain fields only: the per-ISA files may not
// share inline functions (gemm_kernels.h).
struct WinogradShape {
    std::int64_t n = 0, h = 0, w = 0, c = 0;
    std::int64_t oh = 0, ow = 0, o = 0;
    std::int64_t pt = 0, pl = 0;
    std::int64_t m = 2;  // output tile side: 2 (F(2x2, 3x3), 16 points) or 4 (F(4x4, 3x3), 36)
};

// One tile size's transforms; P = alpha^2 points xi (16 or 36).
struct WinogradTransforms {
    // V[r * ldv + xi * cp + c] = (B^T d B)[xi] for tiles t0 + r, r < count, of x (N, H, W, C),
    // cp = C rounded up to 16 (zeros for c >= C); when mask is not null (same shape as x) an
    // element of x counts only where mask > 0 (the relu of the layer that made x). Rows count ..
    // rows - 1 are zeroed. scratch: P * cp floats.
    void (*input)(const WinogradShape& s, const float* x, const float* mask, std::int64_t t0, std::int64_t count,
                  std::int64_t rows, float* v, std::int64_t ldv, float* scratch);
    // y (N, OH, OW, O) tiles t0 .. t0 + count - 1 = act(A^T M A + bias) from M[xi * ms + r * ldm + o]
    // (ms and ldm multiples of 16, ms >= O rounded up to 16).
    void (*output)(const WinogradShape& s, const float* m, std::int64_t ms, std::int64_t ldm, const float* bias,
                   bool relu, std::int64_t t0, std::int64_t count, float* y);
    // Gy[xi * gs + j * rows * nr + r * nr + col] = (A g A^T)[xi], g the m x m block of dy (N, OH,
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

struct WinogradTable {
    WinogradTransforms f2;  // F(2x2, 3x3)
    WinogradTransforms f4;  // F(4x4, 3x3)
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
