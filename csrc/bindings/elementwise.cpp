// Bindings of the element-wise family: broadcasting binary ops and their
// backward, the sum reduction, dropout (fastnn/elementwise.h,
// fastnn/dropout.h). Every argument is checked here, before a kernel touches
// memory; messages name the op and the argument.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <limits>

#include "convert.h"
#include "fastnn/broadcast.h"
#include "fastnn/dropout.h"
#include "fastnn/elementwise.h"
#include "fastnn/errors.h"
#include "fastnn/philox.h"
#include "fastnn/view.h"

namespace py = pybind11;

namespace fastnn::bindings {

namespace {

const char* backward_name(BinaryOp op) {
    static const char* const names[kBinaryOps] = {"add_backward",    "subtract_backward", "multiply_backward",
                                                  "divide_backward", "maximum_backward",  "minimum_backward"};
    return names[int(op)];
}

BinaryOp binary_op(int code, bool backward) {
    if (!binary_op_name(code))
        throw ValueError(message(backward ? "binary_backward" : "binary", ": unknown op code ", code,
                                 " (expected 0..", kBinaryOps - 1,
                                 ": add, subtract, multiply, divide, maximum, minimum)"));
    return static_cast<BinaryOp>(code);
}

// A float32 input read through its strides (any: broadcast, transposed, sliced).
void check_input(const char* op, const char* arg, const View& v, const char* ref_arg, const View& ref) {
    check_dtype(op, arg, v, DType::float32);
    if (!v.strides_whole)
        throw ValueError(message(op, ": argument '", arg, "' has strides ", strides_str(v),
                                 " bytes that are not multiples of its 4-byte items (pass a copy, e.g. x.copy())"));
    check_aligned(op, arg, v);
    check_same_device(op, arg, v, ref_arg, ref);
}

// The output: float32, C-contiguous, writable, on the device of `ref`.
void check_out(const char* op, const View& out, const char* ref_arg, const View& ref) {
    check_dtype(op, "out", out, DType::float32);
    check_contiguous(op, "out", out);
    check_aligned(op, "out", out);
    check_same_device(op, "out", out, ref_arg, ref);
    check_writable(op, "out", out);
}

bool same_layout(const View& a, const View& b) {
    if (a.data != b.data || a.ndim != b.ndim) return false;
    for (int d = 0; d < a.ndim; ++d)
        if (a.shape[d] != b.shape[d] || (a.shape[d] > 1 && a.strides[d] != b.strides[d])) return false;
    return true;
}

// `out` may be `in` itself when `in_place_ok` (every element is then read
// and written at the same position by one thread); otherwise the two may not
// share memory.
void check_alias(const char* op, const View& out, const char* in_arg, const View& in, bool in_place_ok) {
    if (in_place_ok && same_layout(out, in)) return;
    check_no_overlap(op, "out", out, in_arg, in);
}

void check_broadcast(const char* op, const char* arg, const View& v, const char* target_arg, const View& target) {
    if (!broadcasts_to(v, target.ndim, target.shape))
        throw ValueError(message(op, ": argument '", arg, "' of shape ", shape_str(v),
                                 " does not broadcast to the shape ", shape_str(target), " of '", target_arg, "'"));
}

void binary_binding(int code, const py::handle& a_obj, const py::handle& b_obj, const py::handle& out_obj,
                    std::uintptr_t stream) {
    const BinaryOp op = binary_op(code, false);
    const char* name = binary_op_name(code);
    const View a = to_view(name, "a", a_obj);
    const View b = to_view(name, "b", b_obj);
    const View out = to_view(name, "out", out_obj);
    check_input(name, "a", a, "a", a);
    check_input(name, "b", b, "a", a);
    check_out(name, out, "a", a);
    check_broadcast(name, "a", a, "out", out);
    check_broadcast(name, "b", b, "out", out);
    check_alias(name, out, "a", a, true);
    check_alias(name, out, "b", b, true);
    if (a.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::binary(op, a, b, out);
        return;
    }
    FASTNN_CUDA_ONLY(name, stream, cuda::binary(op, a, b, out, stream));
}

void binary_backward_binding(int code, int side, const py::handle& g_obj, const py::handle& a_obj,
                             const py::handle& b_obj, const py::handle& out_obj, std::uintptr_t stream) {
    const BinaryOp op = binary_op(code, true);
    const char* name = backward_name(op);
    if (side != 0 && side != 1)
        throw ValueError(message(name, ": side must be 0 (the gradient of a) or 1 (of b), got ", side));
    const View g = to_view(name, "grad", g_obj);
    const View a = to_view(name, "a", a_obj);
    const View b = to_view(name, "b", b_obj);
    const View out = to_view(name, "out", out_obj);
    check_input(name, "grad", g, "grad", g);
    check_input(name, "a", a, "grad", g);
    check_input(name, "b", b, "grad", g);
    check_out(name, out, "grad", g);
    check_broadcast(name, "a", a, "grad", g);
    check_broadcast(name, "b", b, "grad", g);
    const View& operand = side == 0 ? a : b;
    const char* operand_arg = side == 0 ? "a" : "b";
    bool same_shape = out.ndim == operand.ndim;
    for (int d = 0; same_shape && d < out.ndim; ++d) same_shape = out.shape[d] == operand.shape[d];
    if (!same_shape)
        throw ValueError(message(name, ": argument 'out' must have the shape of '", operand_arg, "' ",
                                 shape_str(operand), ", got ", shape_str(out)));
    // In place only where nothing is summed (out has grad's full size): then
    // each output element depends on the inputs at its own position only.
    const bool elementwise = out.numel() == g.numel();
    check_alias(name, out, "grad", g, elementwise);
    check_alias(name, out, "a", a, elementwise);
    check_alias(name, out, "b", b, elementwise);
    if (g.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::binary_backward(op, side, g, a, b, out);
        return;
    }
    FASTNN_CUDA_ONLY(name, stream, cuda::binary_backward(op, side, g, a, b, out, stream));
}

void reduce_sum_binding(const py::handle& x_obj, const py::handle& out_obj, std::uintptr_t stream) {
    const char* name = "reduce_sum";
    const View x = to_view(name, "x", x_obj);
    const View out = to_view(name, "out", out_obj);
    check_input(name, "x", x, "x", x);
    check_out(name, out, "x", x);
    if (!broadcasts_to(out, x.ndim, x.shape))
        throw ValueError(message(name, ": argument 'out' of shape ", shape_str(out),
                                 " does not broadcast to the shape ", shape_str(x),
                                 " of 'x' (expected x's shape with the summed axes set to 1)"));
    check_alias(name, out, "x", x, out.numel() == x.numel());
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::reduce_sum(x, out);
        return;
    }
    FASTNN_CUDA_ONLY(name, stream, cuda::reduce_sum(x, out, stream));
}

// dropout (x -> out) or dropout_backward (grad -> out): the same kernel.
void dropout_binding(bool backward, const py::handle& x_obj, const py::handle& out_obj, double rate,
                     std::uint64_t key, std::uint64_t offset, std::uintptr_t stream) {
    const char* name = backward ? "dropout_backward" : "dropout";
    const char* arg = backward ? "grad" : "x";
    const View x = to_view(name, arg, x_obj);
    const View out = to_view(name, "out", out_obj);
    check_elementwise(name, arg, x, arg, x);
    check_elementwise(name, "out", out, arg, x);
    check_output(name, "out", out, arg, x);
    if (!(rate >= 0.0 && rate < 1.0))
        throw ValueError(message(name, ": rate must be in [0, 1) (the fraction of elements dropped), got ", rate));
    const std::int64_t n = x.numel();
    const std::uint64_t blocks = (static_cast<std::uint64_t>(n) + 3) / 4;
    if (blocks > std::numeric_limits<std::uint64_t>::max() - offset)
        throw ValueError(message(name, ": offset ", offset, " leaves fewer than the ", blocks,
                                 " Philox blocks this call needs before the 64-bit counter wraps"));
    DropoutArgs args;
    args.key = key;
    args.offset = offset;
    args.threshold = static_cast<std::uint32_t>(rate * 4294967296.0);  // floor(rate 2^32) < 2^32, exact
    args.scale = static_cast<float>(1.0 / (1.0 - rate));
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::dropout(args, x.ptr<const float>(), out.ptr<float>(), n);
        return;
    }
    FASTNN_CUDA_ONLY(name, stream, cuda::dropout(args, x.ptr<const float>(), out.ptr<float>(), n, stream));
}

}  // namespace

