// fastnn._C: array -> view conversion, exception mapping, one def per kernel.
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

#ifdef FASTNN_WITH_CUDA
#include "fastnn/cuda_runtime.h"
#endif

namespace py = pybind11;
using namespace fastnn;

namespace {

DType dtype_from_kind(char kind, std::int64_t size) {
    switch (kind) {
        case 'f': return size == 4 ? DType::float32 : size == 8 ? DType::float64 : size == 2 ? DType::float16 : DType::other;
        case 'i': return size == 1 ? DType::int8 : size == 2 ? DType::int16 : size == 4 ? DType::int32 : size == 8 ? DType::int64 : DType::other;
        case 'u': return size == 1 ? DType::uint8 : DType::other;
        case 'b': return DType::boolean;
        default: return DType::other;
    }
}

void set_strides_from_bytes(View& v, const std::int64_t* byte_strides) {
    for (int i = 0; i < v.ndim; ++i) {
        if (byte_strides[i] % v.itemsize != 0) v.strides_whole = false;
        v.strides[i] = byte_strides[i] / v.itemsize;
    }
}

View numpy_view(const char* op, const char* arg, const py::array& arr) {
    View v;
    v.device = Device::cpu;
    v.ndim = int(arr.ndim());
    if (v.ndim > kMaxDims)
        throw ValueError(message(op, ": argument '", arg, "' has ", v.ndim, " dimensions, at most ", kMaxDims, " are supported"));
    const py::dtype dt = arr.dtype();
    v.itemsize = dt.itemsize();
    v.dtype = dtype_from_kind(dt.kind(), v.itemsize);
    if (v.dtype != DType::other && dt.byteorder() == '>') v.dtype = DType::other;  // non-native byte order
    if (v.dtype == DType::other) v.dtype_str = py::str(dt).cast<std::string>();
    std::int64_t byte_strides[kMaxDims];
    for (int i = 0; i < v.ndim; ++i) {
        v.shape[i] = arr.shape(i);
        byte_strides[i] = arr.strides(i);
    }
    set_strides_from_bytes(v, byte_strides);
    v.readonly = !arr.writeable();
    v.data = const_cast<void*>(arr.data());
    return v;
}

View cuda_view(const char* op, const char* arg, const py::handle& obj, const py::dict& cai) {
    View v;
    v.device = Device::cuda;
    const py::tuple shape = cai["shape"];
    v.ndim = int(shape.size());
    if (v.ndim > kMaxDims)
        throw ValueError(message(op, ": argument '", arg, "' has ", v.ndim, " dimensions, at most ", kMaxDims, " are supported"));
    const std::string typestr = cai["typestr"].cast<std::string>();
    try {
        v.itemsize = typestr.size() > 2 ? std::stoll(typestr.substr(2)) : 0;
    } catch (const std::exception&) {
        v.itemsize = 0;  // reported below
    }
    v.dtype = typestr.size() > 2 && typestr[0] != '>' ? dtype_from_kind(typestr[1], v.itemsize) : DType::other;
    if (v.dtype == DType::other) v.dtype_str = typestr;
    if (v.itemsize <= 0) throw TypeError(message(op, ": argument '", arg, "' has an unusable typestr '", typestr, "'"));
    for (int i = 0; i < v.ndim; ++i) v.shape[i] = shape[i].cast<std::int64_t>();
    std::int64_t byte_strides[kMaxDims];
    if (!cai.contains("strides") || cai["strides"].is_none()) {
        std::int64_t s = v.itemsize;
        for (int i = v.ndim - 1; i >= 0; --i) {
            byte_strides[i] = s;
            s *= v.shape[i];
        }
    } else {
        const py::tuple st = cai["strides"];
        for (int i = 0; i < v.ndim; ++i) byte_strides[i] = st[i].cast<std::int64_t>();
    }
    set_strides_from_bytes(v, byte_strides);
    const py::tuple data = cai["data"];
    v.data = reinterpret_cast<void*>(data[0].cast<std::uintptr_t>());
    v.readonly = data[1].cast<bool>();
    if (py::hasattr(obj, "device")) {
        const py::object dev = obj.attr("device");
        if (py::hasattr(dev, "id")) v.device_id = dev.attr("id").cast<int>();
    }
    return v;
}

// Builds the view of a NumPy array or of anything exposing __cuda_array_interface__.
// CuPy's own ndarray type (not subclasses), recognised by name once and then
// by pointer. Its arrays are read through their attributes: building
// __cuda_array_interface__ (a dict, the current stream) costs microseconds per
// array, which was most of a 10-tensor optimizer step's 110 us on an H200.
bool is_cupy_ndarray(const py::handle& obj) {
    static PyTypeObject* cupy_type = nullptr;  // written under the GIL
    PyTypeObject* type = Py_TYPE(obj.ptr());
    if (type == cupy_type) return true;
    if (cupy_type != nullptr) return false;
    const std::string_view name(type->tp_name);
    if (name.rfind("cupy.", 0) == 0 && name.size() >= 8 && name.substr(name.size() - 8) == ".ndarray") {
        cupy_type = type;
        return true;
    }
    return false;
}

View cupy_view(const char* op, const char* arg, const py::handle& obj) {
    View v;
    v.device = Device::cuda;
    const py::tuple shape = obj.attr("shape");
    v.ndim = int(shape.size());
    if (v.ndim > kMaxDims)
        throw ValueError(message(op, ": argument '", arg, "' has ", v.ndim, " dimensions, at most ", kMaxDims, " are supported"));
    const py::dtype dt = obj.attr("dtype").cast<py::dtype>();
    v.itemsize = dt.itemsize();
    v.dtype = dtype_from_kind(dt.kind(), v.itemsize);
    if (v.dtype != DType::other && dt.byteorder() == '>') v.dtype = DType::other;
    if (v.dtype == DType::other) v.dtype_str = py::str(dt).cast<std::string>();
    const py::tuple strides = obj.attr("strides");
    std::int64_t byte_strides[kMaxDims];
    for (int i = 0; i < v.ndim; ++i) {
        v.shape[i] = shape[i].cast<std::int64_t>();
        byte_strides[i] = strides[i].cast<std::int64_t>();
    }
    set_strides_from_bytes(v, byte_strides);
    const py::object memory = obj.attr("data");  // cupy.cuda.MemoryPointer
    v.data = reinterpret_cast<void*>(memory.attr("ptr").cast<std::uintptr_t>());
    v.device_id = memory.attr("device_id").cast<int>();
    v.readonly = false;  // CuPy has no read-only arrays
    return v;
}

View to_view(const char* op, const char* arg, const py::handle& obj) {
    if (py::isinstance<py::array>(obj)) return numpy_view(op, arg, py::reinterpret_borrow<py::array>(obj));
    if (is_cupy_ndarray(obj)) return cupy_view(op, arg, obj);
    const py::object cai = py::getattr(obj, "__cuda_array_interface__", py::none());
    if (!cai.is_none()) return cuda_view(op, arg, obj, cai.cast<py::dict>());
    throw TypeError(message(op, ": argument '", arg, "' must be a numpy.ndarray or cupy.ndarray, got ",
                            py::str(py::type::of(obj).attr("__name__")).cast<std::string>()));
}

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

#ifndef FASTNN_WITH_CUDA
[[noreturn]] void no_cuda(const char* op) {
    throw RuntimeError(message(op, ": the arguments are CUDA arrays but fastnn was built without CUDA "
                                   "(reinstall with nvcc on PATH, or FASTNN_CUDA=ON to require it)"));
}
#endif

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
#ifdef FASTNN_WITH_CUDA
    cuda::gemm(g, stream);
#else
    (void)stream;
    no_cuda(op);
#endif
}

