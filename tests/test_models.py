"""fastnn.models: Sequential with Keras semantics -- summary, compile/fit/evaluate/predict,
History keys, validation_split, train_on_batch, weights, clear errors -- and the end-to-end MLP
on the embedded MNIST sample (>= 95% test accuracy in a couple of seconds)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import fastnn
from fastnn import Sequential, layers, models
from fastnn.datasets import mnist


@pytest.fixture(autouse=True)
def _seed():
    fastnn.manual_seed(11)


def _toy(n=64, features=4, classes=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    return x, y % classes


def _mlp(classes=3, features=4):
    return Sequential([layers.Dense(8, activation="relu", input_shape=(features,)),
                       layers.Dense(classes, activation="softmax")])


def test_exports():
    assert fastnn.Sequential is models.Sequential and fastnn.layers is layers


def test_summary_table_and_counts():
    model = Sequential([layers.Dense(256, activation="relu", input_dim=784), layers.Dense(128, activation="relu"),
                        layers.Dropout(0.2), layers.Dense(10, activation="softmax")], name="mlp")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "mlp"' in text and "(None, 256)" in text and "200,960" in text and "(None, 10)" in text
    assert "Total params: 235,146" in text and "Trainable params: 235,146" in text
    assert model.count_params() == 235_146 and len(model.weights) == 6
    assert [l.output_shape for l in model.layers] == [(None, 256), (None, 128), (None, 128), (None, 10)]


def test_lazy_build_and_input_layer():
    model = Sequential()
    model.add(layers.Dense(4))
    model.add(layers.Dense(2))
    assert not model.built and model.weights == []
    with pytest.raises(ValueError, match="not been built"):
        model.summary()
    assert model.predict(np.zeros((3, 5))).shape == (3, 2)
    assert model.built and model.count_params() == 5 * 4 + 4 + 4 * 2 + 2
    with_input = Sequential([layers.Input(shape=(28, 28)), layers.Flatten(), layers.Dense(3)])
    assert with_input.built and len(with_input.layers) == 2 and with_input.output_shape == (None, 3)


def test_history_keys_and_evaluate_forms():
    x, y = _toy()
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert isinstance(h, models.History) and h.epoch == [0, 1, 2]
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 3 for v in h.history.values())
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2 and 0 <= result[1] <= 1
    assert model.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}
    plain = _mlp()
    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(plain.evaluate(x, y, verbose=0), float)
    assert list(plain.fit(x, y, verbose=0).history) == ["loss"]
    assert model.metrics_names == ["loss", "accuracy"]


def test_evaluate_matches_a_hand_computed_loss_and_accuracy():
    x, y = _toy(n=50)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    logits = model.predict(x, batch_size=7)
    loss = fastnn.losses.sparse_categorical_crossentropy(y, logits).item()
    acc = float((logits.argmax(1) == y).mean())
    got = model.evaluate(x, y, batch_size=7, return_dict=True, verbose=0)
    assert got["loss"] == pytest.approx(loss, rel=1e-5) and got["acc"] == pytest.approx(acc)


def test_validation_split_takes_the_last_fraction():
    x = np.zeros((10, 2), np.float32)
    y = np.zeros(10, np.int64)
    y[8:] = 1  # only the last 20% is class 1: a model that always predicts 0 scores 0 on it
    model = Sequential([layers.Dense(2, kernel_initializer="zeros", bias_initializer="zeros", input_dim=2)])
    model.compile(optimizer=fastnn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.layers[0].set_weights([np.zeros((2, 2)), np.array([1.0, 0.0])])
    h = model.fit(x, y, validation_split=0.2, epochs=1, verbose=0, shuffle=True)
    assert h.history["accuracy"] == [1.0] and h.history["val_accuracy"] == [0.0]
    h = model.fit(x, y, validation_data=(x[:8], y[:8]), verbose=0)  # overrides the split
    assert h.history["val_accuracy"] == [1.0]


def test_accuracy_picks_the_kind_from_the_shapes():
    x, y = _toy()
    onehot = fastnn.utils.to_categorical(y, 3)
    model = _mlp()
    model.compile(optimizer="adam", loss=fastnn.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    logits = model.predict(x)
    assert model.evaluate(x, onehot, verbose=0)[1] == pytest.approx(float((logits.argmax(1) == y).mean()))
    binary = Sequential([layers.Dense(1, activation="sigmoid", input_dim=4)])
    binary.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    yb = (x[:, 0] > 0).astype(np.float32)
    p = binary.predict(x)[:, 0]
    assert binary.evaluate(x, yb, verbose=0)[1] == pytest.approx(float(((p > 0.5) == yb).mean()))


def test_regularization_losses_are_added():
    x, y = _toy()
    reg = Sequential([layers.Dense(3, kernel_regularizer=fastnn.regularizers.L2(1.0), input_dim=4)])
    reg.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    plain_loss = fastnn.losses.sparse_categorical_crossentropy(y, reg.predict(x)).item()
    penalty = float((reg.layers[0].kernel.numpy() ** 2).sum())
    assert reg.evaluate(x, y, verbose=0) == pytest.approx(plain_loss + penalty, rel=1e-5)
    before = float((reg.layers[0].kernel.numpy() ** 2).sum())
    reg.compile(optimizer=fastnn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    reg.fit(x, y, epochs=5, verbose=0)
    assert float((reg.layers[0].kernel.numpy() ** 2).sum()) < before  # the penalty shrinks the kernel


def test_train_on_batch_and_test_on_batch():
    x, y = _toy(n=32)
    model = _mlp()
    model.compile(optimizer=fastnn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    first = model.test_on_batch(x, y)
    for _ in range(30):
        out = model.train_on_batch(x, y)
    assert isinstance(out, list) and len(out) == 2
    assert model.test_on_batch(x, y)[0] < first[0]


def test_predict_is_deterministic_with_dropout_and_batches_agree():
    x, _ = _toy(n=40)
    model = Sequential([layers.Dense(16, activation="relu", input_dim=4), layers.Dropout(0.5), layers.Dense(2)])
    a = model.predict(x, batch_size=7)
    np.testing.assert_allclose(a, model.predict(x, batch_size=40), rtol=1e-5, atol=1e-6)
    assert isinstance(a, np.ndarray) and a.shape == (40, 2)


def test_get_and_set_weights_round_trip():
    x, _ = _toy(n=10)
    a, b = _mlp(), _mlp()
    assert [w.shape for w in a.get_weights()] == [(4, 8), (8,), (8, 3), (3,)]
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with pytest.raises(ValueError):
        b.set_weights(a.get_weights()[:-1])


def test_sequential_config_round_trip():
    model = Sequential([layers.Flatten(input_shape=(2, 3)), layers.Dense(4, activation="relu"), layers.Dense(2)])
    clone = Sequential.from_config(model.get_config())
    assert clone.built and [type(l) for l in clone.layers] == [type(l) for l in model.layers]
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]


def test_shuffle_is_seeded():
    x, y = _toy()
    results = []
    for _ in range(2):
        fastnn.manual_seed(3)
        model = _mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        results.append(model.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"])
    assert results[0] == results[1]


def test_verbose_prints_one_line_per_epoch(capsys):
    x, y = _toy()
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out and "accuracy:" in out
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------- clear errors

def test_fit_before_compile():
    x, y = _toy()
    with pytest.raises(ValueError, match="compile"):
        _mlp().fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="compile"):
        _mlp().evaluate(x, y, verbose=0)


def test_x_and_y_of_different_lengths():
    x, y = _toy()
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"64 samples.*63"):
        model.fit(x, y[:-1], verbose=0)


def test_dense_input_dim_fed_images():
    model = Sequential([layers.Dense(32, activation="relu", input_dim=784, name="first"), layers.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = np.zeros((8, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"first.*784.*\(8, 28, 28\).*Flatten"):
        model.fit(images, np.zeros(8, np.int64), verbose=0)


def test_unknown_names():
    model = _mlp()
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile(optimizer="adam", loss="categorical_crossentropyy")
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile(optimizer="adam", loss="mse", metrics=["accuracyy"])


def test_categorical_crossentropy_given_integer_labels():
    x, y = _toy()
    model = _mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.fit(x, y, verbose=0)


def test_bad_fit_arguments():
    x, y = _toy()
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="class_weight and sample_weight"):
        model.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(len(x)), verbose=0)


# ---------------------------------------------------------------------------- end to end

def test_mlp_trains_to_95_percent_on_the_mnist_sample():
    fastnn.manual_seed(1234)
    (x_train, y_train), (x_test, y_test) = mnist.load_sample()
    x_train, x_test = x_train / 255.0, x_test / 255.0
    batch, epochs = 64, 8
    steps = epochs * -(-len(x_train) // batch)
    model = Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(128, activation="relu"),
                        layers.Dense(10)])
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=fastnn.schedules.CosineDecay(2e-3, steps)),
                  loss=fastnn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=batch, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Sequential MLP on the MNIST sample: test accuracy {accuracy:.4f} in {seconds:.1f} s")
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f} < 0.95"


def test_frozen_layer_is_not_trained_nor_regularized():
    x, y = _toy()
    model = _mlp()
    frozen = model.layers[0]
    frozen.trainable = False
    frozen.kernel_regularizer = None
    before = frozen.get_weights()
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 40" in "\n".join(lines)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)
    reg = layers.Dense(2, kernel_regularizer="l2", trainable=False)
    reg.build((None, 3))
    assert reg.losses == []


def test_subclassed_model_tracks_its_layers_and_trains():
    class TwoLayer(models.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(16, activation="relu")
            self.out = layers.Dense(3, activation="softmax")

        def call(self, x, training=False):
            return self.out(self.hidden(x, training=training), training=training)

    x, y = _toy()
    model = TwoLayer()
    model.compile(optimizer=fastnn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert len(model.weights) == 4 and model.count_params() == 4 * 16 + 16 + 16 * 3 + 3
    assert h.history["loss"][-1] < h.history["loss"][0]


# ---------------------------------------------------------------------------- compiled metrics (Keras 3)

def _frozen(classes=3, features=4, activation="softmax"):
    """An MLP that does not learn (SGD(0)): its logged metrics must equal those of its predictions."""
    model = Sequential([layers.Dense(8, activation="relu", input_shape=(features,)),
                        layers.Dense(classes, activation=activation)])
    return model


def test_history_keys_and_values_for_many_metrics():
    x, y = _toy(n=61)
    onehot = fastnn.utils.to_categorical(y, 3)
    model = _frozen()
    prec = fastnn.metrics.Precision(thresholds=0.4)
    model.compile(optimizer=fastnn.optimizers.SGD(0.0), loss="categorical_crossentropy",
                  metrics=["acc", "mse", "mae", prec, "top_k_categorical_accuracy",
                           fastnn.metrics.TopKCategoricalAccuracy(k=2, name="top2")])
    h = model.fit(x, onehot, batch_size=8, epochs=2, shuffle=False, validation_data=(x[:20], onehot[:20]), verbose=0)
    names = ["acc", "mse", "mae", "precision", "top_k_categorical_accuracy", "top2"]
    assert list(h.history) == ["loss", *names] + ["val_" + n for n in ["loss", *names]]
    assert model.metrics_names == ["loss", *names]
    p = model.predict(x, verbose=0)
    ranks = (p > p[np.arange(len(y)), y][:, None]).sum(1)
    pos = p > 0.4
    expected = {"acc": np.mean(p.argmax(1) == y), "mse": np.mean((p - onehot) ** 2), "mae": np.mean(np.abs(p - onehot)),
                "precision": np.sum(pos & (onehot == 1)) / np.sum(pos), "top_k_categorical_accuracy": 1.0,
                "top2": np.mean(ranks < 2)}
    for name, value in expected.items():  # whole-epoch values, streamed over 8 uneven batches
        assert h.history[name] == pytest.approx([value] * 2, rel=1e-5), name
    pv = p[:20]
    assert h.history["val_precision"][0] == pytest.approx(np.sum((pv > 0.4) & (onehot[:20] == 1)) / np.sum(pv > 0.4))


def test_evaluate_return_forms_and_duplicate_names():
    x, y = _toy(n=30)
    model = _frozen()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy", "accuracy"],
                  weighted_metrics=["accuracy"])
    assert model.metrics_names == ["loss", "accuracy", "accuracy_1", "weighted_accuracy"]
    out = model.evaluate(x, y, verbose=0)
    assert isinstance(out, list) and len(out) == 4 and out[1] == out[2] == out[3]
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == model.metrics_names and d["loss"] == pytest.approx(out[0])
    assert isinstance(d["accuracy"], float)
    assert all(isinstance(m, fastnn.metrics.SparseCategoricalAccuracy) for m in model.metrics)


def test_sample_weight_reaches_weighted_metrics_only():
    x, y = _toy(n=40)
    model = _frozen()
    model.compile(optimizer=fastnn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    w = np.random.default_rng(3).uniform(0.0, 2.0, len(y))
    hit = model.predict(x, verbose=0).argmax(1) == y
    d = model.evaluate(x, y, sample_weight=w, batch_size=9, return_dict=True, verbose=0)
    assert d["accuracy"] == pytest.approx(hit.mean())
    assert d["weighted_accuracy"] == pytest.approx(np.sum(w * hit) / np.sum(w))
    cw = {0: 3.0, 1: 0.5, 2: 1.0}
    cw_w = np.array([cw[int(c)] for c in y])
    h = model.fit(x, y, batch_size=16, class_weight=cw, shuffle=False, verbose=0)
    assert h.history["accuracy"][0] == pytest.approx(hit.mean())
    assert h.history["weighted_accuracy"][0] == pytest.approx(np.sum(cw_w * hit) / np.sum(cw_w))


def test_train_and_test_on_batch_report_that_batch():
    x, y = _toy(n=40)
    model = _frozen()
    model.compile(optimizer=fastnn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hit = model.predict(x, verbose=0).argmax(1) == y
    model.test_on_batch(x[:20], y[:20])
    loss, acc = model.test_on_batch(x[20:], y[20:])  # not a running mean over both calls
    assert acc == pytest.approx(hit[20:].mean())
    assert model.train_on_batch(x[:20], y[:20], return_dict=True)["accuracy"] == pytest.approx(hit[:20].mean())
    assert model.test_on_batch(x[20:], y[20:])[0] == pytest.approx(loss)


def test_accuracy_resolves_again_when_the_targets_change_shape():
    x, y = _toy(n=24)
    model = _frozen()
    model.compile(optimizer=fastnn.optimizers.SGD(0.0), loss=fastnn.losses.CategoricalCrossentropy(),
                  metrics=["accuracy"])
    onehot = fastnn.utils.to_categorical(y, 3)
    expected = np.mean(model.predict(x, verbose=0).argmax(1) == y)
    assert model.evaluate(x, onehot, verbose=0)[1] == pytest.approx(expected)
    assert isinstance(model.metrics[0], fastnn.metrics.CategoricalAccuracy)


def test_metric_shape_errors_name_the_metric():
    x, y = _toy(n=12)
    model = _frozen()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["mse"])
    with pytest.raises(ValueError, match=r"'mse'.*mean_squared_error.*\(12,\).*\(12, 3\)"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"unknown metric 'precission'.*precision"):
        model.compile(optimizer="sgd", loss="mse", metrics=["precission"])
    with pytest.raises(TypeError, match="compile: metrics must be a list"):
        model.compile(optimizer="sgd", loss="mse", metrics=5)


# ---------------------------------------------------------------------------- steps (Keras 3's EpochIterator)

class _Seen(fastnn.callbacks.Callback):
    """Records each epoch's steps."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1] += 1


