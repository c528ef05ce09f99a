// Bindings of the conv2d kernels (fastnn/conv.h). Every argument is checked
// here, before a kernel touches memory; messages name the op and the argument.
// The geometry (strides, explicit padding, dilation) comes resolved from
// Python (fastnn.conv_geometry); the output size follows from it and must
// match the array given for it.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <utility>

#include "convert.h"
#include "fastnn/conv.h"
#include "fastnn/errors.h"
#include "fastnn/view.h"

namespace py = pybind11;

namespace fastnn::bindings {

namespace {

// A C-contiguous float32 array of rank 4.
void check_tensor4(const char* op, const char* arg, const View& v, const char* layout) {
    check_dtype(op, arg, v, DType::float32);
    if (v.ndim != 4)
        throw ValueError(message(op, ": argument '", arg, "' must be 4-D ", layout, ", got shape ", shape_str(v)));
    check_contiguous(op, arg, v);
    check_aligned(op, arg, v);
}

void check_shape(const char* op, const char* arg, const View& v, std::int64_t a, std::int64_t b, std::int64_t c,
                 std::int64_t d, const char* why) {
    if (v.shape[0] != a || v.shape[1] != b || v.shape[2] != c || v.shape[3] != d)
        throw ValueError(message(op, ": argument '", arg, "' must have shape (", a, ", ", b, ", ", c, ", ", d, ") ",
                                 why, ", got ", shape_str(v)));
}

// The geometry of input x_shape (N, H, W, C) and kernel w (KH, KW, C, O); checks the
// hyper-parameters and that the (dilated) kernel fits the padded input.
ConvGeometry geometry(const char* op, const std::int64_t* x_shape, const View& w, py::tuple strides,
                      py::tuple padding, py::tuple dilation) {
    if (strides.size() != 2 || padding.size() != 4 || dilation.size() != 2)
        throw ValueError(message(op, ": expected strides (sh, sw), padding (top, bottom, left, right) and "
                                     "dilation (dh, dw)"));
    ConvGeometry g;
    g.n = x_shape[0];
    g.h = x_shape[1];
    g.w = x_shape[2];
    g.c = x_shape[3];
    g.kh = w.shape[0];
    g.kw = w.shape[1];
    g.o = w.shape[3];
    g.sh = strides[0].cast<std::int64_t>();
    g.sw = strides[1].cast<std::int64_t>();
    g.dh = dilation[0].cast<std::int64_t>();
    g.dw = dilation[1].cast<std::int64_t>();
    g.pt = padding[0].cast<std::int64_t>();
    const std::int64_t pb = padding[1].cast<std::int64_t>();
    g.pl = padding[2].cast<std::int64_t>();
    const std::int64_t pr = padding[3].cast<std::int64_t>();
    if (g.sh < 1 || g.sw < 1)
        throw ValueError(message(op, ": strides must be >= 1, got (", g.sh, ", ", g.sw, ")"));
    if (g.dh < 1 || g.dw < 1)
        throw ValueError(message(op, ": dilation must be >= 1, got (", g.dh, ", ", g.dw, ")"));
    if (g.pt < 0 || pb < 0 || g.pl < 0 || pr < 0)
        throw ValueError(message(op, ": padding must be >= 0, got (", g.pt, ", ", pb, ", ", g.pl, ", ", pr, ")"));
    if (w.shape[2] != g.c)
        throw ValueError(message(op, ": argument 'w' expects ", w.shape[2], " input channels (shape ", shape_str(w),
                                 ") but the input has ", g.c));
    if (g.kh < 1 || g.kw < 1)
        throw ValueError(message(op, ": argument 'w' must have a kernel of at least 1x1, got shape ", shape_str(w)));
    const std::int64_t ekh = (g.kh - 1) * g.dh + 1, ekw = (g.kw - 1) * g.dw + 1;
    const std::int64_t hp = g.h + g.pt + pb, wp = g.w + g.pl + pr;
    if (ekh > hp || ekw > wp)
        throw ValueError(message(op, ": the kernel (", g.kh, "x", g.kw, ", dilated to ", ekh, "x", ekw,
                                 ") is larger than the padded input (", hp, "x", wp, ")"));
    g.oh = (hp - ekh) / g.sh + 1;
    g.ow = (wp - ekw) / g.sw + 1;
    return g;
}

void forward_binding(const py::handle& x_obj, const py::handle& w_obj, const py::handle& out_obj,
                     const py::handle& bias_obj, py::tuple strides, py::tuple padding, py::tuple dilation,
                     int activation, std::uintptr_t stream) {
    const char* op = "conv2d";
    const View x = to_view(op, "x", x_obj);
    const View w = to_view(op, "w", w_obj);
    const View y = to_view(op, "out", out_obj);
    check_tensor4(op, "x", x, "(N, H, W, C)");
    check_tensor4(op, "w", w, "(KH, KW, C, O)");
    check_tensor4(op, "out", y, "(N, OH, OW, O)");
    check_same_device(op, "w", w, "x", x);
    check_same_device(op, "out", y, "x", x);
    check_writable(op, "out", y);
    const ConvGeometry g = geometry(op, x.shape, w, strides, padding, dilation);
    check_shape(op, "out", y, g.n, g.oh, g.ow, g.o, "(N, OH, OW, O)");
    check_no_overlap(op, "out", y, "x", x);
    check_no_overlap(op, "out", y, "w", w);
    if (activation != int(Activation::none) && activation != int(Activation::relu))
        throw ValueError(message(op, ": unknown activation code ", activation, " (expected 0 = none or 1 = relu)"));
    const float* bias = nullptr;
    if (!bias_obj.is_none()) {
        const View b = to_view(op, "bias", bias_obj);
        check_dtype(op, "bias", b, DType::float32);
        check_ndim(op, "bias", b, 1);
        check_contiguous(op, "bias", b);
        check_aligned(op, "bias", b);
        check_same_device(op, "bias", b, "x", x);
        if (b.shape[0] != g.o)
            throw ValueError(message(op, ": argument 'bias' must have shape (", g.o, ",) to match the ", g.o,
                                     " output channels, got ", shape_str(b)));
        check_no_overlap(op, "out", y, "bias", b);
        bias = b.ptr<const float>();
    }
    const Activation act = static_cast<Activation>(activation);
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::conv2d_forward(g, x.ptr<const float>(), w.ptr<const float>(), bias, act, y.ptr<float>());
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::conv2d_forward(g, x.ptr<const float>(), w.ptr<const float>(), bias, act, y.ptr<float>(), stream));
}

void backward_data_binding(const py::handle& dy_obj, const py::handle& w_obj, const py::handle& dx_obj,
                           py::tuple strides, py::tuple padding, py::tuple dilation, std::uintptr_t stream) {
    const char* op = "conv2d_backward_data";
    const View dy = to_view(op, "dy", dy_obj);
    const View w = to_view(op, "w", w_obj);
    const View dx = to_view(op, "out", dx_obj);
    check_tensor4(op, "dy", dy, "(N, OH, OW, O)");
    check_tensor4(op, "w", w, "(KH, KW, C, O)");
    check_tensor4(op, "out", dx, "(N, H, W, C)");
    check_same_device(op, "w", w, "dy", dy);
    check_same_device(op, "out", dx, "dy", dy);
    check_writable(op, "out", dx);
    const ConvGeometry g = geometry(op, dx.shape, w, strides, padding, dilation);
    check_shape(op, "dy", dy, g.n, g.oh, g.ow, g.o, "(the convolution's output for 'out' and 'w')");
    check_no_overlap(op, "out", dx, "dy", dy);
    check_no_overlap(op, "out", dx, "w", w);
    if (dy.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::conv2d_backward_data(g, dy.ptr<const float>(), w.ptr<const float>(), dx.ptr<float>());
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::conv2d_backward_data(g, dy.ptr<const float>(), w.ptr<const float>(), dx.ptr<float>(), stream));
}

void backward_filter_binding(const py::handle& x_obj, const py::handle& dy_obj, const py::handle& dw_obj,
                             py::tuple strides, py::tuple padding, py::tuple dilation, std::uintptr_t stream) {
    const char* op = "conv2d_backward_filter";
    const View x = to_view(op, "x", x_obj);
    const View dy = to_view(op, "dy", dy_obj);
    const View dw = to_view(op, "out", dw_obj);
    check_tensor4(op, "x", x, "(N, H, W, C)");
    check_tensor4(op, "dy", dy, "(N, OH, OW, O)");
    check_tensor4(op, "out", dw, "(KH, KW, C, O)");
    check_same_device(op, "dy", dy, "x", x);
    check_same_device(op, "out", dw, "x", x);
    check_writable(op, "out", dw);
    const ConvGeometry g = geometry(op, x.shape, dw, strides, padding, dilation);
    check_shape(op, "dy", dy, g.n, g.oh, g.ow, g.o, "(the convolution's output for 'x' and 'out')");
    check_no_overlap(op, "out", dw, "x", x);
    check_no_overlap(op, "out", dw, "dy", dy);
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::conv2d_backward_filter(g, x.ptr<const float>(), dy.ptr<const float>(), dw.ptr<float>());
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::conv2d_backward_filter(g, x.ptr<const float>(), dy.ptr<const float>(), dw.ptr<float>(), stream));
}

