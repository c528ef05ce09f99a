"""Keras-style models (DESIGN.md §2): ``Model`` (compile / fit / evaluate / predict /
train_on_batch / get_weights / set_weights / summary) and ``Sequential``.

Training is eager: each step runs the model on a batch of Tensors, adds the layers'
regularization penalties to the compiled loss, calls ``backward()`` and one fused optimizer
step. The logged ``loss`` is the epoch's mean of the batch losses weighted by batch size, the
metrics are ``fastnn.metrics`` objects streamed over the epoch (reset at each epoch's start), as
Keras 3 reports them; ``val_*`` entries come from ``evaluate`` on the validation data.

``fit`` drives ``fastnn.callbacks`` (Keras 3's hooks and order: the user's callbacks, then the
progress display, then ``History``); ``class_weight`` / ``sample_weight`` weigh each sample's loss
(Keras' ``sum_over_batch_size``: sum(w * loss) / batch size) and the ``weighted_metrics``, never
the plain ``metrics`` (Keras 3). Progress display (``verbose``): 1 (and "auto") a per-step tqdm
bar, 2 one line per epoch, 0 silence; ``evaluate`` and ``predict`` show the same.
"""

from __future__ import annotations

import math
import numbers
import sys
import time

import numpy as np

from fastnn import callbacks as _callbacks
from fastnn import losses as _losses
from fastnn.compile_metrics import CompileMetrics
from fastnn.epoch_iterator import EpochIterator, check_steps
from fastnn import optimizers as _optimizers
from fastnn.layers.base import Layer
from fastnn.layers.core import InputLayer, _fmt
from fastnn.layers.symbolic import KerasTensor
from fastnn.step_log import Batch, StepLog, batches
from fastnn.tensor import Tensor, no_grad

History = _callbacks.History  # kept here too: ``fastnn.models.History``

__all__ = ["History", "Model", "Sequential", "load_model", "save_model"]


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002  (Keras' name)
    """The model ``Model.save`` wrote (``fastnn.saving.load_model``): never executes code."""
    from fastnn import saving

    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, **kwargs):
    """``model.save(filepath)``."""
    model.save(filepath, overwrite=overwrite, **kwargs)


