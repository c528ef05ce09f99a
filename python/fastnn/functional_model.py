"""``Model(inputs, outputs)``: Keras' functional API.

``Input`` gives symbolic tensors; calling layers on them records a graph of ``Node``s
(``fastnn.layers.symbolic``). ``Functional`` keeps the nodes that lead from its inputs to its
outputs, in dependency order, and replays them on real Tensors when called: branches, merges
(``layers.Add``, ``layers.Concatenate``) and shared layers (one layer called twice, one set of
weights) all come from that. It trains like any ``Model``; its config lists each layer with the
calls it receives (``inbound_nodes``), so ``save`` / ``load_model`` rebuild it without code.
"""

from __future__ import annotations

from fastnn.layers.core import InputLayer, _fmt
from fastnn.layers.symbolic import KerasTensor, nodes_between
from fastnn.models import Model


def _as_list(x, what):
    if isinstance(x, KerasTensor):
        return [x], True
    if isinstance(x, dict):
        raise NotImplementedError(f"Model: {what} given as a dict are not supported yet; pass a tensor or a list")
    if isinstance(x, (list, tuple)) and x and all(isinstance(t, KerasTensor) for t in x):
        return list(x), False
    raise TypeError(f"Model: {what} must be a symbolic tensor (from keras-style Input and layer calls) or a list of "
                    f"them, got {type(x).__name__}")


