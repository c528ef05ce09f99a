"""NumPy twin of the dropout kernels and of their generator, Philox4x32-10.

Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as
easy as 1, 2, 3", SC'11; the Random123 library): a 4 x uint32 counter and a
2 x uint32 key map to 4 uint32 words in 10 rounds of

    (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2
    c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)

with the key bumped by (W0, W1) before every round but the first.

Dropout (``csrc/fastnn/dropout.h``): element i of a call is dropped iff word
i % 4 of block ``offset + i // 4`` -- the counter (low 32 bits, high 32 bits,
0, 0) of that 64-bit index under the key (low 32 bits, high 32 bits) -- is
below ``floor(rate * 2**32)``; kept elements are scaled by ``1 / (1 - rate)``.
"""

from __future__ import annotations

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)


def philox4x32_10(counter, key):
    """Philox4x32-10 of ``counter`` (array-like of shape (..., 4), uint32
    words) under ``key`` (2 words); returns uint32 of the counter's shape."""
    c = np.asarray(counter, dtype=np.uint64)
    if c.shape[-1:] != (4,):
        raise ValueError(f"philox4x32_10: counter must have 4 words in its last axis, got shape {c.shape}")
    c0, c1, c2, c3 = (c[..., i] & _MASK for i in range(4))
    k0, k1 = (int(k) & 0xFFFFFFFF for k in key)
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
        p0 = np.uint64(M0) * c0  # < 2**64: exact in uint64
        p1 = np.uint64(M1) * c2
        c0, c1, c2, c3 = ((p1 >> _SHIFT) ^ c1 ^ np.uint64(k0), p1 & _MASK,
                          (p0 >> _SHIFT) ^ c3 ^ np.uint64(k1), p0 & _MASK)
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def philox_words(n, key, offset):
    """The uint32 word of each of n elements: word i % 4 of block offset + i // 4."""
    blocks = (n + 3) // 4
    index = np.uint64(offset) + np.arange(blocks, dtype=np.uint64)
    counter = np.stack([index & _MASK, index >> _SHIFT, np.zeros_like(index), np.zeros_like(index)], axis=-1)
    return philox4x32_10(counter, (key & 0xFFFFFFFF, key >> 32)).reshape(-1)[:n]


def threshold(rate):
    """floor(rate * 2**32): an element whose word is below it is dropped."""
    return int(float(rate) * 2.0**32)  # exact: a power-of-two scaling of a double


def dropout_mask(shape, rate, key, offset):
    """True where an element of an array of ``shape`` is kept."""
    n = int(np.prod(shape, dtype=np.int64))
    return (philox_words(n, int(key), int(offset)) >= threshold(rate)).reshape(shape)


def dropout(x, rate, key, offset):
    """``x / (1 - rate)`` where kept, 0 where dropped, in x's dtype."""
    x = np.asarray(x)
    keep = dropout_mask(x.shape, rate, key, offset)
    return np.where(keep, x * x.dtype.type(1.0 / (1.0 - rate)), x.dtype.type(0))


def dropout_backward(grad, rate, key, offset):
    """The input gradient of ``dropout(x, rate, key, offset)``: the same mask and scale on ``grad``."""
    return dropout(grad, rate, key, offset)
