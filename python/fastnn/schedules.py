"""Learning-rate schedules with Keras 3's semantics (``keras.optimizers.schedules``).

A schedule is a callable ``schedule(step) -> float``. An optimizer given one as
its ``learning_rate`` evaluates it at ``optimizer.iterations``, the number of
steps already taken: 0 for the first step, as Keras does. Values are computed
in Python floats (double); Keras computes in the dtype of
``initial_learning_rate`` (float32 for a Python float), so the two agree to
float32 rounding.

Also reachable as ``fastnn.optimizers.schedules``.
"""

from __future__ import annotations

import math
import numbers

__all__ = [
    "CosineDecay",
    "ExponentialDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "deserialize",
    "get",
    "serialize",
]


def _number(cls, name, value, *, positive=False, non_negative=False, integer=False, optional=False):
    """Checks a constructor argument; returns it unchanged."""
    if value is None and optional:
        return value
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        what = "an int" if integer else "a finite number"
        raise TypeError(f"{cls}: {name} must be {what}, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{cls}: {name} must be > 0, got {value!r}")
    if non_negative and not value >= 0:
        raise ValueError(f"{cls}: {name} must be >= 0, got {value!r}")
    return value


def _step(cls, step):
    if isinstance(step, bool) or not isinstance(step, numbers.Real) or not math.isfinite(step):
        raise TypeError(f"{cls}: step must be a finite number (the optimizer's iteration count), got {step!r}")
    return float(step)


class LearningRateSchedule:
    """Base class: implement ``__call__(step)`` and ``get_config()``."""

    def __call__(self, step) -> float:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override __call__(self, step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with
    ``staircase`` the exponent is ``floor(step / decay_steps)``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        cls = type(self).__name__
        self.initial_learning_rate = _number(cls, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(cls, "decay_steps", decay_steps, positive=True)
        self.decay_rate = _number(cls, "decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step) -> float:
        p = _step(type(self).__name__, step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate * self.decay_rate**p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after ``boundaries[-1]``."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        cls = type(self).__name__
        try:
            boundaries, values = list(boundaries), list(values)
        except TypeError:
            raise TypeError(f"{cls}: boundaries and values must be lists of numbers") from None
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"{cls}: the length of boundaries should be 1 less than the length of values. "
                             f"Received: boundaries={boundaries} of length {len(boundaries)}, and values={values} "
                             f"of length {len(values)}.")
        for i, b in enumerate(boundaries):
            _number(cls, f"boundaries[{i}]", b)
        for i, v in enumerate(values):
            _number(cls, f"values[{i}]", v)
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{cls}: boundaries must be strictly increasing, got {boundaries}")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step) -> float:
        step = _step(type(self).__name__, step)
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return float(v)
        return float(self.values[-1])

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay (Loshchilov & Hutter, SGDR) with an optional linear warmup.

    Without ``warmup_target``: ``initial_learning_rate * ((1 - alpha) * c + alpha)``
    with ``c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))``.

    With ``warmup_target``: for ``step < warmup_steps`` a linear ramp
    ``initial_learning_rate + (warmup_target - initial_learning_rate) * step / warmup_steps``;
    from ``warmup_steps`` on the decay above from ``warmup_target``, at
    ``step - warmup_steps`` (step capped at ``warmup_steps + decay_steps``).
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        cls = type(self).__name__
        self.initial_learning_rate = _number(cls, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(cls, "decay_steps", decay_steps, positive=True)
        self.alpha = _number(cls, "alpha", alpha)
        self.name = name
        self.warmup_target = _number(cls, "warmup_target", warmup_target, optional=True)
        self.warmup_steps = _number(cls, "warmup_steps", warmup_steps, non_negative=True)

    def _decay(self, step, decay_from):
        fraction = step / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        step = _step(type(self).__name__, step)
        if self.warmup_target is None:
            return float(self._decay(min(step, self.decay_steps), self.initial_learning_rate))
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return float(delta * (step / self.warmup_steps) + self.initial_learning_rate)
        return float(self._decay(step - self.warmup_steps, self.warmup_target))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_SCHEDULES = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}`` (Keras' layout)."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"schedules.serialize: expected a LearningRateSchedule, got {type(schedule).__name__}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """The schedule that ``serialize`` described."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"schedules.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    known = {**_SCHEDULES, **(custom_objects or {})}
    name = config["class_name"]
    if name not in known:
        raise ValueError(f"schedules.deserialize: unknown schedule {name!r}; expected one of {', '.join(known)}")
    return known[name].from_config(dict(config.get("config", {})))


def get(identifier):
    """A schedule from a schedule (returned as is) or a ``serialize`` dict."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"schedules.get: could not interpret {identifier!r} as a learning-rate schedule")
