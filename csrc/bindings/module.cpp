// fastnn._C: exception mapping, one def per kernel. The array -> view
// conversion lives in convert.cpp, groups of kernels in their own files
// (elementwise.cpp, loss.cpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>
#include <vector>

#include "fastnn/activation.h"
#include "fastnn/dispatch.h"
#include "fastnn/errors.h"
#include "fastnn/gemm.h"
#include "fastnn/optim.h"
#include "fastnn/softmax.h"
#include "fastnn/thread_pool.h"
#include "fastnn/view.h"
#include "build_config.h"
#include "convert.h"

#ifdef FASTNN_WITH_CUDA
#include "fastnn/cuda_runtime.h"
#endif

namespace py = pybind11;
using namespace fastnn;
using namespace fastnn::bindings;

namespace fastnn::bindings {
void bind_elementwise(py::module_& m);  // elementwise.cpp
void bind_loss(py::module_& m);         // loss.cpp
void bind_penalty(py::module_& m);      // penalty.cpp
void bind_pool(py::module_& m);         // pool.cpp
void bind_batchnorm(py::module_& m);    // batchnorm.cpp
void bind_conv(py::module_& m);         // conv.cpp
void bind_host_memory(py::module_& m);  // host_memory.cpp
}

namespace {

// A float32 matrix with contiguous rows. `shown` is the array as passed when
// `v` is its row-major re-view (see row_major).
void check_matrix(const char* op, const char* arg, const View& v, const View* shown = nullptr) {
    check_dtype(op, arg, v, DType::float32);
    check_ndim(op, arg, v, 2);
    check_rows_contiguous(op, arg, v, shown);
    check_aligned(op, arg, v);
}

// A column-major matrix (x.T of a C-contiguous x) is read in place as the
// transpose of its row-major transpose: flip the view and the flag.
View row_major(const View& v, bool& transposed) {
    View t = v;
    if (v.ndim == 2 && v.strides_whole && v.shape[0] > 1 && v.shape[1] > 1 && v.strides[0] == 1 && v.strides[1] != 1) {
        std::swap(t.shape[0], t.shape[1]);
        std::swap(t.strides[0], t.strides[1]);
        transposed = !transposed;
    }
    return t;
}

std::int64_t leading_dim(const View& v) { return v.shape[0] > 1 ? v.strides[0] : std::max<std::int64_t>(v.shape[1], 1); }

void gemm_binding(const py::handle& a_obj, const py::handle& b_obj, const py::handle& out_obj, bool trans_a,
                  bool trans_b, float alpha, float beta, const py::handle& bias_obj, int activation,
                  std::uintptr_t stream) {
    const char* op = "gemm";
    const bool ta_given = trans_a, tb_given = trans_b;
    const View a_given = to_view(op, "a", a_obj);
    const View b_given = to_view(op, "b", b_obj);
    const View c = to_view(op, "out", out_obj);
    const View a = row_major(a_given, trans_a);
    const View b = row_major(b_given, trans_b);
    check_matrix(op, "a", a, &a_given);
    check_matrix(op, "b", b, &b_given);
    check_matrix(op, "out", c);
    check_same_device(op, "b", b, "a", a);
    check_same_device(op, "out", c, "a", a);
    check_writable(op, "out", c);

    const std::int64_t m = trans_a ? a.shape[1] : a.shape[0];
    const std::int64_t k = trans_a ? a.shape[0] : a.shape[1];
    const std::int64_t kb = trans_b ? b.shape[1] : b.shape[0];
    const std::int64_t n = trans_b ? b.shape[0] : b.shape[1];
    if (kb != k)
        throw ValueError(message(op, ": inner dimensions do not match: op(a) is ", m, "x", k, " (a has shape ",
                                 shape_str(a_given), ta_given ? ", transposed" : "", ") but op(b) is ", kb, "x", n,
                                 " (b has shape ", shape_str(b_given), tb_given ? ", transposed" : "", ")"));
    if (c.shape[0] != m || c.shape[1] != n)
        throw ValueError(message(op, ": argument 'out' must have shape (", m, ", ", n, "), got ", shape_str(c)));
    if (activation != int(Activation::none) && activation != int(Activation::relu))
        throw ValueError(message(op, ": unknown activation code ", activation, " (expected 0 = none or 1 = relu)"));
    check_no_overlap(op, "out", c, "a", a);
    check_no_overlap(op, "out", c, "b", b);

    GemmArgs g;
    g.trans_a = trans_a;
    g.trans_b = trans_b;
    g.m = m;
    g.n = n;
    g.k = k;
    g.alpha = alpha;
    g.beta = beta;
    g.a = a.ptr<const float>();
    g.lda = leading_dim(a);
    g.b = b.ptr<const float>();
    g.ldb = leading_dim(b);
    g.c = c.ptr<float>();
    g.ldc = leading_dim(c);
    g.activation = static_cast<Activation>(activation);
    g.precision = matmul_precision();
    if (!bias_obj.is_none()) {
        const View bias = to_view(op, "bias", bias_obj);
        check_dtype(op, "bias", bias, DType::float32);
        check_ndim(op, "bias", bias, 1);
        check_rows_contiguous(op, "bias", bias);
        check_aligned(op, "bias", bias);
        check_same_device(op, "bias", bias, "a", a);
        if (bias.shape[0] != n)
            throw ValueError(message(op, ": argument 'bias' must have shape (", n, ",) to match the ", n,
                                     " output columns, got ", shape_str(bias)));
        check_no_overlap(op, "out", c, "bias", bias);
        g.bias = bias.ptr<const float>();
    }

    if (a.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::gemm(g);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::gemm(g, stream));
}

ActivationKind activation_kind(const char* op, int kind) {
    if (kind < 0 || kind >= kActivationKinds)
        throw ValueError(message(op, ": unknown activation code ", kind, " (expected 0..", kActivationKinds - 1, ")"));
    return static_cast<ActivationKind>(kind);
}

void activation_forward_binding(const py::handle& x_obj, const py::handle& y_obj, int kind, float alpha,
                                std::uintptr_t stream) {
    const char* op = "activation";
    const ActivationKind k = activation_kind(op, kind);
    const View x = to_view(op, "x", x_obj);
    const View y = to_view(op, "out", y_obj);
    check_elementwise(op, "x", x, "x", x);
    check_elementwise(op, "out", y, "x", x);
    check_output(op, "out", y, "x", x);
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::activation_forward(k, alpha, x.ptr<const float>(), y.ptr<float>(), x.numel());
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::activation_forward(k, alpha, x.ptr<const float>(), y.ptr<float>(), x.numel(), stream));
}

