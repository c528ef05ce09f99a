// Lazy CUDA probing, compiled only when fastnn is built with CUDA
// (FASTNN_WITH_CUDA). Nothing here runs at import time.
#pragma once

#include <string>

namespace fastnn::cuda {

// Number of usable devices; 0 when there is no driver or no GPU. Never throws.
// On 0, *why (if given) receives cudaGetErrorString of the failure.
int device_count(std::string* why = nullptr);

// Name of the current device ("" when none).
std::string device_name();

// Number of SMs of the current device, cached per device (launch sizing).
// Throws like check() when the device cannot be queried.
int sm_count(const char* op);

// Compute capability of the current device as major * 10 + minor (90 for Hopper), cached per
// device. Throws like check() when the device cannot be queried.
int compute_capability(const char* op);

// Throws fastnn::RuntimeError("<op>: CUDA error: <cudaGetErrorString>") when
// err != cudaSuccess. err is a cudaError_t passed as int.
void check(int err, const char* op);

}  // namespace fastnn::cuda
