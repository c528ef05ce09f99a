"""``fastnn.device_feed.DeviceFeeder`` (``pytest -m gpu``): batches gathered into pinned memory and
copied on a side stream arrive intact, in order, whatever the compute stream is doing."""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

from fastnn.device_feed import DeviceFeeder  # noqa: E402

pytestmark = pytest.mark.gpu


def test_batches_arrive_intact_in_order():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 7, 3)).astype(np.float32)
    y = rng.integers(0, 10, 1000)
    order = rng.permutation(1000)
    feeder = DeviceFeeder(depth=3)
    picks = [slice(0, 128), order[:128], order[128:256], slice(990, 1000), order[5:6]]
    for p in picks[:2]:
        feeder.put([x, y], p)
    got = []
    for i, p in enumerate(picks):
        xb, yb = feeder.get()
        got.append((cp.asnumpy(xb), cp.asnumpy(yb)))
        if i + 2 < len(picks):
            feeder.put([x, y], picks[i + 2])
    assert len(feeder) == 0
    for (xb, yb), p in zip(got, picks):
        np.testing.assert_array_equal(xb, x[p])
        np.testing.assert_array_equal(yb, y[p])
    with pytest.raises(RuntimeError, match="no batch"):
        feeder.get()


def test_overlap_with_slow_compute_never_corrupts_a_batch():
    """Each step reads its batch long after the next copy started (a big matmul in front), and
    device blocks are recycled from batch to batch: the sums must still be the host's."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4096, 256)).astype(np.float32)
    big = cp.asarray(rng.standard_normal((2048, 2048)).astype(np.float32))
    feeder = DeviceFeeder()
    batches = [slice(i, i + 512) for i in range(0, 4096, 512)]
    feeder.put([x], batches[0])
    sums = []
    for i in range(len(batches)):
        (xb,) = feeder.get()
        if i + 1 < len(batches):
            feeder.put([x], batches[i + 1])
        _ = big @ big  # keeps the compute stream busy while the next copy runs
        sums.append(xb.sum(axis=1))
        del xb  # its block goes back to the pool, to be reused by a later batch
    for s, b in zip(sums, batches):
        np.testing.assert_allclose(cp.asnumpy(s), x[b].sum(axis=1), rtol=1e-5, atol=1e-4)


def test_nested_loops_keep_their_own_batches_and_early_stops_drop_safely():
    """step_log.batches over one feeder, an inner loop run in the middle of an outer one (evaluate
    from a callback during fit), and an outer loop abandoned with a batch in flight."""
    from fastnn.epoch_iterator import EpochIterator
    from fastnn.step_log import batches

    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    feeder = DeviceFeeder()
    seen = []
    for b in batches(EpochIterator(64, 16).epoch(), x, y, None, feeder):
        seen.append((cp.asnumpy(b.x), cp.asnumpy(b.y), b.y_host))
        if b.step == 1:
            inner = [(cp.asnumpy(i.x), i.y_host) for i in batches(EpochIterator(10, 4).epoch(), x[:10], y[:10],
                                                                  None, feeder)]
            for (xi, yi), start in zip(inner, range(0, 10, 4)):
                np.testing.assert_array_equal(xi, x[start:start + 4])
                np.testing.assert_array_equal(yi, y[start:start + 4])
    for (xb, yb, yh), start in zip(seen, range(0, 64, 16)):
        np.testing.assert_array_equal(xb, x[start:start + 16])
        np.testing.assert_array_equal(yb, yh)
    gen = batches(EpochIterator(64, 16).epoch(), x, y, None, feeder)
    next(gen)
    gen.close()  # batch 1 in flight: dropped after the stream waits for its copy
    first = next(batches(EpochIterator(64, 16).epoch(), x, y, None, feeder))
    np.testing.assert_array_equal(cp.asnumpy(first.x), x[:16])