// from_output: `x` holds the activation's output y = f(x) (see fastnn/activation.h).
void activation_backward_binding(const py::handle& x_obj, const py::handle& dy_obj, const py::handle& dx_obj, int kind,
                                 float alpha, std::uintptr_t stream, bool from_output) {
    const char* op = "activation_backward";
    const ActivationKind k = activation_kind(op, kind);
    if (from_output) check_backward_from_output(op, k, alpha);
    const char* xname = from_output ? "y" : "x";
    const View x = to_view(op, xname, x_obj);
    const View dy = to_view(op, "grad", dy_obj);
    const View dx = to_view(op, "out", dx_obj);
    check_elementwise(op, xname, x, xname, x);
    check_elementwise(op, "grad", dy, xname, x);
    check_elementwise(op, "out", dx, xname, x);
    check_output(op, "out", dx, xname, x);
    check_output(op, "out", dx, "grad", dy);
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        if (from_output)
            cpu::activation_backward_from_output(k, alpha, x.ptr<const float>(), dy.ptr<const float>(), dx.ptr<float>(),
                                                 x.numel());
        else
            cpu::activation_backward(k, alpha, x.ptr<const float>(), dy.ptr<const float>(), dx.ptr<float>(), x.numel());
        return;
    }
#ifdef FASTNN_WITH_CUDA
    if (from_output)
        cuda::activation_backward_from_output(k, alpha, x.ptr<const float>(), dy.ptr<const float>(), dx.ptr<float>(),
                                              x.numel(), stream);
    else
        cuda::activation_backward(k, alpha, x.ptr<const float>(), dy.ptr<const float>(), dx.ptr<float>(), x.numel(),
                                  stream);
