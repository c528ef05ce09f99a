"""Saving and loading models (Keras 3 semantics, DESIGN.md §2).

``save_model(model, path)`` writes ONE safetensors file: its tensors are the model's weights, named
``<layer name>/<weight name>`` (``dense/kernel``), and its string metadata holds

- ``format`` = ``"fastnn"``, ``format_version``, ``kind`` (``"model"`` or ``"weights"``),
  ``fastnn_version``;
- ``weight_names``: a JSON list giving the weights' order (``model.weights``);
- ``model_config`` (kind ``"model"``): the architecture as JSON, ``{"class_name": "Sequential" or "Functional",
  "config": {... "layers": [{"class_name", "config"}, ...]}, "build_config": {"input_shape"}}``;
- ``compile_config`` (when the model was compiled with serialisable objects): the loss, the
  optimizer, the metrics and weighted metrics as names or ``{"class_name", "config"}`` (Metric
  objects through their ``get_config``);
- ``optimizer_state`` (with ``compile_config``): the optimizer's iterations and learning rate; its
  slot arrays (Adam's moments, ...) are tensors named ``__optimizer__/<position>/<slot>``, so a
  loaded model resumes training where it stopped (Keras 3 saves the optimizer variables too).

Loading never executes code: the file is JSON and raw tensors (no pickle), and only known class
names (plus the caller's ``custom_objects``) map to classes. Writes are atomic: a temporary file in
the same directory, flushed and fsynced, then ``os.replace``; a failure midway leaves the previous
file as it was. ``safetensors`` is imported only here, when saving or loading.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings

import numpy as np

FORMAT = "fastnn"
FORMAT_VERSION = 1

__all__ = ["load_model", "load_weights", "save_model", "save_weights"]


def _safetensors():
    try:
        import safetensors  # noqa: F401
        import safetensors.numpy
    except ImportError as e:  # pragma: no cover - a runtime dependency, present after pip install
        raise ImportError("saving and loading fastnn models needs the safetensors package: "
                          "pip install 'safetensors>=0.4'") from e
    return safetensors


# --------------------------------------------------------------------------- writing

def _write_payload(f, data: bytes) -> None:
    """Writes the serialised file (a seam the tests use to fail a save midway)."""
    f.write(data)


def _atomic_write(path: str, data: bytes, overwrite: bool, what: str) -> None:
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{what}: {path!r} exists and overwrite=False")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{what}: the directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_payload(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); harmless where directories cannot be opened
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _weight_tensors(model, what):
    """``(names, {name: array})`` in ``model.weights`` order; names made unique if layers share one."""
    names, tensors = [], {}
    for p in model.weights:
        base = p.name or "weight"
        name, k = base, 1
        while name in tensors:
            name, k = f"{base}_{k}", k + 1
        arr = p.numpy()
        if not isinstance(arr, np.ndarray):  # a GPU tensor: bring it to the host
            arr = arr.get()
        tensors[name] = np.ascontiguousarray(arr, dtype=np.float32)
        names.append(name)
    return names, tensors


def _compile_config(model):
    """The compile arguments as JSON-able names/configs, or None (with a warning) when any of them
    is an arbitrary callable that cannot be saved without code."""
    if not getattr(model, "_compiled", False):
        return None
    from fastnn import losses as _losses
    from fastnn import metrics as _metrics
    from fastnn import optimizers as _optimizers

    loss_arg, metric_args = model._compile_args
    weighted_args = model._compile_metrics.user_weighted_metrics

    def loss_cfg(loss):
        if loss is None or isinstance(loss, str):
            return loss
        if isinstance(loss, type) and loss.__name__ in _losses._CLASSES and _losses._CLASSES[loss.__name__] is loss:
            return loss.__name__
        if isinstance(loss, _losses.Loss) and _losses._CLASSES.get(type(loss).__name__) is type(loss):
            return {"class_name": type(loss).__name__, "config": loss.get_config()}
        for name, fn in _losses._BY_NAME.items():
            if fn is loss:
                return name
        raise ValueError(f"loss {loss!r}")

    def metric_cfg(m):
        # names stay names (so "accuracy" is resolved from the shapes again); Metric objects and
        # classes, and fastnn's per-sample functions, are saved as {"class_name", "config"}
        if isinstance(m, str):
            return m
        if isinstance(m, type) and issubclass(m, _metrics.Metric):
            m = m()
        if isinstance(m, _metrics.Metric):
            return _metrics.serialize(m)
        for name, fn in _metrics._FUNCTIONS.items():
            if fn is m:
                return {"class_name": "MeanMetricWrapper", "config": {"fn": name, "name": name}}
        raise ValueError(f"metric {m!r}")

    try:
        config = {"optimizer": _optimizers.serialize(model.optimizer), "loss": loss_cfg(loss_arg),
                  "metrics": [metric_cfg(m) for m in metric_args],
                  "weighted_metrics": [metric_cfg(m) for m in weighted_args]}
        json.dumps(config)
    except (ValueError, TypeError) as e:
        warnings.warn(f"save: the compile configuration is not saved ({e} cannot be serialised without code); "
                      "the loaded model will need compile()", stacklevel=3)
        return None
    return config


def _model_config(model):
    from fastnn.functional_model import Functional
    from fastnn.models import Sequential

    if type(model) not in (Sequential, Functional):
        raise ValueError(f"save: only Sequential and functional (Model(inputs, outputs)) models can be saved whole "
                         f"(got the subclassed {type(model).__name__} {model.name!r}, whose call() is code); use "
                         "save_weights() and rebuild the model in code")
    config = {"class_name": type(model).__name__, "config": model.get_config()}
    if model.built and model.input_shape is not None:
        config["build_config"] = {"input_shape": list(model.input_shape)}
    return config


_OPT = "__optimizer__"


def _optimizer_state(optimizer, tensors):
    """Adds the optimizer's slot arrays to ``tensors`` (``__optimizer__/<position>/<slot>``) and
    returns the rest of its state (iterations, learning rate, which slots each position has), so a
    loaded model resumes training where it stopped, as Keras 3's saved optimizer variables do."""
    state = optimizer.state_dict()
    slots = {}
    for i, named in state["states"].items():
        slots[str(i)] = sorted(named)
        for slot, arr in named.items():
            if not isinstance(arr, np.ndarray):
                arr = arr.get()
            tensors[f"{_OPT}/{i}/{slot}"] = np.ascontiguousarray(arr, dtype=np.float32)
    lr = state.get("learning_rate")
    return {"class_name": state["class_name"], "iterations": int(state["iterations"]),
            "learning_rate": float(lr) if isinstance(lr, float) else None, "slots": slots}


