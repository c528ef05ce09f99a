// Host arrays whose memory comes from the block cache (fastnn/host_cache.h): NumPy arrays like any
// other, owned by a capsule that gives the block back when the array dies.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <vector>

#include "fastnn/errors.h"
#include "fastnn/host_cache.h"

namespace py = pybind11;

namespace fastnn::bindings {

namespace {

py::array host_empty(const std::vector<py::ssize_t>& shape, const py::dtype& dtype) {
    std::size_t count = 1;
    for (const py::ssize_t d : shape) {
        if (d < 0) throw ValueError(message("host_empty: shape sizes must be >= 0, got ", d));
        count *= static_cast<std::size_t>(d);
    }
    const std::size_t bytes = std::max<std::size_t>(count * static_cast<std::size_t>(dtype.itemsize()), 1);
    void* block = HostBlockCache::instance().acquire(bytes);
    py::capsule owner(block, [](void* p) { HostBlockCache::instance().release(p); });
    return py::array(dtype, shape, block, owner);
}

py::dict host_cache_stats() {
    const HostBlockCache::Stats s = HostBlockCache::instance().stats();
    py::dict d;
    d["cached_bytes"] = s.cached_bytes;
    d["cached_blocks"] = s.cached_blocks;
    d["live_bytes"] = s.live_bytes;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["limit_bytes"] = s.limit_bytes;
    return d;
}

}  // namespace

void bind_host_memory(py::module_& m) {
    m.def("host_empty", &host_empty, py::arg("shape"), py::arg("dtype"),
          "An uninitialised C-contiguous array whose memory comes from fastnn's host block cache.");
    m.def("host_cache_stats", &host_cache_stats,
          "The host block cache: cached/live bytes, cached blocks, hits, misses, limit.");
    m.def("host_cache_release", [] { HostBlockCache::instance().release_all(); },
          "Frees every cached (unused) block.");
}

}  // namespace fastnn::bindings
