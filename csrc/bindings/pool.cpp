// Bindings of 2-D pooling (fastnn/pool.h). Every argument is checked here,
// before a kernel touches memory: dtypes, ranks, contiguity, devices,
// aliasing, and the shapes against the window geometry (every window must
// hold at least one real cell). Messages name the op and the argument.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>

#include "convert.h"
#include "fastnn/errors.h"
#include "fastnn/pool.h"
#include "fastnn/view.h"

namespace py = pybind11;

namespace fastnn::bindings {

namespace {

// An NHWC array of `dtype`, C-contiguous, on ref's device (ref may be itself).
void check_nhwc(const char* op, const char* arg, const View& v, DType dtype, const char* ref_arg, const View& ref) {
    check_dtype(op, arg, v, dtype);
    if (v.ndim != 4)
        throw ValueError(message(op, ": argument '", arg, "' must be 4-D (batch, height, width, channels), got shape ",
                                 shape_str(v)));
    check_contiguous(op, arg, v);
    check_aligned(op, arg, v);
    check_same_device(op, arg, v, ref_arg, ref);
}

void check_same_shape(const char* op, const char* arg, const View& v, const char* ref_arg, const View& ref) {
    for (int d = 0; d < 4; ++d)
        if (v.shape[d] != ref.shape[d])
            throw ValueError(message(op, ": argument '", arg, "' must have the shape of '", ref_arg, "' ",
                                     shape_str(ref), ", got ", shape_str(v)));
}

// in (N, H, W, C) against out (N, OH, OW, C) and the window.
PoolGeometry geometry(const char* op, const View& in, const char* in_arg, const View& out, const char* out_arg,
                      std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw, std::int64_t pt,
                      std::int64_t pl) {
    if (kh < 1 || kw < 1)
        throw ValueError(message(op, ": pool_size must be positive, got (", kh, ", ", kw, ")"));
    if (sh < 1 || sw < 1)
        throw ValueError(message(op, ": strides must be positive, got (", sh, ", ", sw, ")"));
    if (pt < 0 || pt >= kh || pl < 0 || pl >= kw)
        throw ValueError(message(op, ": padding before the input must be in [0, pool size), got (", pt, ", ", pl,
                                 ") for a (", kh, ", ", kw, ") window"));
    if (out.shape[0] != in.shape[0] || out.shape[3] != in.shape[3])
        throw ValueError(message(op, ": argument '", out_arg, "' ", shape_str(out), " must have the batch and channel "
                                 "sizes of '", in_arg, "' ", shape_str(in)));
    const std::int64_t H = in.shape[1], W = in.shape[2], OH = out.shape[1], OW = out.shape[2];
    // Every window starts inside the input (the first ends past row 0 as pt < kh).
    if (H < 1 || W < 1 || OH < 1 || OW < 1 || (OH - 1) * sh - pt > H - 1 || (OW - 1) * sw - pl > W - 1)
        throw ValueError(message(op, ": argument '", out_arg, "' of shape ", shape_str(out), " does not fit '",
                                 in_arg, "' of shape ", shape_str(in), " with a (", kh, ", ", kw, ") window, strides (",
                                 sh, ", ", sw, ") and padding before (", pt, ", ", pl, ")"));
    if (H * W > std::numeric_limits<std::int32_t>::max())
        throw ValueError(message(op, ": images of ", H, " x ", W, " cells are too large for int32 argmax indices"));
    return PoolGeometry{kh, kw, sh, sw, pt, pl};
}

void max_forward(const py::handle& x_obj, const py::handle& y_obj, const py::handle& idx_obj, std::int64_t kh,
                 std::int64_t kw, std::int64_t sh, std::int64_t sw, std::int64_t pt, std::int64_t pl,
                 std::uintptr_t stream) {
    const char* op = "max_pool2d";
    const View x = to_view(op, "x", x_obj);
    const View y = to_view(op, "out", y_obj);
    check_nhwc(op, "x", x, DType::float32, "x", x);
    check_nhwc(op, "out", y, DType::float32, "x", x);
    check_writable(op, "out", y);
    check_no_overlap(op, "out", y, "x", x);
    const PoolGeometry g = geometry(op, x, "x", y, "out", kh, kw, sh, sw, pt, pl);
    View idx;
    const bool has_idx = !idx_obj.is_none();
    if (has_idx) {
        idx = to_view(op, "indices", idx_obj);
        check_nhwc(op, "indices", idx, DType::int32, "x", x);
        check_same_shape(op, "indices", idx, "out", y);
        check_writable(op, "indices", idx);
        check_no_overlap(op, "indices", idx, "x", x);
        check_no_overlap(op, "indices", idx, "out", y);
    }
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::max_pool2d_forward(x, y, has_idx ? &idx : nullptr, g);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::max_pool2d_forward(x, y, has_idx ? &idx : nullptr, g, stream));
}

void max_backward(const py::handle& idx_obj, const py::handle& dy_obj, const py::handle& dx_obj, std::int64_t kh,
                  std::int64_t kw, std::int64_t sh, std::int64_t sw, std::int64_t pt, std::int64_t pl,
                  std::uintptr_t stream) {
    const char* op = "max_pool2d_backward";
    const View dy = to_view(op, "grad", dy_obj);
    const View idx = to_view(op, "indices", idx_obj);
    const View dx = to_view(op, "out", dx_obj);
    check_nhwc(op, "grad", dy, DType::float32, "grad", dy);
    check_nhwc(op, "indices", idx, DType::int32, "grad", dy);
    check_same_shape(op, "indices", idx, "grad", dy);
    check_nhwc(op, "out", dx, DType::float32, "grad", dy);
    check_writable(op, "out", dx);
    check_no_overlap(op, "out", dx, "grad", dy);
    check_no_overlap(op, "out", dx, "indices", idx);
    const PoolGeometry g = geometry(op, dx, "out", dy, "grad", kh, kw, sh, sw, pt, pl);
    if (dy.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::max_pool2d_backward(idx, dy, dx, g);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::max_pool2d_backward(idx, dy, dx, g, stream));
}

void avg_forward(const py::handle& x_obj, const py::handle& y_obj, std::int64_t kh, std::int64_t kw,
                 std::int64_t sh, std::int64_t sw, std::int64_t pt, std::int64_t pl, std::uintptr_t stream) {
    const char* op = "avg_pool2d";
    const View x = to_view(op, "x", x_obj);
    const View y = to_view(op, "out", y_obj);
    check_nhwc(op, "x", x, DType::float32, "x", x);
    check_nhwc(op, "out", y, DType::float32, "x", x);
    check_writable(op, "out", y);
    check_no_overlap(op, "out", y, "x", x);
    const PoolGeometry g = geometry(op, x, "x", y, "out", kh, kw, sh, sw, pt, pl);
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::avg_pool2d_forward(x, y, g);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::avg_pool2d_forward(x, y, g, stream));
}

