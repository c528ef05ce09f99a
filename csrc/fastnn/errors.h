// Typed errors thrown by kernels. The bindings map them to Python's
// ValueError / TypeError / RuntimeError (DESIGN.md §3, "Errors").
// Messages name the op, the argument, what was expected and what came.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

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

// Concatenates its arguments with operator<< into one message string.
template <typename... Parts>
std::string message(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    return os.str();
}

}  // namespace fastnn