// An optional argument: null for None, else a view checked like `like` (shape and all).
const float* optional_like(const char* op, const char* arg, const py::handle& obj, const View& like,
                           const char* like_arg, const std::int64_t* shape, const char* layout, View* out = nullptr) {
    if (obj.is_none()) return nullptr;
    const View v = to_view(op, arg, obj);
    check_tensor4(op, arg, v, layout);
    check_same_device(op, arg, v, like_arg, like);
    if (shape) check_shape(op, arg, v, shape[0], shape[1], shape[2], shape[3], layout);
    if (out) *out = v;
    return v.ptr<const float>();
}

void backward_binding(const py::handle& x_obj, const py::handle& w_obj, const py::handle& y_obj,
                      const py::handle& dy_obj, const py::handle& dx_obj, const py::handle& dw_obj,
                      const py::handle& db_obj, py::tuple strides, py::tuple padding, py::tuple dilation,
                      std::uintptr_t stream) {
    const char* op = "conv2d_backward";
    const View x = to_view(op, "x", x_obj);
    const View w = to_view(op, "w", w_obj);
    const View dy = to_view(op, "dy", dy_obj);
    const View dw = to_view(op, "dw", dw_obj);
    check_tensor4(op, "x", x, "(N, H, W, C)");
    check_tensor4(op, "w", w, "(KH, KW, C, O)");
    check_tensor4(op, "dy", dy, "(N, OH, OW, O)");
    check_tensor4(op, "dw", dw, "(KH, KW, C, O)");
    for (const auto& [arg, v] : {std::pair<const char*, const View*>{"w", &w}, {"dy", &dy}, {"dw", &dw}})
        check_same_device(op, arg, *v, "x", x);
    const ConvGeometry g = geometry(op, x.shape, w, strides, padding, dilation);
    check_shape(op, "dy", dy, g.n, g.oh, g.ow, g.o, "(the convolution's output for 'x' and 'w')");
    check_shape(op, "dw", dw, g.kh, g.kw, g.c, g.o, "(w's shape)");
    check_writable(op, "dw", dw);
    const std::int64_t y_shape[4] = {g.n, g.oh, g.ow, g.o};
    const float* y = optional_like(op, "y", y_obj, x, "x", y_shape, "(N, OH, OW, O)");
    View dx_view;
    float* dx = const_cast<float*>(optional_like(op, "dx", dx_obj, x, "x", x.shape, "(N, H, W, C)", &dx_view));
    float* db = nullptr;
    View db_view;
    if (!db_obj.is_none()) {
        db_view = to_view(op, "db", db_obj);
        check_dtype(op, "db", db_view, DType::float32);
        check_ndim(op, "db", db_view, 1);
        check_contiguous(op, "db", db_view);
        check_aligned(op, "db", db_view);
        check_same_device(op, "db", db_view, "x", x);
        if (db_view.shape[0] != g.o)
            throw ValueError(message(op, ": argument 'db' must have shape (", g.o, ",), got ", shape_str(db_view)));
        check_writable(op, "db", db_view);
        db = db_view.ptr<float>();
    }
    // Outputs overlap no input and no other output.
    const std::pair<const char*, const View*> inputs[] = {{"x", &x}, {"w", &w}, {"dy", &dy}};
    for (const auto& [arg, v] : inputs) check_no_overlap(op, "dw", dw, arg, *v);
    if (dx) {
        check_writable(op, "dx", dx_view);
        for (const auto& [arg, v] : inputs) check_no_overlap(op, "dx", dx_view, arg, *v);
        check_no_overlap(op, "dx", dx_view, "dw", dw);
        if (y) check_no_overlap(op, "dx", dx_view, "y", to_view(op, "y", y_obj));
    }
    if (db) {
        for (const auto& [arg, v] : inputs) check_no_overlap(op, "db", db_view, arg, *v);
        check_no_overlap(op, "db", db_view, "dw", dw);
        if (dx) check_no_overlap(op, "db", db_view, "dx", dx_view);
    }
    if (y) check_no_overlap(op, "dw", dw, "y", to_view(op, "y", y_obj));
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::conv2d_backward(g, x.ptr<const float>(), w.ptr<const float>(), y, dy.ptr<const float>(), dx,
                             dw.ptr<float>(), db);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::conv2d_backward(g, x.ptr<const float>(), w.ptr<const float>(), y,
                                                      dy.ptr<const float>(), dx, dw.ptr<float>(), db, stream));
}

}  // namespace

