"""``BatchNormalization`` (Keras 3's arguments, defaults and semantics), over the last axis."""

from __future__ import annotations

import numbers

from fastnn import functional as F
from fastnn import initializers as _initializers
from fastnn import regularizers as _regularizers
from fastnn.layers.base import Layer, serialize


class BatchNormalization(Layer):
    """Normalises each channel (the last axis) over every other axis.

    In training (``fit``, or ``training=True``) and while the layer is trainable it uses the
    batch mean and biased variance and moves ``moving_mean`` / ``moving_variance`` (non-trainable
    weights, saved with the model) towards them: ``moving = moving * momentum + batch * (1 -
    momentum)``, as Keras 3 does. Otherwise (``predict``, ``evaluate``, a frozen layer) it uses the
    moving statistics. ``center`` / ``scale`` add the trainable ``beta`` / ``gamma``.

    Only ``axis=-1`` (the channels of channels_last data) is supported.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, synchronized=False, **kwargs):
        for unsupported in ("beta_constraint", "gamma_constraint", "renorm", "virtual_batch_size", "adjustment"):
            if kwargs.get(unsupported):
                raise NotImplementedError(f"BatchNormalization: {unsupported} is not supported")
            kwargs.pop(unsupported, None)
        if synchronized:
            raise NotImplementedError("BatchNormalization: synchronized=True is not supported")
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"BatchNormalization: axis must be an int, got {axis!r}")
        for name, value in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"BatchNormalization: {name} must be a number, got {value!r}")
        if epsilon < 0:
            raise ValueError(f"BatchNormalization: epsilon must be >= 0, got {epsilon!r}")
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _check_axis(self, shape):
        if len(shape) < 2:
            raise ValueError(f"BatchNormalization {self.name!r}: expected an input of rank >= 2 (batch, ..., "
                             f"channels), got shape {tuple(shape)}")
        if self.axis not in (-1, len(shape) - 1):
            raise NotImplementedError(f"BatchNormalization {self.name!r}: only axis=-1 (the last axis, channels_last) "
                                      f"is supported, got axis={self.axis} for an input of rank {len(shape)}")

    def build(self, input_shape):
        self._check_axis(input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"BatchNormalization {self.name!r}: the last axis of the input must be known, got "
                             f"input shape {tuple(input_shape)}")
        shape = (int(channels),)
        # Keras' creation order: gamma, beta, moving_mean, moving_variance
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)

    def check_input(self, shape):
        self._check_axis(shape)
        if shape[-1] != self.moving_mean.shape[0]:
            raise ValueError(f"Input of layer {self.name!r} (BatchNormalization) is incompatible with the layer: "
                             f"expected axis -1 of the input to have value {self.moving_mean.shape[0]}, but received "
                             f"input with shape {tuple(shape)}")

    def call(self, x, training=False):
        return F.batch_norm(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                            training=bool(training) and self.trainable, momentum=self.momentum,
                            epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": serialize(self.beta_initializer),
                "gamma_initializer": serialize(self.gamma_initializer),
                "moving_mean_initializer": serialize(self.moving_mean_initializer),
                "moving_variance_initializer": serialize(self.moving_variance_initializer),
                "beta_regularizer": serialize(self.beta_regularizer),
                "gamma_regularizer": serialize(self.gamma_regularizer), "synchronized": False}
