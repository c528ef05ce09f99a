// The kernel boundary (DESIGN.md §3): a non-owning view of an array that lives
// in NumPy (CPU) or CuPy (CUDA) memory, plus the argument checks every kernel
// runs before it touches memory. Strides are in elements.
#pragma once

#include <cstdint>
#include <string>

#include "fastnn/errors.h"

namespace fastnn {

enum class DType : std::uint8_t { float32, float64, float16, int8, int16, int32, int64, uint8, boolean, other };
enum class Device : std::uint8_t { cpu, cuda };

constexpr int kMaxDims = 8;

struct View {
    void* data = nullptr;
    DType dtype = DType::other;
    std::string dtype_str;  // as the array library spells it ("float32", "<f8", ...)
    Device device = Device::cpu;
    int device_id = 0;
    int ndim = 0;
    std::int64_t shape[kMaxDims] = {};
    std::int64_t strides[kMaxDims] = {};  // elements
    bool strides_whole = true;            // false when a byte stride is not a multiple of the itemsize
    bool readonly = false;
    std::int64_t itemsize = 0;

    std::int64_t numel() const {
        std::int64_t n = 1;
        for (int i = 0; i < ndim; ++i) n *= shape[i];
        return n;
    }
    template <typename T>
    T* ptr() const { return static_cast<T*>(data); }
};

// The array's dtype as NumPy spells it ("float64", "int32", ...).
const char* dtype_name(const View& v);
const char* device_name(Device d);
std::string shape_str(const View& v);
std::string strides_str(const View& v);  // in bytes, as NumPy reports them

// ---- checks: each throws a typed error naming op and argument ---------------
void check_dtype(const char* op, const char* arg, const View& v, DType want);
void check_ndim(const char* op, const char* arg, const View& v, int want);
// Rows may be padded (row stride >= columns) but each row must be contiguous.
// `shown`, when given, is the array as the user passed it (the message
// describes it rather than an internal re-view of it).
void check_rows_contiguous(const char* op, const char* arg, const View& v, const View* shown = nullptr);
// The data pointer must be a multiple of the item size (NumPy can make
// unaligned arrays, e.g. np.frombuffer with an odd offset).
void check_aligned(const char* op, const char* arg, const View& v);
void check_contiguous(const char* op, const char* arg, const View& v);
void check_writable(const char* op, const char* arg, const View& v);
void check_same_device(const char* op, const char* arg, const View& v, const char* ref_arg, const View& ref);
// `out` must not share memory with `in` (results would depend on the order of
// writes). Exact for row-strided 2-D views of one buffer (x[:, :4] and x[:, 4:]
// are disjoint); otherwise any overlap of the spanned byte ranges counts.
void check_no_overlap(const char* op, const char* out_arg, const View& out, const char* in_arg, const View& in);

}  // namespace fastnn
