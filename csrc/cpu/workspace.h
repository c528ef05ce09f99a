// Grow-only, 64-byte aligned scratch memory kept per thread and reused across
// calls: a fresh large temporary costs page faults (~2 us per 4 KiB page on
// the development machines), which would dominate small GEMMs.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace fastnn::cpu {

class Workspace {
public:
    Workspace() = default;
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    ~Workspace() { std::free(data_); }

    // At least `count` floats, 64-byte aligned; contents are unspecified.
    float* floats(std::size_t count) {
        const std::size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
        if (bytes > capacity_) {
            std::free(data_);
            data_ = std::aligned_alloc(64, bytes);
            if (!data_) {
                capacity_ = 0;
                throw std::bad_alloc();
            }
            capacity_ = bytes;
        }
        return static_cast<float*>(data_);
    }

private:
    void* data_ = nullptr;
    std::size_t capacity_ = 0;
};

}  // namespace fastnn::cpu
