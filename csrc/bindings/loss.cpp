// Bindings of the loss family (csrc/fastnn/loss.h): Keras losses over the last axis.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "convert.h"
#include "fastnn/errors.h"
#include "fastnn/loss.h"
#include "fastnn/view.h"

#ifdef FASTNN_WITH_CUDA
#include "fastnn/cuda_runtime.h"
#endif

namespace py = pybind11;
using namespace fastnn;
using namespace fastnn::bindings;

namespace {

std::string loss_op(LossKind kind, bool backward) {
    return std::string(loss_name(kind)) + (backward ? "_backward" : "");
}

// a's first `dims` axes equal b's.
bool same_prefix(const View& a, const View& b, int dims) {
    if (a.ndim < dims || b.ndim < dims) return false;
    for (int i = 0; i < dims; ++i)
        if (a.shape[i] != b.shape[i]) return false;
    return true;
}

// a's shape is b's first `b_dims` axes.
bool same_shape(const View& a, const View& b, int b_dims) { return a.ndim == b_dims && same_prefix(a, b, b_dims); }

// "(d0, d1, ...)" of the first `dims` axes of v.
std::string leading_shape_str(const View& v, int dims) {
    View u = v;
    u.ndim = dims;
    return shape_str(u);
}

void check_loss_array(const char* op, const char* arg, const View& v, const View& ref) {
    check_contiguous(op, arg, v);
    check_aligned(op, arg, v);
    check_same_device(op, arg, v, "y_pred", ref);
}

// Fills args from y_true / y_pred after checking them against each other.
void loss_inputs(const char* op, const py::handle& t_obj, const py::handle& p_obj, LossArgs& a, View& t, View& p) {
    p = to_view(op, "y_pred", p_obj);
    check_dtype(op, "y_pred", p, DType::float32);
    if (p.ndim < 1)
        throw ValueError(message(op, ": argument 'y_pred' must have at least 1 dimension (the loss reduces its last "
                                     "axis), got a 0-D array"));
    check_contiguous(op, "y_pred", p);
    check_aligned(op, "y_pred", p);
    a.n = p.shape[p.ndim - 1];
    a.rows = 1;
    for (int i = 0; i + 1 < p.ndim; ++i) a.rows *= p.shape[i];
    a.y_pred = p.ptr<const float>();

    t = to_view(op, "y_true", t_obj);
    check_loss_array(op, "y_true", t, p);
    const int lead = p.ndim - 1;
    if (a.kind == LossKind::sparse_categorical_crossentropy) {
        if (t.dtype != DType::int32 && t.dtype != DType::int64)
            throw TypeError(message(op, ": 'y_true' must hold int32 or int64 class labels, got ", dtype_name(t),
                                    t.dtype == DType::float32 || t.dtype == DType::float64
                                        ? " (convert with .astype(np.int64); for one-hot targets use "
                                          "categorical_crossentropy)"
                                        : ""));
        const bool trailing_one = t.ndim == p.ndim && t.shape[t.ndim - 1] == 1 && same_prefix(t, p, lead);
        if (!same_shape(t, p, lead) && !trailing_one)
            throw ValueError(message(op, ": 'y_true' must hold one label per row of 'y_pred' ", shape_str(p),
                                     ", i.e. have shape ", leading_shape_str(p, lead), " (or with a trailing 1), got ",
                                     shape_str(t),
                                     t.ndim == p.ndim ? " (one-hot targets? use categorical_crossentropy)" : ""));
        if (t.dtype == DType::int32)
            a.labels32 = t.ptr<const std::int32_t>();
        else
            a.labels64 = t.ptr<const std::int64_t>();
        return;
    }
    check_dtype(op, "y_true", t, DType::float32);
    if (!same_shape(t, p, p.ndim)) {
        const bool labels = same_shape(t, p, lead) ||
                            (t.ndim == p.ndim && t.shape[t.ndim - 1] == 1 && same_prefix(t, p, lead));
        throw ValueError(message(op, ": 'y_true' must have the shape of 'y_pred' ", shape_str(p), ", got ",
                                 shape_str(t),
                                 labels ? "; integer class labels need sparse_categorical_crossentropy, or one-hot "
                                          "targets from fastnn.utils.to_categorical(y_true, num_classes)"
                                        : ""));
    }
    a.y_true = t.ptr<const float>();
}

// A (rows)-shaped float32 array: y_pred's shape without its last axis.
void check_row_array(const char* op, const char* arg, const View& v, const View& p) {
    check_dtype(op, arg, v, DType::float32);
    check_loss_array(op, arg, v, p);
    if (!same_shape(v, p, p.ndim - 1))
        throw ValueError(message(op, ": argument '", arg, "' must have shape ", leading_shape_str(p, p.ndim - 1),
                                 " (y_pred's shape without its last axis), got ", shape_str(v)));
}

void check_loss_output(const char* op, const char* arg, const View& out, const View& t, const View& p) {
    check_writable(op, arg, out);
    check_no_overlap(op, arg, out, "y_true", t);
    check_no_overlap(op, arg, out, "y_pred", p);
}

std::uint64_t* loss_scratch(const char* op, const LossArgs& a, const View& p, const py::handle& scratch_obj) {
    const bool sparse = a.kind == LossKind::sparse_categorical_crossentropy;
    if (p.device == Device::cpu || !(a.check_finite || (sparse && a.check_labels))) return nullptr;
    if (scratch_obj.is_none())
        throw ValueError(message(op, ": the CUDA checks (check_finite, label range) need 'scratch', a device int64 "
                                     "array of ", 4, " entries"));
    const View s = to_view(op, "scratch", scratch_obj);
    check_dtype(op, "scratch", s, DType::int64);
    check_loss_array(op, "scratch", s, p);
    check_writable(op, "scratch", s);
    if (s.numel() < 4) throw ValueError(message(op, ": 'scratch' needs at least 4 entries, got ", s.numel()));
    return s.ptr<std::uint64_t>();
}

void raise_loss_status(const char* op, const LossArgs& a, const LossStatus& s) {
    if (s.bad_label_row >= 0)
        throw ValueError(message(op, ": label ", s.bad_label, " in row ", s.bad_label_row, " is outside [0, ", a.n,
                                 ") for y_pred with ", a.n, " classes"));
    if (s.nonfinite_true_row >= 0)
        throw ValueError(message(op, ": argument 'y_true' holds NaN or inf (first in row ", s.nonfinite_true_row,
                                 ") and check_finite is set"));
    if (s.nonfinite_pred_row >= 0)
        throw ValueError(message(op, ": argument 'y_pred' holds NaN or inf (first in row ", s.nonfinite_pred_row,
                                 ") and check_finite is set"));
}

LossKind loss_kind(int code) {
    if (code < 0 || code >= kLossKinds)
        throw ValueError(message("loss: unknown loss code ", code, " (expected 0..", kLossKinds - 1, ")"));
    return static_cast<LossKind>(code);
}

void loss_settings(LossArgs& a, bool from_logits, float label_smoothing, float delta, bool check_finite,
                   bool check_labels) {
    a.from_logits = from_logits;
    a.label_smoothing = label_smoothing;
    a.delta = delta;
    a.check_finite = check_finite;
    a.check_labels = check_labels;
}

// Runs the forward or backward kernel on y_pred's device and raises what it reported.
void run_loss(const char* op, const LossArgs& a, const View& p, std::uint64_t* scratch, std::uintptr_t stream,
              bool backward) {
    LossStatus status;
    if (p.device == Device::cpu) {
        py::gil_scoped_release release;
        status = backward ? cpu::loss_backward(a) : cpu::loss_forward(a);
    } else {
#ifdef FASTNN_WITH_CUDA
        status = backward ? cuda::loss_backward(a, scratch, stream) : cuda::loss_forward(a, scratch, stream);
#else
        (void)scratch;
        (void)stream;
        no_cuda(op);
#endif
    }
    raise_loss_status(op, a, status);
}

void loss_forward_binding(int kind, const py::handle& t_obj, const py::handle& p_obj, const py::handle& out_obj,
                          bool from_logits, float label_smoothing, float delta, bool check_finite, bool check_labels,
                          const py::handle& scratch_obj, std::uintptr_t stream) {
    LossArgs a;
    a.kind = loss_kind(kind);
    const std::string op_name = loss_op(a.kind, false);
    const char* op = op_name.c_str();
    loss_settings(a, from_logits, label_smoothing, delta, check_finite, check_labels);
    View t, p;
    loss_inputs(op, t_obj, p_obj, a, t, p);
    const View out = to_view(op, "out", out_obj);
    check_row_array(op, "out", out, p);
    check_loss_output(op, "out", out, t, p);
    a.loss = out.ptr<float>();
    check_loss_args(op, a, false);
    std::uint64_t* scratch = loss_scratch(op, a, p, scratch_obj);
    run_loss(op, a, p, scratch, stream, false);
}

void loss_backward_binding(int kind, const py::handle& t_obj, const py::handle& p_obj, const py::handle& grad_rows_obj,
                           const py::handle& out_obj, float grad_scale, bool from_logits, float label_smoothing,
                           float delta, bool check_finite, bool check_labels, const py::handle& scratch_obj,
                           std::uintptr_t stream) {
    LossArgs a;
    a.kind = loss_kind(kind);
    const std::string op_name = loss_op(a.kind, true);
    const char* op = op_name.c_str();
    loss_settings(a, from_logits, label_smoothing, delta, check_finite, check_labels);
    View t, p;
    loss_inputs(op, t_obj, p_obj, a, t, p);
    const View out = to_view(op, "out", out_obj);
    check_elementwise(op, "out", out, "y_pred", p);
    check_loss_output(op, "out", out, t, p);
    a.grad = out.ptr<float>();
    a.grad_scale = grad_scale;
    if (!grad_rows_obj.is_none()) {
        const View g = to_view(op, "grad_rows", grad_rows_obj);
        check_row_array(op, "grad_rows", g, p);
        check_no_overlap(op, "out", out, "grad_rows", g);
        a.grad_rows = g.ptr<const float>();
    }
    check_loss_args(op, a, true);
    std::uint64_t* scratch = loss_scratch(op, a, p, scratch_obj);
    run_loss(op, a, p, scratch, stream, true);
}

// Range check of integer labels alone: for the fused softmax cross-entropy on
// the GPU, whose kernel cannot raise (the CPU kernel checks by itself).
void check_labels_binding(const py::handle& labels_obj, std::int64_t classes, const py::handle& scratch_obj,
                          const std::string& op_name, std::uintptr_t stream) {
    const char* op = op_name.c_str();
    const View l = to_view(op, "labels", labels_obj);
    if (l.dtype != DType::int32 && l.dtype != DType::int64)
        throw TypeError(message(op, ": integer class labels must be int32 or int64, got ", dtype_name(l)));
    check_contiguous(op, "labels", l);
    check_aligned(op, "labels", l);
    const std::int32_t* l32 = l.dtype == DType::int32 ? l.ptr<const std::int32_t>() : nullptr;
    const std::int64_t* l64 = l.dtype == DType::int64 ? l.ptr<const std::int64_t>() : nullptr;
    const std::int64_t rows = l.numel();
    LossStatus s;
    if (l.device == Device::cpu) {
        for (std::int64_t r = 0; r < rows && s.bad_label_row < 0; ++r) {
            const std::int64_t v = l32 ? std::int64_t(l32[r]) : l64[r];
            if (v < 0 || v >= classes) {
                s.bad_label_row = r;
                s.bad_label = v;
            }
        }
    } else {
#ifdef FASTNN_WITH_CUDA
        if (scratch_obj.is_none()) throw ValueError(message(op, ": the CUDA label check needs 'scratch'"));
        const View sv = to_view(op, "scratch", scratch_obj);
        check_dtype(op, "scratch", sv, DType::int64);
        check_contiguous(op, "scratch", sv);
        check_same_device(op, "scratch", sv, "labels", l);
        if (sv.numel() < 4) throw ValueError(message(op, ": 'scratch' needs at least 4 entries, got ", sv.numel()));
        s = cuda::check_labels(l32, l64, rows, classes, sv.ptr<std::uint64_t>(), stream);
#else
        (void)scratch_obj;
        (void)stream;
        no_cuda(op);
#endif
    }
    if (s.bad_label_row >= 0)
        throw ValueError(message(op, ": label ", s.bad_label, " in row ", s.bad_label_row, " is outside [0, ", classes,
                                 ") for logits with ", classes, " classes"));
}

}  // namespace

