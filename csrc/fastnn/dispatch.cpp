#include "fastnn/dispatch.h"

#include <atomic>
#include <cstdlib>

#include "fastnn/errors.h"
#include "fastnn/thread_pool.h"

namespace fastnn {

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512: return "avx512";
        case Isa::avx2: return "avx2";
        default: return "portable";
    }
}

Isa best_isa() {
    static const Isa best = [] {
#if defined(FASTNN_X86) && (defined(__GNUC__) || defined(__clang__))
        // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
            return Isa::avx512;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
        return Isa::portable;
    }();
    return best;
}

namespace {
Isa parse_isa(const std::string& name) {
    if (name == "avx512") return Isa::avx512;
    if (name == "avx2") return Isa::avx2;
    if (name == "portable") return Isa::portable;
    throw ValueError(message("set_cpu_isa: unknown ISA '", name, "', expected one of 'avx512', 'avx2', 'portable'"));
}

std::atomic<int>& isa_slot() {
    static std::atomic<int> slot{[] {
        const char* env = std::getenv("FASTNN_ISA");
        if (env && *env) {
            try {
                const Isa want = parse_isa(env);
                if (static_cast<int>(want) <= static_cast<int>(best_isa())) return static_cast<int>(want);
            } catch (const ValueError&) {
            }
        }
        return static_cast<int>(best_isa());
    }()};
    return slot;
}
}  // namespace

Isa active_isa() { return static_cast<Isa>(isa_slot().load(std::memory_order_relaxed)); }

void set_isa(const std::string& name) {
    const Isa want = parse_isa(name);
    if (static_cast<int>(want) > static_cast<int>(best_isa()))
        throw ValueError(message("set_cpu_isa: this CPU does not support '", name, "' (best available: ",
                                 isa_name(best_isa()), ")"));
    isa_slot().store(static_cast<int>(want));
}

namespace {
// FASTNN_NUM_THREADS, else OMP_NUM_THREADS (what users of other numeric
// libraries already set), else every CPU this process may run on.
int default_threads() {
    for (const char* name : {"FASTNN_NUM_THREADS", "OMP_NUM_THREADS"}) {
        const char* env = std::getenv(name);
        if (env && *env) {
            const int n = std::atoi(env);
            if (n >= 1) return n;
        }
    }
    return available_cpus();
}

std::atomic<int>& thread_slot() {
    static std::atomic<int> slot{default_threads()};
    return slot;
}
}  // namespace

int num_threads() { return thread_slot().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
    if (n < 1) throw ValueError(message("set_num_threads: n must be >= 1, got ", n));
    thread_slot().store(n);
}

}  // namespace fastnn
