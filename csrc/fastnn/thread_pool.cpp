#include "fastnn/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTNN_CPU_RELAX() _mm_pause()
#else
#define FASTNN_CPU_RELAX() std::this_thread::yield()
#endif

namespace fastnn {

int available_cpus() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
    return std::max(1u, std::thread::hardware_concurrency());
}

namespace {

struct Job {
    TaskFn fn;
    void* context;
    std::int64_t n;
    std::atomic<std::int64_t> next{0};
    std::atomic<std::int64_t> done{0};
};

// Workers live for the whole process (never joined: joining in a static
// destructor at interpreter exit can hang). After fork() the child has none,
// which parallel_for handles: the caller runs every task.
class Pool {
public:
    void run(std::int64_t n, int threads, TaskFn fn, void* context) {
        // One job at a time; a concurrent caller (another Python thread) runs inline.
        if (busy_.exchange(true, std::memory_order_acquire)) {
            for (std::int64_t i = 0; i < n; ++i) fn(context, i);
            return;
        }
        ensure_workers(threads - 1);  // never throws: runs with the workers it has
        Job job{fn, context, n};
        {
            std::lock_guard<std::mutex> lock(mutex_);
            wanted_.store(threads - 1);
            job_.store(&job, std::memory_order_seq_cst);
            generation_.fetch_add(1);
        }
        wake_.notify_all();

        work(job);
        // Wait only for tasks already claimed: their workers are running.
        while (job.done.load(std::memory_order_acquire) < n) FASTNN_CPU_RELAX();
        // Retire the job; a worker that saw it must leave before it goes out of scope.
        job_.store(nullptr, std::memory_order_seq_cst);
        while (active_.load(std::memory_order_seq_cst) > 0) FASTNN_CPU_RELAX();
        busy_.store(false, std::memory_order_release);
    }

    // Called in the child after fork(): no workers exist there.
    void reset_after_fork() {
        new (&mutex_) std::mutex();
        new (&wake_) std::condition_variable();
        workers_started_ = 0;
        start_failed_ = false;
        active_.store(0);
        job_.store(nullptr);
        busy_.store(false);
        wanted_.store(0);
    }

private:
    static void work(Job& job) {
        for (std::int64_t i; (i = job.next.fetch_add(1, std::memory_order_relaxed)) < job.n;) {
            job.fn(job.context, i);
            job.done.fetch_add(1, std::memory_order_release);
        }
    }

    void ensure_workers(int count) {
        while (workers_started_ < count && !start_failed_) {
            try {
                const int index = workers_started_;
                std::thread([this, index] { worker_loop(index); }).detach();
                ++workers_started_;
            } catch (const std::system_error&) {
                start_failed_ = true;  // e.g. a process limit: carry on with the workers there are
            }
        }
    }

    void worker_loop(int index) {
        std::uint64_t seen = 0;
        for (;;) {
            // Spin briefly (kernels often come back to back), then sleep.
            std::uint64_t now_gen;
            const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
            while ((now_gen = generation_.load(std::memory_order_seq_cst)) == seen &&
                   std::chrono::steady_clock::now() < spin_until)
                for (int i = 0; i < 4; ++i) FASTNN_CPU_RELAX();
            if (now_gen == seen) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return generation_.load() != seen; });
                now_gen = generation_.load();
            }
            seen = now_gen;
            if (index >= wanted_.load(std::memory_order_seq_cst)) continue;  // this job wants fewer threads
            active_.fetch_add(1, std::memory_order_seq_cst);
            Job* job = job_.load(std::memory_order_seq_cst);
            if (job) work(*job);
            active_.fetch_sub(1, std::memory_order_seq_cst);
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    // Changed under mutex_ (so a worker going to sleep cannot miss it), read
    // without it while spinning.
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<int> wanted_{0};
    int workers_started_ = 0;       // only touched by the (busy_-serialised) caller
    bool start_failed_ = false;     // likewise
    std::atomic<Job*> job_{nullptr};
    std::atomic<int> active_{0};
    std::atomic<bool> busy_{false};
};

std::atomic<Pool*> g_pool{nullptr};

Pool& pool() {
    static Pool* p = [] {
        Pool* created = new Pool();  // never deleted: see Pool
        g_pool.store(created);
#if defined(__unix__) || defined(__APPLE__)
        // The handler must not call pool(): a fork during this initialiser
        // would leave the child waiting on its guard.
        pthread_atfork(nullptr, nullptr, [] {
            if (Pool* q = g_pool.load()) q->reset_after_fork();
        });
#endif
        return created;
    }();
    return *p;
}

}  // namespace

void parallel_for_impl(std::int64_t n, int threads, TaskFn fn, void* context) { pool().run(n, threads, fn, context); }

}  // namespace fastnn