// x, and an output of the same shape, dtype float32, contiguous, on one device.
// The output may be x itself (in place) but may not partly overlap it.
void check_elementwise(const char* op, const char* arg, const View& v, const char* ref_arg, const View& ref) {
    check_dtype(op, arg, v, DType::float32);
    check_contiguous(op, arg, v);
    check_aligned(op, arg, v);
    check_same_device(op, arg, v, ref_arg, ref);
    bool same_shape = v.ndim == ref.ndim;
    for (int i = 0; same_shape && i < v.ndim; ++i) same_shape = v.shape[i] == ref.shape[i];
    if (!same_shape)
        throw ValueError(message(op, ": argument '", arg, "' must have the shape of '", ref_arg, "' ", shape_str(ref),
                                 ", got ", shape_str(v)));
}

void check_output(const char* op, const char* arg, const View& out, const char* in_arg, const View& in) {
    check_writable(op, arg, out);
    if (out.data != in.data) check_no_overlap(op, arg, out, in_arg, in);
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
#ifdef FASTNN_WITH_CUDA
    cuda::activation_forward(k, alpha, x.ptr<const float>(), y.ptr<float>(), x.numel(), stream);
#else
    (void)stream;
    no_cuda(op);
#endif
}

void activation_backward_binding(const py::handle& x_obj, const py::handle& dy_obj, const py::handle& dx_obj, int kind,
                                 float alpha, std::uintptr_t stream) {
    const char* op = "activation_backward";
    const ActivationKind k = activation_kind(op, kind);
    const View x = to_view(op, "x", x_obj);
    const View dy = to_view(op, "grad", dy_obj);
    const View dx = to_view(op, "out", dx_obj);
    check_elementwise(op, "x", x, "x", x);
    check_elementwise(op, "grad", dy, "x", x);
    check_elementwise(op, "out", dx, "x", x);
    check_output(op, "out", dx, "x", x);
    check_output(op, "out", dx, "grad", dy);
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::activation_backward(k, alpha, x.ptr<const float>(), dy.ptr<const float>(), dx.ptr<float>(), x.numel());
        return;
    }
