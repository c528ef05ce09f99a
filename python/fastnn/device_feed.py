"""Feeding batches to the GPU while it computes (issue 6: the copy of batch i+1 overlaps the step
of batch i).

``DeviceFeeder`` gathers each host batch straight into a page-locked (pinned) staging buffer and
copies it to the device asynchronously on its own CUDA stream. The compute stream (CuPy's current
stream) waits on an event of that copy before it uses the batch, so nothing on the host blocks
while the step runs.

Memory safety, the two rules that make the overlap correct:

* a staging buffer is refilled only after its previous copy has finished (its event is
  synchronised: by then it normally has, a ring of ``depth`` buffers keeps the host ahead);
* the device array a copy writes is allocated on the *compute* stream, and the copy stream first
  waits for an event recorded there, so a block CuPy's pool recycles from an earlier batch is
  never overwritten while an earlier step may still read it.
"""

from __future__ import annotations

import numpy as np


class _Slot:
    """One pinned staging buffer per array of a batch, and the event of its last copy."""

    __slots__ = ("host", "event")

    def __init__(self):
        self.host = None
        self.event = None


class DeviceFeeder:
    """``start(arrays, index)`` begins moving ``[a[index] for a in arrays]`` to the GPU and returns
    a ticket; ``finish(ticket)`` makes the compute stream (CuPy's current stream) wait for that copy
    and returns the batch as CuPy arrays. Each caller keeps its own tickets, so a loop nested in
    another (``evaluate`` from a callback during ``fit``) never takes the outer loop's batch. A
    ticket that will not be used must still be finished (or ``drop``-ped) before its arrays are
    released: until then its copy may still be writing into them.

    ``put`` / ``get`` / ``clear`` are the same as one FIFO queue of tickets.
    ``index``: a slice or an integer array selecting the batch's samples (axis 0).
    """

    def __init__(self, device_id: int = 0, depth: int = 2):
        import cupy
        import cupyx

        self._cupy, self._cupyx = cupy, cupyx
        self._device = cupy.cuda.Device(device_id)
        with self._device:
            self._copy_stream = cupy.cuda.Stream(non_blocking=True)
        self._slots = [_Slot() for _ in range(max(2, int(depth)))]
        self._next = 0
        self._queue: list = []  # tickets of put(), oldest first

    @property
    def device_id(self) -> int:
        return self._device.id

    def _staging(self, slot, shapes, dtypes):
        """The slot's pinned buffers, (re)made when a batch needs more room."""
        if slot.host is None or len(slot.host) != len(shapes) or any(
                h.dtype != d or h.shape[1:] != s[1:] or h.shape[0] < s[0]
                for h, s, d in zip(slot.host, shapes, dtypes)):
            slot.host = [self._cupyx.empty_pinned(s, dtype=d) for s, d in zip(shapes, dtypes)]
        return [h[:s[0]] for h, s in zip(slot.host, shapes)]

    def start(self, arrays, index):
        """Starts the copy of one batch; returns its ticket ``(device arrays, copy-done event)``."""
        cupy = self._cupy
        slot = self._slots[self._next]
        self._next = (self._next + 1) % len(self._slots)
        if slot.event is not None:
            slot.event.synchronize()  # its previous copy has left the staging buffer
        picked = [a[index] if isinstance(index, slice) else None for a in arrays]
        shapes = [(len(p),) + a.shape[1:] if p is not None else (len(index),) + a.shape[1:]
                  for p, a in zip(picked, arrays)]
        staging = self._staging(slot, shapes, [a.dtype for a in arrays])
        for a, p, h in zip(arrays, picked, staging):
            if p is not None:
                np.copyto(h, p)
            else:
                np.take(a, index, axis=0, out=h)  # gather straight into pinned memory
        with self._device:
            compute = cupy.cuda.get_current_stream()
            device = [cupy.empty(h.shape, dtype=h.dtype) for h in staging]  # from the compute stream's pool
            ready = compute.record()
            self._copy_stream.wait_event(ready)
            for d, h in zip(device, staging):
                d.set(h, stream=self._copy_stream)
            slot.event = self._copy_stream.record()
        return device, slot.event

    def finish(self, ticket):
        """The ticket's batch, once the compute stream has been told to wait for its copy."""
        device, done = ticket
        with self._device:
            self._cupy.cuda.get_current_stream().wait_event(done)
        return device

    drop = finish  # an unused batch: the stream still waits, so its memory is reused only after the copy

    def put(self, arrays, index) -> None:
        self._queue.append(self.start(arrays, index))

    def get(self):
        if not self._queue:
            raise RuntimeError("DeviceFeeder.get: no batch was put")
        return self.finish(self._queue.pop(0))

    def clear(self) -> None:
        """Drops the batches put but not taken (safely: see ``drop``)."""
        while self._queue:
            self.drop(self._queue.pop(0))

    def __len__(self) -> int:
        return len(self._queue)