def test_epoch_iterator_continues_across_epochs_and_restarts_when_data_runs_out():
    from fastnn.epoch_iterator import EpochIterator

    it = EpochIterator(100, 10, steps_per_epoch=4)  # 10 batches
    starts = lambda: [idx.start for _, idx in it.epoch()]  # noqa: E731
    assert starts() == [0, 10, 20, 30] and starts() == [40, 50, 60, 70]
    with pytest.warns(UserWarning, match="ran out of data"):
        assert starts() == [80, 90]
    assert starts() == [0, 10, 20, 30]  # a new pass
    exact = EpochIterator(100, 10, steps_per_epoch=5)
    assert [idx.start for _, idx in exact.epoch()][-1] == 40
    assert [idx.start for _, idx in exact.epoch()][-1] == 90
    assert [idx.start for _, idx in exact.epoch()][0] == 0  # ended exactly: a new pass, no warning
    full = EpochIterator(95, 10)
    assert len(list(full.epoch())) == 10 and full.steps == 10
    shuffled = EpochIterator(40, 10, steps_per_epoch=2, shuffle=True)
    first = np.concatenate([idx for _, idx in shuffled.epoch()] + [idx for _, idx in shuffled.epoch()])
    assert sorted(first) == list(range(40))  # two epochs = one permutation of the data


