"""An epoch's running loss and metrics, and the batches that feed a model's training loop.

``StepLog`` keeps each step's loss and outputs as they come (arrays on the model's device) and
folds them into the loss mean and the compiled metrics only when logs are read. On the CPU logs
are read every step at no cost. On the GPU reading them is the one point where the host waits for
the device, so ``fit`` reads them per step only when a callback uses per-batch logs (the verbose=1
progress bar, TerminateOnNaN, ...); otherwise the steps queue up on the GPU back to back and the
log is folded every ``max_pending`` steps and at the epoch's end, with one device-to-host copy.

``batches`` yields each step's arrays: host slices on the CPU; on the GPU the same batches moved by
a ``DeviceFeeder`` (pinned memory, a copy stream: batch i+1 travels while step i runs), with the
host copy of the targets kept for label checks and metrics. Each ``batches`` call keeps its own
batch in flight, so an ``evaluate`` run by a callback in the middle of ``fit`` cannot take it.
"""

from __future__ import annotations

import numpy as np

from fastnn.backend import is_cuda_array


class StepLog:
    def __init__(self, metrics, max_pending: int = 32):
        self.metrics = metrics
        self.max_pending = max_pending
        self.loss_sum = 0.0
        self.seen = 0
        self._pending = []  # (loss array, samples, y_true host, y_pred array, weights host)

    def add(self, loss, samples, y_true, y_pred, sample_weight=None) -> None:
        self._pending.append((loss, int(samples), y_true, y_pred, sample_weight))
        if not is_cuda_array(y_pred) or len(self._pending) >= self.max_pending:
            self.fold()

    def fold(self) -> None:
        """Brings the pending steps in: one transfer for all their losses and one for all their
        outputs when they live on the GPU."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        losses = [p[0] for p in pending]
        preds = [p[3] for p in pending]
        if is_cuda_array(preds[0]):
            import cupy

            losses = cupy.stack([cupy.asarray(l, dtype=cupy.float64).reshape(()) for l in losses]).get()
            flat = cupy.concatenate([p.reshape(len(p), -1) if p.ndim else p.reshape(1, 1) for p in preds]).get()
            cut = np.cumsum([len(p) if p.ndim else 1 for p in preds])[:-1]
            preds = [h.reshape(p.shape) for h, p in zip(np.split(flat, cut), preds)]
        for (_, samples, y_true, _, weight), loss, y_pred in zip(pending, losses, preds):
            self.loss_sum += float(loss) * samples
            self.seen += samples
            self.metrics.update_state(y_true, y_pred, weight)

    def loss(self) -> float:
        self.fold()
        return self.loss_sum / max(self.seen, 1)

    def logs(self) -> dict:
        """``{"loss": mean over samples, <metric>: result, ...}`` as Keras logs them."""
        logs = {"loss": self.loss()}
        logs.update(self.metrics.result())
        return logs


class Batch:
    """One step's data: what the model and the loss take (``x``, ``y``, ``w``: on the model's
    device) and the host copies the checks and metrics read (``y_host``, ``w_host``)."""

    __slots__ = ("step", "x", "y", "w", "y_host", "w_host")

    def __init__(self, step, x, y, w, y_host, w_host):
        self.step, self.x, self.y, self.w, self.y_host, self.w_host = step, x, y, w, y_host, w_host

    def __len__(self):
        return len(self.y_host)


def batches(index_iter, x, y, w=None, feeder=None, split=None):
    """Yields a ``Batch`` per ``(step, index)`` of ``index_iter``. ``x`` is one array, or an object
    with ``.arrays`` (several model inputs) that ``split(list)`` rebuilds; with a ``feeder`` the
    model-side arrays arrive on the GPU, the next batch's copy started before this one is used."""
    if feeder is None:
        for step, idx in index_iter:
            yb = y[idx]
            wb = None if w is None else w[idx]
            yield Batch(step, x[idx], yb, wb, yb, wb)
        return
    xs = list(x.arrays) if hasattr(x, "arrays") else [x]
    arrays = xs + [y] + ([] if w is None else [w])
    it = iter(index_iter)
    nxt = next(it, None)
    ticket = None if nxt is None else feeder.start(arrays, nxt[1])
    try:
        while nxt is not None:
            step, idx = nxt
            nxt = next(it, None)
            current, ticket = ticket, (None if nxt is None else feeder.start(arrays, nxt[1]))
            moved = feeder.finish(current)
            xb = moved[0] if len(xs) == 1 else split(moved[:len(xs)])
            yield Batch(step, xb, moved[len(xs)], None if w is None else moved[-1], y[idx],
                        None if w is None else w[idx])
    finally:  # the loop stopped early (stop_training, an error): the batch in flight is dropped safely
        if ticket is not None:
            feeder.drop(ticket)
