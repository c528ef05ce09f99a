"""``Layer``: the base of every fastnn layer, with Keras 3's semantics (DESIGN.md §2).

A layer owns Parameters and calls ``fastnn.functional`` ops; it never does array math itself.
It is built lazily: the first call (or ``build(input_shape)``) makes its weights from the input
shape. ``input_shape=`` / ``batch_input_shape=`` given to the constructor (as Keras allows for
the first layer of a ``Sequential``) lets a model build before it sees data.

Subclasses define ``build(input_shape)`` (calling ``add_weight``), ``call(x, training=False)``,
``compute_output_shape(input_shape)`` and ``get_config()``. Layers assigned as attributes of a
layer are tracked, so their weights belong to it too (what subclassed models rely on).
"""

from __future__ import annotations

import re
import threading

import numpy as np

from fastnn import initializers as _initializers
from fastnn import regularizers as _regularizers
from fastnn.layers.symbolic import call_symbolic, is_symbolic
from fastnn.tensor import Parameter, Tensor

_names_lock = threading.Lock()
_name_counts: dict[str, int] = {}


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def unique_name(prefix: str) -> str:
    """Keras' automatic names: ``dense``, ``dense_1``, ``dense_2``, ..."""
    with _names_lock:
        n = _name_counts.get(prefix, 0)
        _name_counts[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def _shape_tuple(shape, what):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of ints, got {shape!r}") from None
    if any(d is not None and d < 0 for d in shape):
        raise ValueError(f"{what} must hold sizes >= 0 (or None), got {shape}")
    return shape


def to_tensor(x) -> Tensor:
    """A layer's input as a Tensor (arrays and nested lists are wrapped; floats become float32)."""
    return x if isinstance(x, Tensor) else Tensor(x)


class Layer:
    """Base layer: ``layer(x, training=None)`` -> Tensor."""

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None, input_shape=None,
                 batch_input_shape=None, batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{type(self).__name__}: only float32 layers are supported, got dtype={dtype!r}")
        object.__setattr__(self, "_layers", [])
        self.name = name if name is not None else unique_name(_snake(type(self).__name__))
        self.trainable = bool(trainable)
        self.built = False
        self._params: list[Parameter] = []
        self._trainable_flags: list[bool] = []
        self._regularizers: list = []
        self.input_shape_declared = None  # (None, ...) when given at construction
        if batch_input_shape is not None:
            self.input_shape_declared = _shape_tuple(batch_input_shape, f"{self.name}: batch_input_shape")
        elif input_shape is not None:
            self.input_shape_declared = (batch_size,) + _shape_tuple(input_shape, f"{self.name}: input_shape")
        self.input_shape = None
        self.output_shape = None
        self._inbound_nodes: list = []  # one per call on symbolic tensors (the functional API)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:  # as Keras 3 does: any build(), called directly or lazily, marks the layer built
            cls.build = _build_wrapper(cls.__dict__["build"])

    def __setattr__(self, name, value):
        if isinstance(value, Layer) and name != "_layers":
            layers = self.__dict__.get("_layers")
            if layers is not None and all(value is not l for l in layers):
                layers.append(value)
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ weights
    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None, trainable=True):
        """A new Parameter of ``shape`` filled by ``initializer``, owned by this layer."""
        init = _initializers.get(initializer)
        p = Parameter(np.asarray(init(tuple(shape)), dtype=np.float32), requires_grad=bool(trainable),
                      name=f"{self.name}/{name}")
        self._params.append(p)
        self._trainable_flags.append(bool(trainable))
        self._regularizers.append(_regularizers.get(regularizer))
        return p

    def _own(self, trainable):
        return [p for p, t in zip(self._params, self._trainable_flags) if t == trainable]

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        out = self._own(True)
        for layer in self._layers:
            out += layer.trainable_weights
        return out

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        out = self._own(False)
        for layer in self._layers:
            out += layer.non_trainable_weights
        return out

    @property
    def weights(self) -> list:
        """Every weight: this layer's own (trainable first), then each sublayer's in order (Keras 3's
        order, which ``get_weights`` / ``set_weights`` follow)."""
        out = self._own(True) + self._own(False)
        for layer in self._layers:
            out += layer.weights
        return out

    @property
    def trainable_variables(self) -> list:
        return self.trainable_weights

    @property
    def variables(self) -> list:
        return self.weights

    def count_params(self) -> int:
        return int(sum(p.size for p in self.weights))

    def get_weights(self) -> list:
        """Copies of the weights as NumPy arrays, in ``weights`` order."""
        return [np.array(p.numpy(), copy=True) for p in self.weights]

    def set_weights(self, weights) -> None:
        """Overwrites the weights (in ``weights`` order) with arrays of the same shapes."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"{self.name}: set_weights expected a list of {len(params)} arrays, got {len(weights)}")
        arrays = []
        for p, w in zip(params, weights):
            w = np.asarray(w.numpy() if isinstance(w, Tensor) else w)
            if tuple(w.shape) != p.shape:
                raise ValueError(f"{self.name}: set_weights: weight {p.name!r} has shape {p.shape}, got an array "
                                 f"of shape {tuple(w.shape)}")
            arrays.append(w)
        for p, w in zip(params, arrays):  # all checked before any is written
            p.data[...] = w if isinstance(p.data, np.ndarray) else type(p.data)(w)

    @property
    def losses(self) -> list:
        """The regularization penalties of this layer's (and its sublayers') weights, as scalar
        Tensors computed from the current weights (differentiable: a model adds them to its loss)."""
        if not self.trainable:  # Keras 3 regularizes trainable weights only
            return []
        out = [reg(p) for p, reg, t in zip(self._params, self._regularizers, self._trainable_flags)
               if reg is not None and t]
        for layer in self._layers:
            out += layer.losses
        return out

    # ------------------------------------------------------------------ building and calling
    def build(self, input_shape) -> None:
        """Makes the weights for ``input_shape`` (batch axis first, may be None)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _maybe_build(self, input_shape):
        if not self.built:
            shape = _as_shape(input_shape)
            self.build(shape)
            _record_shapes(self, shape)

    def build_from_declared(self) -> bool:
        """Builds from the constructor's ``input_shape`` when one was given; whether built."""
        if not self.built and self.input_shape_declared is not None:
            self._maybe_build(self.input_shape_declared)
        return self.built

    def check_input(self, shape) -> None:
        """Raises a ValueError naming this layer when a built layer gets an input it cannot take."""

    def call(self, x, training=False):
        raise NotImplementedError(f"{type(self).__name__}.call is not defined")

    def __call__(self, x, training=None, **kwargs):
        """``layer(x)``: a Tensor/array, or a list of them for layers that take several inputs
        (``Add``, ``Concatenate``, ...). Symbolic inputs (``Input``) record the call for the
        functional API instead of computing."""
        if is_symbolic(x):
            return call_symbolic(self, x, training, kwargs)
        if _is_input_list(x):
            x = [to_tensor(t) for t in x]
            shape = [t.shape for t in x]
        else:
            x = to_tensor(x)
            shape = x.shape
        self._maybe_build(shape)
        self.check_input(shape)
        return self.call(x, training=bool(training), **kwargs)

    def __getattr__(self, name):
        # Keras' ``layer.input`` / ``layer.output``: the symbolic tensors of the layer's first call
        # in a functional graph (a fallback, so subclasses may still use these names themselves).
        if name in ("input", "output"):
            nodes = self.__dict__.get("_inbound_nodes")
            if not nodes:
                raise AttributeError(f"Layer {self.__dict__.get('name')!r} has never been called on symbolic "
                                     f"tensors (Input) and thus has no defined {name}")
            node = nodes[0]
            if name == "output":
                return node.outputs[0]
            return node.outputs[0] if not node.inputs else (node.inputs[0] if node.single else list(node.inputs))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ configuration
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self.input_shape_declared is not None:
            config["batch_input_shape"] = self.input_shape_declared
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _as_shape(input_shape):
    """A shape as a tuple (``[None, 8]`` too), or the shapes of a multi-input layer as a list of
    tuples (a list/tuple whose every element is itself a shape)."""
    if isinstance(input_shape, (list, tuple)) and input_shape and \
            all(isinstance(s, (tuple, list)) for s in input_shape):
        return [tuple(s) for s in input_shape]
    return tuple(input_shape)


