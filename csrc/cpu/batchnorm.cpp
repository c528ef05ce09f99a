// Batch normalisation on the CPU (fastnn/batchnorm.h): the ISA's loops
// (batchnorm_kernels.h) over chunks of rows cut by the shape alone, each
// chunk's double column sums kept apart and added in chunk order, so results
// do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "batchnorm_kernels.h"
#include "fastnn/batchnorm.h"
#include "fastnn/dispatch.h"
#include "fastnn/thread_pool.h"
#include "workspace.h"

namespace fastnn::cpu {

namespace {

const BatchNormTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return batchnorm_table_avx512();
        case Isa::avx2: return batchnorm_table_avx2();
#endif
        default: return batchnorm_table_portable();
    }
}

constexpr std::int64_t kChunk = 1 << 14;        // elements per chunk (and task), about
constexpr std::int64_t kParallelMin = 1 << 15;  // elements per thread, at least

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

int threads_for(std::int64_t n, std::int64_t tasks) {
    const std::int64_t t = std::min<std::int64_t>({std::int64_t(num_threads()), tasks, n / kParallelMin});
    return int(std::max<std::int64_t>(1, t));
}

struct Shape {
    std::int64_t M, C, rows_per_chunk, chunks;
};

Shape shape_of(const View& x) {
    const std::int64_t C = x.ndim ? x.shape[x.ndim - 1] : 1;
    const std::int64_t M = C ? x.numel() / C : 0;
    const std::int64_t rpc = std::max<std::int64_t>(1, kChunk / std::max<std::int64_t>(C, 1));
    return Shape{M, C, rpc, ceil_div(M, rpc)};
}

// Column sums (s1, s2) of `sums` over every chunk, in chunk order; part is
// chunks x 2C doubles.
template <typename Sums>
void column_sums(const Shape& s, double* part, double* s1, double* s2, const Sums& sums) {
    parallel_for(s.chunks, threads_for(s.M * s.C, s.chunks), [&](std::int64_t chunk) {
        double* p = part + chunk * 2 * s.C;
        std::memset(p, 0, sizeof(double) * 2 * std::size_t(s.C));
        const std::int64_t r0 = chunk * s.rows_per_chunk;
        sums(r0, std::min(s.rows_per_chunk, s.M - r0), p, p + s.C);
    });
    std::fill(s1, s1 + s.C, 0.0);
    std::fill(s2, s2 + s.C, 0.0);
    for (std::int64_t k = 0; k < s.chunks; ++k) {  // chunk order
        const double* p = part + k * 2 * s.C;
        for (std::int64_t c = 0; c < s.C; ++c) {
            s1[c] += p[c];
            s2[c] += p[s.C + c];
        }
    }
}

// Rows in tasks of rows_per_chunk.
template <typename Fn>
void over_rows(const Shape& s, const Fn& fn) {
    parallel_for(s.chunks, threads_for(s.M * s.C, s.chunks), [&](std::int64_t chunk) {
        const std::int64_t r0 = chunk * s.rows_per_chunk;
        fn(r0, std::min(s.rows_per_chunk, s.M - r0));
    });
}

const float* opt(const View* v) { return v ? v->ptr<const float>() : nullptr; }

}  // namespace

void batchnorm_train_forward(const BatchNormArgs& a) {
    const Shape s = shape_of(*a.x);
    if (s.C == 0) return;
    const BatchNormTable& t = table();
    const float* x = a.x->ptr<const float>();
    const float* gamma = opt(a.gamma);
    const float* beta = opt(a.beta);
    // per column: the sums (2C doubles), then the chunks' partials
    std::vector<double> sums(2 * std::size_t(s.C));
    static thread_local Workspace ws;
    double* part = reinterpret_cast<double*>(ws.floats(std::size_t(4 * s.chunks * s.C)));
    const float* k = x;  // the first row: a shift that keeps the variance from cancelling
    column_sums(s, part, sums.data(), sums.data() + s.C, [&](std::int64_t r0, std::int64_t n, double* p1, double* p2) {
        t.stats(x + r0 * s.C, n, s.C, k, p1, p2);
    });
    float* mean = a.mean->ptr<float>();
    float* invstd = a.invstd->ptr<float>();
    std::vector<float> scale(std::size_t(s.C)), shift(std::size_t(s.C));
    const double m = double(s.M);
    for (std::int64_t c = 0; c < s.C; ++c) {
        const double d = sums[c] / m;
        const double mu = double(k[c]) + d;
        const double var = std::max(sums[s.C + c] / m - d * d, 0.0);
        const double is = 1.0 / std::sqrt(var + a.eps);
        mean[c] = static_cast<float>(mu);
        invstd[c] = static_cast<float>(is);
        scale[c] = static_cast<float>(gamma ? double(gamma[c]) * is : is);
        shift[c] = beta ? beta[c] : 0.0f;
        if (a.running_mean) {
            float* rm = a.running_mean->ptr<float>() + c;
            *rm = static_cast<float>(double(*rm) * a.momentum + mu * (1.0 - a.momentum));
        }
        if (a.running_var) {
            float* rv = a.running_var->ptr<float>() + c;
            *rv = static_cast<float>(double(*rv) * a.momentum + var * (1.0 - a.momentum));
        }
    }
    float* y = a.y->ptr<float>();
    over_rows(s, [&](std::int64_t r0, std::int64_t n) {
        t.normalize(x + r0 * s.C, y + r0 * s.C, n, s.C, mean, scale.data(), shift.data());
    });
}

