// A cache of large host memory blocks for the arrays the ops return (DESIGN.md §3: the C++ side
// owns no array, but it may lend the memory one lives in).
//
// Why: a fresh multi-megabyte allocation is served by mmap and every first touch of its pages is a
// page fault (~2 us per 4 KiB page on the development machines): a CNN step that makes ~100 MB of
// activations and gradients would spend milliseconds faulting, every step, because glibc gives such
// blocks back to the OS when they are freed. Blocks that go back to this cache instead keep their
// pages, and the next step's arrays of the same sizes reuse them.
//
// Blocks are 64-byte aligned and rounded up to 64 KiB; a request takes the smallest cached block
// that fits and wastes at most a quarter of it. The cache holds at most `limit` bytes of free
// blocks (FASTNN_HOST_CACHE_MB, default 1024); beyond it, freed blocks go straight back to the
// system. `release_all()` empties it (fastnn.empty_host_cache()).
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

namespace fastnn {

class HostBlockCache {
public:
    struct Stats {
        std::size_t cached_bytes = 0;  // free blocks held
        std::size_t cached_blocks = 0;
        std::size_t live_bytes = 0;    // blocks lent out
        std::size_t hits = 0;
        std::size_t misses = 0;
        std::size_t limit_bytes = 0;
    };

    static HostBlockCache& instance();

    // A block of at least `bytes` bytes (throws std::bad_alloc).
    void* acquire(std::size_t bytes);
    // Gives back a block from acquire().
    void release(void* block);
    void release_all();
    Stats stats();

private:
    HostBlockCache();
    std::mutex mutex_;
    std::multimap<std::size_t, void*> free_;           // capacity -> free block
    std::unordered_map<void*, std::size_t> capacity_;  // every block handed out -> its capacity
    Stats stats_;
};

}  // namespace fastnn
