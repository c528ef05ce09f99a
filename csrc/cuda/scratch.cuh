// Stream-ordered scratch memory for a kernel family's temporaries (partial
// sums, per-slot factors): cudaMallocAsync on the stream, plain cudaMalloc on
// devices without memory pools, freed the same way when the owner goes out of
// scope -- so no host synchronisation is needed to use it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "fastnn/cuda_runtime.h"

namespace fastnn::cuda {

class Scratch {
public:
    // `count` doubles; errors are thrown as RuntimeError naming `op`.
    Scratch(std::size_t count, cudaStream_t stream, const char* op) : stream_(stream) {
        void* p = nullptr;
        cudaError_t err = cudaMallocAsync(&p, count * sizeof(double), stream);
        if (err == cudaErrorNotSupported) {
            (void)cudaGetLastError();
            async_ = false;
            err = cudaMalloc(&p, count * sizeof(double));
        }
        check(static_cast<int>(err), op);
        ptr_ = static_cast<double*>(p);
    }
    ~Scratch() {
        // Errors here are ignored: the result (or the exception in flight)
        // already carries the first failure.
        if (ptr_ == nullptr) return;
        if (async_)
            (void)cudaFreeAsync(ptr_, stream_);
        else
            (void)cudaFree(ptr_);
        (void)cudaGetLastError();
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    double* get() const { return ptr_; }

private:
    cudaStream_t stream_;
    double* ptr_ = nullptr;
    bool async_ = true;
};

}  // namespace fastnn::cuda
