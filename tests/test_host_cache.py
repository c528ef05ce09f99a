"""The host block cache that large op outputs come from (``fastnn/host_cache.h``): arrays are
ordinary aligned C-contiguous NumPy arrays, never share memory while alive, give their blocks back
when they die, and the next arrays of those sizes reuse them."""

import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import ops


def test_large_outputs_come_from_the_cache_and_small_ones_from_numpy():
    big, small = ops._empty((512, 1024)), ops._empty((16, 16))
    assert big.base is not None and small.base is None  # the cache's capsule owns big's memory
    for a in (big, small):
        assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"] and a.flags["WRITEABLE"]
    assert big.ctypes.data % 64 == 0  # cache blocks are 64-byte aligned (NumPy's own: 16)
    idx = ops._empty((300, 300), np.int32)
    assert idx.dtype == np.int32 and idx.shape == (300, 300)


def test_live_arrays_never_overlap_and_dead_ones_are_reused():
    ops.empty_host_cache()
    arrays = [ops._empty((256, 1024)) for _ in range(6)]
    for i, a in enumerate(arrays):
        a.fill(i)
    for i, a in enumerate(arrays):
        assert (a == i).all()  # nobody else wrote into its block
    starts = sorted(a.ctypes.data for a in arrays)
    assert all(b - a >= 256 * 1024 * 4 for a, b in zip(starts, starts[1:]))
    before = ops.host_cache_stats()
    addresses = {a.ctypes.data for a in arrays}
    del arrays, a
    gc.collect()
    after = ops.host_cache_stats()
    assert after["cached_blocks"] >= before["cached_blocks"] + 6 and after["live_bytes"] <= before["live_bytes"]
    again = ops._empty((256, 1024))
    assert again.ctypes.data in addresses and ops.host_cache_stats()["hits"] > after["hits"]
    del again
    ops.empty_host_cache()
    assert ops.host_cache_stats()["cached_bytes"] == 0


def test_op_results_stay_correct_when_blocks_are_recycled():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 300)).astype(np.float32)
    w = rng.standard_normal((300, 400)).astype(np.float32)
    want = fastnn.reference.matmul(x.astype(np.float64), w.astype(np.float64))
    kept = []
    for _ in range(5):
        y = fastnn.matmul(x, w)
        kept.append(y)
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-3)
        fastnn.matmul(x, w)  # an unnamed result dies at once: its block goes back to the cache
    for y in kept:
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-3)


def test_a_zero_limit_caches_nothing():
    code = ("import gc, fastnn; from fastnn import ops\n"
            "a = ops._empty((512, 1024)); del a; gc.collect()\n"
            "s = ops.host_cache_stats(); assert s['limit_bytes'] == 0 and s['cached_bytes'] == 0, s\n"
            "print('ok')")
    env = {**os.environ, "FASTNN_HOST_CACHE_MB": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_bad_shape():
    with pytest.raises(ValueError, match="host_empty: shape sizes must be >= 0"):
        fastnn._C.host_empty([-1, 4], np.dtype(np.float32))