void bind_elementwise(py::module_& m) {
    m.def("binary", &binary_binding, py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"), py::arg("stream") = 0,
          "out = a OP b with NumPy broadcasting (a and b broadcast to out's shape), float32. op: 0 add, "
          "1 subtract, 2 multiply, 3 divide, 4 maximum, 5 minimum. out may be a or b (same shape); stream: "
          "cudaStream_t as an integer (CUDA only).");
    m.def("binary_backward", &binary_backward_binding, py::arg("op"), py::arg("side"), py::arg("grad"), py::arg("a"),
          py::arg("b"), py::arg("out"), py::arg("stream") = 0,
          "out = the sum over broadcast axes of grad * d(a OP b)/d(side), shaped like a (side 0) or b (side 1); "
          "a and b broadcast to grad's shape. Ties of maximum/minimum split the gradient in halves (PyTorch).");
    m.def("reduce_sum", &reduce_sum_binding, py::arg("x"), py::arg("out"), py::arg("stream") = 0,
          "out = x summed over the axes where out has length 1 (or is missing on the left), accumulated in double.");
    m.def(
        "dropout_forward",
        [](const py::handle& x, const py::handle& out, double rate, std::uint64_t key, std::uint64_t offset,
           std::uintptr_t stream) { dropout_binding(false, x, out, rate, key, offset, stream); },
        py::arg("x"), py::arg("out"), py::arg("rate"), py::arg("key"), py::arg("offset"), py::arg("stream") = 0,
        "out = x / (1 - rate) where kept, 0 where dropped; element i is dropped iff word i % 4 of Philox4x32-10 "
        "block offset + i / 4 (under key) is below floor(rate * 2^32). out may be x.");
    m.def(
        "dropout_backward",
        [](const py::handle& grad, const py::handle& out, double rate, std::uint64_t key, std::uint64_t offset,
           std::uintptr_t stream) { dropout_binding(true, grad, out, rate, key, offset, stream); },
        py::arg("grad"), py::arg("out"), py::arg("rate"), py::arg("key"), py::arg("offset"), py::arg("stream") = 0,
        "The input gradient of dropout_forward with the same rate, key and offset (the mask is recomputed).");
    m.def(
        "philox4x32_10",
        [](const std::array<std::uint32_t, 4>& counter, const std::array<std::uint32_t, 2>& key) {
            const philox::Block c = {{counter[0], counter[1], counter[2], counter[3]}};
            const philox::Block r = philox::philox4x32_10(c, key[0], key[1]);
            return std::array<std::uint32_t, 4>{r.v[0], r.v[1], r.v[2], r.v[3]};
        },
        py::arg("counter"), py::arg("key"),
        "Philox4x32-10 of a 4-word counter under a 2-word key (the generator behind dropout; for tests).");
}

}  // namespace fastnn::bindings
