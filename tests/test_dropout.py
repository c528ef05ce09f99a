"""Dropout (fastnn.ops.dropout / dropout_backward) and its generator, Philox4x32-10."""

import importlib
import math

import numpy as np
import pytest

import fastnn
import fastnn.random as frandom
from fastnn import _C, ops
# the module (fastnn.reference.dropout is the function of that name)
ref = importlib.import_module("fastnn.reference.dropout")
from conftest import AVAILABLE_ISAS

# Known-answer vectors of Philox4x32-10: (counter words, key words, expected words).
# The first three are the "philox4x32 10" lines of Random123's tests/kat_vectors
# (github.com/DEShawResearch/random123; also quoted verbatim by, e.g., E. Sarmas'
# philox.py test suite): counter 0 / key 0, counter and key all 0xffffffff, and
# the pi-digits vector. The last two come from the larger generated table in
# girving/random123-manual, examples/kat_vectors (one set bit in the counter's
# first word and in the key's first word; the pi counter under key (0, 0x80000000)),
# which pin down which word the counter and key bits go to.
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ((0x00000001, 0x00000000, 0x00000000, 0x00000000), (0x00000001, 0x00000000),
     (0xAC08141B, 0xDFC5CCBE, 0x79C07A47, 0xA7F66093)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0x00000000, 0x80000000),
     (0x63675D2C, 0x422D7C4D, 0x3145D30D, 0x3BCE33A4)),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    assert tuple(_C.philox4x32_10(list(counter), list(key))) == expected
    assert tuple(int(v) for v in ref.philox4x32_10(counter, key)) == expected


def test_reference_philox_matches_kernel_on_random_inputs():
    rng = np.random.default_rng(1)
    counters = rng.integers(0, 2**32, (200, 4), dtype=np.uint64)
    keys = rng.integers(0, 2**32, (200, 2), dtype=np.uint64)
    for c, k in zip(counters, keys):
        want = [int(v) for v in ref.philox4x32_10(c, k)]
        assert _C.philox4x32_10([int(v) for v in c], [int(v) for v in k]) == want


def test_mask_words_are_philox_blocks():
    # Element i uses word i % 4 of block offset + i // 4; the block's 64-bit
    # index is the counter (low word, high word, 0, 0), the key (low, high).
    key, offset = 0x0123456789ABCDEF, 2**32 - 3  # the blocks cross a carry into the counter's second word
    words = ref.philox_words(24, key, offset)
    for i in range(24):
        index = offset + i // 4
        block = _C.philox4x32_10([index & 0xFFFFFFFF, index >> 32, 0, 0], [key & 0xFFFFFFFF, key >> 32])
        assert words[i] == block[i % 4]


SIZES = [1, 3, 4, 5, 63, 64, 65, 1000, 2**16 + 3, 300_007]


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_matches_reference_bit_for_bit(rng, isa, threads, rate):
    # The float32 reference applies the same rounded scale float32(1 / (1 - rate))
    # with one float32 multiply, so it is bit-identical; against float64 the
    # only differences are those two roundings (<= 2 * 2**-24 relative).
    _C.set_cpu_isa(isa)
    fastnn.set_num_threads(threads)
    for n in SIZES:
        x = rng.standard_normal(n).astype(np.float32)
        key, offset = int(rng.integers(0, 2**63)) * 2 + 1, int(rng.integers(0, 2**40))
        y, k, o = ops.dropout(x, rate, key=key, offset=offset)
        assert (k, o) == (key, offset)
        np.testing.assert_array_equal(y, ref.dropout(x, rate, key, offset))
        np.testing.assert_allclose(y, ref.dropout(x.astype(np.float64), rate, key, offset), rtol=2 * 2**-24, atol=0)
        g = rng.standard_normal(n).astype(np.float32)
        np.testing.assert_array_equal(ops.dropout_backward(g, rate, key, offset),
                                      ref.dropout_backward(g, rate, key, offset))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9, 1 - 2**-20])
def test_mask_fraction_within_binomial_bound(rate):
    # Kept count of n independent Bernoulli(1 - p) draws, p = floor(rate 2^32) / 2^32:
    # within 5 standard deviations (a false failure has probability < 6e-7).
    n = 1 << 21
    x = np.ones(n, np.float32)
    y, _, _ = ops.dropout(x, rate, key=12345, offset=0)
    p = math.floor(rate * 2**32) / 2**32
    kept = int(np.count_nonzero(y))
    sd = math.sqrt(n * p * (1 - p))
    assert abs(kept - n * (1 - p)) <= 5 * sd + 1, (kept, n * (1 - p), sd)


def test_scaling_exact_and_dropped_exactly_zero(rng):
    x = rng.standard_normal(100_003).astype(np.float32)
    x[:4] = [np.inf, -np.inf, np.nan, 0.0]
    for rate in (0.2, 0.5, 1 / 3):
        y, key, offset = ops.dropout(x, rate, key=7, offset=11)
        keep = ref.dropout_mask(x.shape, rate, key, offset)
        scale = np.float32(1.0 / (1.0 - rate))
        np.testing.assert_array_equal(y[keep], x[keep] * scale)
        assert (y[~keep] == 0).all() and not np.signbit(y[~keep]).any()  # even where x is inf or NaN


