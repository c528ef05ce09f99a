"""The functional API: ``Input`` -> layers -> ``Model(inputs, outputs)`` with branches, merges
(``Add``, ``Concatenate``, ...), shared layers and nesting; its summary, config, save/load,
training, ``model.to``; and the errors real mistakes get."""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import layers, models


def _toy(n=240, d=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


def _branchy(d=12):
    """input -> dense -> (two branches) -> Add -> Concatenate with the trunk -> softmax."""
    inp = layers.Input(shape=(d,), name="pixels")
    trunk = layers.Dense(16, activation="relu", name="trunk")(inp)
    a = layers.Dense(8, activation="relu", name="left")(trunk)
    b = layers.Dense(8, activation="tanh", name="right")(trunk)
    merged = layers.Add(name="sum")([a, b])
    joined = layers.Concatenate(name="join")([merged, trunk])
    out = layers.Dense(3, activation="softmax", name="probs")(joined)
    return models.Model(inputs=inp, outputs=out, name="branchy")


def test_input_is_symbolic_and_layers_propagate_shapes():
    x = layers.Input(shape=(28, 28))
    assert isinstance(x, layers.KerasTensor) and x.shape == (None, 28, 28)
    h = layers.Flatten()(x)
    assert h.shape == (None, 784)
    assert layers.Dense(256)(h).shape == (None, 256)
    assert layers.Concatenate()([h, h]).shape == (None, 1568)
    assert layers.Add()([layers.Dense(4)(h), layers.Dense(4)(h)]).shape == (None, 4)


def test_branch_merge_model_builds_counts_and_trains():
    fastnn.manual_seed(3)
    model = _branchy()
    assert model.input_shape == (None, 12) and model.output_shape == (None, 3)
    assert [l.name for l in model.layers] == ["pixels", "trunk", "left", "right", "sum", "join", "probs"]
    # trunk 12*16+16, left/right 16*8+8 each, probs (8+16)*3+3
    assert model.count_params() == 208 + 136 + 136 + 75
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "left[0][0], right[0][0]" in text and "Total params: 555" in text
    x, y = _toy()
    model.compile(optimizer=fastnn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8
    loss, acc = model.evaluate(x, y, verbose=0)
    assert np.isfinite(loss) and acc > 0.8


def test_functional_forward_equals_the_same_math_by_hand():
    model = _branchy()
    x, _ = _toy(n=7)
    w = {l.name: [p.numpy() for p in l.weights] for l in model.layers}
    trunk = np.maximum(x @ w["trunk"][0] + w["trunk"][1], 0)
    a = np.maximum(trunk @ w["left"][0] + w["left"][1], 0)
    b = np.tanh(trunk @ w["right"][0] + w["right"][1])
    logits = np.concatenate([a + b, trunk], axis=1) @ w["probs"][0] + w["probs"][1]
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-6)


def test_merge_layers_compute_what_their_names_say():
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal((5, 4)).astype(np.float32) for _ in range(3))
    cases = [(layers.Add(), a + b + c), (layers.Multiply(), a * b * c), (layers.Average(), (a + b + c) / 3),
             (layers.Maximum(), np.maximum(np.maximum(a, b), c)), (layers.Minimum(), np.minimum(np.minimum(a, b), c))]
    for layer, want in cases:
        np.testing.assert_allclose(layer([a, b, c]).numpy(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layers.Subtract()([a, b]).numpy(), a - b, rtol=1e-6)
    np.testing.assert_allclose(layers.Concatenate(axis=1)([a, b]).numpy(), np.concatenate([a, b], 1))
    np.testing.assert_allclose(layers.concatenate([a, c]).numpy(), np.concatenate([a, c], 1))
    np.testing.assert_allclose(layers.add([a, c]).numpy(), a + c, rtol=1e-6)


@pytest.mark.parametrize("axis,shapes", [(-1, [(3, 4), (3, 1), (3, 5)]), (0, [(1, 2, 3), (4, 2, 3)]),
                                         (1, [(2, 1, 3), (2, 6, 3)]), (2, [(2, 3, 1), (2, 3, 1)])])
def test_concatenate_gradient_splits_back_to_each_input(axis, shapes):
    rng = np.random.default_rng(len(shapes) + axis)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    tensors = [fastnn.Tensor(a, requires_grad=True) for a in arrays]
    out = F.concatenate(tensors, axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, axis=axis))
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    (out * fastnn.Tensor(upstream)).sum().backward()
    pieces = np.split(upstream, np.cumsum([s[axis] for s in shapes])[:-1], axis=axis)
    for t, want in zip(tensors, pieces):
        assert t.grad.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(t.grad, want)


