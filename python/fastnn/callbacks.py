"""Keras 3-style training callbacks: ``Callback`` (the hooks ``fit``/``evaluate``/``predict``
call), ``History``, ``EarlyStopping``, ``ModelCheckpoint``, ``LearningRateScheduler``,
``ReduceLROnPlateau``, ``CSVLogger``, ``TerminateOnNaN`` and ``ProgbarLogger`` (the progress
display, through tqdm). Defaults and decisions follow Keras 3's callbacks.

Logs: ``on_train_batch_end(batch, logs)`` gets the running means over the epoch so far (Keras 3
reports the same); ``on_epoch_end(epoch, logs)`` gets the epoch's means plus ``val_*`` entries.
A callback stops training by setting ``self.model.stop_training = True``; ``fit`` checks it after
each batch and each epoch.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
import warnings

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
           "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN", "ProgbarLogger", "LambdaCallback"]


class Callback:
    """Base class: override the hooks you need. ``self.model`` and ``self.params``
    (``{"verbose", "epochs", "steps"}``) are set before training starts."""

    def __init__(self):
        self.params = {}
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """A backwards-compatible alias of ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """A backwards-compatible alias of ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


class CallbackList(Callback):
    """Calls each hook on every callback in order (what ``fit`` drives)."""

    def __init__(self, callbacks=None, model=None, **params):
        super().__init__()
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastnn.callbacks.Callback instances, got {type(cb).__name__}")
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        self._model = model
        for cb in self.callbacks:
            cb.set_model(model)


def _dispatch(name):
    nargs = 2 if ("batch" in name or "epoch" in name) else 1  # (index, logs) or (logs)

    def hook(self, *args, **kwargs):
        if len(args) < nargs and "logs" not in kwargs:
            kwargs["logs"] = {}  # callbacks always get a logs dict (Keras' LambdaCallback needs one)
        for cb in self.callbacks:
            getattr(cb, name)(*args, **kwargs)
    hook.__name__ = name
    return hook


for _name in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
              "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end", "on_train_begin", "on_train_end",
              "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end"):
    setattr(CallbackList, _name, _dispatch(_name))
CallbackList.on_batch_begin = CallbackList.on_train_batch_begin
CallbackList.on_batch_end = CallbackList.on_train_batch_end


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in given.items():
            if fn is not None:
                setattr(self, name, fn)


class History(Callback):
    """What ``fit`` returns (and keeps as ``model.history``): ``history`` maps each logged name
    ("loss", "accuracy", "val_loss", ...) to its per-epoch values; ``epoch`` lists the epochs."""

    def __init__(self, model=None, params=None):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self._append(epoch, logs or {})
        if self.model is not None:
            self.model.history = self

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


# --------------------------------------------------------------------------- helpers

def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _monitor_mode(mode, monitor, caller):
    """(mode is "max"): Keras' rule for mode="auto" -- max for accuracy/AUC-like names."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{caller} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
        mode = "auto"
    if mode == "auto":
        name = monitor[4:] if monitor.startswith("val_") else monitor
        return name.endswith("acc") or "accuracy" in name or "auc" in name or name.startswith("fmeasure")
    return mode == "max"


def _metric_direction(model, monitor):
    """Keras 3, mode "auto": a compiled metric of that name says which way is better (its
    ``_direction``: precision and recall up, mse down); None when no compiled metric matches."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    for m in getattr(model, "metrics", None) or []:
        if getattr(m, "name", None) == name and getattr(m, "_direction", None) in ("up", "down"):
            return m._direction == "up"
    return None


def _get_lr(model, caller):
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError(f"{caller}: the model's optimizer must have a `learning_rate` (compile the model first)")
    return float(opt.learning_rate)


# --------------------------------------------------------------------------- EarlyStopping

class EarlyStopping(Callback):
    """Stops training when ``monitor`` has stopped improving for ``patience`` epochs (Keras 3):
    an epoch improves when it beats the best by more than ``min_delta`` (and, for the wait
    counter, the ``baseline`` too). ``restore_best_weights`` sets the best epoch's weights back
    at the end of training (when the training stopped or ran out of epochs, as Keras 3 does).
    Epochs before ``start_from_epoch`` are ignored."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.mode = mode
        self._max = _monitor_mode(mode, monitor, "EarlyStopping")
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        if self._max:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_train_begin(self, logs=None):
        if self.mode not in ("min", "max"):
            direction = _metric_direction(self.model, self.monitor)
            self._max = self._max if direction is None else direction
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def get_monitor_value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(list((logs or {}).keys()))}", stacklevel=2)
        return _as_float(value) if value is not None else None

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.", flush=True)
            self.model.set_weights(self.best_weights)