class Functional(Model):
    """A model defined by its input and output symbolic tensors (``Model(inputs, outputs)``)."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._input_list, self._single_input = _as_list(inputs, "inputs")
        self._output_list, self._single_output = _as_list(outputs, "outputs")
        for i, t in enumerate(self._input_list):
            if t.node is None or not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model: inputs[{i}] must come straight from Input(...), but it is the output of "
                                 f"layer {t.node.layer.name if t.node else '?'!r}")
        if len({id(t) for t in self._input_list}) != len(self._input_list):
            raise ValueError("Model: the same Input is listed twice in inputs")
        self._nodes = nodes_between(self._input_list, self._output_list)
        for layer in [t.node.layer for t in self._input_list] + [n.layer for n in self._nodes]:
            if all(layer is not l for l in self._layers):
                self._layers.append(layer)
        names = [l.name for l in self._layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model: layer names must be unique within a model, but {', '.join(map(repr, duplicates))} "
                             f"is used by more than one layer")
        shapes_in = [t.shape for t in self._input_list]
        shapes_out = [t.shape for t in self._output_list]
        self.input_shape = shapes_in[0] if self._single_input else shapes_in
        self.output_shape = shapes_out[0] if self._single_output else shapes_out
        self.built = True

    # ------------------------------------------------------------------ Keras' graph attributes
    @property
    def inputs(self) -> list:
        return list(self._input_list)

    @property
    def outputs(self) -> list:
        return list(self._output_list)

    @property
    def input(self):
        return self._input_list[0] if self._single_input else list(self._input_list)

    @property
    def output(self):
        return self._output_list[0] if self._single_output else list(self._output_list)

    @property
    def layers(self) -> list:
        """Every layer, the InputLayers first (as Keras lists a functional model's layers)."""
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        """The layer called ``name`` (or at position ``index`` of ``layers``)."""
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r} in model {self.name!r}; layers: "
                         f"{', '.join(l.name for l in self._layers)}")

    # ------------------------------------------------------------------ running the graph
    def check_input(self, shape) -> None:
        shapes = [shape] if self._single_input else shape
        if self._single_input and isinstance(shape, list):
            raise ValueError(f"Model {self.name!r} takes one input, got a list of {len(shape)}")
        if not isinstance(shapes, list) or len(shapes) != len(self._input_list):
            got = len(shapes) if isinstance(shapes, list) else 1
            raise ValueError(f"Model {self.name!r} expects {len(self._input_list)} inputs (a list, in the order of "
                             f"Model(inputs=...)), got {got}")
        for i, (want, got) in enumerate(zip([t.shape for t in self._input_list], shapes)):
            got = tuple(got)
            if len(want) != len(got) or any(w is not None and g is not None and w != g
                                            for w, g in zip(want[1:], got[1:])):
                raise ValueError(f"Input {i} of model {self.name!r} is incompatible with the model: expected shape "
                                 f"{_fmt(want)}, got shape {_fmt(got)}")

    def call(self, inputs, training=False):
        xs = [inputs] if self._single_input else list(inputs)
        values = {id(t): x for t, x in zip(self._input_list, xs)}
        for node in self._nodes:
            args = [values[id(t)] for t in node.inputs]
            values[id(node.outputs[0])] = node.layer(args[0] if node.single else args,
                                                     training=training if node.training is None else node.training,
                                                     **node.kwargs)
        outs = [values[id(t)] for t in self._output_list]
        return outs[0] if self._single_output else outs

    def compute_output_shape(self, input_shape):
        return self.output_shape

    def build(self, input_shape=None):
        self.built = True  # the graph was built when its layers were called on the Input tensors

    def compile(self, *args, **kwargs):
        if not self._single_output:
            raise NotImplementedError(f"compile: model {self.name!r} has {len(self._output_list)} outputs; training "
                                      "models with several outputs (a loss per output) is not supported yet. Call "
                                      "the model directly, or build one Model per output that shares the layers")
        return super().compile(*args, **kwargs)

    # ------------------------------------------------------------------ summary
    def _summary_rows(self):
        """Name (type), output shape, parameters and, as Keras shows for functional models, what
        each layer is called on ("Connected to")."""
        rows = []
        for layer in self._layers:
            shape = layer.input_shape_declared if isinstance(layer, InputLayer) else layer.output_shape
            calls = self._model_nodes(layer) if not isinstance(layer, InputLayer) else []
            connected = ", ".join(f"{t.node.layer.name}[{self._node_index(t.node)}][{t.index}]"
                                  for n in calls for t in n.inputs) or "-"
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, layer.count_params(), connected))
        return rows

    # ------------------------------------------------------------------ configuration
    def _model_nodes(self, layer):
        """The calls of ``layer`` that belong to this model, in execution order."""
        if isinstance(layer, InputLayer):
            return layer._inbound_nodes[:1]
        return [n for n in self._nodes if n.layer is layer]

    def _node_index(self, node):
        return next(i for i, n in enumerate(self._model_nodes(node.layer)) if n is node)

    def _ref(self, tensor):
        return [tensor.node.layer.name, self._node_index(tensor.node), tensor.index]

    def get_config(self):
        from fastnn.layers import serialize

        layers = []
        for layer in self._layers:
            entry = serialize(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [] if isinstance(layer, InputLayer) else [
                dict({"args": [self._ref(t) for t in n.inputs], "single": n.single},
                     **({"training": n.training} if n.training is not None else {}),
                     **({"kwargs": n.kwargs} if n.kwargs else {}))
                for n in self._model_nodes(layer)]
            layers.append(entry)
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": [self._ref(t) for t in self._input_list],
                "output_layers": [self._ref(t) for t in self._output_list],
                "single_input": self._single_input, "single_output": self._single_output}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds the layers from their configs and replays their calls in dependency order."""
        from fastnn.layers import deserialize

        entries = config.get("layers")
        if not isinstance(entries, list):
            raise ValueError("Functional.from_config: 'layers' must be a list")
        made = {}      # (layer name, node index) -> output KerasTensor
        pending = []   # (layer, node index, node spec)
        for entry in entries:
            layer = deserialize(entry, custom_objects)
            if isinstance(layer, InputLayer):
                made[(layer.name, 0)] = layer.symbolic_output()
            for k, spec in enumerate(entry.get("inbound_nodes") or []):
                pending.append((layer, k, spec))
        while pending:
            waiting = []
            for layer, k, spec in pending:
                refs = spec.get("args") or []
                ready = all((r[0], r[1]) in made for r in refs) and \
                    (k == 0 or (layer.name, k - 1) in made)
                if not ready:
                    waiting.append((layer, k, spec))
                    continue
                args = [made[(r[0], r[1])] for r in refs]
                made[(layer.name, k)] = layer(args[0] if spec.get("single", True) else args,
                                              training=spec.get("training"), **(spec.get("kwargs") or {}))
            if len(waiting) == len(pending):
                raise ValueError("Functional.from_config: the layer calls reference layers or calls that do not "
                                 f"exist: {', '.join(l.name for l, _, _ in waiting)}")
            pending = waiting

        def tensors(refs, single):
            try:
                out = [made[(r[0], r[1])] for r in refs]
            except KeyError as e:
                raise ValueError(f"Functional.from_config: unknown input/output layer {e}") from None
            return out[0] if single and len(out) == 1 else out

        return cls(tensors(config.get("input_layers", []), config.get("single_input", True)),
                   tensors(config.get("output_layers", []), config.get("single_output", True)),
                   name=config.get("name"), trainable=config.get("trainable", True))