#else
    (void)stream;
    no_cuda(op);
#endif
}

// Rows x classes of a contiguous array: classes is the last axis.
void rows_and_classes(const View& v, std::int64_t& rows, std::int64_t& classes) {
    classes = v.ndim ? v.shape[v.ndim - 1] : 1;
    rows = classes ? v.numel() / classes : 0;
}

void softmax_forward_binding(const py::handle& x_obj, const py::handle& y_obj, bool log, std::uintptr_t stream) {
    const char* op = log ? "log_softmax" : "softmax";
    const View x = to_view(op, "x", x_obj);
    const View y = to_view(op, "out", y_obj);
    check_elementwise(op, "x", x, "x", x);
    check_elementwise(op, "out", y, "x", x);
    check_output(op, "out", y, "x", x);
    if (x.ndim < 1) throw ValueError(message(op, ": argument 'x' must have at least 1 dimension, got a 0-D array"));
    std::int64_t rows, classes;
    rows_and_classes(x, rows, classes);
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::softmax_forward(log, x.ptr<const float>(), y.ptr<float>(), rows, classes);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::softmax_forward(log, x.ptr<const float>(), y.ptr<float>(), rows, classes, stream));
}

void softmax_backward_binding(const py::handle& y_obj, const py::handle& dy_obj, const py::handle& dx_obj, bool log,
                              std::uintptr_t stream) {
    const char* op = log ? "log_softmax_backward" : "softmax_backward";
    const View y = to_view(op, "y", y_obj);
    const View dy = to_view(op, "grad", dy_obj);
    const View dx = to_view(op, "out", dx_obj);
    check_elementwise(op, "y", y, "y", y);
    check_elementwise(op, "grad", dy, "y", y);
    check_elementwise(op, "out", dx, "y", y);
    // Each row of dx needs the whole row of y and dy first: no in-place here.
    check_writable(op, "out", dx);
    check_no_overlap(op, "out", dx, "y", y);
    check_no_overlap(op, "out", dx, "grad", dy);
    if (y.ndim < 1) throw ValueError(message(op, ": argument 'y' must have at least 1 dimension, got a 0-D array"));
    std::int64_t rows, classes;
    rows_and_classes(y, rows, classes);
    if (y.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::softmax_backward(log, y.ptr<const float>(), dy.ptr<const float>(), dx.ptr<float>(), rows, classes);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::softmax_backward(log, y.ptr<const float>(), dy.ptr<const float>(), dx.ptr<float>(), rows, classes, stream));
}

