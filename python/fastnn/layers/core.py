"""The core layers: ``Input`` / ``InputLayer``, ``Dense``, ``Activation``, ``Dropout``, ``Flatten``,
``Reshape`` (Keras 3's arguments and defaults)."""

from __future__ import annotations

import math
import numbers

from fastnn import functional as F
from fastnn import initializers as _initializers
from fastnn import regularizers as _regularizers
from fastnn.layers.base import Layer, serialize
from fastnn.layers.symbolic import KerasTensor, Node, _fmt  # noqa: F401  (_fmt: also imported from here)


class InputLayer(Layer):
    """Declares the input shape of a ``Sequential`` model (no weights; the identity)."""

    def __init__(self, shape=None, batch_size=None, name=None, batch_shape=None, **kwargs):
        if shape is None and batch_shape is None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            raise ValueError("InputLayer: give shape= (without the batch axis) or batch_shape=")
        if batch_shape is not None:
            kwargs["batch_input_shape"] = batch_shape
        elif shape is not None:
            kwargs["input_shape"] = shape
        super().__init__(name=name, batch_size=batch_size, **kwargs)
        self.build_from_declared()

    @property
    def batch_shape(self):
        return self.input_shape_declared

    def symbolic_output(self):
        """The KerasTensor this input stands for (made once)."""
        if not self._inbound_nodes:
            node = Node(self, [], single=True)
            node.outputs.append(KerasTensor(self.input_shape_declared, node, 0, name=self.name))
            self._inbound_nodes.append(node)
        return self._inbound_nodes[0].outputs[0]

    def call(self, x, training=False):
        return x

    def get_config(self):
        return {"name": self.name, "batch_shape": self.input_shape_declared, "dtype": "float32"}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        if "batch_input_shape" in config:
            config["batch_shape"] = config.pop("batch_input_shape")
        return cls(**config)


def Input(shape=None, batch_size=None, name=None, batch_shape=None):  # noqa: N802  (Keras' name)
    """``keras.Input(shape)``: a symbolic tensor to call layers on (the functional API,
    ``Model(inputs, outputs)``); it may also start a ``Sequential`` model."""
    layer = InputLayer(shape=shape, batch_size=batch_size, name=name, batch_shape=batch_shape)
    return layer.symbolic_output()


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis; ``kernel`` is (in, units) as Keras stores
    it; one fused ``functional.linear`` call (bias and relu in the GEMM epilogue)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, input_dim=None,
                 **kwargs):
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (int(input_dim),)
        for unsupported in ("activity_regularizer", "kernel_constraint", "bias_constraint", "lora_rank"):
            if kwargs.get(unsupported) is not None:
                raise NotImplementedError(f"Dense: {unsupported} is not supported yet")
            kwargs.pop(unsupported, None)
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = _activation_name(activation, "Dense")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel = self.bias = None

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense {self.name!r}: the last axis of the input must be known, got input shape "
                             f"{_fmt(input_shape)}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)

    def check_input(self, shape):
        if len(shape) < 2 or shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Input of layer {self.name!r} (Dense) is incompatible with the layer: expected axis -1 "
                             f"of the input to have value {self.kernel.shape[0]} (input shape "
                             f"{_fmt((None,) + tuple(self.input_shape[1:]))}), but received input with shape "
                             f"{_fmt(shape)}" + (" -- add a Flatten layer first?" if len(shape) > 2 else ""))

    def call(self, x, training=False):
        return F.linear(x, self.kernel, self.bias, activation=self.activation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation or "linear",
                "use_bias": self.use_bias, "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer)}


def _activation_name(activation, owner):
    """Activations are named (``"relu"``, ...) so configs stay JSON; None means linear."""
    if activation is None or activation == "linear":
        return None
    if isinstance(activation, str):
        return activation
    name = getattr(activation, "__name__", None)
    if name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax", "elu", "selu", "gelu", "silu", "swish",
                "softplus", "softsign", "exponential", "hard_sigmoid", "leaky_relu"):
        return name
    raise ValueError(f"{owner}: activation must be a name such as 'relu' (or a fastnn.functional activation), "
                     f"got {activation!r}")


class Activation(Layer):
    """Applies an activation by name (``"relu"``, ``"softmax"``, ...)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activation_name(activation, "Activation") or "linear"

    def call(self, x, training=False):
        return F.activation(x, self.activation)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Dropout(Layer):
    """Zeroes inputs with probability ``rate`` and scales the rest by 1 / (1 - rate) when training
    (``fit``, or ``training=True``); the identity otherwise."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise NotImplementedError("Dropout: noise_shape is not supported yet")
        if seed is not None:
            raise NotImplementedError("Dropout: a per-layer seed is not supported yet; use fastnn.manual_seed")
        super().__init__(**kwargs)
        self.rate = float(rate)

    def call(self, x, training=False):
        return F.dropout(x, self.rate, training=training)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": None, "seed": None}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    def __init__(self, data_format=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("Flatten: only data_format='channels_last' is supported")
        super().__init__(**kwargs)

    def call(self, x, training=False):
        return F.reshape(x, (x.shape[0], -1) if x.ndim else (1,))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last"}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (the batch axis is kept; one -1 allowed)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in shape) > 1 or any(d < -1 or d == 0 for d in shape):
            raise ValueError(f"Reshape: target_shape must hold positive sizes and at most one -1, got {target_shape!r}")
        self.target_shape = shape

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # checks the sizes agree

    def _resolve(self, sample_shape):
        if any(d is None for d in sample_shape):
            return self.target_shape if -1 not in self.target_shape else None
        size = math.prod(sample_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ValueError(f"Reshape {self.name!r}: cannot reshape samples of shape {_fmt(sample_shape)} "
                                 f"into {_fmt(self.target_shape)}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(f"Reshape {self.name!r}: total size of the new shape {_fmt(self.target_shape)} "
                             f"({known}) must equal the input's {_fmt(sample_shape)} ({size})")
        return self.target_shape

    def call(self, x, training=False):
        return F.reshape(x, (x.shape[0],) + self._resolve(x.shape[1:]))

    def compute_output_shape(self, input_shape):
        resolved = self._resolve(tuple(input_shape[1:]))
        if resolved is None:
            resolved = tuple(None if d == -1 else d for d in self.target_shape)
        return (input_shape[0],) + resolved

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


