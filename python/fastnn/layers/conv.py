"""Convolution layers: ``Conv2D`` and ``ZeroPadding2D`` (Keras 3's arguments and defaults).

Channels-last only (NHWC, Keras' default ``data_format``): inputs are (batch, height, width,
channels) and a Conv2D kernel is (kernel_h, kernel_w, in_channels, filters) as Keras stores it.
Each layer is one ``fastnn.functional`` call: ``conv2d`` (bias and relu fused in the kernel's
epilogue) and ``zero_pad2d``.
"""

from __future__ import annotations

import numbers

from fastnn import functional as F
from fastnn import initializers as _initializers
from fastnn import regularizers as _regularizers
from fastnn.conv_geometry import explicit_padding, output_size, pair, same_padding
from fastnn.layers.base import Layer, serialize, unique_name
from fastnn.layers.core import _activation_name, _fmt


def _channels_last(owner, data_format):
    if data_format in (None, "channels_last"):
        return
    if data_format == "channels_first":
        raise ValueError(f"{owner}: data_format='channels_first' is not supported; fastnn convolutions are "
                         "channels_last (batch, height, width, channels). Transpose NCHW inputs with "
                         "x.transpose(0, 2, 3, 1)")
    raise ValueError(f"{owner}: data_format must be 'channels_last' (or None), got {data_format!r}")


def _nchw_hint(shape) -> str:
    """A hint when a 4-D shape looks channels_first (a few channels on axis 1, many on axis 3)."""
    if shape and len(shape) == 4 and shape[1] is not None and shape[3] is not None and shape[1] <= 4 < shape[3]:
        return (f" (input shape {_fmt(shape)} looks channels_first (batch, channels, height, width); the layer is "
                f"channels_last (batch, height, width, channels): transpose it with x.transpose(0, 2, 3, 1))")
    return ""


class Conv2D(Layer):
    """2-D convolution: ``activation(conv(x, kernel) + bias)``, channels_last, with Keras'
    output-size rules for ``padding='valid'`` / ``'same'``."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        owner = "Conv2D"
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters <= 0:
            raise ValueError(f"{owner}: filters must be a positive int, got {filters!r}")
        self_kernel = pair(owner, "kernel_size", kernel_size)
        self_strides = pair(owner, "strides", strides)
        self_dilation = pair(owner, "dilation_rate", dilation_rate)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r} "
                             "(use a ZeroPadding2D layer for explicit sizes)")
        _channels_last(owner, data_format)
        if groups != 1:
            raise NotImplementedError(f"{owner}: groups={groups!r} is not supported yet (only 1)")
        for unsupported in ("activity_regularizer", "kernel_constraint", "bias_constraint", "lora_rank"):
            if kwargs.get(unsupported) is not None:
                raise NotImplementedError(f"{owner}: {unsupported} is not supported yet")
            kwargs.pop(unsupported, None)
        if kwargs.get("name") is None:
            kwargs["name"] = unique_name("conv2d")  # Keras' name (the generic rule would say conv2_d)
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = self_kernel
        self.strides = self_strides
        self.dilation_rate = self_dilation
        self.padding = padding.lower()
        self.activation = _activation_name(activation, owner)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel = self.bias = None

    # ------------------------------------------------------------------ shapes
    def _check_rank(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input of layer {self.name!r} (Conv2D) must be 4-D (batch, height, width, channels), "
                             f"got input shape {_fmt(shape)}")

    def _spatial(self, shape, axis):
        """Output length of spatial axis ``axis`` (0: height, 1: width) of an input of ``shape``
        (None stays None); a ValueError when the kernel does not fit."""
        size = shape[1 + axis]
        if size is None:
            return None
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        before, after = same_padding(size, k, s, d) if self.padding == "same" else (0, 0)
        out = output_size(size, k, s, d, before, after)
        if out < 1:
            ek = (k - 1) * d + 1
            raise ValueError(f"Conv2D {self.name!r}: the kernel ({self.kernel_size[0]}x{self.kernel_size[1]}"
                             f"{f', dilated to {ek} along the ' + ('height' if axis == 0 else 'width') if d > 1 else ''}) "
                             f"is larger than the input's {'height' if axis == 0 else 'width'} ({size}) with "
                             f"padding='valid'; use padding='same' or a smaller kernel" + _nchw_hint(shape))
        return out

    def build(self, input_shape):
        if self.input_shape_declared is not None:
            # Built from the declared input_shape, as Keras does: an input that disagrees with it
            # then meets check_input's message (which spots channels_first inputs).
            input_shape = self.input_shape_declared
        self._check_rank(input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"Conv2D {self.name!r}: the channel axis (last) of the input must be known, got input "
                             f"shape {_fmt(input_shape)}")
        self.compute_output_shape(input_shape)  # the kernel must fit
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.filters), self.kernel_initializer,
                                      self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)

    def check_input(self, shape):
        self._check_rank(shape)
        expected = self.kernel.shape[2]
        if shape[-1] != expected:
            hint = ""
            if shape[1] == expected:
                hint = (f" -- the layer is channels_last (batch, height, width, channels) and this input looks "
                        f"channels_first (batch, channels, height, width); transpose it with x.transpose(0, 2, 3, 1)")
            raise ValueError(f"Input of layer {self.name!r} (Conv2D) is incompatible with the layer: expected axis -1 "
                             f"of the input (channels) to have value {expected}, but received input with shape "
                             f"{_fmt(shape)}{hint}")
        self.compute_output_shape(shape)

    def call(self, x, training=False):
        return F.conv2d(x, self.kernel, self.bias, strides=self.strides, padding=self.padding,
                        dilation=self.dilation_rate, activation=self.activation)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return (input_shape[0], self._spatial(input_shape, 0), self._spatial(input_shape, 1), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": "channels_last",
                "dilation_rate": self.dilation_rate, "groups": 1, "activation": self.activation or "linear",
                "use_bias": self.use_bias, "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer)}


class ZeroPadding2D(Layer):
    """Pads the height and width of a channels_last input with zeros. ``padding``: an int (all
    sides), a pair (symmetric height, symmetric width) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        _channels_last("ZeroPadding2D", data_format)
        self.padding = explicit_padding("ZeroPadding2D", padding)
        if kwargs.get("name") is None:
            kwargs["name"] = unique_name("zero_padding2d")
        super().__init__(**kwargs)

    def call(self, x, training=False):
        return F.zero_pad2d(x, self.padding)

    def check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input of layer {self.name!r} (ZeroPadding2D) must be 4-D (batch, height, width, "
                             f"channels), got input shape {_fmt(shape)}")

    def compute_output_shape(self, input_shape):
        self.check_input(input_shape)
        (t, b), (l, r) = self.padding
        n, h, w, c = input_shape
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": "channels_last"}