def test_concatenate_errors_name_the_op_and_the_shapes():
    a, b = np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"concatenate: .*shape \(2, 3\).*input 1 has shape \(3, 3\)"):
        F.concatenate([a, b], axis=1)
    with pytest.raises(ValueError, match="non-empty"):
        F.concatenate([], axis=0)
    with pytest.raises(ValueError, match="out of range"):
        F.concatenate([a, a], axis=2)


def test_shared_layer_uses_one_set_of_weights_and_sums_its_gradients():
    left, right = layers.Input((6,), name="left_in"), layers.Input((6,), name="right_in")
    shared = layers.Dense(4, name="shared", use_bias=False)
    out = layers.Subtract()([shared(left), shared(right)])
    model = models.Model([left, right], out)
    assert len(model.weights) == 1 and model.count_params() == 24
    rng = np.random.default_rng(2)
    xl, xr = rng.standard_normal((5, 6)).astype(np.float32), rng.standard_normal((5, 6)).astype(np.float32)
    w = shared.kernel.numpy()
    y = model([xl, xr])
    np.testing.assert_allclose(y.numpy(), xl @ w - xr @ w, rtol=1e-5, atol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(shared.kernel.grad, (xl - xr).sum(0)[:, None] * np.ones((1, 4)), rtol=1e-5,
                               atol=1e-5)



def test_two_input_model_fits_evaluates_and_predicts_on_a_list_of_arrays():
    fastnn.manual_seed(8)
    left, right = layers.Input((6,)), layers.Input((3,))
    h = layers.Concatenate()([layers.Dense(8, activation="relu")(left), layers.Dense(4, activation="relu")(right)])
    model = models.Model([left, right], layers.Dense(1)(h))
    rng = np.random.default_rng(6)
    xl, xr = rng.standard_normal((200, 6)).astype(np.float32), rng.standard_normal((200, 3)).astype(np.float32)
    y = (xl[:, :1] - 2 * xr[:, 1:2]).astype(np.float32)
    model.compile(optimizer=fastnn.optimizers.Adam(0.02), loss="mse")
    history = model.fit([xl, xr], y, epochs=20, batch_size=25, validation_split=0.2, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    assert "val_loss" in history.history
    pred = model.predict([xl, xr], batch_size=64, verbose=0)
    assert pred.shape == (200, 1)
    np.testing.assert_allclose(model.evaluate([xl, xr], y, verbose=0), float(np.mean((pred - y) ** 2)), rtol=1e-4)
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.predict([xl, xr[:10]], verbose=0)
    with pytest.raises(ValueError, match="expects 2 inputs"):
        model.predict(xl, verbose=0)


def test_save_load_and_config_round_trip(tmp_path):
    fastnn.manual_seed(5)
    model = _branchy()
    x, y = _toy(n=64)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "branchy.safetensors"
    model.save(path)
    loaded = models.load_model(path)
    assert type(loaded).__name__ == "Functional" and [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # training resumes identically: same optimizer state, same next step
    fastnn.manual_seed(9)
    a = model.fit(x, y, epochs=1, verbose=0, shuffle=False).history["loss"]
    fastnn.manual_seed(9)
    b = loaded.fit(x, y, epochs=1, verbose=0, shuffle=False).history["loss"]
    assert a == b
    clone = type(model).from_config(model.get_config())
    assert clone.get_config()["layers"] == model.get_config()["layers"]


def test_shared_layer_and_nested_models_survive_save(tmp_path):
    inner = models.Sequential([layers.Dense(5, activation="relu"), layers.Dense(3)], name="inner")
    a, b = layers.Input((4,)), layers.Input((4,))
    shared = layers.Dense(4, activation="tanh", name="enc")
    out = layers.Concatenate()([inner(shared(a)), inner(shared(b))])
    model = models.Model([a, b], out, name="twin")
    rng = np.random.default_rng(4)
    xa, xb = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    path = tmp_path / "twin.safetensors"
    model.save(path)
    loaded = models.load_model(path)
    assert loaded.count_params() == model.count_params() == (16 + 4) + (20 + 5) + (15 + 3)
    np.testing.assert_array_equal(loaded([xa, xb]).numpy(), model([xa, xb]).numpy())


def test_layer_output_gives_a_feature_extractor_sharing_weights():
    model = _branchy()
    features = models.Model(model.input, model.get_layer("join").output)
    x, _ = _toy(n=4)
    assert features.output_shape == (None, 24)
    assert all(any(p is q for q in model.weights) for p in features.weights)
    trunk = model.get_layer("trunk")
    np.testing.assert_allclose(features.predict(x, verbose=0)[:, 8:], trunk(x).numpy(), rtol=1e-6)


def test_subclassed_model_called_inside_a_functional_graph():
    class Residual(models.Model):
        def __init__(self, units):
            super().__init__()
            self.inner = layers.Dense(units)

        def call(self, x, training=False):
            return F.add(x, self.inner(x))

    inp = layers.Input((6,))
    out = layers.Dense(2)(Residual(6)(inp))
    model = models.Model(inp, out)
    assert model.output_shape == (None, 2) and model.count_params() == 42 + 14
    x, _ = _toy(n=5, d=6)
    assert model.predict(x, verbose=0).shape == (5, 2)


def test_multi_output_model_is_callable_but_not_trainable_yet():
    inp = layers.Input((3,))
    h = layers.Dense(4)(inp)
    model = models.Model(inp, [layers.Dense(1)(h), layers.Dense(2)(h)])
    outs = model(np.ones((2, 3), np.float32))
    assert [o.shape for o in outs] == [(2, 1), (2, 2)]
    with pytest.raises(NotImplementedError, match="2 outputs"):
        model.compile(optimizer="adam", loss="mse")


def test_graph_mistakes_get_clear_errors():
    a, b = layers.Input((4,)), layers.Input((4,))
    out = layers.Add()([layers.Dense(3)(a), layers.Dense(3)(b)])
    with pytest.raises(ValueError, match="graph disconnected"):
        models.Model(a, out)
    with pytest.raises(ValueError, match="cannot be combined"):
        layers.Add()([layers.Dense(3)(a), layers.Dense(5)(a)])
    with pytest.raises(ValueError, match="match on every axis except"):
        layers.Concatenate(axis=-1)([layers.Reshape((2, 2))(a), layers.Reshape((4, 1))(b)])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([a, a, a])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.Add()(a)
    with pytest.raises(TypeError, match="use a layer"):
        a + b  # noqa: B018
    with pytest.raises(ValueError, match="straight from Input"):
        models.Model(layers.Dense(2)(a), out)
    with pytest.raises(TypeError, match="symbolic tensor"):
        models.Model(a, np.zeros(3))
    model = models.Model(a, layers.Dense(2)(a))
    with pytest.raises(ValueError, match=r"Input 0 of model .* expected shape \(None, 4\), got shape \(5, 28, 28\)"):
        model(np.zeros((5, 28, 28), np.float32))
    with pytest.raises(ValueError, match="must be unique"):
        x = layers.Input((2,))
        models.Model(x, layers.Dense(2, name="same")(layers.Dense(2, name="same")(x)))


def test_sequential_accepts_input_and_model_to_cpu():
    model = models.Sequential([layers.Input((4, 3)), layers.Flatten(), layers.Dense(2)])
    assert model.built and model.count_params() == 26
    assert model.to("cpu") is model and model.device == "cpu"
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'cuda:N'"):
        model.to("tpu")


def test_model_to_cuda_without_a_gpu_says_so():
    if fastnn.cuda_available():
        pytest.skip("a GPU is present: tests/test_gpu_models.py covers model.to('cuda')")
    model = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    with pytest.raises(RuntimeError):
        model.to("cuda")


def test_training_flag_fixed_at_a_call_is_replayed_and_saved(tmp_path):
    """Keras' Monte-Carlo dropout: Dropout(0.5)(x, training=True) stays on in predict, also after
    save / load."""
    inp = layers.Input((64,))
    out = layers.Dropout(0.5)(layers.Dense(64)(inp), training=True)
    model = models.Model(inp, out)
    x = np.ones((4, 64), np.float32)
    a, b = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert not np.array_equal(a, b) and (a == 0).mean() > 0.2
    model.save(tmp_path / "mc.safetensors")
    loaded = models.load_model(tmp_path / "mc.safetensors")
    c = loaded.predict(x, verbose=0)
    assert (c == 0).mean() > 0.2
    plain = models.Model(inp, layers.Dropout(0.5)(layers.Dense(4)(inp)))
    np.testing.assert_array_equal(plain.predict(x, verbose=0), plain.predict(x, verbose=0))


def test_list_shapes_and_nested_list_inputs_mean_one_input():
    dense = layers.Dense(4)
    dense.build([None, 8])  # a shape given as a list, as Keras users write it
    assert dense.kernel.shape == (8, 4) and dense.input_shape == (None, 8) and dense.output_shape == (None, 4)
    out = layers.Dense(2)([[1.0, 2.0, 3.0]])  # nested Python lists: one input, not three
    assert out.shape == (1, 2)
    seq = models.Sequential([layers.Dense(2)])
    assert seq([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).shape == (2, 2)