void avg_backward(const py::handle& dy_obj, const py::handle& dx_obj, std::int64_t kh, std::int64_t kw,
                  std::int64_t sh, std::int64_t sw, std::int64_t pt, std::int64_t pl, std::uintptr_t stream) {
    const char* op = "avg_pool2d_backward";
    const View dy = to_view(op, "grad", dy_obj);
    const View dx = to_view(op, "out", dx_obj);
    check_nhwc(op, "grad", dy, DType::float32, "grad", dy);
    check_nhwc(op, "out", dx, DType::float32, "grad", dy);
    check_writable(op, "out", dx);
    check_no_overlap(op, "out", dx, "grad", dy);
    const PoolGeometry g = geometry(op, dx, "out", dy, "grad", kh, kw, sh, sw, pt, pl);
    if (dy.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::avg_pool2d_backward(dy, dx, g);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::avg_pool2d_backward(dy, dx, g, stream));
}

}  // namespace

void bind_pool(py::module_& m) {
    m.def("max_pool2d_forward", &max_forward, py::arg("x"), py::arg("out"), py::arg("indices"), py::arg("kh"),
          py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("pad_top"), py::arg("pad_left"),
          py::arg("stream") = 0,
          "NHWC float32 max pooling of x into out (N, OH, OW, C); indices (int32, out's shape, or None) receive "
          "the argmax as h * W + w (first on ties). Padded cells are ignored.");
    m.def("max_pool2d_backward", &max_backward, py::arg("indices"), py::arg("grad"), py::arg("out"), py::arg("kh"),
          py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("pad_top"), py::arg("pad_left"),
          py::arg("stream") = 0, "out (N, H, W, C) = grad routed to the saved argmax cells (summed where windows "
                                 "share a cell).");
    m.def("avg_pool2d_forward", &avg_forward, py::arg("x"), py::arg("out"), py::arg("kh"), py::arg("kw"),
          py::arg("sh"), py::arg("sw"), py::arg("pad_top"), py::arg("pad_left"), py::arg("stream") = 0,
          "NHWC float32 average pooling; each window divided by its count of real (unpadded) cells.");
    m.def("avg_pool2d_backward", &avg_backward, py::arg("grad"), py::arg("out"), py::arg("kh"), py::arg("kw"),
          py::arg("sh"), py::arg("sw"), py::arg("pad_top"), py::arg("pad_left"), py::arg("stream") = 0,
          "out (N, H, W, C) = the sum of grad / count over the windows holding each cell.");
}

}  // namespace fastnn::bindings