def _restore_optimizer(model, saved, tensors):
    if not isinstance(saved, dict) or not isinstance(saved.get("slots"), dict):
        raise ValueError("the optimizer state is not a dict with 'slots'")
    params = model.trainable_weights
    states = {}
    for i, names in saved["slots"].items():
        if not isinstance(names, list) or not 0 <= int(i) < len(params):
            raise ValueError(f"bad optimizer slots {names!r} for position {i!r} ({len(params)} trainable weights)")
        states[int(i)] = {n: tensors[f"{_OPT}/{i}/{n}"] for n in names}
        for n, arr in states[int(i)].items():
            if tuple(arr.shape) != tuple(params[int(i)].shape):
                raise ValueError(f"slot {n!r} of {params[int(i)].name!r} has shape {tuple(arr.shape)}, expected "
                                 f"{tuple(params[int(i)].shape)}")
    model.optimizer.load_state_dict({"class_name": saved.get("class_name"), "iterations": saved.get("iterations"),
                                     "learning_rate": saved.get("learning_rate"), "states": states})


def _serialize(model, kind, what):
    st = _safetensors()
    import fastnn

    names, tensors = _weight_tensors(model, what)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": kind,
                "fastnn_version": str(getattr(fastnn, "__version__", "unknown")), "weight_names": json.dumps(names)}
    if kind == "model":
        metadata["model_config"] = json.dumps(_model_config(model))
        compile_config = _compile_config(model)
        if compile_config is not None:
            metadata["compile_config"] = json.dumps(compile_config)
            metadata["optimizer_state"] = json.dumps(_optimizer_state(model.optimizer, tensors))
    return st.numpy.save(tensors, metadata=metadata)


def save_model(model, filepath, overwrite=True):
    """Writes the architecture, the weights and the compile configuration to one safetensors file
    (any extension; ``.fastnn`` or ``.safetensors`` are customary), atomically."""
    data = _serialize(model, "model", "save")
    _atomic_write(filepath, data, overwrite, "save")


