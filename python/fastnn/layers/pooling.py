"""Pooling layers (Keras 3's arguments and defaults), NHWC only (``data_format='channels_last'``):
``MaxPooling2D``, ``AveragePooling2D``, ``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``."""

from __future__ import annotations

from fastnn import functional as F
from fastnn import ops
from fastnn.layers.base import Layer, unique_name


def _data_format(owner, data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{owner}: data_format={data_format!r} is not supported (fastnn's layers are "
                         "data_format='channels_last': inputs (batch, height, width, channels))")
    return "channels_last"


def _rank4(layer, shape):
    if len(shape) != 4:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: expected a 4-D input (batch, height, width, "
                         f"channels), got shape {tuple(shape)}")


class _Pooling2D(Layer):
    _prefix = ""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        owner = type(self).__name__
        self.pool_size, self.strides, self.padding = ops.pool_args(owner, pool_size, strides, padding)
        self.data_format = _data_format(owner, data_format)
        super().__init__(name=name if name is not None else unique_name(self._prefix), **kwargs)

    def _owner(self):
        return f"{type(self).__name__} {self.name!r}"

    def compute_output_shape(self, input_shape):
        _rank4(self, input_shape)
        shape, _ = ops.pool_geometry(self._owner(), input_shape, self.pool_size, self.strides, self.padding)
        return shape

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # checks the rank and that a 'valid' window fits

    def check_input(self, shape):
        self.compute_output_shape(shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """The max of each ``pool_size`` window, moved by ``strides`` (default: ``pool_size``);
    ``padding='same'`` keeps ceil(size / stride) outputs and never picks a padded cell."""

    _prefix = "max_pooling2d"

    def call(self, x, training=False):
        return F.max_pool2d(x, self.pool_size, self.strides, self.padding)


class AveragePooling2D(_Pooling2D):
    """The mean of each window; with ``padding='same'`` the edge windows are divided by their
    count of real cells (Keras / TensorFlow)."""

    _prefix = "average_pooling2d"

    def call(self, x, training=False):
        return F.avg_pool2d(x, self.pool_size, self.strides, self.padding)


class _GlobalPooling2D(Layer):
    _prefix = ""

    def __init__(self, data_format=None, keepdims=False, name=None, **kwargs):
        self.data_format = _data_format(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)
        super().__init__(name=name if name is not None else unique_name(self._prefix), **kwargs)

    def compute_output_shape(self, input_shape):
        _rank4(self, input_shape)
        n, c = input_shape[0], input_shape[3]
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def build(self, input_shape):
        _rank4(self, input_shape)

    def check_input(self, shape):
        _rank4(self, shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean over height and width: (batch, channels), or (batch, 1, 1, channels) with keepdims."""

    _prefix = "global_average_pooling2d"

    def call(self, x, training=False):
        return F.global_avg_pool2d(x, keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The max over height and width: (batch, channels), or (batch, 1, 1, channels) with keepdims."""

    _prefix = "global_max_pooling2d"

    def call(self, x, training=False):
        return F.global_max_pool2d(x, keepdims=self.keepdims)


# Keras' aliases
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
