// Lazy CUDA probing (see fastnn/cuda_runtime.h). The runtime is linked
// statically, so nothing here needs libcudart at import time; a missing driver
// shows up as an error code (cudaErrorInsufficientDriver / cudaErrorNoDevice)
// the first time one of these functions is called.

#include <cuda_runtime.h>

#include <atomic>
#include <string>

#include "fastnn/cuda_runtime.h"
#include "fastnn/errors.h"

namespace fastnn::cuda {

int device_count(std::string* why) {
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n <= 0) {
        // cudaGetDeviceCount's errors are not sticky, but clear the last-error
        // slot so a later cudaGetLastError() does not report this probe.
        (void)cudaGetLastError();
        if (why != nullptr) {
            try {
                *why = cudaGetErrorString(err != cudaSuccess ? err : cudaErrorNoDevice);
            } catch (...) {
                // never throws (allocation failure while filling *why)
            }
        }
        return 0;
    }
    return n;
}

std::string device_name() {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return "";
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return "";
    }
    return std::string(prop.name);
}

namespace {

constexpr int kMaxDevices = 64;

// An attribute of the current device, read once per device (0 = not yet queried) and at least 1.
template <typename Read>
int cached_attribute(std::atomic<int> (&cache)[kMaxDevices], const char* op, const Read& read) {
    int dev = 0;
    check(cudaGetDevice(&dev), op);
    const bool cached = dev >= 0 && dev < kMaxDevices;
    if (cached) {
        const int value = cache[dev].load(std::memory_order_relaxed);
        if (value > 0) return value;
    }
    int value = read(dev);
    if (value <= 0) value = 1;
    if (cached) cache[dev].store(value, std::memory_order_relaxed);
    return value;
}

}  // namespace

int sm_count(const char* op) {
    static std::atomic<int> cache[kMaxDevices] = {};
    return cached_attribute(cache, op, [op](int dev) {
        int sms = 0;
        check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), op);
        return sms;
    });
}

int compute_capability(const char* op) {
    static std::atomic<int> cache[kMaxDevices] = {};
    return cached_attribute(cache, op, [op](int dev) {
        int major = 0, minor = 0;
        check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev), op);
        check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev), op);
        return major * 10 + minor;
    });
}

void check(int err, const char* op) {
    if (err == static_cast<int>(cudaSuccess)) return;
    throw RuntimeError(message(op != nullptr ? op : "cuda", ": CUDA error: ",
                               cudaGetErrorString(static_cast<cudaError_t>(err))));
}

}  // namespace fastnn::cuda
