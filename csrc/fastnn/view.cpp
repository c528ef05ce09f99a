#include "fastnn/view.h"

#include <algorithm>

namespace fastnn {

namespace {
const char* dtype_spelling(DType d) {
    switch (d) {
        case DType::float32: return "float32";
        case DType::float64: return "float64";
        case DType::float16: return "float16";
        case DType::int8: return "int8";
        case DType::int16: return "int16";
        case DType::int32: return "int32";
        case DType::int64: return "int64";
        case DType::uint8: return "uint8";
        case DType::boolean: return "bool";
        default: return "unsupported dtype";
    }
}
}  // namespace

const char* dtype_name(const View& v) { return v.dtype_str.empty() ? dtype_spelling(v.dtype) : v.dtype_str.c_str(); }

const char* device_name(Device d) { return d == Device::cpu ? "cpu (numpy)" : "cuda (cupy)"; }

std::string shape_str(const View& v) {
    std::string s = "(";
    for (int i = 0; i < v.ndim; ++i) {
        s += std::to_string(v.shape[i]);
        if (v.ndim == 1 || i + 1 < v.ndim) s += v.ndim == 1 ? "," : ", ";
    }
    return s + ")";
}

std::string strides_str(const View& v) {
    std::string s = "(";
    for (int i = 0; i < v.ndim; ++i) {
        s += std::to_string(v.strides[i] * v.itemsize);
        if (i + 1 < v.ndim) s += ", ";
    }
    return s + ")";
}

void check_dtype(const char* op, const char* arg, const View& v, DType want) {
    if (v.dtype != want)
        throw TypeError(message(op, ": argument '", arg, "' must have dtype ", dtype_spelling(want), ", got ",
                                dtype_name(v),
                                " (convert with .astype(np.", dtype_spelling(want), "))"));
}

void check_ndim(const char* op, const char* arg, const View& v, int want) {
    if (v.ndim != want)
        throw ValueError(message(op, ": argument '", arg, "' must be ", want, "-D, got a ", v.ndim,
                                 "-D array of shape ", shape_str(v)));
}

void check_rows_contiguous(const char* op, const char* arg, const View& v, const View* shown) {
    if (v.numel() == 0) return;  // nothing is read or written
    bool ok = v.strides_whole;
    if (ok && v.ndim == 2) {
        const bool inner_ok = v.shape[1] <= 1 || v.strides[1] == 1;
        const bool outer_ok = v.shape[0] <= 1 || v.strides[0] >= std::max<std::int64_t>(v.shape[1], 1);
        ok = inner_ok && outer_ok;
    } else if (ok && v.ndim == 1) {
        ok = v.shape[0] <= 1 || v.strides[0] == 1;
    }
    if (!ok) {
        const View& u = shown ? *shown : v;
        throw ValueError(message(op, ": argument '", arg, "' must be contiguous along its last axis, got shape ",
                                 shape_str(u), " with strides ", strides_str(u),
                                 " bytes (make a contiguous copy, e.g. np.ascontiguousarray)"));
    }
}

void check_aligned(const char* op, const char* arg, const View& v) {
    if (v.itemsize > 0 && reinterpret_cast<std::uintptr_t>(v.data) % std::uintptr_t(v.itemsize) != 0)
        throw ValueError(message(op, ": argument '", arg, "' is not aligned to its ", v.itemsize,
                                 "-byte items (data at address ", v.data, "); pass an aligned copy, e.g. x.copy()"));
}

void check_contiguous(const char* op, const char* arg, const View& v) {
    if (v.numel() == 0) return;
    bool ok = v.strides_whole;
    std::int64_t expected = 1;
    for (int i = v.ndim - 1; ok && i >= 0; --i) {
        if (v.shape[i] != 1 && v.strides[i] != expected) ok = false;
        expected *= v.shape[i];
    }
    if (!ok)
        throw ValueError(message(op, ": argument '", arg, "' must be C-contiguous, got shape ", shape_str(v),
                                 " with strides ", strides_str(v), " bytes (make a copy with np.ascontiguousarray)"));
}

void check_writable(const char* op, const char* arg, const View& v) {
    if (v.readonly) throw ValueError(message(op, ": argument '", arg, "' is read-only, expected a writable array"));
}

void check_same_device(const char* op, const char* arg, const View& v, const char* ref_arg, const View& ref) {
    if (v.device != ref.device || v.device_id != ref.device_id)
        throw ValueError(message(op, ": argument '", arg, "' is on ", device_name(v.device), " device ", v.device_id,
                                 " but '", ref_arg, "' is on ", device_name(ref.device), " device ", ref.device_id,
                                 "; all arguments must be on the same device (move them with cupy.asarray or cupy.asnumpy)"));
}

namespace {
// [first, last) byte range touched by a view.
void byte_range(const View& v, const char*& lo, const char*& hi) {
    lo = hi = static_cast<const char*>(v.data);
    if (v.numel() == 0) return;
    std::int64_t lo_off = 0, hi_off = 0;
    for (int i = 0; i < v.ndim; ++i) {
        const std::int64_t span = (v.shape[i] - 1) * v.strides[i];
        (span < 0 ? lo_off : hi_off) += span;
    }
    lo += lo_off * v.itemsize;
    hi += (hi_off + 1) * v.itemsize;
}
}  // namespace

// For two 2-D views with the same row stride L (elements) and contiguous rows,
// whose spans intersect: true when their columns can never meet. Element e of
// the buffer sits at column e mod L; `out` covers columns [r, r + w_out) relative
// to `in`'s first column, `in` covers [0, w_in).
bool rows_disjoint(const View& out, const View& in) {
    if (out.ndim != 2 || in.ndim != 2 || out.itemsize != in.itemsize || !out.strides_whole || !in.strides_whole)
        return false;
    const std::int64_t L = out.strides[0];
    if (L <= 0 || in.strides[0] != L || out.strides[1] != 1 || in.strides[1] != 1) return false;
    const std::int64_t byte_gap = static_cast<const char*>(out.data) - static_cast<const char*>(in.data);
    if (byte_gap % out.itemsize != 0) return false;
    const std::int64_t r = ((byte_gap / out.itemsize) % L + L) % L;
    return r >= in.shape[1] && r + out.shape[1] <= L;
}

void check_no_overlap(const char* op, const char* out_arg, const View& out, const char* in_arg, const View& in) {
    if (out.device != in.device) return;
    const char *a0, *a1, *b0, *b1;
    byte_range(out, a0, a1);
    byte_range(in, b0, b1);
    if (a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1 && !rows_disjoint(out, in))
        throw ValueError(message(op, ": argument '", out_arg, "' shares memory with '", in_arg,
                                 "'; the output must not overlap an input (pass a separate array)"));
}

}  // namespace fastnn
