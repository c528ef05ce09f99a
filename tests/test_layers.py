"""fastnn.layers: Keras semantics of the core layers (shapes, parameter counts, lazy build,
get_config round trips, Dropout's training flag, regularization losses, clear errors)."""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn import Tensor, layers


@pytest.fixture(autouse=True)
def _seed():
    fastnn.manual_seed(7)


def test_dense_is_built_lazily_from_the_first_input():
    d = layers.Dense(5)
    assert not d.built and d.weights == []
    y = d(np.ones((3, 4), np.float32))
    assert d.built and isinstance(y, Tensor) and y.shape == (3, 5)
    assert d.kernel.shape == (4, 5) and d.bias.shape == (5,)
    assert [p.name for p in d.weights] == [f"{d.name}/kernel", f"{d.name}/bias"]
    assert d.count_params() == 25 and d.input_shape == (None, 4) and d.output_shape == (None, 5)


def test_dense_matches_numpy_and_applies_the_activation():
    d = layers.Dense(3, activation="relu", bias_initializer="ones")
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    y = d(x).numpy()
    np.testing.assert_allclose(y, np.maximum(x @ d.kernel.numpy() + 1.0, 0), rtol=1e-5, atol=1e-6)
    s = layers.Dense(2, activation="sigmoid", use_bias=False)
    out = s(x).numpy()
    assert s.bias is None and len(s.weights) == 1
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(x @ s.kernel.numpy()))), rtol=1e-5, atol=1e-6)


def test_dense_on_3d_inputs_acts_on_the_last_axis():
    d = layers.Dense(7)
    assert d(np.zeros((2, 3, 4), np.float32)).shape == (2, 3, 7)
    assert d.compute_output_shape((None, 3, 4)) == (None, 3, 7)


def test_dense_parameter_count_keras_example():
    d = layers.Dense(256, input_dim=784)
    assert d.build_from_declared()
    assert d.count_params() == 200_960


def test_dense_glorot_uniform_limits():
    d = layers.Dense(300)
    d.build((None, 200))
    limit = np.sqrt(6 / (200 + 300))
    k = d.kernel.numpy()
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit
    assert np.all(d.bias.numpy() == 0)


def test_dense_wrong_input_names_the_layer_and_shapes():
    d = layers.Dense(10, input_dim=784, name="hidden")
    d.build_from_declared()
    with pytest.raises(ValueError, match=r"hidden.*784.*\(5, 28, 28\)"):
        d(np.zeros((5, 28, 28), np.float32))


def test_gradients_reach_the_weights():
    d = layers.Dense(3)
    x = Tensor(np.ones((2, 4), np.float32))
    d(x).sum().backward()
    np.testing.assert_allclose(d.kernel.grad, np.full((4, 3), 2.0))
    np.testing.assert_allclose(d.bias.grad, np.full(3, 2.0))


def test_regularizers_give_layer_losses():
    d = layers.Dense(3, kernel_regularizer=fastnn.regularizers.L2(0.1), bias_regularizer="l1",
                     bias_initializer="ones")
    assert d.losses == []  # nothing built yet
    d.build((None, 4))
    values = [float(t.item()) for t in d.losses]
    assert values[0] == pytest.approx(0.1 * float((d.kernel.numpy() ** 2).sum()), rel=1e-5)
    assert values[1] == pytest.approx(0.01 * 3, rel=1e-5)
    d.losses[0].backward()
    np.testing.assert_allclose(d.kernel.grad, 0.2 * d.kernel.numpy(), rtol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(4, activation="tanh", use_bias=False, kernel_initializer="he_normal",
                         kernel_regularizer=fastnn.regularizers.L1L2(0.1, 0.2), input_dim=3, name="d1"),
    lambda: layers.Activation("softmax"),
    lambda: layers.Dropout(0.3),
    lambda: layers.Flatten(input_shape=(2, 3)),
    lambda: layers.Reshape((2, -1)),
    lambda: layers.InputLayer(shape=(5,)),
])
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer) and clone.get_config() == config
    again = layers.deserialize(layers.serialize(layer))
    assert again.get_config() == config


def test_dense_round_trip_builds_the_same_shapes():
    d = layers.Dense(6, input_dim=3, activation="relu")
    clone = layers.Dense.from_config(d.get_config())
    assert clone.build_from_declared() and clone.kernel.shape == (3, 6)
    assert clone.activation == "relu" and clone.get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"


def test_automatic_names_are_unique():
    a, b = layers.Dense(1), layers.Dense(1)
    assert a.name != b.name and a.name.startswith("dense") and b.name.startswith("dense")


def test_dropout_active_only_when_training():
    drop = layers.Dropout(0.5)
    x = np.ones((200, 50), np.float32)
    np.testing.assert_array_equal(drop(x).numpy(), x)  # inference by default
    np.testing.assert_array_equal(drop(x, training=False).numpy(), x)
    y = drop(x, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.0)


def test_flatten_and_reshape():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    f = layers.Flatten()
    assert f(x).shape == (2, 12) and f.compute_output_shape((None, 3, 4)) == (None, 12)
    r = layers.Reshape((4, 3))
    np.testing.assert_array_equal(r(x).numpy(), x.reshape(2, 4, 3))
    assert layers.Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)
    with pytest.raises(ValueError, match="Reshape"):
        layers.Reshape((5, 5))(x)


def test_activation_layer():
    x = np.array([[-1.0, 0.0, 2.0]], np.float32)
    np.testing.assert_allclose(layers.Activation("relu")(x).numpy(), [[0, 0, 2]])
    np.testing.assert_allclose(layers.Activation("softmax")(x).numpy().sum(), 1.0, rtol=1e-6)


def test_set_weights_checks_shapes_and_count():
    d = layers.Dense(2)
    d.build((None, 3))
    with pytest.raises(ValueError, match="2 arrays"):
        d.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match="shape"):
        d.set_weights([np.zeros((2, 3)), np.zeros(2)])
    d.set_weights([np.ones((3, 2)), np.full(2, 5.0)])
    np.testing.assert_array_equal(d(np.ones((1, 3), np.float32)).numpy(), [[8.0, 8.0]])


def test_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        layers.Dense(0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        layers.Dense(3, kernal_initializer="zeros")
    with pytest.raises(ValueError, match="initializer"):
        layers.Dense(3, kernel_initializer="no_such_init")
