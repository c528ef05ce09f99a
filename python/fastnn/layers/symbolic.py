"""Symbolic tensors: what Keras' functional API passes between layers before any data exists.

``Input(shape)`` returns a ``KerasTensor``; calling a layer on KerasTensors builds the layer from
their shapes, records a ``Node`` (this layer, these input tensors) and returns new KerasTensors of
the layer's output shape. ``Model(inputs, outputs)`` (``fastnn.functional_model.Functional``)
walks the nodes back from the outputs and replays them on real Tensors.
"""

from __future__ import annotations

import numpy as np


def _fmt(shape) -> str:
    """A shape as Keras prints it: ``(None, 784)``, ``(10,)``."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class KerasTensor:
    """A placeholder with a shape (batch axis None) and the node that produced it."""

    __slots__ = ("shape", "dtype", "node", "index", "name")

    def __init__(self, shape, node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(np.float32)
        self.node = node      # the Node whose output this is
        self.index = index    # which of that node's outputs
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        source = self.node.layer.name if self.node is not None else "?"
        return f"<KerasTensor shape={_fmt(self.shape)}, dtype=float32, source={source}>"

    def _no_math(self, *args):
        raise TypeError("KerasTensor: arithmetic on symbolic tensors is not supported; use a layer "
                        "(layers.Add, layers.Subtract, layers.Multiply, layers.Concatenate, ...) instead")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _no_math
    __matmul__ = __rmatmul__ = __neg__ = __pow__ = _no_math

    def __array__(self, *args, **kwargs):
        raise TypeError("KerasTensor: a symbolic tensor holds no data; build a Model(inputs, outputs) and call "
                        "it (or its predict) on arrays")

    def __bool__(self):
        raise TypeError("KerasTensor: a symbolic tensor has no truth value")


class Node:
    """One call of ``layer`` on symbolic inputs: ``inputs`` -> ``outputs`` (KerasTensors).
    ``single`` says whether the layer was given one tensor (rather than a list); ``training``
    (None, or a bool fixed at the call, as ``Dropout(0.5)(x, training=True)`` does in Keras) and
    ``kwargs`` are replayed with every run."""

    __slots__ = ("layer", "inputs", "outputs", "single", "training", "kwargs")

    def __init__(self, layer, inputs, single, training=None, kwargs=None):
        self.layer = layer
        self.inputs = list(inputs)
        self.single = single
        self.training = None if training is None else bool(training)
        self.kwargs = dict(kwargs or {})
        self.outputs: list[KerasTensor] = []

    @property
    def parents(self) -> list:
        return [t.node for t in self.inputs]


def is_symbolic(x) -> bool:
    """True for a KerasTensor or a (nested-once) list/tuple holding one."""
    if isinstance(x, KerasTensor):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(t, KerasTensor) for t in x)


def _output_shape(layer, shapes, single):
    """The layer's output shape for these input shapes: its ``compute_output_shape`` when it
    defines one, else a dry run on zeros (batch 1) for layers that only define ``call``."""
    from fastnn.layers.base import Layer
    from fastnn.tensor import Tensor, no_grad

    if type(layer).compute_output_shape is not Layer.compute_output_shape:
        return tuple(layer.compute_output_shape(shapes[0] if single else shapes))

    def zeros(shape):
        return Tensor(np.zeros(tuple(1 if d is None else d for d in shape), dtype=np.float32))

    with no_grad():
        args = zeros(shapes[0]) if single else [zeros(s) for s in shapes]
        out = layer.call(args, training=False)
    return (None,) + tuple(out.shape[1:])


def call_symbolic(layer, x, training=None, kwargs=None):
    """``layer(x, training=..., **kwargs)`` where x holds KerasTensors: builds the layer, records a
    Node (with the call's training flag and keyword arguments), returns the output KerasTensor."""
    single = isinstance(x, KerasTensor)
    inputs = [x] if single else list(x)
    for i, t in enumerate(inputs):
        if not isinstance(t, KerasTensor):
            raise TypeError(f"{layer.name}: in a functional model every input of a layer must be a symbolic "
                            f"tensor (from Input or another layer), but input {i} is a {type(t).__name__}")
    shapes = [t.shape for t in inputs]
    layer._maybe_build(shapes[0] if single else shapes)
    layer.check_input(shapes[0] if single else shapes)
    node = Node(layer, inputs, single, training, kwargs)
    out = KerasTensor(_output_shape(layer, shapes, single), node, 0, name=layer.name)
    node.outputs.append(out)
    layer._inbound_nodes.append(node)
    return out


def nodes_between(inputs, outputs, what="Model"):
    """The nodes that compute ``outputs`` from ``inputs``, in an order where every node comes
    after the nodes it reads from. Raises when an output depends on an Input not listed."""
    from fastnn.layers.core import InputLayer

    input_ids = {id(t) for t in inputs}
    order, state = [], {}  # state: id(node) -> 1 visiting, 2 done
    for out in outputs:
        if not isinstance(out, KerasTensor):
            raise TypeError(f"{what}: outputs must be symbolic tensors (the result of calling layers on Input), "
                            f"got {type(out).__name__}")
        stack = [(out, False)]
        while stack:  # iterative DFS: deep graphs must not hit Python's recursion limit
            tensor, expanded = stack.pop()
            if id(tensor) in input_ids:
                continue
            node = tensor.node
            if expanded:
                if state.get(id(node)) != 2:
                    state[id(node)] = 2
                    order.append(node)
                continue
            if state.get(id(node)) == 2:
                continue
            if isinstance(node.layer, InputLayer):
                raise ValueError(f"{what}: graph disconnected: an output depends on the input {node.layer.name!r} "
                                 f"{_fmt(tensor.shape)}, which is not among the model's inputs")
            state[id(node)] = 1
            stack.append((tensor, True))
            for t in reversed(node.inputs):
                if id(t) not in input_ids and state.get(id(t.node)) != 2:
                    stack.append((t, False))
    return order
