"""fastnn's random state: one seed for every random source (DESIGN.md §3, "Numerics").

Two kinds of randomness draw from it:

* host-side draws (weight initializers, shuffling) use ``generator()``, a NumPy ``Generator``
  re-created by ``manual_seed``;
* kernels (dropout) use a counter-based generator (Philox4x32-10): ``philox_stream(n)`` hands
  out a key derived from the seed and the next ``n`` counter values, so a kernel's draws depend
  only on (seed, position in the sequence of draws) -- the same on the CPU and the GPU and for
  any thread count.

Without ``manual_seed`` the seed comes from the operating system's entropy at import, so two
runs differ unless seeded, as in PyTorch and Keras.
"""

from __future__ import annotations

import numbers
import threading

import numpy as np

_lock = threading.Lock()
_seed: int = 0
_generator: np.random.Generator
_counter: int = 0  # Philox counter blocks handed out since the last seed


def _reset(seed: int) -> None:
    global _seed, _generator, _counter
    _seed = seed
    _generator = np.random.default_rng(seed)
    _counter = 0


def manual_seed(seed: int) -> None:
    """Seeds every random source of fastnn (initializers, dropout, shuffling)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"manual_seed: seed must be in [0, 2**64), got {seed}")
    with _lock:
        _reset(int(seed))


def initial_seed() -> int:
    """The seed in use (the last ``manual_seed``, or the one drawn at import)."""
    return _seed


def generator() -> np.random.Generator:
    """The NumPy generator behind host-side draws (initializers, shuffling)."""
    return _generator


def philox_key() -> int:
    """The 64-bit Philox key of the current seed (a fixed mix of it, never 0-heavy)."""
    # splitmix64 of the seed: nearby seeds give unrelated keys.
    z = (_seed + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def philox_stream(blocks: int) -> tuple[int, int]:
    """(key, offset): reserves ``blocks`` Philox counter values (each gives four 32-bit
    numbers) for one kernel call, which uses counters offset, offset + 1, ...,
    offset + blocks - 1."""
    global _counter
    if blocks < 0:
        raise ValueError(f"philox_stream: blocks must be >= 0, got {blocks}")
    with _lock:
        offset = _counter
        _counter += int(blocks)
        return philox_key(), offset


_reset(int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFFFFFF)