# --------------------------------------------------------------------------- ModelCheckpoint

class ModelCheckpoint(Callback):
    """Saves the model (``model.save``) or its weights (``save_weights_only``: ``model.save_weights``)
    at the end of every epoch (``save_freq="epoch"``) or every ``save_freq`` batches. ``filepath``
    may hold ``str.format`` fields: ``{epoch:02d}`` (1-based, as Keras) and any log key
    (``{val_loss:.2f}``). ``save_best_only`` saves only when ``monitor`` beats the best so far
    (``initial_value_threshold`` starts the best). Writes are atomic (fastnn.saving)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: unrecognized save_freq {save_freq!r}; expected 'epoch' or a "
                             "positive int (batches)")
        self.save_freq = save_freq
        self.mode = mode
        self._max = _monitor_mode(mode, monitor, "ModelCheckpoint")
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = -math.inf if self._max else math.inf
        self._batches_seen = 0
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        direction = None if self.mode in ("min", "max") else _metric_direction(self.model, self.monitor)
        if direction is not None and direction != self._max:
            self._max = direction
            if math.isinf(self.best):  # the untouched starting value: flip it with the direction
                self.best = -math.inf if self._max else math.inf

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches_seen += 1
            if self._batches_seen % self.save_freq == 0:
                self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in (logs or {}):
                return self.filepath.format(epoch=epoch + 1, **(logs or {}))
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **(logs or {}))
        except KeyError as e:
            raise KeyError(f'ModelCheckpoint: failed to format this callback filepath "{self.filepath}": '
                           f"no log key {e} (available: {', '.join(logs or {})})") from None

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        path = self._file_path(epoch, batch, logs)
        if self.save_best_only:
            current = _as_float(logs.get(self.monitor))
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.", stacklevel=2)
                return
            better = current > self.best if self._max else current < self.best
            if not better:
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}", flush=True)
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}", flush=True)
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}", flush=True)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


# --------------------------------------------------------------------------- learning rate

class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch to ``schedule(epoch, lr)``
    (or ``schedule(epoch)`` for a one-argument function), with ``lr`` the current rate; logs
    ``learning_rate`` at the end of each epoch."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = _get_lr(self.model, "LearningRateScheduler")
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # a schedule(epoch) -- Keras' backwards compatibility
            lr = self.schedule(epoch)
        value = _as_float(lr)
        if value is None or isinstance(lr, bool):
            raise ValueError(f"LearningRateScheduler: the output of the schedule function should be a float, "
                             f"got {lr!r}")
        self.model.optimizer.learning_rate = value
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {value}.", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _get_lr(self.model, "LearningRateScheduler")


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs; never below ``min_lr``.
    Logs ``learning_rate``. Keras 3's rule, step for step."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:  # Keras' old name
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected arguments {sorted(kwargs)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor = monitor
        self.factor = float(factor)
        self.min_lr = float(min_lr)
        self.min_delta = float(min_delta)
        self.patience = int(patience)
        self.verbose = verbose
        self.cooldown = int(cooldown)
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"Learning rate reduction mode {mode} is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.mode = mode
        self._reset()

    def _reset(self):
        # Keras 3: "auto" means max only when "acc" is in the monitored name
        self._max = self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)
        self.best = -math.inf if self._max else math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improved(self, current):
        if self._max:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _get_lr(self.model, "ReduceLROnPlateau")
        current = _as_float(logs.get(self.monitor))
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _get_lr(self.model, "ReduceLROnPlateau")
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.",
                              flush=True)
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# --------------------------------------------------------------------------- CSVLogger / TerminateOnNaN

class CSVLogger(Callback):
    """Streams the epoch results to a CSV file (the ``csv`` module): a header ``epoch,<sorted
    log keys>`` then one row per epoch. ``append=True`` continues an existing file (no second
    header)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")  # noqa: SIM115  (closed at train end)
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            if isinstance(k, str):
                return k
            if isinstance(k, (list, tuple, np.ndarray)) and not (isinstance(k, np.ndarray) and k.ndim == 0):
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
        if getattr(self.model, "stop_training", False):
            logs = {k: logs.get(k, "NA") for k in self.keys}  # a stopped epoch may lack val_ entries
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, delimiter=self.sep,
                                         lineterminator="\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = _as_float((logs or {}).get("loss"))
        if loss is not None and (math.isnan(loss) or math.isinf(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True


# --------------------------------------------------------------------------- progress display

def _fmt_logs(logs):
    parts = []
    for k, v in logs.items():
        f = _as_float(v)
        parts.append(f"{k}: {f:.4f}" if f is not None and not isinstance(v, str) else f"{k}: {v}")
    return " - ".join(parts)


def _fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"


class ProgbarLogger(Callback):
    """Keras' progress display. ``verbose=1``: "Epoch i/N" then a per-step tqdm bar with the
    elapsed time, the ETA and the epoch's running loss and metrics, ending on the full logs
    (``val_*`` included); ``verbose=2``: one line per epoch,
    ``"steps/steps - 3s - 12ms/step - loss: ... - val_loss: ..."``; ``verbose=0``: nothing.
    ``fit`` adds one when ``verbose`` is not 0, and so do ``evaluate`` (the bar ends on the final
    logs) and ``predict`` (a bar without logs); inside ``fit`` the validation pass shows nothing
    of its own (its results end the epoch's line), as in Keras."""

    def __init__(self, verbose=1, file=None):
        super().__init__()
        self.verbose = verbose
        self.file = file
        self._bar = None
        self._start = 0.0
        self._steps_done = 0
        self._in_fit = False

    @property
    def reads_batch_logs(self) -> bool:
        """Only the per-step bar shows per-batch logs (on the GPU, fit makes them only when read)."""
        return self.verbose == 1

    def _out(self):
        return self.file if self.file is not None else sys.stdout

    def _begin(self):
        self._start = time.perf_counter()
        self._steps_done = 0
        if self.verbose == 1:
            from tqdm import tqdm  # the runtime dependency, imported when a bar is shown

            class _Bar(tqdm):
                logs_text = ""

                @property
                def format_dict(self):
                    d = super().format_dict
                    d["logs"] = (" - " + self.logs_text) if self.logs_text else ""
                    return d

            self._bar = _Bar(total=self.params.get("steps"), file=self._out(), unit="step", leave=True,
                             dynamic_ncols=True, mininterval=0.1,
                             bar_format="{n_fmt}/{total_fmt} {bar:20} {elapsed}<{remaining}{logs}")

    #: fit may hand this callback a function returning the batch logs instead of the logs (when it
    #: is the only reader): the bar calls it only when it is about to redraw, so on the GPU a step
    #: does not wait for the device just to format a line nobody sees yet.
    lazy_batch_logs = True

    def _step(self, logs):
        self._steps_done += 1
        if self._bar is not None:
            bar = self._bar
            now = getattr(bar, "_time", time.time)()  # tqdm's own clock (last_print_t is on it)
            due = now - bar.last_print_t >= bar.mininterval or bar.n + 1 >= (bar.total or 0)
            if due or not callable(logs):
                bar.logs_text = _fmt_logs((logs() if callable(logs) else logs) or {})
            bar.update(1)

    def _finish(self, logs):
        logs = logs or {}
        if self._bar is not None:
            self._bar.logs_text = _fmt_logs(logs)
            self._bar.refresh()
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            seconds = time.perf_counter() - self._start
            steps = self._steps_done or 1
            text = _fmt_logs(logs)
            print(f"{steps}/{self.params.get('steps') or steps} - {seconds:.0f}s - {_fmt_time(seconds / steps)}/step"
                  + (f" - {text}" if text else ""), file=self._out(), flush=True)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs")
        print(f"Epoch {epoch + 1}/{epochs}", file=self._out(), flush=True)
        self._begin()

    def on_train_batch_end(self, batch, logs=None):
        self._step(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_train_end(self, logs=None):
        self._in_fit = False
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._begin()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._step(logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._begin()

    def on_predict_batch_end(self, batch, logs=None):
        self._step(None)  # the outputs are no log to show

    def on_predict_end(self, logs=None):
        self._finish(None)
