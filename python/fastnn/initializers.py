"""Weight initializers with Keras 3's semantics (``keras.initializers``).

An initializer is a callable ``init(shape, dtype="float32")`` returning a new
NumPy array. Draws come from ``fastnn.random.generator()`` at call time, so
``fastnn.random.manual_seed(s)`` makes a model's initial weights reproducible;
an initializer given ``seed=`` (an int) uses its own generator seeded with it
and returns the same values at every call, as Keras' int-seeded initializers do.

Fans (Keras' ``compute_fans``): a Dense kernel ``(in, out)`` has fan_in = in,
fan_out = out; a convolution kernel ``(..., in, out)`` (e.g. Conv2D's
``(kh, kw, in, out)``) multiplies both by the receptive field ``kh * kw * ...``;
a vector ``(n,)`` has fan_in = fan_out = n; a scalar 1.

Variance scaling: ``scale / n`` with n = fan_in, fan_out or their mean
(each at least 1). "truncated_normal" draws a normal truncated at two
standard deviations (values beyond are re-drawn) with
``stddev = sqrt(scale / n) / 0.87962566103423978`` -- the standard deviation
of a unit normal truncated to [-2, 2] -- so the samples' variance is
``scale / n``; "untruncated_normal" uses ``sqrt(scale / n)``; "uniform" draws
from ``[-limit, limit]`` with ``limit = sqrt(3 * scale / n)``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastnn import random as _random

__all__ = [
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Initializer", "LecunNormal",
    "LecunUniform", "Ones", "Orthogonal", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
    "Zeros", "compute_fans", "constant", "deserialize", "get", "glorot_normal", "glorot_uniform", "he_normal",
    "he_uniform", "lecun_normal", "lecun_uniform", "ones", "orthogonal", "random_normal", "random_uniform",
    "serialize", "truncated_normal", "variance_scaling", "zeros",
]

#: Standard deviation of a unit normal truncated to [-2, 2] (Keras' constant).
TRUNCATED_STDDEV = 0.87962566103423978


def _shape(cls, shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{cls}: shape must be a tuple of ints, got {shape!r}") from None
    if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0 for d in shape):
        raise ValueError(f"{cls}: shape must be a tuple of ints >= 0, got {shape!r}")
    return tuple(int(d) for d in shape)


def _dtype(cls, dtype):
    try:
        dt = np.dtype(dtype if dtype is not None else "float32")
    except TypeError:
        raise TypeError(f"{cls}: dtype must be a floating-point dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"{cls}: dtype must be a floating-point dtype (float32 is what the kernels take), got {dt}")
    return dt


def _real(cls, name, value, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{cls}: {name} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{cls}: {name} must be > 0, got {value!r}")
    return value


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = int(np.prod(shape[:-2]))
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


class Initializer:
    """Base class: ``__call__(shape, dtype="float32")`` and ``get_config()``."""

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError(f"initializer '{type(self).__name__}' must override __call__(shape, dtype)")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype="float32"):
        return np.zeros(_shape(type(self).__name__, shape), _dtype(type(self).__name__, dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype="float32"):
        return np.ones(_shape(type(self).__name__, shape), _dtype(type(self).__name__, dtype))


class Constant(Initializer):
    """Every element ``value`` (a scalar)."""

    def __init__(self, value=0.0):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"Constant: value must be a number, got {value!r}")
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return np.full(_shape("Constant", shape), self.value, _dtype("Constant", dtype))

    def get_config(self):
        return {"value": self.value}


class RandomInitializer(Initializer):
    """Draws from ``fastnn.random.generator()``, or from its own generator when seeded."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be None or an int >= 0, got {seed!r}")
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return _random.generator() if self.seed is None else np.random.default_rng(self.seed)

    def _finish(self, values, dtype):
        return np.ascontiguousarray(values, dtype=dtype)

    def get_config(self):
        return {"seed": self.seed}


