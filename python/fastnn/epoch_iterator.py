"""Batches of array data, epoch by epoch, with Keras 3's ``EpochIterator`` rules for
``steps_per_epoch`` (``fit``) and ``steps`` (``evaluate`` / ``predict``):

- without steps, each epoch is one full pass (a fresh shuffle each epoch);
- with steps, an epoch takes that many batches from a pass that CONTINUES across epochs: with
  10 batches of data and ``steps_per_epoch=4`` the epochs see batches 0-3, 4-7, then 8-9;
- when the pass runs out mid-epoch the epoch ends early with a warning (Keras: "Your input ran
  out of data"), and the next epoch starts a new pass (reshuffled); a pass that ends exactly at
  an epoch's end also restarts at the next epoch, without a warning.

It yields index objects (a slice, or an index array when shuffled) into the sample axis.
"""

from __future__ import annotations

import numbers
import warnings

from fastnn import random as _random

__all__ = ["EpochIterator", "check_steps"]


def check_steps(steps, argument, what):
    """None or a positive int, else a ValueError naming the argument."""
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps <= 0:
        raise ValueError(f"{what}: {argument} must be a positive int or None, got {steps!r}")
    return int(steps)


class EpochIterator:
    def __init__(self, num_samples, batch_size, steps_per_epoch=None, shuffle=False):
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.steps_per_epoch = steps_per_epoch
        self.shuffle = shuffle
        self.num_batches = -(-self.num_samples // self.batch_size)
        self._order = None
        self._next = None  # the next batch of the current pass; None: start a new pass

    @property
    def steps(self) -> int:
        """The steps an epoch is meant to take (what the progress bar counts)."""
        return self.steps_per_epoch or self.num_batches

    def _new_pass(self):
        self._order = _random.generator().permutation(self.num_samples) if self.shuffle else None
        self._next = 0

    def _index(self, batch):
        start = batch * self.batch_size
        if self._order is None:
            return slice(start, start + self.batch_size)
        return self._order[start:start + self.batch_size]

    def epoch(self):
        """Yields ``(step, index)`` for one epoch."""
        if self.steps_per_epoch is None:
            self._new_pass()
            for step in range(self.num_batches):
                yield step, self._index(step)
            self._next = None
            return
        if self._next is None or self._next >= self.num_batches:  # also after a break at a pass's end
            self._new_pass()
        for step in range(self.steps_per_epoch):
            if self._next >= self.num_batches:
                warnings.warn(f"Your input ran out of data; interrupting the epoch after {step} of "
                              f"{self.steps_per_epoch} steps: the data holds {self.num_batches} batches of "
                              f"{self.batch_size}. The next epoch starts a new pass over the data.", stacklevel=3)
                break
            batch = self._next
            self._next += 1
            yield step, self._index(batch)
        if self._next >= self.num_batches:
            self._next = None