def test_fit_steps_per_epoch_with_arrays():
    x, y = _toy(n=50)  # 5 batches of 10
    model = _frozen()
    model.compile(optimizer=fastnn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = _Seen()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(x, y, batch_size=10, epochs=4, steps_per_epoch=2, shuffle=False, callbacks=[seen], verbose=0)
    assert seen.steps == [2, 2, 1, 2] and seen.params["steps"] == 2
    p = model.predict(x, verbose=0)
    per_sample = -np.log(p[np.arange(len(y)), y])
    hit = p.argmax(1) == y
    for epoch, rows in enumerate([slice(0, 20), slice(20, 40), slice(40, 50), slice(0, 20)]):
        assert h.history["loss"][epoch] == pytest.approx(per_sample[rows].mean(), rel=1e-5)
        assert h.history["accuracy"][epoch] == pytest.approx(hit[rows].mean())


def test_validation_steps_evaluate_steps_predict_steps():
    x, y = _toy(n=50)
    model = _frozen()
    model.compile(optimizer=fastnn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    first = model.evaluate(x[:20], y[:20], return_dict=True, verbose=0)
    assert model.evaluate(x, y, batch_size=10, steps=2, return_dict=True, verbose=0) == pytest.approx(first)
    h = model.fit(x, y, batch_size=10, epochs=2, validation_data=(x, y), validation_steps=2, verbose=0)
    # Keras resets the validation iterator each epoch: the same first two batches every time
    assert h.history["val_loss"] == pytest.approx([first["loss"]] * 2, rel=1e-6)
    out = model.predict(x, batch_size=10, steps=3, verbose=0)
    np.testing.assert_allclose(out, model.predict(x[:30], verbose=0), rtol=1e-6)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert model.predict(x, batch_size=10, steps=9, verbose=0).shape == (50, 3)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="steps_per_epoch must be a positive int"):
            model.fit(x, y, steps_per_epoch=bad, verbose=0)
    with pytest.raises(ValueError, match="evaluate: steps"):
        model.evaluate(x, y, steps=0, verbose=0)
    with pytest.raises(ValueError, match="fit: validation_steps"):
        model.fit(x, y, validation_split=0.2, validation_steps="2", verbose=0)


# ---------------------------------------------------------------------------- evaluate / predict progress

def test_evaluate_and_predict_progress(capsys):
    import re

    x, y = _toy(n=48)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.evaluate(x, y, batch_size=16, verbose=0)
    model.predict(x, batch_size=16, verbose=0)
    assert capsys.readouterr().out == ""
    model.evaluate(x, y, batch_size=16, verbose=1)
    chunks = re.split(r"[\r\n]", capsys.readouterr().out)
    final = [c for c in chunks if c.startswith("3/3 ")]
    assert final and re.search(r"loss: \d+\.\d{4} - accuracy: \d\.\d{4}$", final[-1]), chunks
    model.evaluate(x, y, batch_size=16, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and re.fullmatch(r"3/3 - \d+s - \d+(us|ms|s)/step - loss: \d+\.\d{4} - accuracy: "
                                            r"\d\.\d{4}", lines[0]), lines
    model.predict(x, batch_size=16)  # verbose="auto": a bar
    assert any(c.startswith("3/3 ") for c in re.split(r"[\r\n]", capsys.readouterr().out))
    model.fit(x, y, epochs=1, batch_size=16, validation_split=0.25, verbose=2)  # validation adds no line of its own
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "val_accuracy" in lines[1]
