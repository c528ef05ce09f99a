"""``fastnn.step_log``: the batches a training loop gets (with and without a device feeder: the
look-ahead order, several inputs, weights, an interrupted epoch) and the epoch's running log."""

import numpy as np

from fastnn import metrics
from fastnn.compile_metrics import CompileMetrics
from fastnn.epoch_iterator import EpochIterator
from fastnn.step_log import StepLog, batches


class FakeFeeder:
    """DeviceFeeder's protocol on the host: tickets are the gathered arrays; records starts,
    finishes and drops."""

    def __init__(self):
        self.puts, self.finished, self.dropped = [], 0, 0

    def start(self, arrays, index):
        self.puts.append(index)
        return [np.array(a[index]) for a in arrays]

    def finish(self, ticket):
        self.finished += 1
        return ticket

    def drop(self, ticket):
        self.dropped += 1


class Pair:
    def __init__(self, arrays):
        self.arrays = arrays

    def __getitem__(self, index):
        return Pair([a[index] for a in self.arrays])


def _data(n=23):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 4, n), rng.random(n).astype(np.float32)


def test_without_a_feeder_batches_are_host_slices():
    x, y, w = _data()
    got = list(batches(EpochIterator(len(x), 5).epoch(), x, y, w))
    assert [b.step for b in got] == [0, 1, 2, 3, 4] and [len(b) for b in got] == [5, 5, 5, 5, 3]
    for b, start in zip(got, range(0, 23, 5)):
        np.testing.assert_array_equal(b.x, x[start:start + 5])
        assert b.y is b.y_host and b.w is b.w_host
        np.testing.assert_array_equal(b.w, w[start:start + 5])


def test_with_a_feeder_the_next_batch_is_put_before_this_one_is_used():
    x, y, w = _data()
    feeder = FakeFeeder()
    it = EpochIterator(len(x), 5, shuffle=True)
    seen = []
    for b in batches(it.epoch(), x, y, w, feeder):
        seen.append(b)
        # when step k is handed out, batch k+1 (if any) was already started
        assert len(feeder.puts) == min(b.step + 2, 5)
    for b, idx in zip(seen, feeder.puts):
        np.testing.assert_array_equal(b.x, x[idx])
        np.testing.assert_array_equal(b.y, y[idx])
        np.testing.assert_array_equal(b.y_host, y[idx])
        np.testing.assert_array_equal(b.w_host, w[idx])
        assert b.y is not b.y_host


def test_several_inputs_are_split_back_and_an_interrupted_epoch_leaks_nothing():
    x, y, _ = _data()
    x2 = x * 10
    feeder = FakeFeeder()
    it = EpochIterator(len(x), 4)
    gen = batches(it.epoch(), Pair([x, x2]), y, None, feeder, Pair)
    for b in gen:
        assert isinstance(b.x, Pair) and b.w is None
        np.testing.assert_array_equal(b.x.arrays[1], 10 * b.x.arrays[0])
        break  # stop_training mid-epoch: batch 1 is in flight
    gen.close()
    assert feeder.dropped == 1  # dropped safely (the stream waits for its copy), not leaked
    first = next(iter(batches(it.epoch(), Pair([x, x2]), y, None, feeder, Pair)))
    np.testing.assert_array_equal(first.x.arrays[0], x[:4])  # not the stale batch 1


def test_a_loop_nested_in_another_never_takes_its_batch():
    """evaluate() run by a callback in the middle of fit: each loop keeps its own batch in flight."""
    x, y, _ = _data(40)
    feeder = FakeFeeder()
    outer = []
    for b in batches(EpochIterator(40, 8).epoch(), x, y, None, feeder):
        outer.append(b)
        if b.step == 1:
            inner = list(batches(EpochIterator(10, 4).epoch(), x[:10], y[:10], None, feeder))
            assert [len(i) for i in inner] == [4, 4, 2]
    assert [b.step for b in outer] == [0, 1, 2, 3, 4]
    for b, start in zip(outer, range(0, 40, 8)):
        np.testing.assert_array_equal(b.x, x[start:start + 8])
        np.testing.assert_array_equal(b.y, b.y_host)


def test_step_log_means_over_samples_and_feeds_the_metrics():
    compiled = CompileMetrics(["accuracy"])
    log = StepLog(compiled)
    y_pred = np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
    log.add(np.float32(2.0), 3, np.array([0, 1, 1]), y_pred[:3])
    log.add(np.float32(1.0), 1, np.array([1]), y_pred[3:])
    logs = log.logs()
    assert abs(logs["loss"] - (2.0 * 3 + 1.0) / 4) < 1e-12
    assert abs(logs["accuracy"] - 0.75) < 1e-12
    assert isinstance(compiled.metrics[0], metrics.Metric)
