"""fastnn.callbacks with Keras 3 semantics: hook order and logs (a recording callback),
EarlyStopping (patience, min_delta, modes, restore_best_weights, start_from_epoch),
ModelCheckpoint (formatted paths, save_best_only, weights only), LearningRateScheduler,
ReduceLROnPlateau, CSVLogger, TerminateOnNaN; class_weight / sample_weight against Keras'
formula; the verbose 0 / 1 / 2 progress forms."""

from __future__ import annotations

import csv
import math
import re
import time

import numpy as np
import pytest

import fastnn
from fastnn import Sequential, callbacks, layers, models, optimizers


@pytest.fixture(autouse=True)
def _seed():
    fastnn.manual_seed(5)


def _toy(n=64, features=4):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)) % 3
    return x, y


def _model(optimizer=None, metrics=("accuracy",)):
    model = Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer or optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=list(metrics))
    return model


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def _rec(self, name, *args):
        logs = args[-1] if args else None
        self.events.append((name, *args[:-1], dict(logs) if logs is not None else None))

    def on_train_begin(self, logs=None): self._rec("train_begin", logs)
    def on_train_end(self, logs=None): self._rec("train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._rec("epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._rec("epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._rec("batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._rec("batch_end", batch, logs)
    def on_test_begin(self, logs=None): self._rec("test_begin", logs)
    def on_test_end(self, logs=None): self._rec("test_end", logs)
    def on_test_batch_end(self, batch, logs=None): self._rec("test_batch_end", batch, logs)
    def on_predict_begin(self, logs=None): self._rec("predict_begin", logs)
    def on_predict_end(self, logs=None): self._rec("predict_end", logs)
    def on_predict_batch_end(self, batch, logs=None): self._rec("predict_batch_end", batch, logs)


class FakeMetric(callbacks.Callback):
    """Overwrites a log entry per epoch (placed before the callback under test)."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


# ---------------------------------------------------------------------------- hooks and logs

def test_hooks_fire_in_order_with_logs():
    x, y = _toy()
    model = _model()
    rec = Recorder()
    h = model.fit(x, y, batch_size=32, epochs=2, validation_data=(x[:40], y[:40]), callbacks=[rec], verbose=0)
    names = [e[0] for e in rec.events]
    epoch = ["epoch_begin", "batch_begin", "batch_end", "batch_begin", "batch_end", "test_begin", "test_batch_end",
             "test_batch_end", "test_end", "epoch_end"]
    assert names == ["train_begin"] + epoch + epoch + ["train_end"]
    assert rec.model is model and rec.params == {"verbose": 0, "epochs": 2, "steps": 2}
    ends = [e for e in rec.events if e[0] == "epoch_end"]
    assert [e[1] for e in ends] == [0, 1]
    assert list(ends[0][2]) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    batch_ends = [e for e in rec.events if e[0] == "batch_end"]
    assert [e[1] for e in batch_ends] == [0, 1, 0, 1] and set(batch_ends[0][2]) == {"loss", "accuracy"}
    # the batch logs are the epoch's running means: the last one is the epoch's value
    assert batch_ends[1][2]["loss"] == pytest.approx(ends[0][2]["loss"])
    assert h.history["loss"] == [e[2]["loss"] for e in ends] and h.epoch == [0, 1]
    assert model.history is h and isinstance(h, callbacks.History) and models.History is callbacks.History


def test_evaluate_and_predict_hooks():
    x, y = _toy(n=20)
    model = _model()
    rec = Recorder()
    model.evaluate(x, y, batch_size=8, callbacks=[rec], verbose=0)
    assert [e[0] for e in rec.events] == ["test_begin"] + ["test_batch_end"] * 3 + ["test_end"]
    rec.events.clear()
    out = model.predict(x, batch_size=8, callbacks=[rec], verbose=0)
    assert [e[0] for e in rec.events] == ["predict_begin"] + ["predict_batch_end"] * 3 + ["predict_end"]
    assert np.array_equal(np.concatenate([e[2]["outputs"] for e in rec.events[1:4]]), out)


def test_stop_training_from_a_callback_and_bad_callbacks():
    x, y = _toy()
    model = _model()
    stopper = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", epoch == 1))
    assert model.fit(x, y, epochs=10, callbacks=[stopper], verbose=0).epoch == [0, 1]
    with pytest.raises(TypeError, match="Callback"):
        model.fit(x, y, callbacks=[object()], verbose=0)


# ---------------------------------------------------------------------------- EarlyStopping

def test_early_stopping_patience():
    x, y = _toy()
    model = _model()
    es = callbacks.EarlyStopping(monitor="val_loss", patience=2)
    h = model.fit(x, y, epochs=20, validation_split=0.25, verbose=0,
                  callbacks=[FakeMetric("val_loss", [1.0, 0.5, 0.6, 0.7, 0.8] + [0.1] * 15), es])
    assert h.epoch == [0, 1, 2, 3] and es.stopped_epoch == 3 and es.best == 0.5 and es.best_epoch == 1
    # patience=0 (the default): stops at the first epoch without improvement
    es0 = callbacks.EarlyStopping(monitor="loss")
    h = model.fit(x, y, epochs=20, verbose=0, callbacks=[FakeMetric("loss", [3, 2, 2.5, 1] + [0] * 16), es0])
    assert h.epoch == [0, 1, 2]


def test_early_stopping_min_delta_mode_and_start_from_epoch():
    x, y = _toy()
    model = _model()
    # a gain below min_delta is no improvement
    es = callbacks.EarlyStopping(monitor="loss", min_delta=0.1, patience=1)
    h = model.fit(x, y, epochs=20, verbose=0, callbacks=[FakeMetric("loss", [1.0, 0.95, 0.92] + [0] * 17), es])
    assert h.epoch == [0, 1]
    # "auto" on an accuracy maximizes
    es = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    h = model.fit(x, y, epochs=20, validation_split=0.25, verbose=0,
                  callbacks=[FakeMetric("val_accuracy", [0.5, 0.6, 0.7, 0.65, 0.9] + [0] * 15), es])
    assert h.epoch == [0, 1, 2, 3] and es.best == 0.7
    # epochs before start_from_epoch are not counted
    es = callbacks.EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    h = model.fit(x, y, epochs=20, verbose=0, callbacks=[FakeMetric("loss", [1, 2, 3, 4, 5, 6] + [0] * 14), es])
    assert h.epoch == [0, 1, 2, 3, 4]
    # a missing monitor warns and never stops
    with pytest.warns(UserWarning, match="not available"):
        h = model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.EarlyStopping(monitor="val_loss")])
    assert h.epoch == [0, 1]


def test_early_stopping_restores_best_weights():
    x, y = _toy()
    model = _model()
    snapshots = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    es = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model.fit(x, y, epochs=10, validation_split=0.25, verbose=0,
              callbacks=[FakeMetric("val_loss", [1.0, 0.4, 0.6, 0.7, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1]), keep, es])
    assert len(snapshots) == 4 and es.best_epoch == 1
    for got, want in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(got, want)
    assert not all(np.array_equal(a, b) for a, b in zip(snapshots[1], snapshots[3]))


# ---------------------------------------------------------------------------- ModelCheckpoint

def test_model_checkpoint_every_epoch_with_formatted_names(tmp_path):
    x, y = _toy()
    model = _model()
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{loss:.3f}.safetensors")
    h = model.fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.ModelCheckpoint(pattern, monitor="loss")])
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == [f"model-{e + 1:02d}-{loss:.3f}.safetensors" for e, loss in enumerate(h.history["loss"])]
    last = models.load_model(tmp_path / "ckpt" / files[-1])
    np.testing.assert_allclose(last.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_model_checkpoint_save_best_only_and_weights_only(tmp_path):
    x, y = _toy()
    model = _model()
    best = callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch}.safetensors"), save_best_only=True)
    model.fit(x, y, epochs=4, validation_split=0.25, verbose=0,
              callbacks=[FakeMetric("val_loss", [1.0, 2.0, 0.5, 0.7]), best])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-1.safetensors", "best-3.safetensors"]
    assert best.best == 0.5
    weights_file = tmp_path / "w.weights.safetensors"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(str(weights_file), monitor="loss",
                                                                              save_weights_only=True)])
    fresh = _model()
    fresh.build((None, 4))
    fresh.load_weights(weights_file)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(KeyError, match="val_auc"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "{val_auc}.safetensors"))])


# ---------------------------------------------------------------------------- learning rate

def test_learning_rate_scheduler_sets_the_rate():
    x, y = _toy()
    model = _model(optimizer=optimizers.SGD(0.5))
    seen = []
    probe = callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: seen.append(model.optimizer.learning_rate))
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    h = model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[sched, probe])
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    # a one-argument schedule, and the current rate passed in
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.02)])
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: lr * 0.5)])
    assert model.optimizer.learning_rate == pytest.approx(0.005)
    with pytest.raises(ValueError, match="float"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "fast")])


def test_reduce_lr_on_plateau_lowers_the_rate():
    x, y = _toy()
    model = _model(optimizer=optimizers.Adam(0.01))
    rl = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=0.002)
    h = model.fit(x, y, epochs=6, validation_split=0.25, verbose=0,
                  callbacks=[FakeMetric("val_loss", [1.0, 1.0, 0.5, 0.5, 0.5, 0.5]), rl])
    # logged before the epoch's reduction: 0.01 -> 0.005 (epoch 1), 0.0025 (3), 0.002 (min_lr, 4), stays
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.002])
    assert model.optimizer.learning_rate == pytest.approx(0.002)
    # cooldown: no counting for `cooldown` epochs after a reduction
    model = _model(optimizer=optimizers.Adam(0.01))
    rl = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, cooldown=2, min_delta=0.0)
    h = model.fit(x, y, epochs=6, verbose=0, callbacks=[FakeMetric("loss", [1.0] * 6), rl])
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001])
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.0)


# ---------------------------------------------------------------------------- CSVLogger / TerminateOnNaN

def test_csv_logger(tmp_path):
    x, y = _toy()
    model = _model()
    path = tmp_path / "log.csv"
    h = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0, callbacks=[callbacks.CSVLogger(str(path))])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert [float(r[2]) for r in rows[1:]] == pytest.approx(h.history["loss"])
    # append: rows go on, no second header; a custom separator
    model.fit(x, y, epochs=2, validation_split=0.25, verbose=0, callbacks=[callbacks.CSVLogger(str(path), append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 6 and [r[0] for r in rows[4:]] == ["0", "1"]
    semi = tmp_path / "semi.csv"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(str(semi), separator=";")])
    assert semi.read_text().splitlines()[0] == "epoch;accuracy;loss"


def test_terminate_on_nan(capsys):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.standard_normal((40, 1)).astype(np.float32)
    y[15] = np.nan  # in the second batch of 10
    model = Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizer="sgd", loss="mse")
    rec = Recorder()
    h = model.fit(x, y, batch_size=10, epochs=5, shuffle=False, verbose=0, callbacks=[callbacks.TerminateOnNaN(), rec])
    assert h.epoch == [0] and [e[1] for e in rec.events if e[0] == "batch_end"] == [0, 1]
    assert math.isnan(h.history["loss"][0])
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out


# ---------------------------------------------------------------------------- class_weight / sample_weight

def _per_sample_ce(model, x, y):
    p = model.predict(x, verbose=0)
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))


def test_class_weight_follows_keras_formula():
    x, y = _toy(n=48)
    model = _model()
    cw = {0: 0.5, 1: 2.0, 2: 3.0}
    per_sample = _per_sample_ce(model, x, y)
    w = np.array([cw[int(c)] for c in y], np.float32)
    expected = float(np.sum(w * per_sample) / len(y))  # sum_over_batch_size: divided by the batch size
    assert model.test_on_batch(x, y, sample_weight=w)[0] == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, sample_weight=w, batch_size=48, verbose=0)[0] == pytest.approx(expected, rel=1e-5)
    # fit with a zero learning rate logs the weighted loss of the unchanged model
    frozen = _model(optimizer=optimizers.SGD(0.0))
    frozen.set_weights(model.get_weights())
    h = frozen.fit(x, y, batch_size=48, epochs=1, class_weight=cw, shuffle=False, verbose=0)
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    h = frozen.fit(x, y, batch_size=48, epochs=1, sample_weight=w, verbose=0)
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    # one-hot targets: the class is the argmax; absent classes weigh 1
    onehot = np.eye(3, dtype=np.float32)[y]
    frozen.compile(optimizer=optimizers.SGD(0.0), loss="categorical_crossentropy")
    h = frozen.fit(x, onehot, batch_size=48, class_weight={1: 2.0}, verbose=0)
    w1 = np.where(y == 1, 2.0, 1.0)
    assert h.history["loss"][0] == pytest.approx(float(np.sum(w1 * per_sample) / len(y)), rel=1e-5)
    assert frozen.train_on_batch(x, onehot, class_weight={1: 2.0}) == pytest.approx(h.history["loss"][0], rel=1e-5)


def test_class_weight_changes_training_and_errors():
    x, y = _toy()
    a, b = _model(), _model()
    b.set_weights(a.get_weights())
    la = a.fit(x, y, epochs=1, shuffle=False, verbose=0).history["loss"][0]
    lb = b.fit(x, y, epochs=1, shuffle=False, class_weight={0: 1.0, 1: 5.0, 2: 5.0}, verbose=0).history["loss"][0]
    assert la != pytest.approx(lb)
    with pytest.raises(ValueError, match="class_weight and sample_weight"):
        a.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(len(x)), verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        a.fit(x, y, sample_weight=np.ones(3), verbose=0)
    with pytest.raises(ValueError, match="dict"):
        a.fit(x, y, class_weight=[1.0, 2.0, 3.0], verbose=0)


# ---------------------------------------------------------------------------- progress display

def test_verbose_forms(capsys):
    x, y = _toy()
    model = _model()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""

    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.fullmatch(r"2/2 - \d+s - \d+(us|ms|s)/step - loss: \d+\.\d{4} - accuracy: \d\.\d{4} - "
                        r"val_loss: \d+\.\d{4} - val_accuracy: \d\.\d{4}", lines[1]), lines[1]

    slow = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: time.sleep(0.15))
    for verbose in (1, "auto"):
        model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=verbose, callbacks=[slow])
        out = capsys.readouterr().out
        assert out.count("Epoch 1/2\n") == 1 and out.count("Epoch 2/2\n") == 1
        final = [chunk for chunk in re.split(r"[\r\n]", out) if chunk.startswith("3/3 ")]
        assert final, out
        assert re.search(r"3/3 .*\d\d:\d\d<\d\d:\d\d - loss: \d+\.\d{4} - accuracy: \d\.\d{4} - val_loss: "
                         r"\d+\.\d{4} - val_accuracy: \d\.\d{4}$", final[-1]), final[-1]
        assert any(re.match(r"[12]/3 ", c) for c in re.split(r"[\r\n]", out))  # per-step updates


def test_auto_mode_reads_the_compiled_metric_direction(tmp_path):
    model = _model(metrics=(fastnn.metrics.Precision(name="prec"), "mse"))
    cases = [("val_prec", True), ("prec", True), ("mse", False), ("val_loss", False)]
    for monitor, up in cases:  # Keras 3: a metric's direction decides in mode="auto"
        es = callbacks.EarlyStopping(monitor=monitor)
        ckpt = callbacks.ModelCheckpoint(str(tmp_path / "m.fastnn"), monitor=monitor, save_best_only=True)
        for cb in (es, ckpt):
            cb.set_model(model)
            cb.on_train_begin()
            assert cb._max is up, (type(cb).__name__, monitor)
        assert ckpt.best == (-math.inf if up else math.inf)
    pinned = callbacks.EarlyStopping(monitor="prec", mode="min")
    pinned.set_model(model)
    pinned.on_train_begin()
    assert pinned._max is False


def test_batch_logs_reach_every_kind_of_batch_callback():
    """fit makes per-batch logs only for callbacks that read them: a subclass overriding the hook,
    a LambdaCallback given a function, and the verbose=1 bar all count as readers."""
    import fastnn
    from fastnn import callbacks, layers, models

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)).astype(np.float32), rng.integers(0, 2, 40)

    class Sub(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append(logs["loss"])

    lam_seen = []
    sub = Sub()
    lam = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: lam_seen.append(logs["loss"]))
    fastnn.manual_seed(0)
    model = models.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=10, epochs=1, callbacks=[sub, lam], verbose=0)
    assert len(sub.seen) == len(lam_seen) == 4 and sub.seen == lam_seen
    assert all(isinstance(v, float) for v in lam_seen)


def test_the_progress_bar_makes_batch_logs_only_when_it_redraws(monkeypatch, capsys):
    """With the bar as the only per-batch reader, fit hands it a function instead of the logs and
    the bar calls it only when it redraws (at most every 0.1 s, and for the last step): on the GPU
    each call is a wait for the device. The final line still shows the epoch's logs."""
    from fastnn import step_log

    calls = []
    original = step_log.StepLog.logs

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(step_log.StepLog, "logs", counting)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((400, 3)).astype(np.float32), rng.integers(0, 2, 400)
    model = Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    slow = callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: time.sleep(0.004))
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=1, callbacks=[slow])  # 100 steps, ~0.4 s
    assert 2 <= len(calls) < 50, f"logs made {len(calls)} times for 100 steps"
    out = capsys.readouterr()
    frames = re.split(r"[\r\n]", out.out + out.err)
    mid = [f for f in frames if re.match(r"\s*([1-9]|[1-9][0-9])/100 ", f)]  # steps 1..99
    assert any("loss:" in f for f in mid), "no loss shown before the last step"
    assert f"loss: {history.history['loss'][0]:.4f}" in out.out + out.err
