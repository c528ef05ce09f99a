// Bindings of the weight penalty (fastnn/penalty.h). Every argument is
// checked here, before a kernel touches memory; messages name the op and the
// argument.
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>

#include "convert.h"
#include "fastnn/errors.h"
#include "fastnn/penalty.h"
#include "fastnn/view.h"

namespace py = pybind11;

namespace fastnn::bindings {

namespace {

void check_coefficients(const char* op, double l1, double l2) {
    if (!(std::isfinite(l1) && l1 >= 0.0))
        throw ValueError(message(op, ": l1 must be a finite number >= 0, got ", l1));
    if (!(std::isfinite(l2) && l2 >= 0.0))
        throw ValueError(message(op, ": l2 must be a finite number >= 0, got ", l2));
}

// w: float32, C-contiguous (any shape).
void check_weight(const char* op, const View& w) {
    check_dtype(op, "w", w, DType::float32);
    check_contiguous(op, "w", w);
    check_aligned(op, "w", w);
}

// A 0-d float32 array on w's device.
void check_scalar(const char* op, const char* arg, const View& v, const View& w) {
    check_dtype(op, arg, v, DType::float32);
    check_same_device(op, arg, v, "w", w);
    if (v.ndim != 0)
        throw ValueError(message(op, ": argument '", arg, "' must be a 0-d array (shape ()), got shape ",
                                 shape_str(v)));
    check_aligned(op, arg, v);
}

void forward_binding(const py::handle& w_obj, const py::handle& out_obj, double l1, double l2,
                     std::uintptr_t stream) {
    const char* name = "penalty";
    const View w = to_view(name, "w", w_obj);
    const View out = to_view(name, "out", out_obj);
    check_weight(name, w);
    check_scalar(name, "out", out, w);
    check_writable(name, "out", out);
    check_no_overlap(name, "out", out, "w", w);
    check_coefficients(name, l1, l2);
    if (w.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::penalty_forward(w, out, l1, l2);
        return;
    }
    FASTNN_CUDA_ONLY(name, stream, cuda::penalty_forward(w, out, l1, l2, stream));
}

void backward_binding(const py::handle& w_obj, const py::handle& g_obj, const py::handle& out_obj, double l1,
                      double l2, std::uintptr_t stream) {
    const char* name = "penalty_backward";
    const View w = to_view(name, "w", w_obj);
    const View g = to_view(name, "grad", g_obj);
    const View out = to_view(name, "out", out_obj);
    check_weight(name, w);
    check_scalar(name, "grad", g, w);
    check_elementwise(name, "out", out, "w", w);
    check_output(name, "out", out, "w", w);  // out may be w itself
    check_no_overlap(name, "out", out, "grad", g);
    check_coefficients(name, l1, l2);
    if (w.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::penalty_backward(w, g, out, l1, l2);
        return;
    }
    FASTNN_CUDA_ONLY(name, stream, cuda::penalty_backward(w, g, out, l1, l2, stream));
}

}  // namespace

void bind_penalty(py::module_& m) {
    m.def("penalty_forward", &forward_binding, py::arg("w"), py::arg("out"), py::arg("l1"), py::arg("l2"),
          py::arg("stream") = 0,
          "out (0-d float32) = l1 * sum|w| + l2 * sum w^2, w float32 C-contiguous; accumulated in double in an "
          "order fixed by the size. stream: cudaStream_t as an integer (CUDA only).");
    m.def("penalty_backward", &backward_binding, py::arg("w"), py::arg("grad"), py::arg("out"), py::arg("l1"),
          py::arg("l2"), py::arg("stream") = 0,
          "out = grad * (l1 * sign(w) + 2 * l2 * w), grad a 0-d float32 array on w's device (read there); "
          "sign(0) = 0. out has w's shape and may be w.");
}

}  // namespace fastnn::bindings