def _truncated_normal(rng, shape, mean, stddev):
    """Normal(mean, stddev) with every draw beyond two standard deviations re-drawn."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2.0
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2.0
    return mean + stddev * x


class RandomNormal(RandomInitializer):
    """Normal(mean, stddev)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = _real("RandomNormal", "mean", mean)
        self.stddev = _real("RandomNormal", "stddev", stddev)
        super().__init__(seed)

    def __call__(self, shape, dtype="float32"):
        shape, dt = _shape("RandomNormal", shape), _dtype("RandomNormal", dtype)
        return self._finish(self._rng().normal(self.mean, self.stddev, shape), dt)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomInitializer):
    """Normal(mean, stddev) truncated at two standard deviations (beyond: re-drawn)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = _real("TruncatedNormal", "mean", mean)
        self.stddev = _real("TruncatedNormal", "stddev", stddev)
        super().__init__(seed)

    def __call__(self, shape, dtype="float32"):
        shape, dt = _shape("TruncatedNormal", shape), _dtype("TruncatedNormal", dtype)
        return self._finish(_truncated_normal(self._rng(), shape, self.mean, self.stddev), dt)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(RandomInitializer):
    """Uniform on [minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = _real("RandomUniform", "minval", minval)
        self.maxval = _real("RandomUniform", "maxval", maxval)
        if not maxval >= minval:
            raise ValueError(f"RandomUniform: maxval must be >= minval, got minval={minval!r}, maxval={maxval!r}")
        super().__init__(seed)

    def __call__(self, shape, dtype="float32"):
        shape, dt = _shape("RandomUniform", shape), _dtype("RandomUniform", dtype)
        return self._finish(self._rng().uniform(self.minval, self.maxval, shape), dt)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class VarianceScaling(RandomInitializer):
    """Samples with variance ``scale / n``, n from ``mode`` ("fan_in", "fan_out", "fan_avg"),
    from ``distribution`` "truncated_normal" (or "normal"), "untruncated_normal" or "uniform"."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        cls = type(self).__name__
        _real(cls, "scale", scale, positive=True)
        if mode not in self._MODES:
            raise ValueError(f"{cls}: invalid mode {mode!r}; expected one of {', '.join(self._MODES)}")
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"{cls}: invalid distribution {distribution!r}; expected one of "
                             f"{', '.join(self._DISTRIBUTIONS)}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        super().__init__(seed)

    def __call__(self, shape, dtype="float32"):
        cls = type(self).__name__
        shape, dt = _shape(cls, shape), _dtype(cls, dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, 0.0, math.sqrt(scale) / TRUNCATED_STDDEV)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(scale), shape)
        else:
            limit = math.sqrt(3.0 * scale)
            values = rng.uniform(-limit, limit, shape)
        return self._finish(values, dt)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


def _preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Keras' default).")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Truncated normal with variance 2 / (fan_in + fan_out).")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal with variance 2 / fan_in.")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform", "Uniform on [-limit, limit], limit = sqrt(6 / fan_in).")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated normal with variance 1 / fan_in.")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform",
                       "Uniform on [-limit, limit], limit = sqrt(3 / fan_in).")


class Orthogonal(RandomInitializer):
    """``gain`` times a random orthogonal matrix (QR of a normal matrix, signs fixed by R's
    diagonal): orthonormal columns when rows >= columns, else orthonormal rows. A shape of
    rank > 2 is treated as ``(prod(shape[:-1]), shape[-1])`` and reshaped back."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = _real("Orthogonal", "gain", gain)
        super().__init__(seed)

    def __call__(self, shape, dtype="float32"):
        shape, dt = _shape("Orthogonal", shape), _dtype("Orthogonal", dtype)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape to initialize must be at least two-dimensional, got {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # a uniform (Haar) distribution over orthogonal matrices
        if rows < cols:
            q = q.T
        return self._finish(self.gain * q.reshape(shape), dt)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


# Keras' snake_case names are the classes themselves.
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform

_ALL = (Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, Orthogonal,
        GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal, LecunUniform)
_SNAKE = {"zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
          "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
          "orthogonal": Orthogonal, "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
          "he_normal": HeNormal, "he_uniform": HeUniform, "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform}
# "glorot_uniform", "GlorotUniform", "glorotuniform" all name the same class.
_BY_KEY = {k.replace("_", ""): c for k, c in _SNAKE.items()}


def _lookup(name, op):
    cls = _BY_KEY.get(name.replace("_", "").lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"initializers.{op}: unknown initializer {name!r}; expected one of {', '.join(_SNAKE)}")
    return cls


def serialize(initializer: Initializer) -> dict:
    """``{"class_name": ..., "config": ...}`` (Keras' layout)."""
    if not isinstance(initializer, Initializer):
        raise TypeError(f"initializers.serialize: expected a fastnn initializer, got {type(initializer).__name__}")
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def deserialize(config: dict) -> Initializer:
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"initializers.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    return _lookup(config["class_name"], "deserialize").from_config(dict(config.get("config", {})))


def get(identifier):
    """An initializer from a name ("glorot_uniform" or "GlorotUniform", case-insensitive),
    an initializer or any callable (returned as is), a ``serialize`` dict, or None (None)."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        return _lookup(identifier, "get")()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"initializers.get: could not interpret {identifier!r} as an initializer; pass a name "
                     f"({', '.join(_SNAKE)}), an initializer, a callable or a config dict")