def test_backward_consistent_with_forward(rng):
    x = rng.uniform(0.5, 1.5, (37, 1000)).astype(np.float32)  # no zeros: y == 0 exactly where dropped
    y, key, offset = ops.dropout(x, 0.3)
    g = rng.standard_normal(x.shape).astype(np.float32)
    dx = ops.dropout_backward(g, 0.3, key, offset)
    kept = y != 0
    np.testing.assert_array_equal(dx[kept], g[kept] * np.float32(1 / 0.7))
    assert (dx[~kept] == 0).all()
    # the linear map's transpose: <dropout(x), g> == <x, dropout_backward(g)>, up to the
    # rounding of y = x * scale and dx = g * scale (2**-24 relative each), so within
    # 2 * 2**-24 * sum |y g| (relative to the terms, not to the sum, which may cancel)
    lhs = np.dot(y.ravel().astype(np.float64), g.ravel())
    rhs = np.dot(x.ravel().astype(np.float64), dx.ravel())
    assert abs(lhs - rhs) <= 2 * 2**-24 * np.dot(np.abs(y.ravel()).astype(np.float64), np.abs(g.ravel())) + 1e-12


def test_same_key_offset_same_mask_different_offsets_differ(rng):
    x = np.ones(4096, np.float32)
    a, _, _ = ops.dropout(x, 0.5, key=99, offset=1000)
    b, _, _ = ops.dropout(x, 0.5, key=99, offset=1000)
    np.testing.assert_array_equal(a, b)
    c, _, _ = ops.dropout(x, 0.5, key=99, offset=1000 + 1024)  # the next call's blocks
    d, _, _ = ops.dropout(x, 0.5, key=100, offset=1000)
    assert (a != c).mean() > 0.4 and (a != d).mean() > 0.4
    # one block further along shifts the mask by 4 elements
    e, _, _ = ops.dropout(x, 0.5, key=99, offset=1001)
    np.testing.assert_array_equal(e[:-4], a[4:])


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
def test_thread_count_and_isa_do_not_change_the_mask(rng, isa):
    x = rng.standard_normal((513, 1031)).astype(np.float32)
    _C.set_cpu_isa("portable")
    fastnn.set_num_threads(1)
    base, _, _ = ops.dropout(x, 0.25, key=5, offset=77)
    _C.set_cpu_isa(isa)
    for threads in (1, 2, 3):
        fastnn.set_num_threads(threads)
        np.testing.assert_array_equal(ops.dropout(x, 0.25, key=5, offset=77)[0], base)


def test_stream_of_keys_and_offsets_and_seeding(rng):
    x = rng.standard_normal(1001).astype(np.float32)
    frandom.manual_seed(42)
    y1, k1, o1 = ops.dropout(x, 0.5)
    y2, k2, o2 = ops.dropout(x, 0.5)
    assert k1 == k2 == frandom.philox_key() and o2 == o1 + (1001 + 3) // 4  # ceil(n / 4) blocks reserved
    assert not np.array_equal(y1, y2)
    frandom.manual_seed(42)
    np.testing.assert_array_equal(ops.dropout(x, 0.5)[0], y1)
    np.testing.assert_array_equal(ops.dropout(x, 0.5)[0], y2)


def test_rate_zero_copies_and_in_place(rng):
    x = rng.standard_normal((7, 9)).astype(np.float32)
    y, _, _ = ops.dropout(x, 0.0)
    np.testing.assert_array_equal(y, x)
    assert y is not x
    want = ref.dropout(x, 0.5, 3, 4)
    out, _, _ = ops.dropout(x, 0.5, key=3, offset=4, out=x)
    assert out is x
    np.testing.assert_array_equal(x, want)
    e, _, _ = ops.dropout(np.empty((0, 3), np.float32), 0.5)
    assert e.shape == (0, 3)


def test_bad_input():
    x = np.ones((4, 5), np.float32)
    for rate in (1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\)"):
            ops.dropout(x, rate)
        with pytest.raises(ValueError, match=r"dropout_backward: rate must be in \[0, 1\)"):
            ops.dropout_backward(x, rate, 1, 2)
    with pytest.raises(TypeError, match=r"dropout: rate must be a number in \[0, 1\), got str"):
        ops.dropout(x, "0.5")
    with pytest.raises(TypeError, match=r"dropout: argument 'x' must have dtype float32, got float64"):
        ops.dropout(x.astype(np.float64), 0.5)
    with pytest.raises(ValueError, match=r"dropout: argument 'x' must be C-contiguous"):
        ops.dropout(x[:, ::2], 0.5)
    with pytest.raises(ValueError, match=r"dropout_backward: argument 'out' must have the shape of 'grad' \(4, 5\)"):
        ops.dropout_backward(x, 0.5, 1, 2, out=np.empty(20, np.float32))
    with pytest.raises(ValueError, match=r"dropout: pass both key and offset, or neither"):
        ops.dropout(x, 0.5, key=3)
    with pytest.raises(ValueError, match=r"dropout: key must be an int in \[0, 2\*\*64\), got -1"):
        ops.dropout(x, 0.5, key=-1, offset=0)
    with pytest.raises(ValueError, match=r"dropout_backward: offset must be an int in \[0, 2\*\*64\)"):
        ops.dropout_backward(x, 0.5, 1, 2**64)
    with pytest.raises(ValueError, match=r"dropout: offset 18446744073709551613 leaves fewer than the 5 Philox"):
        ops.dropout(x, 0.5, key=1, offset=2**64 - 3)
    buf = np.ones(30, np.float32)
    with pytest.raises(ValueError, match=r"dropout: argument 'out' shares memory with 'x'"):
        ops.dropout(buf[:20], 0.5, key=1, offset=0, out=buf[10:30])
