// Array -> view conversion and shared argument checks (see convert.h). Moved
// unchanged from module.cpp.
#include "convert.h"

#include <pybind11/numpy.h>

#include <string>
#include <string_view>

#include "fastnn/errors.h"

namespace py = pybind11;

namespace fastnn::bindings {

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

}  // namespace

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

#ifndef FASTNN_WITH_CUDA
[[noreturn]] void no_cuda(const char* op) {
    throw RuntimeError(message(op, ": the arguments are CUDA arrays but fastnn was built without CUDA "
                                   "(reinstall with nvcc on PATH, or FASTNN_CUDA=ON to require it)"));
}
#endif

}  // namespace fastnn::bindings
