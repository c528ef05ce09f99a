// The element-wise loops (see elementwise_kernels.h). Included by
// elementwise_<isa>.cpp inside an anonymous namespace within a namespace
// named for the ISA (after <cstdint>, fastnn/philox.h and
// elementwise_kernels.h), so each ISA compiles its own private copy (no
// std:: templates, no shared inline functions: see gemm_kernels.h).
//
// The loops are plain so the compiler vectorises them with the file's
// flags; selects rather than branches (the build's -fno-trapping-math lets
// GCC vectorise those).

namespace ew {

using fastnn::cpu::BinaryRowFn;
using fastnn::cpu::ElementwiseTable;
using fastnn::cpu::TermRowFn;

// ---- forward ops ------------------------------------------------------------
struct Add {
    static float f(float a, float b) { return a + b; }
};
struct Sub {
    static float f(float a, float b) { return a - b; }
};
struct Mul {
    static float f(float a, float b) { return a * b; }
};
struct Div {
    static float f(float a, float b) { return a / b; }
};
// NaN in either operand gives NaN (np.maximum / np.minimum).
struct Max {
    static float f(float a, float b) { return (a > b || a != a) ? a : b; }
};
struct Min {
    static float f(float a, float b) { return (a < b || a != a) ? a : b; }
};

// ---- gradient terms g * d(a OP b)/d(side) -------------------------------------
struct Grad {  // add (both sides), subtract (a)
    static float f(float g, float, float) { return g; }
};
struct NegGrad {  // subtract (b)
    static float f(float g, float, float) { return -g; }
};
struct MulA {
    static float f(float g, float, float b) { return g * b; }
};
struct MulB {
    static float f(float g, float a, float) { return g * a; }
};
struct DivA {
    static float f(float g, float, float b) { return g / b; }
};
// -g a / b^2 as -(g / b)(a / b): no b * b to overflow or underflow first.
struct DivB {
    static float f(float g, float a, float b) { return -(g / b) * (a / b); }
};
// Ties: half each; NaN (no comparison holds): the whole g to both (PyTorch).
struct MaxA {
    static float f(float g, float a, float b) { return a == b ? 0.5f * g : (a < b ? 0.0f : g); }
};
struct MaxB {
    static float f(float g, float a, float b) { return a == b ? 0.5f * g : (a > b ? 0.0f : g); }
};
struct MinA {
    static float f(float g, float a, float b) { return a == b ? 0.5f * g : (a > b ? 0.0f : g); }
};
struct MinB {
    static float f(float g, float a, float b) { return a == b ? 0.5f * g : (a < b ? 0.0f : g); }
};

// No __restrict: out may be a or b (each index is read before it is written),
// the compiler's vectorised loop checks overlap at run time.
template <class Op, int SA, int SB>
void binary_row(const float* a, const float* b, float* out, std::int64_t n) {
    if (SA && SB) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = Op::f(a[i], b[i]);
    } else if (SA) {
        const float bv = b[0];
        for (std::int64_t i = 0; i < n; ++i) out[i] = Op::f(a[i], bv);
    } else if (SB) {
        const float av = a[0];
        for (std::int64_t i = 0; i < n; ++i) out[i] = Op::f(av, b[i]);
    } else {
        const float v = Op::f(a[0], b[0]);
        for (std::int64_t i = 0; i < n; ++i) out[i] = v;
    }
}

template <class D, int SA, int SB>
void term_row(const float* g, const float* a, const float* b, float* t, std::int64_t n) {
    const float av = a[0], bv = b[0];
    for (std::int64_t i = 0; i < n; ++i) t[i] = D::f(g[i], SA ? a[i] : av, SB ? b[i] : bv);
}

void accumulate(const float* x, double* acc, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>(x[i]);
}

double sum(const float* x, std::int64_t n) {
    // 16 running sums in double: vectorised without reassociating one sum,
    // so the result is the same wherever the row starts.
    double acc[16] = {};
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; ++k) acc[k] += static_cast<double>(x[i + k]);
    for (int k = 0; i < n; ++i, ++k) acc[k] += static_cast<double>(x[i]);
    for (int w = 8; w >= 1; w /= 2)
        for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
    return acc[0];
}

void gather(const float* src, std::int64_t stride, float* dst, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
}

// ---- dropout ------------------------------------------------------------------
namespace px = fastnn::philox;
constexpr int kLanes = 16;  // Philox blocks per batch (64 elements)