#ifdef FASTNN_WITH_CUDA
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
#ifdef FASTNN_WITH_CUDA
    cuda::softmax_forward(log, x.ptr<const float>(), y.ptr<float>(), rows, classes, stream);
#else
    (void)stream;
    no_cuda(op);
#endif
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
#ifdef FASTNN_WITH_CUDA
    cuda::softmax_backward(log, y.ptr<const float>(), dy.ptr<const float>(), dx.ptr<float>(), rows, classes, stream);
#else
    (void)stream;
    no_cuda(op);
#endif
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
#ifdef FASTNN_WITH_CUDA
    cuda::cross_entropy(a, stream);
#else
    (void)stream;
    no_cuda(op);
#endif
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
#ifdef FASTNN_WITH_CUDA
    cuda::optimizer_step(kind, h, slots.data(), int(slots.size()), stream);
#else
    (void)stream;
    no_cuda(op);
#endif
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

// ---- loss family (issue 3): Keras losses over the last axis -------------------
// Kept in one block (with the m.def lines at the end of the module body) so
// that it moves as a unit when the array -> view helpers leave this file.
#include "fastnn/loss.h"

namespace {

const char* dtype_name(const View& v) {
    if (!v.dtype_str.empty()) return v.dtype_str.c_str();
    switch (v.dtype) {
        case DType::float32: return "float32";
        case DType::float64: return "float64";
        case DType::float16: return "float16";
        case DType::int8: return "int8";
        case DType::int16: return "int16";
        case DType::int32: return "int32";
        case DType::int64: return "int64";
        case DType::uint8: return "uint8";
        case DType::boolean: return "bool";
        default: return "an unsupported dtype";
    }
}

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
    LossStatus status;
    if (p.device == Device::cpu) {
        py::gil_scoped_release release;
        status = cpu::loss_forward(a);
    } else {
#ifdef FASTNN_WITH_CUDA
        status = cuda::loss_forward(a, scratch, stream);
#else
        (void)scratch;
        (void)stream;
        no_cuda(op);
#endif
    }
    raise_loss_status(op, a, status);
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
    LossStatus status;
    if (p.device == Device::cpu) {
        py::gil_scoped_release release;
        status = cpu::loss_backward(a);
    } else {
#ifdef FASTNN_WITH_CUDA
        status = cuda::loss_backward(a, scratch, stream);
#else
        (void)scratch;
        (void)stream;
        no_cuda(op);
#endif
    }
    raise_loss_status(op, a, status);
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
// ---- end of the loss family block ---------------------------------------------

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
          py::arg("kind"), py::arg("alpha") = 0.0f, py::arg("stream") = 0,
          "out = grad * f'(x) element-wise; out may be grad or x.");

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

    // ---- loss family (issue 3) ----
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
