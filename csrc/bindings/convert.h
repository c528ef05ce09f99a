// Array -> view conversion and the argument checks shared by the bindings
// (module.cpp, elementwise.cpp): NumPy arrays through the buffer protocol,
// CuPy arrays through their attributes, anything else exposing
// __cuda_array_interface__ through it (DESIGN.md §3).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "fastnn/view.h"

namespace fastnn::bindings {

// The view of a NumPy array, a CuPy array or any object exposing
// __cuda_array_interface__; TypeError naming `op` and `arg` otherwise.
View to_view(const char* op, const char* arg, const pybind11::handle& obj);

View numpy_view(const char* op, const char* arg, const pybind11::array& arr);
View cupy_view(const char* op, const char* arg, const pybind11::handle& obj);
View cuda_view(const char* op, const char* arg, const pybind11::handle& obj, const pybind11::dict& cai);
// CuPy's own ndarray type (not subclasses), recognised by name once and then by pointer.
bool is_cupy_ndarray(const pybind11::handle& obj);

// x, and an output of the same shape, dtype float32, contiguous, on one device.
void check_elementwise(const char* op, const char* arg, const View& v, const char* ref_arg, const View& ref);
// `out` is writable and is `in` itself or does not overlap it.
void check_output(const char* op, const char* arg, const View& out, const char* in_arg, const View& in);

#ifndef FASTNN_WITH_CUDA
// The RuntimeError of a build without CUDA asked to run on CUDA arrays.
[[noreturn]] void no_cuda(const char* op);
#endif

// The CUDA half of a binding: the statement `call` when fastnn is built with CUDA; otherwise
// no_cuda(op) (and `stream` counted as used), with `call` not compiled at all.
#ifdef FASTNN_WITH_CUDA
#define FASTNN_CUDA_ONLY(op, stream, call) call
#else
#define FASTNN_CUDA_ONLY(op, stream, call) (static_cast<void>(stream), ::fastnn::bindings::no_cuda(op))
#endif

}  // namespace fastnn::bindings