void cross_entropy_binding(const py::handle& logits_obj, const py::handle& target_obj, const py::handle& loss_obj,
                           const py::handle& grad_obj, float label_smoothing, float grad_scale, std::uintptr_t stream) {
    const char* op = "softmax_cross_entropy";
    const View x = to_view(op, "logits", logits_obj);
    check_dtype(op, "logits", x, DType::float32);
    check_ndim(op, "logits", x, 2);
    check_contiguous(op, "logits", x);
    check_aligned(op, "logits", x);
    const std::int64_t rows = x.shape[0], classes = x.shape[1];
    if (classes < 1) throw ValueError(message(op, ": 'logits' must have at least one class, got shape ", shape_str(x)));
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        throw ValueError(message(op, ": label_smoothing must be in [0, 1], got ", label_smoothing));

    CrossEntropyArgs a;
    a.rows = rows;
    a.classes = classes;
    a.logits = x.ptr<const float>();
    a.label_smoothing = label_smoothing;
    a.grad_scale = grad_scale;

    const View t = to_view(op, "labels", target_obj);
    check_same_device(op, "labels", t, "logits", x);
    check_contiguous(op, "labels", t);
    check_aligned(op, "labels", t);
    if (t.ndim == 1) {
        if (t.dtype != DType::int32 && t.dtype != DType::int64)
            throw TypeError(message(op, ": integer class labels must be int32 or int64, got ",
                                    t.dtype_str.empty() ? "a float array" : t.dtype_str,
                                    "; for probabilities pass a (rows, classes) float32 array"));
        if (t.shape[0] != rows)
            throw ValueError(message(op, ": 'labels' must have one label per row of 'logits' (", rows, "), got shape ",
                                     shape_str(t)));
        if (t.dtype == DType::int32)
            a.labels32 = t.ptr<const std::int32_t>();
        else
            a.labels64 = t.ptr<const std::int64_t>();
    } else if (t.ndim == 2) {
        check_dtype(op, "targets", t, DType::float32);
        if (t.shape[0] != rows || t.shape[1] != classes)
            throw ValueError(message(op, ": 'targets' must have the shape of 'logits' ", shape_str(x), ", got ",
                                     shape_str(t), " (integer class labels are a 1-D int array)"));
        a.targets = t.ptr<const float>();
    } else {
        throw ValueError(message(op, ": 'labels' must be 1-D integer labels or 2-D (rows, classes) probabilities, got ",
                                 "a ", t.ndim, "-D array"));
    }

    const View loss = to_view(op, "loss", loss_obj);
    check_dtype(op, "loss", loss, DType::float32);
    check_contiguous(op, "loss", loss);
    check_aligned(op, "loss", loss);
    check_same_device(op, "loss", loss, "logits", x);
    check_writable(op, "loss", loss);
    if (loss.ndim != 1 || loss.shape[0] != rows)
        throw ValueError(message(op, ": 'loss' must have shape (", rows, ",), got ", shape_str(loss)));
    check_no_overlap(op, "loss", loss, "logits", x);
    check_no_overlap(op, "loss", loss, "labels", t);
    a.loss = loss.ptr<float>();
    if (!grad_obj.is_none()) {
        const View g = to_view(op, "grad", grad_obj);
        check_elementwise(op, "grad", g, "logits", x);
        check_writable(op, "grad", g);
        check_no_overlap(op, "grad", g, "logits", x);
        check_no_overlap(op, "grad", g, "labels", t);
        check_no_overlap(op, "grad", g, "loss", loss);
        a.grad = g.ptr<float>();
    }

    if (x.device == Device::cpu) {
        std::int64_t bad;
        {
            py::gil_scoped_release release;
            bad = cpu::cross_entropy(a);
        }
        if (bad >= 0) {
            const std::int64_t label = a.labels32 ? std::int64_t(a.labels32[bad]) : a.labels64[bad];
            throw ValueError(message(op, ": label ", label, " in row ", bad, " is outside [0, ", classes,
                                     ") for logits with ", classes, " classes"));
        }
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::cross_entropy(a, stream));
}