def _class_weights_to_sample_weights(y, class_weight):
    """Keras' class_weight: each sample weighs class_weight[its class] (the argmax of one-hot
    targets, the label itself for integer targets); classes absent from the dict weigh 1."""
    if not isinstance(class_weight, dict):
        raise ValueError(f"fit: class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
    if y.ndim > 2:
        raise ValueError("fit: class_weight is not supported for targets of rank > 2 (one class per sample)")
    if y.ndim == 2 and y.shape[1] > 1:
        labels = y.argmax(axis=1)
    else:
        labels = y.reshape(len(y))
        if labels.dtype.kind == "f":
            labels = np.round(labels)  # binary targets 0./1.
        labels = labels.astype(np.int64)
    table = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([table.get(int(c), 1.0) for c in labels], dtype=np.float32)


def _sample_weight_array(sample_weight, n, what):
    w = np.asarray(sample_weight.numpy() if isinstance(sample_weight, Tensor) else sample_weight, dtype=np.float32)
    if w.ndim == 0 or len(w) != n:
        raise ValueError(f"{what}: sample_weight must hold one weight per sample ({n}), got shape {w.shape}")
    return w


class _Arrays:
    """The inputs of a model with several inputs: one array per input, indexed together (a batch
    of them is an ``_Arrays`` again), so the loops treat them like one array."""

    __slots__ = ("arrays",)

    def __init__(self, arrays):
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return _Arrays([a[index] for a in self.arrays])


def _one_x_array(x, what):
    if isinstance(x, Tensor):
        x = x.numpy()
    if x is None:
        raise ValueError(f"{what}: x is None")
    x = np.asarray(x)
    if x.dtype != np.float32:
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{what}: x must hold numbers, got dtype {x.dtype}")
        x = x.astype(np.float32)
    if x.ndim == 0:
        raise ValueError(f"{what}: x must have a batch axis, got a scalar")
    return x


def _x_array(x, what):
    """x as one float32 array; a list/tuple of arrays (Keras' form for a model with several
    inputs) becomes an ``_Arrays`` of them (nested lists of numbers stay one array)."""
    if isinstance(x, (list, tuple)) and x and all(isinstance(a, (np.ndarray, Tensor)) for a in x):
        arrays = [_one_x_array(a, what) for a in x]
        if len({len(a) for a in arrays}) > 1:
            raise ValueError(f"{what}: the input arrays hold different numbers of samples: "
                             f"{', '.join(str(len(a)) for a in arrays)}")
        return arrays[0] if len(arrays) == 1 else _Arrays(arrays)
    return _one_x_array(x, what)


def _y_array(y, what):
    if isinstance(y, Tensor):
        y = y.numpy()
    if y is None:
        raise ValueError(f"{what}: y is None (models without targets are not supported yet)")
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError(f"{what}: y must have a batch axis, got a scalar")
    return y


def _check_lengths(x, y, what):
    if len(x) != len(y):
        raise ValueError(f"{what}: data cardinality is ambiguous: x has {len(x)} samples but y has {len(y)}; "
                         "make sure they hold the same number of samples")
    if len(x) == 0:
        raise ValueError(f"{what}: no samples (x and y are empty)")


def _batch_size(batch_size, what):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        raise ValueError(f"{what}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _verbose(verbose):
    return 1 if verbose == "auto" else int(verbose)


def _with_progbar(callbacks, verbose):
    """The user's callbacks plus a ProgbarLogger when ``verbose`` asks for progress (unless they
    brought one), as Keras adds one to evaluate / predict."""
    cb_list = list(callbacks) if isinstance(callbacks, (list, tuple)) else ([] if callbacks is None else [callbacks])
    if verbose and not any(isinstance(cb, _callbacks.ProgbarLogger) for cb in cb_list):
        cb_list.append(_callbacks.ProgbarLogger(verbose=verbose))
    return cb_list


def _batch_logs_mode(callbacks, hooks) -> str:
    """How ``fit`` hands out per-batch logs: ``"none"`` when no callback reads them (it overrides
    none of ``hooks`` and does not say ``reads_batch_logs``), ``"lazy"`` when every reader takes a
    function that makes them (``lazy_batch_logs``: the progress bar, which calls it only when it
    redraws), else ``"eager"``. On the GPU making them is a synchronisation; on the CPU it saves
    the metrics' ``result()`` calls of every step."""
    readers = []
    for cb in getattr(callbacks, "callbacks", callbacks) or []:
        declared = getattr(cb, "reads_batch_logs", None)
        if declared if declared is not None else any(_overrides(cb, h) for h in hooks):
            readers.append(cb)
    if not readers:
        return "none"
    return "lazy" if all(getattr(cb, "lazy_batch_logs", False) for cb in readers) else "eager"


def _batch_logs(log, mode):
    if mode == "eager":
        return log.logs()
    return log.logs if mode == "lazy" else {}


def _overrides(cb, hook) -> bool:
    """Whether ``cb`` does something on ``hook``: a subclass method, or a function set on the
    instance (``LambdaCallback(on_train_batch_end=...)``)."""
    fn = getattr(cb, hook, None)
    return fn is not None and getattr(fn, "__func__", fn) is not getattr(_callbacks.Callback, hook, None)


def _no_support(what, **given):
    for name, value in given.items():
        if value is not None:
            raise NotImplementedError(f"{what}: {name} is not supported yet")


class Model(Layer):
    """A layer with a training loop. Three ways to make one, as in Keras: ``Model(inputs, outputs)``
    on symbolic tensors from ``Input`` (the functional API, ``fastnn.functional_model``), a subclass
    with a ``call(x, training=False)`` (layers set as attributes are tracked), or ``Sequential``."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from fastnn.functional_model import Functional

            return super().__new__(Functional)  # Python then runs Functional.__init__(inputs, outputs, ...)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimizer = None
        self.loss = None
        self._compiled = False
        self._compile_metrics = CompileMetrics()
        self.stop_training = False
        self._device = None  # "cpu" / "cuda" / "cuda:N" after to(); batches are moved there
        self._device_feeder = None  # made by the first fit/evaluate on a GPU

    # ------------------------------------------------------------------ device
    def to(self, device):
        """Moves every weight (and the optimizer's state) to ``"cpu"`` or ``"cuda"``/``"cuda:N"``
        in place and returns the model, as PyTorch's ``module.to``; fit / evaluate / predict then
        send each batch there. Weights a lazy model makes later are moved at its first batch."""
        from fastnn.functional import _move, _parse_device

        kind, index = _parse_device(device)

        def move(arr):
            return _move(arr, kind, index)

        for p in self.weights:
            p.data = move(p.data)
            if p.grad is not None:
                p.grad = move(p.grad)
        if self.optimizer is not None and hasattr(self.optimizer, "move_state"):
            self.optimizer.move_state(move)
        self._device = kind if index is None else f"{kind}:{index}"
        self._device_feeder = None  # the next fit makes one for the new device
        return self

    @property
    def device(self) -> str:
        """Where the weights live: ``"cpu"`` or ``"cuda:N"`` (``"cpu"`` before any weight exists)."""
        weights = self.weights
        return weights[0].device if weights else "cpu"

    def _model_input(self, xb):
        """A batch as a Tensor on the model's device (building a lazy model first, on the CPU, so
        its new weights can follow the others)."""
        if isinstance(xb, _Arrays):
            return [self._model_input(a) for a in xb.arrays]
        t = Tensor(xb)
        if self._device is None or self._device == "cpu":
            return t
        if not self.built or any(p.device == "cpu" for p in self.weights):
            with no_grad():
                self(Tensor(xb[:1]), training=False)
            self.to(self._device)
        return t.to(self._device)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """``optimizer``: a name ("adam", ...) or an optimizer; ``loss``: a name, a Loss object or a
        callable(y_true, y_pred); ``metrics`` / ``weighted_metrics``: lists of names ("accuracy",
        "mse", "precision", ...), ``fastnn.metrics.Metric`` objects or callables(y_true, y_pred) ->
        per-sample values. As in Keras 3, only ``weighted_metrics`` see sample_weight /
        class_weight (see ``fastnn.compile_metrics``)."""
        _no_support("compile", loss_weights=loss_weights)
        self.optimizer = _optimizers.get(optimizer)
        self.loss = None if loss is None else _losses.get(loss)
        # raises on unknown names now, not at the first batch
        self._compile_metrics = CompileMetrics(metrics, weighted_metrics, self.loss)
        self._compile_args = (loss, self._compile_metrics.user_metrics)  # what save() records (names / configs)
        self._compiled = True

    @property
    def metrics_names(self) -> list:
        return ["loss"] + list(self._compile_metrics.names)

    @property
    def metrics(self) -> list:
        """The compiled Metric objects ("accuracy" appears once the first batch resolved it)."""
        return self._compile_metrics.metrics

    def reset_metrics(self):
        self._compile_metrics.reset_state()

    def _assert_compiled(self, what):
        if not self._compiled:
            raise ValueError(f"{what}: you must call compile() before using the model (model {self.name!r})")
        if self.loss is None:
            raise ValueError(f"{what}: the model was compiled without a loss; call compile(loss=...)")

    # ------------------------------------------------------------------ steps
    def _loss_value(self, y, y_pred, sample_weight=None):
        if sample_weight is None:
            loss = self.loss(y, y_pred)
        else:
            try:
                loss = self.loss(y, y_pred, sample_weight=sample_weight)
            except TypeError as e:
                if "sample_weight" not in str(e):
                    raise
                raise NotImplementedError("sample_weight / class_weight need a loss that takes sample_weight (a "
                                          "fastnn.losses function or Loss object); this custom loss does not") from e
        for penalty in self.losses:
            loss = loss + penalty
        return loss

    def _checked_loss(self, batch, y_pred):
        """The compiled loss (plus penalties) on a batch. Integer labels that went to the GPU with
        the batch are range-checked on their host copy instead, so the step never waits for the
        device between its forward and backward passes."""
        if batch.y is not batch.y_host and _losses.is_sparse(self.loss):
            _losses.check_sparse_labels(batch.y_host, y_pred)
            with _losses.labels_prechecked():
                return self._loss_value(batch.y, y_pred, batch.w)
        return self._loss_value(batch.y, y_pred, batch.w)

    def _train_step(self, batch):
        """One gradient step; returns (loss, y_pred) as arrays on the model's device."""
        params = self.trainable_weights
        y_pred = self(self._model_input(batch.x), training=True)
        loss = self._checked_loss(batch, y_pred)
        for p in params:
            p.grad = None
        loss.backward()
        self.optimizer.step(params)
        return loss.data, y_pred.data

    def _test_step(self, batch):
        with no_grad():
            y_pred = self(self._model_input(batch.x), training=False)
            loss = self._checked_loss(batch, y_pred)
        return loss.data, y_pred.data

    def _feeder(self, x):
        """The DeviceFeeder of a model on a GPU (None on the CPU), after making sure a lazy model
        has built its weights there (from one host sample)."""
        if self._device is None or self._device == "cpu":
            return None
        self._model_input(x[:1])
        if self._device_feeder is None:
            from fastnn.device_feed import DeviceFeeder
            from fastnn.functional import _parse_device

            index = _parse_device(self._device)[1]
            if index is None:
                import cupy

                index = cupy.cuda.Device().id  # "cuda": the current device, where to() put the weights
            self._device_feeder = DeviceFeeder(index)
        return self._device_feeder

    def _run_test(self, x, y, batch_size, sample_weight=None, callbacks=None, steps=None):
        """One evaluation pass (``steps`` batches at most, from the start: Keras resets the
        iterator each evaluate, fit's validation included); the metrics start from zero."""
        cbs = callbacks if callbacks is not None else _callbacks.CallbackList()
        feeder = self._feeder(x)
        batch_logs = _batch_logs_mode(cbs, ("on_test_batch_end",))
        self.reset_metrics()
        log = StepLog(self._compile_metrics)
        cbs.on_test_begin()
        for batch in batches(EpochIterator(len(x), batch_size, steps).epoch(), x, y, sample_weight, feeder, _Arrays):
            cbs.on_test_batch_begin(batch.step)
            loss, y_pred = self._test_step(batch)
            log.add(loss, len(batch), batch.y_host, y_pred, batch.w_host)
            cbs.on_test_batch_end(batch.step, _batch_logs(log, batch_logs))
        logs = log.logs()
        cbs.on_test_end(logs)
        return logs

    # ------------------------------------------------------------------ fit / evaluate / predict
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Trains for ``epochs`` epochs; returns a ``History``. ``validation_split`` holds out the
        LAST fraction of x and y (before any shuffling), as Keras does; ``validation_data``
        ``(x_val, y_val)`` overrides it. ``shuffle`` reorders the training samples each epoch
        (from ``fastnn.manual_seed``'s generator). ``callbacks``: ``fastnn.callbacks`` objects;
        ``class_weight`` ``{class: weight}`` or ``sample_weight`` (one per sample, not both, as
        Keras 3) weigh each sample's training loss (and the ``weighted_metrics``).
        ``steps_per_epoch``: batches per epoch, drawn from a pass over the data that continues
        across epochs (Keras 3's EpochIterator; see ``fastnn.epoch_iterator``);
        ``validation_steps``: at most that many validation batches, from the start each time."""
        self._assert_compiled("fit")
        steps_per_epoch = check_steps(steps_per_epoch, "steps_per_epoch", "fit")
        validation_steps = check_steps(validation_steps, "validation_steps", "fit")
        if class_weight is not None and sample_weight is not None:
            raise ValueError("fit: you cannot use class_weight and sample_weight at the same time")
        batch_size = _batch_size(batch_size, "fit")
        val_batch = _batch_size(validation_batch_size or batch_size, "fit")
        verbose = _verbose(verbose)
        x, y = _x_array(x, "fit"), _y_array(y, "fit")
        _check_lengths(x, y, "fit")
        if sample_weight is not None:
            sample_weight = _sample_weight_array(sample_weight, len(x), "fit")
        x_val = y_val = w_val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
            x_val, y_val = _x_array(validation_data[0], "fit"), _y_array(validation_data[1], "fit")
            _check_lengths(x_val, y_val, "fit (validation_data)")
            if len(validation_data) == 3 and validation_data[2] is not None:
                w_val = _sample_weight_array(validation_data[2], len(x_val), "fit (validation_data)")
        elif validation_split:
            if not isinstance(validation_split, numbers.Real) or not 0.0 < float(validation_split) < 1.0:
                raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
            split_at = int(math.floor(len(x) * (1.0 - float(validation_split))))
            if split_at == 0 or split_at == len(x):
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or no validation "
                                 f"samples out of {len(x)}")
            x, x_val = x[:split_at], x[split_at:]
            y, y_val = y[:split_at], y[split_at:]
            if sample_weight is not None:
                sample_weight, w_val = sample_weight[:split_at], sample_weight[split_at:]
        if shuffle not in (True, False):
            raise ValueError(f"fit: shuffle must be True or False, got {shuffle!r}")
        if class_weight is not None:
            sample_weight = _class_weights_to_sample_weights(y, class_weight)
        batches_of = EpochIterator(len(x), batch_size, steps_per_epoch, shuffle)
        history = _callbacks.History()
        cb_list = list(callbacks) if isinstance(callbacks, (list, tuple)) else \
            ([] if callbacks is None else [callbacks])
        if verbose and not any(isinstance(cb, _callbacks.ProgbarLogger) for cb in cb_list):
            cb_list.append(_callbacks.ProgbarLogger(verbose=verbose))
        cb_list.append(history)
        cbs = _callbacks.CallbackList(cb_list, model=self, verbose=verbose, epochs=int(epochs), steps=batches_of.steps)
        self.history = history
        self.stop_training = False
        cbs.on_train_begin()
        logs = {}
        feeder = self._feeder(x)
        batch_logs = _batch_logs_mode(cb_list, ("on_train_batch_end", "on_batch_end"))
        for epoch in range(int(initial_epoch), int(epochs)):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            log = StepLog(self._compile_metrics)
            for batch in batches(batches_of.epoch(), x, y, sample_weight, feeder, _Arrays):
                cbs.on_train_batch_begin(batch.step)
                loss, y_pred = self._train_step(batch)
                log.add(loss, len(batch), batch.y_host, y_pred, batch.w_host)
                cbs.on_train_batch_end(batch.step, _batch_logs(log, batch_logs))
                if self.stop_training:
                    break
            logs = log.logs()
            if x_val is not None and (epoch + 1) % int(validation_freq) == 0 and not self.stop_training:
                val_logs = self._run_test(x_val, y_val, val_batch, w_val, cbs, validation_steps)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """The loss (a float) when no metrics were compiled, else ``[loss, *metrics]``; a dict with
        ``return_dict=True``. Includes the layers' regularization penalties, as Keras does.
        ``steps``: at most that many batches. ``verbose``: 1 / "auto" a per-step bar ending on the
        final logs, 2 one line at the end, 0 nothing (a ``ProgbarLogger``, as ``fit``)."""
        self._assert_compiled("evaluate")
        steps = check_steps(steps, "steps", "evaluate")
        x, y = _x_array(x, "evaluate"), _y_array(y, "evaluate")
        _check_lengths(x, y, "evaluate")
        if sample_weight is not None:
            sample_weight = _sample_weight_array(sample_weight, len(x), "evaluate")
        batch_size = _batch_size(batch_size, "evaluate")
        verbose = _verbose(verbose)
        cbs = _callbacks.CallbackList(_with_progbar(callbacks, verbose), model=self, verbose=verbose, epochs=1,
                                      steps=EpochIterator(len(x), batch_size, steps).steps)
        logs = self._run_test(x, y, batch_size, sample_weight, cbs, steps)
        return self._return(logs, return_dict)

    def _return(self, logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` (inference mode: dropout off) as one NumPy array.
        ``steps``: at most that many batches (the outputs of those only); ``verbose``: 1 / "auto"
        a per-step bar, 2 one line at the end, 0 nothing."""
        steps = check_steps(steps, "steps", "predict")
        x = _x_array(x, "predict")
        batch_size = _batch_size(batch_size, "predict")
        if len(x) == 0:
            raise ValueError("predict: x holds no samples")
        verbose = _verbose(verbose)
        index_iter = EpochIterator(len(x), batch_size, steps)
        cbs = _callbacks.CallbackList(_with_progbar(callbacks, verbose), model=self, verbose=verbose, epochs=1,
                                      steps=index_iter.steps)
        cbs.on_predict_begin()
        outs = []
        with no_grad():
            for step, idx in index_iter.epoch():
                cbs.on_predict_batch_begin(step)
                outs.append(self(self._model_input(x[idx]), training=False).numpy())
                cbs.on_predict_batch_end(step, {"outputs": outs[-1]})
        cbs.on_predict_end()
        return np.concatenate(outs, axis=0)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One gradient step on this batch; returns its loss (and metrics, as ``evaluate`` does)."""
        self._assert_compiled("train_on_batch")
        x, y = _x_array(x, "train_on_batch"), _y_array(y, "train_on_batch")
        _check_lengths(x, y, "train_on_batch")
        if class_weight is not None and sample_weight is not None:
            raise ValueError("train_on_batch: you cannot use class_weight and sample_weight at the same time")
        if class_weight is not None:
            sample_weight = _class_weights_to_sample_weights(y, class_weight)
        elif sample_weight is not None:
            sample_weight = _sample_weight_array(sample_weight, len(x), "train_on_batch")
        return self._one_batch(self._train_step, x, y, sample_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) on this batch, without training."""
        self._assert_compiled("test_on_batch")
        x, y = _x_array(x, "test_on_batch"), _y_array(y, "test_on_batch")
        _check_lengths(x, y, "test_on_batch")
        if sample_weight is not None:
            sample_weight = _sample_weight_array(sample_weight, len(x), "test_on_batch")
        return self._one_batch(self._test_step, x, y, sample_weight, return_dict)

    def _one_batch(self, step, x, y, sample_weight, return_dict):
        self.reset_metrics()  # Keras 3: this batch's values, not a running mean over calls
        log = StepLog(self._compile_metrics)
        loss, y_pred = step(Batch(0, x, y, sample_weight, y, sample_weight))
        log.add(loss, len(y), y, y_pred, sample_weight)
        return self._return(log.logs(), return_dict)

    # ------------------------------------------------------------------ saving
    def save(self, filepath, overwrite=True, **kwargs):
        """One safetensors file: architecture + compile config as JSON metadata, the weights as
        tensors; written atomically (see ``fastnn.saving``). Reload with ``models.load_model``."""
        _no_support("save", **{k: v for k, v in kwargs.items() if k != "zipped"})
        from fastnn import saving

        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        """The weights only (``*.weights.safetensors``), written atomically."""
        from fastnn import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Sets the weights from a ``save_weights`` (or ``save``) file; shapes are checked."""
        from fastnn import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def predict_on_batch(self, x):
        with no_grad():
            return self(self._model_input(_x_array(x, "predict_on_batch")), training=False).numpy()

    # ------------------------------------------------------------------ summary
    def _summary_rows(self):
        return [(f"{l.name} ({type(l).__name__})", l.output_shape, l.count_params()) for l in self._layers
                if not isinstance(l, InputLayer)]

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Prints the layer table: name (type), output shape, parameter count; then the totals."""
        if not self.built:
            raise ValueError(f"summary: the model {self.name!r} has not been built yet. Build it by calling "
                             "build(input_shape), by calling it on a batch of data, or by giving the first "
                             "layer an input_shape (or starting with Input(shape))")
        print_fn = print_fn or (lambda s: print(s))
        rows = self._summary_rows()
        connected = any(len(r) > 3 for r in rows)  # functional models add "Connected to"
        width = line_length or (110 if connected else 80)
        cols = [int(width * 0.33), int(width * 0.22), int(width * 0.12)] if connected else \
            [int(width * 0.45), int(width * 0.33), width - int(width * 0.45) - int(width * 0.33)]

        def line(a, b, c, d=""):
            text = f"{a:<{cols[0]}}{b:<{cols[1]}}{c:>{cols[2]}}"
            return text + f"  {d}" if connected else text

        out = [f'Model: "{self.name}"', "_" * width,
               line(" Layer (type)", "Output Shape", "Param #", "Connected to"), "=" * width]
        for i, row in enumerate(rows):
            name, shape, count = row[:3]
            out.append(line(" " + name, "?" if shape is None else _fmt(shape), f"{count:,}",
                            row[3] if connected else ""))
            out.append(("=" if i == len(rows) - 1 else "_") * width)
        if not rows:
            out.append("=" * width)
        total = self.count_params()
        trainable = int(sum(p.size for p in self.trainable_weights))
        out += [f"Total params: {total:,} ({_size(total)})", f"Trainable params: {trainable:,} ({_size(trainable)})",
                f"Non-trainable params: {total - trainable:,} ({_size(total - trainable)})", "_" * width]
        print_fn("\n".join(out))


def _size(count):
    size = count * 4.0  # float32
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Flatten(input_shape=(28, 28)), Dense(10)])`` or
    ``.add(layer)``. It builds as soon as its input shape is known (an ``Input``/``InputLayer``
    first, or ``input_shape=`` on the first layer), otherwise at the first call."""

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name)
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer  # Sequential([Input(shape), ...]) as Keras allows
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a fastnn layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer) and self._layers:
            raise ValueError("Sequential.add: an Input/InputLayer can only be the first layer")
        if any(layer is l for l in self._layers):
            raise ValueError(f"Sequential.add: layer {layer.name!r} is already in the model")
        self._layers.append(layer)
        self.built = False
        self._metric_fns = None
        first = self._layers[0]
        if first.input_shape_declared is not None:
            self.build(first.input_shape_declared)

    def pop(self):
        if not self.layers:
            raise IndexError("Sequential.pop: there are no layers to remove")
        layer = self._layers.pop()
        self.built = False
        return layer

    @property
    def layers(self) -> list:
        """The layers, without the InputLayer (as Keras lists them)."""
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def build(self, input_shape=None):
        if input_shape is None:
            first = self._layers[0] if self._layers else None
            if first is None or first.input_shape_declared is None:
                raise ValueError("Sequential.build: give input_shape (the model has no declared input shape)")
            input_shape = first.input_shape_declared
        shape = (None,) + tuple(input_shape[1:])
        self.input_shape = shape
        for layer in self._layers:
            layer._maybe_build(shape)
            layer.check_input(shape)
            shape = layer.compute_output_shape(shape)
        self.output_shape = shape
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def call(self, x, training=False):
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def get_config(self):
        from fastnn.layers import serialize

        return {"name": self.name, "trainable": self.trainable, "layers": [serialize(l) for l in self._layers]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from fastnn.layers import deserialize

        config = dict(config)
        layers = [deserialize(c, custom_objects) for c in config.pop("layers", [])]
        config.pop("dtype", None)
        return cls(layers, **config)
