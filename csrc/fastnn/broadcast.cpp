#include "fastnn/broadcast.h"

#include <cstdlib>
#include <limits>

#include "fastnn/elementwise.h"

namespace fastnn {

const char* binary_op_name(int code) {
    static const char* const names[kBinaryOps] = {"add", "subtract", "multiply", "divide", "maximum", "minimum"};
    return code >= 0 && code < kBinaryOps ? names[code] : nullptr;
}

bool broadcasts_to(const View& v, int ndim, const std::int64_t* shape) {
    if (v.ndim > ndim) return false;
    const int lead = ndim - v.ndim;
    for (int d = 0; d < v.ndim; ++d)
        if (v.shape[d] != 1 && v.shape[d] != shape[lead + d]) return false;
    return true;
}

Layout make_layout(int ndim, const std::int64_t* shape, const View* const* views, int count) {
    Layout l;
    l.ndim = ndim;
    l.nops = count;
    for (int d = 0; d < ndim; ++d) l.shape[d] = shape[d];
    for (int k = 0; k < count; ++k) {
        const View& v = *views[k];
        const int lead = ndim - v.ndim;
        for (int d = 0; d < ndim; ++d) {
            const int vd = d - lead;
            l.stride[k][d] = (vd < 0 || v.shape[vd] == 1) ? 0 : v.strides[vd];
        }
    }
    return l;
}

namespace {
std::int64_t order_key(std::int64_t s) {
    return s == 0 ? std::numeric_limits<std::int64_t>::max() : (s < 0 ? -s : s);
}

void move_axis(Layout& l, int from, int to) {
    l.shape[to] = l.shape[from];
    for (int k = 0; k < l.nops; ++k) l.stride[k][to] = l.stride[k][from];
}
}  // namespace

void collapse(Layout& l, int sort_by) {
    for (int d = 0; d < l.ndim; ++d) {
        if (l.shape[d] == 0) {
            l.ndim = 1;
            l.shape[0] = 0;
            for (int k = 0; k < l.nops; ++k) l.stride[k][0] = 0;
            return;
        }
    }
    int n = 0;
    for (int d = 0; d < l.ndim; ++d)
        if (l.shape[d] != 1) move_axis(l, d, n++);
    if (sort_by >= 0 && sort_by < l.nops) {
        // Stable insertion sort, largest |stride| of the chosen operand first.
        for (int i = 1; i < n; ++i) {
            Layout t;
            t.nops = l.nops;
            t.shape[0] = l.shape[i];
            for (int k = 0; k < l.nops; ++k) t.stride[k][0] = l.stride[k][i];
            const std::int64_t key = order_key(t.stride[sort_by][0]);
            int j = i;
            for (; j > 0 && order_key(l.stride[sort_by][j - 1]) < key; --j) move_axis(l, j - 1, j);
            l.shape[j] = t.shape[0];
            for (int k = 0; k < l.nops; ++k) l.stride[k][j] = t.stride[k][0];
        }
    }
    int m = 0;
    for (int d = 0; d < n; ++d) {
        bool merge = m > 0;
        for (int k = 0; merge && k < l.nops; ++k) merge = l.stride[k][m - 1] == l.stride[k][d] * l.shape[d];
        if (merge) {
            l.shape[m - 1] *= l.shape[d];
            for (int k = 0; k < l.nops; ++k) l.stride[k][m - 1] = l.stride[k][d];
        } else {
            move_axis(l, d, m++);
        }
    }
    if (m == 0) {  // a single element
        m = 1;
        l.shape[0] = 1;
        for (int k = 0; k < l.nops; ++k) l.stride[k][0] = 0;
    }
    l.ndim = m;
}

ReduceSplit split_reduction(const Layout& l) {
    ReduceSplit s;
    const int inner = l.ndim - 1;
    s.inner = l.shape[inner];
    s.inner_kept = l.stride[0][inner] != 0 || l.shape[inner] == 1;
    for (int d = 0; d < inner; ++d) {
        if (l.stride[0][d] != 0) {
            s.kept[s.n_kept++] = d;
            s.kept_count *= l.shape[d];
        } else {
            s.reduced[s.n_reduced++] = d;
            s.reduced_count *= l.shape[d];
        }
    }
    return s;
}

}  // namespace fastnn
