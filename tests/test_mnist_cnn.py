"""A small Keras-style CNN (Conv2D, MaxPooling2D, Dense) trains on the MNIST sample shipped with
the package (20,000 training digits) to >= 97% on its 2,000 test digits, in well under a minute on
2 cores: the end-to-end check of the convolution and pooling kernels, their gradients and the
layers' shape rules together."""

from __future__ import annotations

import numpy as np

import fastnn
from fastnn import layers, models
from fastnn.datasets import mnist


def test_small_cnn_reaches_97_percent_on_the_sample():
    fastnn.manual_seed(7)
    (x_train, y_train), (x_test, y_test) = mnist.load_sample()
    x_train = x_train[..., None].astype(np.float32) / 255.0
    x_test = x_test[..., None].astype(np.float32) / 255.0
    model = models.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    assert model.output_shape == (None, 10)
    # Keras' counts: 3*3*1*16+16, 3*3*16*32+32, 5*5*32*64+64, 64*10+10
    assert model.count_params() == 160 + 4640 + 51264 + 650
    model.compile(optimizer=fastnn.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.97, f"test accuracy {accuracy:.4f} after 3 epochs"
