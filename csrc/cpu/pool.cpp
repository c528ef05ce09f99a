// 2-D pooling on the CPU (fastnn/pool.h): the ISA's row loops (pool_kernels.h)
// as tasks over (image, row) -- output rows forward, input rows backward (the
// gather writes each dx row from one task, so rows never race).
#include <algorithm>

#include "fastnn/dispatch.h"
#include "fastnn/pool.h"
#include "fastnn/thread_pool.h"
#include "pool_kernels.h"

namespace fastnn::cpu {

namespace {

const PoolTable& table() {
    switch (active_isa()) {
#ifdef FASTNN_X86
        case Isa::avx512: return pool_table_avx512();
        case Isa::avx2: return pool_table_avx2();
#endif
        default: return pool_table_portable();
    }
}

constexpr std::int64_t kParallelMin = 1 << 14;  // elements touched per thread, at least

int threads_for(std::int64_t work, std::int64_t tasks) {
    const std::int64_t t = std::min<std::int64_t>({std::int64_t(num_threads()), tasks, work / kParallelMin});
    return int(std::max<std::int64_t>(1, t));
}

// x (N, H, W, C) and y (N, OH, OW, C): input-side view first.
PoolRow row_geometry(const View& in, const View& out, const PoolGeometry& g) {
    return PoolRow{in.shape[1], in.shape[2], in.shape[3], out.shape[1], out.shape[2],
                   g.kh,        g.kw,        g.sh,        g.sw,         g.pad_top,    g.pad_left};
}

}  // namespace

void max_pool2d_forward(const View& x, const View& y, const View* indices, const PoolGeometry& geo) {
    const PoolRow g = row_geometry(x, y, geo);
    const std::int64_t N = x.shape[0], in_img = g.H * g.W * g.C, out_img = g.OH * g.OW * g.C;
    if (N * out_img == 0) return;
    const float* px = x.ptr<const float>();
    float* py = y.ptr<float>();
    std::int32_t* pi = indices ? indices->ptr<std::int32_t>() : nullptr;
    const PoolTable& t = table();
    const std::int64_t tasks = N * g.OH;
    parallel_for(tasks, threads_for(N * out_img * g.kh * g.kw, tasks), [&](std::int64_t task) {
        const std::int64_t n = task / g.OH, oh = task % g.OH;
        const std::int64_t off = n * out_img + oh * g.OW * g.C;
        t.max_row(g, px + n * in_img, oh, py + off, pi ? pi + off : nullptr);
    });
}

void avg_pool2d_forward(const View& x, const View& y, const PoolGeometry& geo) {
    const PoolRow g = row_geometry(x, y, geo);
    const std::int64_t N = x.shape[0], in_img = g.H * g.W * g.C, out_img = g.OH * g.OW * g.C;
    if (N * out_img == 0) return;
    const float* px = x.ptr<const float>();
    float* py = y.ptr<float>();
    const PoolTable& t = table();
    const std::int64_t tasks = N * g.OH;
    parallel_for(tasks, threads_for(N * out_img * g.kh * g.kw, tasks), [&](std::int64_t task) {
        const std::int64_t n = task / g.OH, oh = task % g.OH;
        t.avg_row(g, px + n * in_img, oh, py + n * out_img + oh * g.OW * g.C);
    });
}

void max_pool2d_backward(const View& indices, const View& dy, const View& dx, const PoolGeometry& geo) {
    const PoolRow g = row_geometry(dx, dy, geo);
    const std::int64_t N = dx.shape[0], in_img = g.H * g.W * g.C, out_img = g.OH * g.OW * g.C;
    if (N * in_img == 0) return;
    const std::int32_t* pi = indices.ptr<const std::int32_t>();
    const float* pd = dy.ptr<const float>();
    float* px = dx.ptr<float>();
    const PoolTable& t = table();
    const std::int64_t tasks = N * g.H;
    parallel_for(tasks, threads_for(N * in_img + N * out_img * g.kh * g.kw, tasks), [&](std::int64_t task) {
        const std::int64_t n = task / g.H, ih = task % g.H;
        t.max_grad_row(g, pi + n * out_img, pd + n * out_img, ih, px + n * in_img + ih * g.W * g.C);
    });
}

void avg_pool2d_backward(const View& dy, const View& dx, const PoolGeometry& geo) {
    const PoolRow g = row_geometry(dx, dy, geo);
    const std::int64_t N = dx.shape[0], in_img = g.H * g.W * g.C, out_img = g.OH * g.OW * g.C;
    if (N * in_img == 0) return;
    const float* pd = dy.ptr<const float>();
    float* px = dx.ptr<float>();
    const PoolTable& t = table();
    const std::int64_t tasks = N * g.H;
    parallel_for(tasks, threads_for(N * in_img + N * out_img * g.kh * g.kw, tasks), [&](std::int64_t task) {
        const std::int64_t n = task / g.H, ih = task % g.H;
        t.avg_grad_row(g, pd + n * out_img, ih, px + n * in_img + ih * g.W * g.C);
    });
}

}  // namespace fastnn::cpu