// r[4 l + q] = word q of block first + l, for l < kLanes: the rounds run on
// structure-of-arrays lanes (32x32 -> 64-bit products), which the compiler
// vectorises; the key is bumped after each round, which is the same as
// bumping it before rounds 2..10 (the last bump is never used).
void philox_lanes(std::uint64_t first, std::uint32_t k0, std::uint32_t k1, std::uint32_t* r) {
    std::uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
    for (int l = 0; l < kLanes; ++l) {
        const std::uint64_t index = first + static_cast<std::uint64_t>(l);
        c0[l] = static_cast<std::uint32_t>(index);
        c1[l] = static_cast<std::uint32_t>(index >> 32);
        c2[l] = 0;
        c3[l] = 0;
    }
    for (int round = 0; round < px::kRounds; ++round) {
        for (int l = 0; l < kLanes; ++l) {
            const std::uint64_t p0 = static_cast<std::uint64_t>(px::kM0) * c0[l];
            const std::uint64_t p1 = static_cast<std::uint64_t>(px::kM1) * c2[l];
            const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1[l] ^ k0;
            const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = static_cast<std::uint32_t>(p1);
            c3[l] = static_cast<std::uint32_t>(p0);
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 += px::kW0;
        k1 += px::kW1;
    }
    for (int l = 0; l < kLanes; ++l) {
        r[4 * l + 0] = c0[l];
        r[4 * l + 1] = c1[l];
        r[4 * l + 2] = c2[l];
        r[4 * l + 3] = c3[l];
    }
}

void dropout(const float* x, float* y, std::int64_t n, std::uint64_t key, std::uint64_t block0,
             std::uint32_t threshold, float scale) {
    const std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
    alignas(64) std::uint32_t r[4 * kLanes];
    std::int64_t i = 0;
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
        philox_lanes(block0 + static_cast<std::uint64_t>(i / 4), k0, k1, r);
        for (int e = 0; e < 4 * kLanes; ++e) y[i + e] = r[e] >= threshold ? x[i + e] * scale : 0.0f;
    }
    for (; i < n; i += 4) {
        const px::Block blk = px::block(key, block0 + static_cast<std::uint64_t>(i / 4));
        for (int q = 0; q < 4 && i + q < n; ++q) y[i + q] = blk.v[q] >= threshold ? x[i + q] * scale : 0.0f;
    }
}

// ---- the table ------------------------------------------------------------------
template <class Op>
void fill_binary(BinaryRowFn* row) {
    row[0] = binary_row<Op, 0, 0>;
    row[1] = binary_row<Op, 0, 1>;
    row[2] = binary_row<Op, 1, 0>;
    row[3] = binary_row<Op, 1, 1>;
}

template <class D>
void fill_term(TermRowFn* row) {
    row[0] = term_row<D, 0, 0>;
    row[1] = term_row<D, 0, 1>;
    row[2] = term_row<D, 1, 0>;
    row[3] = term_row<D, 1, 1>;
}

template <class DA, class DB>
void fill_terms(TermRowFn (*sides)[fastnn::cpu::kRowModes]) {
    fill_term<DA>(sides[0]);
    fill_term<DB>(sides[1]);
}

ElementwiseTable make_table() {
    using fastnn::BinaryOp;
    ElementwiseTable t{};
    fill_binary<Add>(t.binary[int(BinaryOp::add)]);
    fill_binary<Sub>(t.binary[int(BinaryOp::subtract)]);
    fill_binary<Mul>(t.binary[int(BinaryOp::multiply)]);
    fill_binary<Div>(t.binary[int(BinaryOp::divide)]);
    fill_binary<Max>(t.binary[int(BinaryOp::maximum)]);
    fill_binary<Min>(t.binary[int(BinaryOp::minimum)]);
    fill_terms<Grad, Grad>(t.term[int(BinaryOp::add)]);
    fill_terms<Grad, NegGrad>(t.term[int(BinaryOp::subtract)]);
    fill_terms<MulA, MulB>(t.term[int(BinaryOp::multiply)]);
    fill_terms<DivA, DivB>(t.term[int(BinaryOp::divide)]);
    fill_terms<MaxA, MaxB>(t.term[int(BinaryOp::maximum)]);
    fill_terms<MinA, MinB>(t.term[int(BinaryOp::minimum)]);
    t.accumulate = accumulate;
    t.sum = sum;
    t.gather = gather;
    t.dropout = dropout;
    return t;
}

}  // namespace ew
