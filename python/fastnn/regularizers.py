"""Weight penalties, as Keras defines them: ``L1(l1)``, ``L2(l2)``, ``L1L2(l1, l2)``.

A regularizer is called on a parameter Tensor and returns a scalar Tensor,
``l1 * sum(|w|) + l2 * sum(w^2)``, which a model adds to its loss; its gradient
(``l1 * sign(w) + 2 * l2 * w``, sign(0) = 0) comes from one fused backward kernel
(``fastnn.functional.penalty``).
"""

from __future__ import annotations

import numbers

from fastnn import functional as F


def _coefficient(cls, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{cls}: {name} must be a number >= 0, got {value!r}")
    return float(value)


class Regularizer:
    """Base class: ``regularizer(weight) -> scalar Tensor``."""

    def __call__(self, weight):
        raise NotImplementedError  # subclasses define the penalty

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w^2)`` (Keras' defaults: 0 and 0)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _coefficient(type(self).__name__, "l1", l1)
        self.l2 = _coefficient(type(self).__name__, "l2", l2)

    def __call__(self, weight):
        # one fused kernel each way (fastnn.ops.penalty / penalty_backward)
        return F.penalty(weight, self.l1, self.l2)

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(L1L2):
    """``l1 * sum(|w|)`` (Keras' default l1 = 0.01)."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1, l2=0.0)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w^2)`` (Keras' default l2 = 0.01)."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l1=0.0, l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Keras' helper: both penalties, 0.01 each by default."""
    return L1L2(l1, l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: l1_l2(), "l1l2": L1L2}


def get(identifier):
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2'), a config dict or a callable."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        factory = _BY_NAME.get(identifier.lower())
        if factory is None:
            raise ValueError(f"regularizers.get: unknown regularizer {identifier!r}; known: {', '.join(_BY_NAME)}")
        return factory()
    if isinstance(identifier, dict):
        cls = {"L1": L1, "L2": L2, "L1L2": L1L2}.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"regularizers.get: unknown class_name in {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    raise TypeError(f"regularizers.get: expected None, a name, a dict or a callable, got {type(identifier).__name__}")