// One parameter's arrays for a fused optimizer step: every array float32,
// contiguous, of the parameter's shape, on its device; states as the
// optimizer needs them (see fastnn/optim.h).
ParamSlot param_slot(const char* op, std::size_t i, const py::handle& p_obj, const py::handle& g_obj,
                     const py::sequence& states, const bool need[3], Device& device, int& device_id, bool first) {
    const std::string pi = "params[" + std::to_string(i) + "]", gi = "grads[" + std::to_string(i) + "]";
    const View p = to_view(op, pi.c_str(), p_obj);
    check_elementwise(op, pi.c_str(), p, pi.c_str(), p);
    check_writable(op, pi.c_str(), p);
    if (first) {
        device = p.device;
        device_id = p.device_id;
    } else if (p.device != device || p.device_id != device_id) {
        throw ValueError(message(op, ": ", pi, " is on ", device_name(p.device), " device ", p.device_id,
                                 " but params[0] is on ", device_name(device), " device ", device_id,
                                 "; all parameters must be on one device"));
    }
    const View g = to_view(op, gi.c_str(), g_obj);
    check_elementwise(op, gi.c_str(), g, pi.c_str(), p);
    check_no_overlap(op, pi.c_str(), p, gi.c_str(), g);
    ParamSlot slot;
    slot.param = p.ptr<float>();
    slot.grad = g.ptr<const float>();
    slot.n = p.numel();
    float** out[3] = {&slot.s1, &slot.s2, &slot.s3};
    for (int k = 0; k < 3; ++k) {
        const bool given = k < int(py::len(states)) && !states[k].is_none();
        const std::string si = "states[" + std::to_string(i) + "][" + std::to_string(k) + "]";
        if (!given) {
            if (need[k])
                throw ValueError(message(op, ": ", si, " is needed by this optimizer and its settings, got None"));
            continue;
        }
        const View st = to_view(op, si.c_str(), states[k]);
        check_elementwise(op, si.c_str(), st, pi.c_str(), p);
        check_writable(op, si.c_str(), st);
        check_no_overlap(op, si.c_str(), st, pi.c_str(), p);
        check_no_overlap(op, si.c_str(), st, gi.c_str(), g);
        *out[k] = st.ptr<float>();
    }
    return slot;
}

OptimizerHyper optimizer_hyper(const py::dict& d) {
    OptimizerHyper h;
    auto get = [&](const char* key, auto& field) {
        if (d.contains(key)) field = d[key].cast<std::decay_t<decltype(field)>>();
    };
    get("learning_rate", h.learning_rate);
    get("momentum", h.momentum);
    get("nesterov", h.nesterov);
    get("beta_1", h.beta_1);
    get("beta_2", h.beta_2);
    get("epsilon", h.epsilon);
    get("amsgrad", h.amsgrad);
    get("rho", h.rho);
    get("centered", h.centered);
    get("weight_decay", h.weight_decay);
    get("grad_scale", h.grad_scale);
    get("clip_value", h.clip_value);
    get("clip_norm", h.clip_norm);
    get("global_clip_norm", h.global_clip_norm);
    get("iteration", h.iteration);
    return h;
}

std::vector<ParamSlot> param_slots(const char* op, OptimizerKind kind, const OptimizerHyper& h,
                                   const py::sequence& params, const py::sequence& grads, const py::sequence& states,
                                   Device& device) {
    if (py::len(params) != py::len(grads) || py::len(params) != py::len(states))
        throw ValueError(message(op, ": params, grads and states must have one entry per parameter, got ",
                                 py::len(params), ", ", py::len(grads), " and ", py::len(states)));
    bool need[3] = {false, false, false};
    switch (kind) {
        case OptimizerKind::sgd: need[0] = h.momentum > 0.0f; break;
        case OptimizerKind::adam: need[0] = need[1] = true; need[2] = h.amsgrad; break;
        case OptimizerKind::rmsprop: need[0] = true; need[1] = h.momentum > 0.0f; need[2] = h.centered; break;
        case OptimizerKind::adagrad: need[0] = true; break;
    }
    std::vector<ParamSlot> slots;
    int device_id = 0;
    for (std::size_t i = 0; i < py::len(params); ++i)
        slots.push_back(param_slot(op, i, params[i], grads[i], py::reinterpret_borrow<py::sequence>(states[i]), need,
                                   device, device_id, i == 0));
    return slots;
}

