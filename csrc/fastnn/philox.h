// Philox4x32-10, the counter-based random number generator of Salmon, Moraes,
// Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC'11), as
// specified by their Random123 library: a 128-bit counter (4 x uint32) and a
// 64-bit key (2 x uint32) map to 4 uniformly distributed uint32 in 10 rounds.
//
// One round, with (hi, lo) = the high and low 32 bits of a 32x32-bit product:
//     (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2
//     c = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)
// and the key is bumped by the Weyl constants (W0, W1) before every round but
// the first. Checked against Random123's known-answer vectors in
// tests/test_dropout.py; fastnn.reference.dropout.philox4x32_10 is the NumPy twin.
//
// Usable from C++ and CUDA (__host__ __device__). The functions are static
// (internal linkage): each translation unit -- each ISA's file among them --
// gets its own copy, so the linker can never hand one ISA's code to another
// (see cpu/gemm_kernels.h).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FASTNN_PHILOX_FN static __host__ __device__ __forceinline__
#else
#define FASTNN_PHILOX_FN static inline
#endif

namespace fastnn::philox {

constexpr std::uint32_t kM0 = 0xD2511F53u;
constexpr std::uint32_t kM1 = 0xCD9E8D57u;
constexpr std::uint32_t kW0 = 0x9E3779B9u;  // golden ratio
constexpr std::uint32_t kW1 = 0xBB67AE85u;  // sqrt(3) - 1
constexpr int kRounds = 10;

struct Block {
    std::uint32_t v[4];
};

FASTNN_PHILOX_FN std::uint32_t mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t* hi) {
#if defined(__CUDA_ARCH__)
    *hi = __umulhi(a, b);
    return a * b;
#else
    const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
    *hi = static_cast<std::uint32_t>(p >> 32);
    return static_cast<std::uint32_t>(p);
#endif
}

// Philox4x32-10 of counter `c` under key (k0, k1).
FASTNN_PHILOX_FN Block philox4x32_10(Block c, std::uint32_t k0, std::uint32_t k1) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int r = 0; r < kRounds; ++r) {
        if (r > 0) {
            k0 += kW0;
            k1 += kW1;
        }
        std::uint32_t hi0, hi1;
        const std::uint32_t lo0 = mulhilo(kM0, c.v[0], &hi0);
        const std::uint32_t lo1 = mulhilo(kM1, c.v[2], &hi1);
        const Block n = {{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
        c = n;
    }
    return c;
}

// fastnn's use of it (dropout): block number `index` (a 64-bit counter) under
// a 64-bit key is Philox4x32-10 of the counter (low 32 bits, high 32 bits, 0, 0)
// and the key (low 32 bits, high 32 bits).
FASTNN_PHILOX_FN Block block(std::uint64_t key, std::uint64_t index) {
    const Block c = {{static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), 0u, 0u}};
    return philox4x32_10(c, static_cast<std::uint32_t>(key), static_cast<std::uint32_t>(key >> 32));
}

}  // namespace fastnn::philox

#undef FASTNN_PHILOX_FN