def _is_input_list(x) -> bool:
    """Several inputs (a list of arrays / Tensors), as opposed to one input written as nested lists
    of numbers."""
    return isinstance(x, (list, tuple)) and bool(x) and all(
        isinstance(t, (np.ndarray, Tensor)) or hasattr(t, "__cuda_array_interface__") for t in x)


def _record_shapes(layer, input_shape):
    layer.built = True
    if layer.input_shape is None and input_shape is not None:
        input_shape = _as_shape(input_shape)
        if isinstance(input_shape, list):
            layer.input_shape = [(None,) + s[1:] if s else s for s in input_shape]
        else:
            layer.input_shape = (None,) + input_shape[1:] if input_shape else input_shape
        layer.output_shape = layer.compute_output_shape(layer.input_shape)


def _build_wrapper(build):
    import functools

    @functools.wraps(build)
    def wrapper(self, input_shape=None, *args, **kwargs):
        result = build(self, input_shape, *args, **kwargs)
        _record_shapes(self, input_shape)
        return result

    wrapper._fastnn_wrapped = True
    return wrapper


def serialize(obj):
    """Keras' ``{"class_name", "config"}`` form of an initializer / regularizer / None."""
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    raise ValueError(f"cannot serialize {obj!r}: give a name or a fastnn object with get_config()")