OptimizerKind optimizer_kind(const char* op, int kind) {
    if (kind < 0 || kind >= kOptimizerKinds)
        throw ValueError(message(op, ": unknown optimizer code ", kind, " (expected 0..", kOptimizerKinds - 1, ")"));
    return static_cast<OptimizerKind>(kind);
}

void optimizer_step_binding(int kind_code, const py::sequence& params, const py::sequence& grads,
                            const py::sequence& states, const py::dict& hyper, std::uintptr_t stream) {
    const char* op = "optimizer_step";
    const OptimizerKind kind = optimizer_kind(op, kind_code);
    const OptimizerHyper h = optimizer_hyper(hyper);
    if (h.iteration < 1) throw ValueError(message(op, ": iteration must be >= 1, got ", h.iteration));
    Device device = Device::cpu;
    const std::vector<ParamSlot> slots = param_slots(op, kind, h, params, grads, states, device);
    if (slots.empty()) return;
    if (device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::optimizer_step(kind, h, slots.data(), int(slots.size()));
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::optimizer_step(kind, h, slots.data(), int(slots.size()), stream));
}

double grad_sum_squares_binding(const py::sequence& grads, std::uintptr_t stream) {
    const char* op = "grad_sum_squares";
    std::vector<ParamSlot> slots;
    Device device = Device::cpu;
    int device_id = 0;
    for (std::size_t i = 0; i < py::len(grads); ++i) {
        const std::string gi = "grads[" + std::to_string(i) + "]";
        const View g = to_view(op, gi.c_str(), grads[i]);
        check_elementwise(op, gi.c_str(), g, gi.c_str(), g);
        if (i == 0) {
            device = g.device;
            device_id = g.device_id;
        } else if (g.device != device || g.device_id != device_id) {
            throw ValueError(message(op, ": ", gi, " is not on the device of grads[0]"));
        }
        ParamSlot s;
        s.grad = g.ptr<const float>();
        s.n = g.numel();
        slots.push_back(s);
    }
    if (slots.empty()) return 0.0;
    if (device == Device::cpu) {
        py::gil_scoped_release release;
        return cpu::grad_sum_squares(slots.data(), int(slots.size()));
    }
#ifdef FASTNN_WITH_CUDA
    return cuda::grad_sum_squares(slots.data(), int(slots.size()), stream);
#else
    (void)stream;
    no_cuda(op);
#endif
}

