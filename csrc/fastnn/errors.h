// Typed errors thrown by kernels. The bindings map them to Python's
// ValueError / TypeError / RuntimeError (DESIGN.md §3, "Errors").
// Messages name the op, the argument, what was expected and what came.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace fastnn {

struct ValueError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct TypeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct RuntimeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace detail {
// Appends one message part. Numbers are formatted with std::to_string /
// snprintf, never through iostreams: an extension that ends up with its own
// copy of libstdc++ (linked statically by the toolchain, as seen on a CUDA
// image) shares the process with the system's copy, and the two copies'
// locale facets do not mix -- `ostream << int` then printed nothing or
// crashed (GPU session 2026-11-25).
template <typename T>
void append_part(std::string& out, const T& part) {
    using U = std::decay_t<T>;
    if constexpr (std::is_same_v<U, bool>) {
        out += part ? "true" : "false";
    } else if constexpr (std::is_same_v<U, char>) {
        out += part;
    } else if constexpr (std::is_integral_v<U> || std::is_enum_v<U>) {
        if constexpr (std::is_enum_v<U>)
            out += std::to_string(static_cast<long long>(part));
        else
            out += std::to_string(part);
    } else if constexpr (std::is_floating_point_v<U>) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", static_cast<double>(part));
        out += buf;
    } else if constexpr (std::is_pointer_v<U> && !std::is_convertible_v<U, const char*>) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%p", static_cast<const void*>(part));
        out += buf;
    } else {
        out += std::string_view(part);  // const char*, char[N], std::string, std::string_view
    }
}
}  // namespace detail

// Concatenates its arguments into one message string.
template <typename... Parts>
std::string message(const Parts&... parts) {
    std::string out;
    (detail::append_part(out, parts), ...);
    return out;
}

}  // namespace fastnn