void batchnorm_infer_forward(const BatchNormArgs& a) {
    const Shape s = shape_of(*a.x);
    if (s.C == 0) return;
    const BatchNormTable& t = table();
    const float* gamma = opt(a.gamma);
    const float* beta = opt(a.beta);
    const float* mean = a.mean->ptr<const float>();
    const float* var = a.var->ptr<const float>();
    std::vector<float> scale(std::size_t(s.C)), shift(std::size_t(s.C));
    for (std::int64_t c = 0; c < s.C; ++c) {
        const double is = 1.0 / std::sqrt(double(var[c]) + a.eps);
        if (a.invstd) a.invstd->ptr<float>()[c] = static_cast<float>(is);
        scale[c] = static_cast<float>(gamma ? double(gamma[c]) * is : is);
        shift[c] = beta ? beta[c] : 0.0f;
    }
    const float* x = a.x->ptr<const float>();
    float* y = a.y->ptr<float>();
    over_rows(s, [&](std::int64_t r0, std::int64_t n) {
        t.normalize(x + r0 * s.C, y + r0 * s.C, n, s.C, mean, scale.data(), shift.data());
    });
}

void batchnorm_backward(const BatchNormGradArgs& a) {
    const Shape s = shape_of(*a.x);
    if (s.C == 0) return;
    const BatchNormTable& t = table();
    const float* x = a.x->ptr<const float>();
    const float* dy = a.dy->ptr<const float>();
    const float* mean = a.mean->ptr<const float>();
    const float* invstd = a.invstd->ptr<const float>();
    const float* gamma = opt(a.gamma);
    std::vector<double> sums(2 * std::size_t(s.C));
    static thread_local Workspace ws;
    double* part = reinterpret_cast<double*>(ws.floats(std::size_t(4 * std::max<std::int64_t>(s.chunks, 1) * s.C)));
    column_sums(s, part, sums.data(), sums.data() + s.C, [&](std::int64_t r0, std::int64_t n, double* p1, double* p2) {
        t.grad_sums(x + r0 * s.C, dy + r0 * s.C, n, s.C, mean, p1, p2);
    });
    std::vector<float> ca(std::size_t(s.C)), cb(std::size_t(s.C)), cd(std::size_t(s.C));
    const double m = double(s.M);
    for (std::int64_t c = 0; c < s.C; ++c) {
        const double is = double(invstd[c]);
        const double dbeta = sums[c], dgamma = sums[s.C + c] * is;
        if (a.dbeta) a.dbeta->ptr<float>()[c] = static_cast<float>(dbeta);
        if (a.dgamma) a.dgamma->ptr<float>()[c] = static_cast<float>(dgamma);
        const double A = (gamma ? double(gamma[c]) : 1.0) * is;
        ca[c] = static_cast<float>(A);
        cb[c] = a.training && m > 0 ? static_cast<float>(-A * dbeta / m) : 0.0f;
        cd[c] = a.training && m > 0 ? static_cast<float>(-A * is * dgamma / m) : 0.0f;
    }
    if (!a.dx) return;
    float* dx = a.dx->ptr<float>();
    over_rows(s, [&](std::int64_t r0, std::int64_t n) {
        t.grad_input(x + r0 * s.C, dy + r0 * s.C, dx + r0 * s.C, n, s.C, mean, ca.data(), cb.data(), cd.data());
    });
}

}  // namespace fastnn::cpu