void bind_conv(py::module_& m) {
    m.def("conv2d_backward", &backward_binding, py::arg("x"), py::arg("w"), py::arg("y"), py::arg("dy"),
          py::arg("dx"), py::arg("dw"), py::arg("db"), py::arg("strides"), py::arg("padding"), py::arg("dilation"),
          py::arg("stream") = 0,
          "dx (or None), dw, db (or None) of y = act(conv(x, w) + b) from dy (one pass over dy on the CPU, one "
          "call on CUDA); y given (or None) means act = relu, its mask taken from y. stream: cudaStream_t (CUDA "
          "only).");
    m.def("conv2d_forward", &forward_binding, py::arg("x"), py::arg("w"), py::arg("out"), py::arg("bias"),
          py::arg("strides"), py::arg("padding"), py::arg("dilation"), py::arg("activation") = 0,
          py::arg("stream") = 0,
          "out (N, OH, OW, O) = act(conv(x (N, H, W, C), w (KH, KW, C, O)) + bias), float32 NHWC; padding "
          "(top, bottom, left, right); activation 0 = none, 1 = relu. stream: cudaStream_t (CUDA only).");
    m.def("conv2d_backward_data", &backward_data_binding, py::arg("dy"), py::arg("w"), py::arg("out"),
          py::arg("strides"), py::arg("padding"), py::arg("dilation"), py::arg("stream") = 0,
          "out (N, H, W, C) = the input gradient of conv2d from dy (N, OH, OW, O) and w (KH, KW, C, O).");
    m.def("conv2d_backward_filter", &backward_filter_binding, py::arg("x"), py::arg("dy"), py::arg("out"),
          py::arg("strides"), py::arg("padding"), py::arg("dilation"), py::arg("stream") = 0,
          "out (KH, KW, C, O) = the kernel gradient of conv2d from x (N, H, W, C) and dy (N, OH, OW, O).");
}

}  // namespace fastnn::bindings
