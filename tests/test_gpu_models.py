"""Keras-style models on the GPU (``pytest -m gpu``): ``model.to("cuda")`` moves weights and
optimizer state, ``fit`` / ``evaluate`` / ``predict`` send batches there, and training gives the
CPU's results.

Both devices run float32 kernels whose sums are ordered differently; after a few Adam steps the
weights agree to rtol 1e-4 / atol 1e-5 (Adam divides by sqrt(v), which magnifies tiny gradient
differences for near-zero gradients, hence the absolute floor).
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
from fastnn import layers, models  # noqa: E402

pytestmark = pytest.mark.gpu


def _data(n=96, d=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 0.7)
    return x, y


def _functional(d=10):
    inp = layers.Input((d,))
    h = layers.Dense(16, activation="relu")(inp)
    merged = layers.Concatenate()([layers.Add()([layers.Dense(8)(h), layers.Dense(8)(h)]), h])
    return models.Model(inp, layers.Dense(3, activation="softmax")(merged))


@pytest.mark.parametrize("make", [
    lambda: models.Sequential([layers.Input((10,)), layers.Dense(16, activation="relu"), layers.Dense(3,
                                                                                                    activation="softmax")]),
    _functional,
])
def test_fit_on_the_gpu_matches_the_cpu(make):
    x, y = _data()
    fastnn.manual_seed(11)
    cpu = make()
    fastnn.manual_seed(11)
    gpu = make()
    gpu.set_weights(cpu.get_weights())
    assert gpu.to("cuda") is gpu and gpu.device.startswith("cuda")
    assert all(isinstance(p.data, cp.ndarray) for p in gpu.weights)
    for m in (cpu, gpu):
        m.compile(optimizer=fastnn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h_cpu = cpu.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    h_gpu = gpu.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_gpu.history["loss"], h_cpu.history["loss"], rtol=1e-4)
    for a, b in zip(gpu.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    pred = gpu.predict(x, verbose=0)
    assert isinstance(pred, np.ndarray)
    np.testing.assert_allclose(pred, cpu.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gpu.evaluate(x, y, verbose=0), cpu.evaluate(x, y, verbose=0), rtol=1e-4)


def test_to_moves_optimizer_state_and_back(tmp_path):
    x, y = _data(seed=1)
    fastnn.manual_seed(2)
    model = _functional()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)           # Adam state made on the CPU
    model.to("cuda")
    assert all(isinstance(a, cp.ndarray) for a in model.optimizer.variables)
    model.fit(x, y, epochs=1, verbose=0)           # continues on the GPU
    model.save(tmp_path / "m.safetensors")          # saving brings weights to the host
    loaded = models.load_model(tmp_path / "m.safetensors")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    model.to("cpu")
    assert all(isinstance(p.data, np.ndarray) for p in model.weights)
    assert all(isinstance(a, np.ndarray) for a in model.optimizer.variables)


def test_lazy_model_moved_before_it_has_weights():
    x, y = _data(seed=3)
    model = models.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    model.to("cuda")                                # no weights yet: they follow at the first batch
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.device.startswith("cuda") and all(isinstance(p.data, cp.ndarray) for p in model.weights)


def test_host_labels_are_checked_on_the_host_for_a_gpu_loss():
    """fit feeds host labels: the range check runs there (no GPU synchronisation mid-step) and
    still names the label and the row."""
    y_pred = fastnn.Tensor(cp.zeros((4, 3), cp.float32))
    with pytest.raises(ValueError, match=r"label 3 in row 2 is outside \[0, 3\)"):
        fastnn.losses.sparse_categorical_crossentropy(np.array([0, 1, 3, 2]), y_pred, from_logits=True)
    with pytest.raises(ValueError, match=r"label -1 in row 0"):
        fastnn.losses.sparse_categorical_crossentropy(np.array([-1, 1, 0, 2]), y_pred)
    ok = fastnn.losses.sparse_categorical_crossentropy(np.array([0, 1, 2, 2]), y_pred, from_logits=True)
    assert abs(float(ok.item()) - np.log(3)) < 1e-6


def test_gpu_fit_with_weights_validation_and_batch_callbacks_matches_the_cpu():
    """The GPU loop (batches through the DeviceFeeder, logs folded lazily) gives the CPU loop's
    history; a callback reading per-batch logs gets plain floats."""
    x, y = _data(n=130, seed=5)
    w = np.linspace(0.5, 1.5, len(x)).astype(np.float32)
    histories, batch_losses = [], []
    for device in ("cpu", "cuda"):
        fastnn.manual_seed(21)
        model = models.Sequential([layers.Input((10,)), layers.Dense(12, activation="relu"),
                                   layers.Dense(3, activation="softmax")])
        model.to(device)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      weighted_metrics=["accuracy"])
        seen = []
        cb = fastnn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))
        histories.append(model.fit(x, y, sample_weight=w, batch_size=32, epochs=2, validation_split=0.25,
                                   callbacks=[cb], verbose=0).history)
        batch_losses.append(seen)
    assert histories[0].keys() == histories[1].keys()
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert all(isinstance(v, float) for v in batch_losses[1])
    np.testing.assert_allclose(batch_losses[1], batch_losses[0], rtol=1e-4)
