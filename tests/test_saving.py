"""Saving and loading (Keras 3 semantics): model.save -> models.load_model gives identical
predictions and the compile configuration back; save_weights / load_weights; damaged, truncated and
foreign files raise a ValueError naming the file; an interrupted save keeps the previous file and
leaves no temporary file behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

safetensors = pytest.importorskip("safetensors")
import safetensors.numpy  # noqa: E402

import fastnn  # noqa: E402
from fastnn import Sequential, layers, losses, models, optimizers, regularizers, saving  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    fastnn.manual_seed(5)


def _data(n=96):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 4, 3)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.int64) + (x[:, 1, 1] > 0.5).astype(np.int64)
    return x, y


def _model():
    return Sequential([
        layers.Input(shape=(4, 3)),
        layers.Flatten(),
        layers.Dense(16, activation="relu", kernel_regularizer=regularizers.L2(1e-3),
                     bias_regularizer="l1"),
        layers.Dropout(0.25),
        layers.Reshape((4, 4)),
        layers.Flatten(),
        layers.Dense(3, kernel_regularizer=regularizers.L1L2(l1=1e-4, l2=1e-4)),
        layers.Activation("softmax"),
    ])


def _trained():
    model = _model()
    model.compile(optimizer=optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model, x, y


def _leftovers(directory, keep):
    return sorted(set(os.listdir(directory)) - set(keep))


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("name", ["model.fastnn", "model.safetensors", "model.keras"])
def test_save_load_identical_predictions(tmp_path, name):
    model, x, y = _trained()
    path = tmp_path / name
    model.save(path)
    assert _leftovers(tmp_path, [name]) == []
    loaded = models.load_model(path)
    assert type(loaded) is Sequential and loaded.name == model.name
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # regularizers came back (their penalties are part of the loss)
    dense = loaded.layers[1]
    assert isinstance(dense.kernel_regularizer, regularizers.L2)
    assert isinstance(dense.bias_regularizer, regularizers.L1)
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_file_layout_is_safetensors_with_json_metadata(tmp_path):
    model, _, _ = _trained()
    path = str(tmp_path / "m.fastnn")
    model.save(path)
    tensors = safetensors.numpy.load_file(path)
    dense = model.layers[1]
    assert dense.kernel.name == f"{dense.name}/kernel"  # <layer name>/<weight name>, e.g. dense/kernel
    assert tensors[dense.kernel.name].shape == (12, 16)
    with safetensors.safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "fastnn" and meta["format_version"] == "1" and meta["kind"] == "model"
    arch = json.loads(meta["model_config"])
    assert arch["class_name"] == "Sequential"
    assert [l["class_name"] for l in arch["config"]["layers"]] == [
        "InputLayer", "Flatten", "Dense", "Dropout", "Reshape", "Flatten", "Dense", "Activation"]
    assert json.loads(meta["weight_names"]) == [p.name for p in model.weights]
    compiled = json.loads(meta["compile_config"])
    assert compiled["loss"] == "sparse_categorical_crossentropy" and compiled["metrics"] == ["accuracy"]
    assert compiled["optimizer"]["class_name"] == "Adam"
    assert json.loads(meta["optimizer_state"])["iterations"] == model.optimizer.iterations
    assert tensors["__optimizer__/0/momentum"].shape == (12, 16)  # Adam's first moment of the first kernel


def test_compile_config_restored(tmp_path):
    model, x, y = _trained()
    model.save(tmp_path / "m.fastnn")
    loaded = models.load_model(tmp_path / "m.fastnn")
    assert loaded._compiled
    assert isinstance(loaded.optimizer, optimizers.Adam)
    assert loaded.optimizer.learning_rate == pytest.approx(3e-3)
    assert loaded.loss is losses.sparse_categorical_crossentropy
    assert loaded.metrics_names == ["loss", "accuracy"]
    loaded.fit(x, y, epochs=1, batch_size=32, verbose=0)  # trains on


@pytest.mark.parametrize("opt", [lambda: optimizers.Adam(learning_rate=3e-3),
                                 lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
                                 lambda: optimizers.RMSprop(learning_rate=1e-3, momentum=0.5, centered=True)])
def test_optimizer_state_restored_training_resumes_identically(tmp_path, opt):
    x, y = _data()
    model = _model()
    model.compile(optimizer=opt(), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "m.fastnn")
    loaded = models.load_model(tmp_path / "m.fastnn")
    assert loaded.optimizer.iterations == model.optimizer.iterations
    for m in (model, loaded):
        fastnn.manual_seed(123)  # the same shuffles and dropout masks
        m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compile_with_loss_object_and_metric_function(tmp_path):
    model = _model()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss=losses.SparseCategoricalCrossentropy(), metrics=[fastnn.metrics.sparse_categorical_accuracy])
    model.save(tmp_path / "m.fastnn")
    loaded = models.load_model(tmp_path / "m.fastnn")
    assert isinstance(loaded.optimizer, optimizers.SGD)
    assert loaded.optimizer.learning_rate == pytest.approx(0.05) and loaded.optimizer.momentum == pytest.approx(0.9)
    assert isinstance(loaded.loss, losses.SparseCategoricalCrossentropy)
    assert loaded.metrics_names == ["loss", "sparse_categorical_accuracy"]
    assert not models.load_model(tmp_path / "m.fastnn", compile=False)._compiled


def test_metric_objects_and_weighted_metrics_restored(tmp_path):
    from fastnn import metrics

    x, y = _data()
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["acc", metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"),
                           metrics.sparse_categorical_accuracy, metrics.SparseCategoricalAccuracy],
                  weighted_metrics=[metrics.SparseCategoricalAccuracy(name="w_acc")])
    before = model.evaluate(x, y, verbose=0, sample_weight=np.linspace(0.1, 2, len(y)), return_dict=True)
    model.save(tmp_path / "m.fastnn")
    with safetensors.safe_open(str(tmp_path / "m.fastnn"), framework="numpy") as f:
        compiled = json.loads(f.metadata()["compile_config"])
    assert compiled["metrics"][0] == "acc"
    assert compiled["metrics"][1] == {"class_name": "SparseTopKCategoricalAccuracy",
                                      "config": {"name": "top2", "dtype": "float32", "k": 2, "from_sorted_ids": False}}
    assert compiled["metrics"][2]["config"]["fn"] == "sparse_categorical_accuracy"
    assert compiled["weighted_metrics"][0]["config"]["name"] == "w_acc"
    loaded = models.load_model(tmp_path / "m.fastnn")
    assert loaded.metrics_names == model.metrics_names == ["loss", "acc", "top2", "sparse_categorical_accuracy",
                                                           "sparse_categorical_accuracy_1", "w_acc"]
    got = loaded.evaluate(x, y, verbose=0, sample_weight=np.linspace(0.1, 2, len(y)), return_dict=True)
    assert got == pytest.approx(before, rel=1e-6)
    assert isinstance(loaded.metrics[1], metrics.SparseTopKCategoricalAccuracy)
    assert loaded.metrics[1].get_config()["k"] == 2


def test_unknown_saved_metric_is_a_clear_error(tmp_path):
    model, _, _ = _trained()
    path = tmp_path / "m.fastnn"
    model.save(path)
    tensors = safetensors.numpy.load_file(str(path))
    with safetensors.safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
    config = json.loads(meta["compile_config"])
    config["metrics"] = [{"class_name": "F1Score", "config": {}}]
    meta["compile_config"] = json.dumps(config)
    safetensors.numpy.save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ValueError, match=r"compile configuration cannot be restored.*unknown metric class 'F1Score'"):
        models.load_model(path)
    assert not models.load_model(path, compile=False)._compiled


def test_uncompiled_and_lazily_built_models(tmp_path):
    model = Sequential([layers.Dense(5, activation="tanh"), layers.Dense(2)])
    x = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)  # builds from the data
    model.save(tmp_path / "m.fastnn")
    loaded = models.load_model(tmp_path / "m.fastnn")
    assert not loaded._compiled and loaded.built
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


def test_unserialisable_compile_warns_and_saves_the_rest(tmp_path):
    model = _model()
    model.compile(optimizer="adam", loss=lambda y_true, y_pred: (y_pred - y_pred).sum())
    with pytest.warns(UserWarning, match="compile configuration is not saved"):
        model.save(tmp_path / "m.fastnn")
    loaded = models.load_model(tmp_path / "m.fastnn")
    assert not loaded._compiled


def test_subclassed_model_save_is_refused_save_weights_works(tmp_path):
    class Net(models.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, x, training=False):
            return self.d(x)

    net = Net()
    net(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="only Sequential and functional"):
        net.save(tmp_path / "net.fastnn")
    assert _leftovers(tmp_path, []) == []
    net.save_weights(tmp_path / "net.weights.safetensors")
    other = Net()
    other(np.ones((1, 3), np.float32))
    other.load_weights(tmp_path / "net.weights.safetensors")
    for a, b in zip(other.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_load_weights_round_trip(tmp_path):
    model, x, _ = _trained()
    path = tmp_path / "m.weights.safetensors"
    model.save_weights(path)
    assert _leftovers(tmp_path, [path.name]) == []
    fresh = _model()  # other automatic layer names: weights match by position
    assert [p.name for p in fresh.weights] != [p.name for p in model.weights]
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    # a whole-model file also serves load_weights
    model.save(tmp_path / "m.fastnn")
    fresh2 = _model()
    fresh2.load_weights(tmp_path / "m.fastnn")
    np.testing.assert_array_equal(fresh2.predict(x, verbose=0), model.predict(x, verbose=0))


def test_load_weights_shape_mismatch(tmp_path):
    model, _, _ = _trained()
    model.save_weights(tmp_path / "w.weights.safetensors")
    other = Sequential([layers.Input(shape=(4, 3)), layers.Flatten(), layers.Dense(8), layers.Dense(3)])
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"w\.weights\.safetensors.*shape"):
        other.load_weights(tmp_path / "w.weights.safetensors")
    for a, b in zip(other.get_weights(), before):  # nothing half-written
        np.testing.assert_array_equal(a, b)
    fewer = Sequential([layers.Input(shape=(4, 3)), layers.Flatten(), layers.Dense(3)])
    with pytest.raises(ValueError, match="holds 4 weights but the model"):
        fewer.load_weights(tmp_path / "w.weights.safetensors")


def test_load_weights_needs_a_built_model(tmp_path):
    model, _, _ = _trained()
    model.save_weights(tmp_path / "w.weights.safetensors")
    with pytest.raises(ValueError, match="not built"):
        Sequential([layers.Dense(3)]).load_weights(tmp_path / "w.weights.safetensors")


def test_load_model_refuses_weights_only_file(tmp_path):
    model, _, _ = _trained()
    model.save_weights(tmp_path / "w.weights.safetensors")
    with pytest.raises(ValueError, match="weights-only"):
        models.load_model(tmp_path / "w.weights.safetensors")


# --------------------------------------------------------------------------- bad files

def test_random_bytes(tmp_path):
    path = tmp_path / "junk.fastnn"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="junk.fastnn"):
        models.load_model(path)
    with pytest.raises(ValueError, match="junk.fastnn"):
        _model().load_weights(path)


@pytest.mark.parametrize("content", [b"", b"abc", b"\x02\x00\x00\x00\x00\x00\x00\x00{]", b"\x05" + b"\x00" * 7 + b"[1,2]"])
def test_tiny_or_malformed_headers(tmp_path, content):
    path = tmp_path / "bad.fastnn"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.fastnn"):
        models.load_model(path)


@pytest.mark.parametrize("keep", [0.99, 0.7, 0.3, 0.05])
def test_truncated_file(tmp_path, keep):
    model, _, _ = _trained()
    path = tmp_path / "m.fastnn"
    model.save(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.fastnn"
    cut.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match="cut.fastnn"):
        models.load_model(cut)


def test_foreign_safetensors_file(tmp_path):
    path = str(tmp_path / "foreign.safetensors")
    safetensors.numpy.save_file({"w": np.zeros((2, 2), np.float32)}, path)
    with pytest.raises(ValueError, match=r"foreign\.safetensors.*not a fastnn save file"):
        models.load_model(path)
    with pytest.raises(ValueError, match="foreign.safetensors"):
        _model().load_weights(path)


def _rewrite(src, dst, tensors=None, **meta_changes):
    with safetensors.safe_open(src, framework="numpy") as f:
        meta = dict(f.metadata())
        data = {k: f.get_tensor(k) for k in f.keys()}
    data.update(tensors or {})
    for k, v in meta_changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    safetensors.numpy.save_file(data, dst, metadata=meta)


def test_wrong_weight_shapes_in_file(tmp_path):
    model, _, _ = _trained()
    src = str(tmp_path / "m.fastnn")
    model.save(src)
    dst = str(tmp_path / "wrong.fastnn")
    name = model.layers[1].kernel.name
    _rewrite(src, dst, {name: np.zeros((12, 17), np.float32)})
    with pytest.raises(ValueError, match=rf"wrong\.fastnn.*'{name}' has shape \(12, 17\)"):
        models.load_model(dst)


@pytest.mark.parametrize("change, message", [
    ({"model_config": "{not json"}, "not valid JSON"),
    ({"model_config": None}, "missing its 'model_config'"),
    ({"model_config": json.dumps({"class_name": "os.system", "config": {}})}, "unknown model class"),
    ({"model_config": json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Lambda", "config": {}}]}})}, "cannot be rebuilt"),
    ({"format_version": "99"}, "format version 99"),
    ({"weight_names": json.dumps(["nope"])}, "does not hold"),
    ({"compile_config": json.dumps({"optimizer": {"class_name": "Evil", "config": {}}, "loss": "mse"})},
     "compile configuration"),
    ({"optimizer_state": json.dumps({"class_name": "Adam", "iterations": 3, "slots": {"0": ["m", "nope"]}})},
     "optimizer state"),
    ({"optimizer_state": json.dumps({"class_name": "SGD", "iterations": 3, "slots": {}})}, "optimizer state"),
    ({"optimizer_state": json.dumps({"class_name": "Adam", "iterations": 3, "slots": {"99": []}})},
     "optimizer state"),
])
def test_damaged_metadata(tmp_path, change, message):
    model, _, _ = _trained()
    src = str(tmp_path / "m.fastnn")
    model.save(src)
    dst = str(tmp_path / "damaged.fastnn")
    _rewrite(src, dst, **change)
    with pytest.raises(ValueError, match=message) as info:
        models.load_model(dst)
    assert "damaged.fastnn" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.fastnn"):
        models.load_model(tmp_path / "nothing.fastnn")


# --------------------------------------------------------------------------- atomic writes

@pytest.mark.parametrize("method", ["save", "save_weights"])
def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch, method):
    model, x, _ = _trained()
    path = tmp_path / "m.fastnn"
    getattr(model, method)(path)
    old_bytes = path.read_bytes()
    seen = []

    def failing(f, data):
        f.write(data[:len(data) // 2])
        seen.append(f.name)
        raise OSError("disk full (simulated)")

    model.fit(x, _data()[1], epochs=1, verbose=0)  # the weights change
    monkeypatch.setattr(saving, "_write_payload", failing)
    with pytest.raises(OSError, match="disk full"):
        getattr(model, method)(path)
    assert seen, "the writer was not reached"
    assert path.read_bytes() == old_bytes
    assert _leftovers(tmp_path, ["m.fastnn"]) == []  # the temporary file is gone
    monkeypatch.undo()
    getattr(model, method)(path)
    assert path.read_bytes() != old_bytes
    assert _leftovers(tmp_path, ["m.fastnn"]) == []


def test_overwrite_false(tmp_path):
    model, _, _ = _trained()
    model.save(tmp_path / "m.fastnn")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.fastnn", overwrite=False)


def test_import_fastnn_does_not_import_safetensors():
    code = "import sys, fastnn; assert 'safetensors' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