py::dict build_info() {
    py::dict d;
    d["version"] = FASTNN_VERSION;
    d["build_type"] = FASTNN_BUILD_TYPE;
    d["compiler"] = FASTNN_CXX_COMPILER;
#ifdef FASTNN_WITH_CUDA
    d["cuda"] = true;
    d["cuda_compiler"] = FASTNN_CUDA_COMPILER;
    d["cuda_architectures"] = FASTNN_CUDA_ARCHS;
#else
    d["cuda"] = false;
#endif
    return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
    m.doc() = "fastnn's compiled kernels (C++ for the CPU, CUDA for the GPU)";

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const fastnn::ValueError& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const fastnn::TypeError& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        } catch (const fastnn::RuntimeError& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
        }
    });

    m.def("gemm", &gemm_binding, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("trans_a") = false,
          py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f, py::arg("bias") = py::none(),
          py::arg("activation") = 0, py::arg("stream") = 0,
          "out = alpha * op(a) @ op(b) + beta * out [+ bias] [relu], float32, on the device of the arguments. "
          "activation: 0 = none, 1 = relu. stream: cudaStream_t as an integer (CUDA only).");

    m.def("activation_forward", &activation_forward_binding, py::arg("x"), py::arg("out"), py::arg("kind"),
          py::arg("alpha") = 0.0f, py::arg("stream") = 0,
          "out = f(x) element-wise for the activation `kind` (see csrc/fastnn/activation.h); out may be x.");
    m.def("activation_backward", &activation_backward_binding, py::arg("x"), py::arg("grad"), py::arg("out"),
          py::arg("kind"), py::arg("alpha") = 0.0f, py::arg("stream") = 0, py::arg("from_output") = false,
          "out = grad * f'(x) element-wise; out may be grad or x. from_output: the first argument is the "
          "output y = f(x) and f' is computed from it (sigmoid, tanh, relu, leaky_relu and elu with alpha >= 0, "
          "selu, exponential, softplus, hard_sigmoid, linear; others raise ValueError).");

    m.def("softmax_forward", &softmax_forward_binding, py::arg("x"), py::arg("out"), py::arg("log") = false,
          py::arg("stream") = 0, "Row-wise (last axis) softmax, or log_softmax when log; out may be x.");
    m.def("softmax_backward", &softmax_backward_binding, py::arg("y"), py::arg("grad"), py::arg("out"),
          py::arg("log") = false, py::arg("stream") = 0,
          "Input gradient of softmax (or log_softmax) from its output y and the output gradient.");
    m.def("cross_entropy", &cross_entropy_binding, py::arg("logits"), py::arg("labels"), py::arg("loss"),
          py::arg("grad") = py::none(), py::arg("label_smoothing") = 0.0f, py::arg("grad_scale") = 1.0f,
          py::arg("stream") = 0,
          "Per-row softmax cross-entropy of logits against int labels (1-D) or probabilities (2-D), and "
          "optionally grad_scale * (softmax - targets) in the same pass.");

    m.def("optimizer_step", &optimizer_step_binding, py::arg("kind"), py::arg("params"), py::arg("grads"),
          py::arg("states"), py::arg("hyper"), py::arg("stream") = 0,
          "One fused update of every parameter (kind: 0 sgd, 1 adam, 2 rmsprop, 3 adagrad); states[i] is "
          "[s1, s2, s3] (None where unused); hyper: dict of OptimizerHyper fields.");
    m.def("grad_sum_squares", &grad_sum_squares_binding, py::arg("grads"), py::arg("stream") = 0,
          "Sum of squares of every gradient, accumulated in double (global-norm clipping).");

    m.def(
        "set_matmul_precision",
        [](int p) {
            if (p < 0 || p > 2)
                throw ValueError(message("set_matmul_precision: unknown precision code ", p,
                                         " (expected 0 = highest, 1 = high, 2 = medium)"));
            set_matmul_precision(static_cast<MatmulPrecision>(p));
        },
        py::arg("code"), "The float32 GEMM precision code: 0 highest (float32), 1 high (TF32), 2 medium (BF16).");
    m.def("get_matmul_precision", [] { return static_cast<int>(matmul_precision()); });
    m.def("set_num_threads", &fastnn::set_num_threads, py::arg("n"));
    m.def("get_num_threads", &fastnn::num_threads);
    m.def("available_cpus", &fastnn::available_cpus, "CPUs this process may run on (its affinity mask).");
    m.def("cpu_isa", [] { return std::string(isa_name(active_isa())); });
    m.def("best_cpu_isa", [] { return std::string(isa_name(best_isa())); });
    m.def("set_cpu_isa", &fastnn::set_isa, py::arg("name"),
          "Force the CPU kernels onto 'avx512', 'avx2' or 'portable' (for testing every path).");
    m.def("build_info", &build_info);

    m.def("cuda_device_count", [] {
#ifdef FASTNN_WITH_CUDA
        std::string why;
        const int n = cuda::device_count(&why);
        return py::make_tuple(n, why);
#else
        return py::make_tuple(0, std::string("fastnn was built without CUDA"));
#endif
    });
    m.def("cuda_device_name", [] {
#ifdef FASTNN_WITH_CUDA
        return cuda::device_name();
#else
        return std::string();
#endif
    });

    bind_elementwise(m);
    bind_penalty(m);
    bind_pool(m);
    bind_batchnorm(m);
    bind_loss(m);
    bind_conv(m);
    bind_host_memory(m);
}