namespace fastnn::bindings {

void bind_loss(py::module_& m) {
    m.def("loss_forward", &loss_forward_binding, py::arg("kind"), py::arg("y_true"), py::arg("y_pred"),
          py::arg("out"), py::arg("from_logits") = false, py::arg("label_smoothing") = 0.0f, py::arg("delta") = 1.0f,
          py::arg("check_finite") = false, py::arg("check_labels") = true, py::arg("scratch") = py::none(),
          py::arg("stream") = 0,
          "Per-row Keras loss over the last axis (kind: 0 mse, 1 mae, 2 huber, 3 log_cosh, 4 binary_crossentropy, "
          "5 categorical_crossentropy, 6 sparse_categorical_crossentropy; see csrc/fastnn/loss.h). out has "
          "y_pred.shape[:-1]. scratch: device int64[4] for the CUDA checks.");
    m.def("loss_backward", &loss_backward_binding, py::arg("kind"), py::arg("y_true"), py::arg("y_pred"),
          py::arg("grad_rows"), py::arg("out"), py::arg("grad_scale") = 1.0f, py::arg("from_logits") = false,
          py::arg("label_smoothing") = 0.0f, py::arg("delta") = 1.0f, py::arg("check_finite") = false,
          py::arg("check_labels") = true, py::arg("scratch") = py::none(), py::arg("stream") = 0,
          "out = grad_scale * grad_rows[row] * d loss[row] / d y_pred (grad_rows None: ones).");
    m.def("check_labels", &check_labels_binding, py::arg("labels"), py::arg("classes"), py::arg("scratch"),
          py::arg("op") = "softmax_cross_entropy", py::arg("stream") = 0,
          "Raises ValueError naming op, row and label when a label is outside [0, classes) (CUDA: synchronises).");
}

}  // namespace fastnn::bindings
