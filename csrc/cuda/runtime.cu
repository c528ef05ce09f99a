// Lazy CUDA probing (see fastnn/cuda_runtime.h). The runtime is linked
// statically, so nothing here needs libcudart at import time; a missing driver
// shows up as an error code (cudaErrorInsufficientDriver / cudaErrorNoDevice)
// the first time one of these functions is called.

#include <cuda_runtime.h>

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

void check(int err, const char* op) {
    if (err == static_cast<int>(cudaSuccess)) return;
    throw RuntimeError(message(op != nullptr ? op : "cuda", ": CUDA error: ",
                               cudaGetErrorString(static_cast<cudaError_t>(err))));
}

}  // namespace fastnn::cuda