def save_weights(model, filepath, overwrite=True):
    """Writes the weights only (``.weights.safetensors`` by custom), atomically."""
    data = _serialize(model, "weights", "save_weights")
    _atomic_write(filepath, data, overwrite, "save_weights")


# --------------------------------------------------------------------------- reading

class _Bad(Exception):
    """What is wrong with a file (turned into a ValueError naming it)."""


def _read(filepath, what):
    """``(metadata or {}, {name: array})`` from a safetensors file; a ValueError for anything that is
    not a readable safetensors file."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what}: no such file: {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{what}: {path!r} is a directory, not a fastnn save file")
    st = _safetensors()
    try:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < 8:
            raise _Bad(f"the file is too short ({len(data)} bytes) to be a safetensors file")
        header_len = int.from_bytes(data[:8], "little")
        if header_len > len(data) - 8:
            raise _Bad(f"the header claims {header_len} bytes but the file holds {len(data) - 8} after it "
                       "(truncated, or not a safetensors file)")
        try:
            header = json.loads(data[8:8 + header_len].decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise _Bad(f"the header is not valid JSON ({e}); not a safetensors file") from None
        if not isinstance(header, dict):
            raise _Bad("the header is not a JSON object; not a safetensors file")
        metadata = header.get("__metadata__") or {}
        if not isinstance(metadata, dict):
            raise _Bad("the safetensors metadata is not a string map")
        try:
            tensors = st.numpy.load(data)
        except Exception as e:  # SafetensorError and friends: report, never crash
            raise _Bad(f"the safetensors data is damaged or truncated ({type(e).__name__}: {e})") from None
        except BaseException as e:  # a Rust panic surfaces as pyo3's PanicException (a BaseException)
            if type(e).__name__ != "PanicException":
                raise
            raise _Bad(f"the safetensors data is damaged ({e})") from None
    except _Bad as e:
        raise ValueError(f"{what}: cannot read {path!r}: {e}") from None
    return metadata, tensors


def _fastnn_metadata(metadata, path, what, kinds):
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{what}: {path!r} is a safetensors file but not a fastnn save file (its metadata has no "
                         "format='fastnn'); was it written by model.save / model.save_weights?")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise ValueError(f"{what}: {path!r}: format_version {metadata.get('format_version')!r} is not a number") \
            from None
    if version > FORMAT_VERSION or version < 1:
        raise ValueError(f"{what}: {path!r} has format version {version}; this fastnn reads versions up to "
                         f"{FORMAT_VERSION} (upgrade fastnn)")
    if metadata.get("kind") not in kinds:
        hint = " (a weights-only file: build the model in code and call load_weights)" \
            if metadata.get("kind") == "weights" else ""
        raise ValueError(f"{what}: {path!r} holds kind={metadata.get('kind')!r}, expected "
                         f"{' or '.join(map(repr, kinds))}{hint}")


def _json(metadata, key, path, what, required=True):
    if key not in metadata:
        if required:
            raise ValueError(f"{what}: {path!r} is missing its {key!r} metadata")
        return None
    try:
        return json.loads(metadata[key])
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"{what}: {path!r}: the {key!r} metadata is not valid JSON ({e})") from None


def _assign(model, names, tensors, path, what):
    """Checks the file's weights against the model's (count, names present, shapes, dtype) and sets
    them all; nothing is written unless all agree."""
    params = model.weights
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{what}: {path!r}: the 'weight_names' metadata is not a list of names")
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ValueError(f"{what}: {path!r} lists weights it does not hold: {', '.join(missing[:5])}")
    if len(names) != len(params):
        raise ValueError(f"{what}: {path!r} holds {len(names)} weights but the model {model.name!r} has "
                         f"{len(params)}")
    arrays = []
    for p, n in zip(params, names):
        arr = tensors[n]
        if tuple(arr.shape) != tuple(p.shape):
            raise ValueError(f"{what}: {path!r}: weight {n!r} has shape {tuple(arr.shape)} in the file but the model's "
                             f"{p.name!r} has shape {tuple(p.shape)}")
        if arr.dtype.kind != "f":
            raise ValueError(f"{what}: {path!r}: weight {n!r} has dtype {arr.dtype}, expected float32")
        arrays.append(arr.astype(np.float32, copy=False))
    model.set_weights(arrays)


def load_weights(model, filepath, skip_mismatch=False):
    """Sets ``model``'s weights from a file written by ``save_weights`` or ``save`` (matched by
    position, shapes checked). The model must be built."""
    what = "load_weights"
    if skip_mismatch:
        raise NotImplementedError("load_weights: skip_mismatch=True is not supported yet")
    path = os.fspath(filepath)
    metadata, tensors = _read(path, what)
    if not model.built:
        raise ValueError(f"load_weights: the model {model.name!r} is not built yet; build it (build(input_shape), "
                         "an input_shape on the first layer, or a call on data) before loading weights")
    if metadata.get("format") != FORMAT:
        own = [p.name for p in model.weights]
        if sorted(own) == sorted(tensors) and len(set(own)) == len(own):
            _assign(model, own, tensors, path, what)  # a plain safetensors file named as our weights
            return
    _fastnn_metadata(metadata, path, what, ("weights", "model"))
    _assign(model, _json(metadata, "weight_names", path, what), tensors, path, what)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002  (Keras' name)
    """The model ``save`` wrote: rebuilt from its architecture, with its weights, and compiled as it
    was when a compile configuration was saved (and ``compile=True``)."""
    from fastnn import optimizers as _optimizers
    from fastnn.functional_model import Functional
    from fastnn.models import Sequential

    what = "load_model"
    path = os.fspath(filepath)
    metadata, tensors = _read(path, what)
    _fastnn_metadata(metadata, path, what, ("model",))
    config = _json(metadata, "model_config", path, what)
    names = _json(metadata, "weight_names", path, what)
    classes = {"Sequential": Sequential, "Functional": Functional}
    if not isinstance(config, dict) or config.get("class_name") not in classes or \
            not isinstance(config.get("config"), dict):
        raise ValueError(f"{what}: {path!r}: unknown model class "
                         f"{config.get('class_name') if isinstance(config, dict) else config!r} "
                         "(known: Sequential, Functional)")
    try:
        model = classes[config["class_name"]].from_config(config["config"], custom_objects)
        build = config.get("build_config")
        if not model.built and isinstance(build, dict) and build.get("input_shape") is not None:
            model.build(tuple(build["input_shape"]))
    except Exception as e:  # only our own constructors ran: whatever they refused, the file is at fault
        raise ValueError(f"{what}: {path!r}: the saved architecture cannot be rebuilt: {type(e).__name__}: {e}") \
            from None
    if not model.built and names:
        raise ValueError(f"{what}: {path!r} holds weights but its architecture has no input shape to build from")
    _assign(model, names, tensors, path, what)
    compile_config = _json(metadata, "compile_config", path, what, required=False)
    if compile and compile_config is not None:
        try:
            loss = compile_config.get("loss")
            if isinstance(loss, dict):
                from fastnn import losses as _losses

                cls = _losses._CLASSES.get(loss.get("class_name"))
                if cls is None:
                    raise ValueError(f"unknown loss class {loss.get('class_name')!r}")
                loss = cls.from_config(dict(loss.get("config") or {}))
            elif loss is not None and not isinstance(loss, str):
                raise ValueError(f"loss {loss!r} is neither a name nor a config")
            from fastnn import metrics as _metrics

            def metric_list(key):
                entries = compile_config.get(key) or []
                if not isinstance(entries, list):
                    raise ValueError(f"{key} {entries!r} is not a list")
                for m in entries:
                    if not isinstance(m, (str, dict)):
                        raise ValueError(f"{key} entry {m!r} is neither a name nor a config")
                return [m if isinstance(m, str) else _metrics.deserialize(m, custom_objects) for m in entries]

            model.compile(optimizer=_optimizers.deserialize(compile_config["optimizer"]), loss=loss,
                          metrics=metric_list("metrics"), weighted_metrics=metric_list("weighted_metrics"))
        except Exception as e:
            raise ValueError(f"{what}: {path!r}: the saved compile configuration cannot be restored: "
                             f"{type(e).__name__}: {e}") from None
        saved = _json(metadata, "optimizer_state", path, what, required=False)
        if saved is not None:
            try:
                _restore_optimizer(model, saved, tensors)
            except Exception as e:
                raise ValueError(f"{what}: {path!r}: the saved optimizer state cannot be restored: "
                                 f"{type(e).__name__}: {e}") from None
    return model
