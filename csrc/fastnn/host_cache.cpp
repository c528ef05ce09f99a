#include "fastnn/host_cache.h"

#include <cstdlib>
#include <new>
#include <string>

namespace fastnn {

namespace {

constexpr std::size_t kGranule = std::size_t(64) << 10;  // 64 KiB

std::size_t limit_from_env() {
    const char* text = std::getenv("FASTNN_HOST_CACHE_MB");
    if (text != nullptr && *text != '\0') {
        char* end = nullptr;
        const unsigned long long mb = std::strtoull(text, &end, 10);
        if (end != text && *end == '\0') return static_cast<std::size_t>(mb) << 20;
    }
    return std::size_t(1024) << 20;
}

}  // namespace

HostBlockCache::HostBlockCache() { stats_.limit_bytes = limit_from_env(); }

HostBlockCache& HostBlockCache::instance() {
    static HostBlockCache* cache = new HostBlockCache();  // never destroyed: arrays may outlive exit
    return *cache;
}

void* HostBlockCache::acquire(std::size_t bytes) {
    const std::size_t want = (bytes + kGranule - 1) / kGranule * kGranule;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = free_.lower_bound(want);
        if (it != free_.end() && it->first <= want + want / 4) {
            void* block = it->second;
            stats_.cached_bytes -= it->first;
            stats_.cached_blocks -= 1;
            stats_.live_bytes += it->first;
            stats_.hits += 1;
            free_.erase(it);
            return block;
        }
        stats_.misses += 1;
    }
    void* block = std::aligned_alloc(64, want);
    if (block == nullptr) {
        release_all();  // free what the cache holds and try once more
        block = std::aligned_alloc(64, want);
        if (block == nullptr) throw std::bad_alloc();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    capacity_[block] = want;
    stats_.live_bytes += want;
    return block;
}

void HostBlockCache::release(void* block) {
    if (block == nullptr) return;
    std::unique_lock<std::mutex> lock(mutex_);
    const auto it = capacity_.find(block);
    if (it == capacity_.end()) return;  // not ours: never happens, but never free a stranger's pointer
    const std::size_t size = it->second;
    stats_.live_bytes -= size;
    if (stats_.cached_bytes + size > stats_.limit_bytes) {
        capacity_.erase(it);
        lock.unlock();
        std::free(block);
        return;
    }
    free_.emplace(size, block);
    stats_.cached_bytes += size;
    stats_.cached_blocks += 1;
}

void HostBlockCache::release_all() {
    std::multimap<std::size_t, void*> blocks;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        blocks.swap(free_);
        for (const auto& kv : blocks) capacity_.erase(kv.second);
        stats_.cached_bytes = 0;
        stats_.cached_blocks = 0;
    }
    for (const auto& kv : blocks) std::free(kv.second);
}

HostBlockCache::Stats HostBlockCache::stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

}  // namespace fastnn
