// The CPU kernels' threads.
//
// parallel_for(n, threads, task) runs task(0..n-1) on the calling thread and
// up to threads-1 persistent workers. Workers claim tasks from an atomic
// counter, so the caller never waits for a worker that has not picked up a
// task: on a busy machine (another process on a core, OpenBLAS's threads
// still spinning) the caller simply does the tasks itself, and waits only for
// tasks already running. OpenMP's fork/join and barriers wait for every team
// member instead, and a descheduled one costs a whole scheduler tick
// (measured here: a 45 us GEMM took 5.5 ms with one core busy; 110 us with
// this pool). If the OS refuses to start a worker, the pool runs with those
// it has.
#pragma once

#include <cstdint>

namespace fastnn {

using TaskFn = void (*)(void* context, std::int64_t task);

void parallel_for_impl(std::int64_t n, int threads, TaskFn fn, void* context);

// task: callable as task(std::int64_t). Returns when every task has run.
// Tasks must not throw.
template <typename Task>
void parallel_for(std::int64_t n, int threads, const Task& task) {
    if (n <= 0) return;
    if (threads <= 1 || n == 1) {
        for (std::int64_t i = 0; i < n; ++i) task(i);
        return;
    }
    parallel_for_impl(
        n, threads, [](void* ctx, std::int64_t i) { (*static_cast<const Task*>(ctx))(i); },
        const_cast<void*>(static_cast<const void*>(&task)));
}

// Threads the machine offers this process (CPU affinity), at least 1.
int available_cpus();

}  // namespace fastnn
