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
