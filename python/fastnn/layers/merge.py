"""Merge layers: join the branches of a functional model (Keras 3's names and rules).

``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum`` combine inputs of
broadcast-compatible shapes element by element; ``Concatenate(axis=-1)`` joins them along an
axis. Each takes a list of tensors: ``layers.Add()([a, b])``, or the lowercase shortcuts
``layers.add([a, b])``.
"""

from __future__ import annotations

import numbers

from fastnn import functional as F
from fastnn.layers.base import Layer
from fastnn.layers.symbolic import _fmt


def _broadcast(a, b, owner):
    """Keras' element-wise output shape: sizes equal, or one of them 1; unknown (None) stays
    unknown."""
    if len(a) < len(b):
        a, b = b, a
    b = (1,) * (len(a) - len(b)) + tuple(b)
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x is None or y is None:
            out.append(None)
        elif x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ValueError(f"{owner}: inputs with shapes {_fmt(a)} and {_fmt(b)} cannot be combined element by "
                             f"element: axis {i} has sizes {x} and {y} (they must be equal, or one of them 1)")
    return tuple(out)


class _Merge(Layer):
    """Base: checks it gets a list of at least ``min_inputs`` tensors; ``_merge`` does the op."""

    min_inputs = 2
    max_inputs = None

    def _check_list(self, shapes):
        n = len(shapes) if isinstance(shapes, list) else 1
        if not isinstance(shapes, list) or n < self.min_inputs or (self.max_inputs and n > self.max_inputs):
            want = f"exactly {self.max_inputs}" if self.max_inputs == self.min_inputs else \
                f"at least {self.min_inputs}"
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected a list of {want} inputs, "
                             f"got {n if isinstance(shapes, list) else 'a single tensor'}")

    def build(self, input_shape):
        self._check_list(input_shape)
        self.compute_output_shape(input_shape)  # raises on incompatible shapes

    def check_input(self, shape):
        self._check_list(shape)

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        out = tuple(input_shape[0])
        for s in input_shape[1:]:
            out = _broadcast(out, tuple(s), f"{type(self).__name__} {self.name!r}")
        return out

    def call(self, inputs, training=False):
        out = inputs[0]
        for x in inputs[1:]:
            out = self._merge(out, x)
        return out


class Add(_Merge):
    """The sum of the inputs."""

    @staticmethod
    def _merge(a, b):
        return F.add(a, b)


class Subtract(_Merge):
    """The first input minus the second (exactly two inputs)."""

    max_inputs = 2

    @staticmethod
    def _merge(a, b):
        return F.subtract(a, b)


class Multiply(_Merge):
    """The element-wise product of the inputs."""

    @staticmethod
    def _merge(a, b):
        return F.multiply(a, b)


class Maximum(_Merge):
    """The element-wise maximum of the inputs."""

    @staticmethod
    def _merge(a, b):
        return F.maximum(a, b)


class Minimum(_Merge):
    """The element-wise minimum of the inputs."""

    @staticmethod
    def _merge(a, b):
        return F.minimum(a, b)


class Average(_Merge):
    """The mean of the inputs."""

    def call(self, inputs, training=False):
        total = inputs[0]
        for x in inputs[1:]:
            total = F.add(total, x)
        return F.multiply(total, 1.0 / len(inputs))


class Concatenate(_Merge):
    """Joins the inputs along ``axis`` (all other axes equal)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"Concatenate: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        owner = f"Concatenate {self.name!r}"
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{owner}: axis {self.axis} must be a non-batch axis of inputs of rank {rank}")
        ax = self.axis % rank
        size = 0
        for s in shapes:
            if len(s) != rank:
                raise ValueError(f"{owner}: all inputs must have the same rank, got shapes "
                                 f"{', '.join(_fmt(t) for t in shapes)}")
            for i in range(1, rank):
                if i != ax and s[i] is not None and shapes[0][i] is not None and s[i] != shapes[0][i]:
                    raise ValueError(f"{owner}: inputs must match on every axis except the concatenation axis "
                                     f"{self.axis}, got shapes {', '.join(_fmt(t) for t in shapes)}")
            size = None if size is None or s[ax] is None else size + s[ax]
        return shapes[0][:ax] + (size,) + shapes[0][ax + 1:]

    def call(self, inputs, training=False):
        return F.concatenate(inputs, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
