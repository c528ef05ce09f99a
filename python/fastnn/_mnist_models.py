"""The MNIST models behind ``fastnn train`` and ``fastnn bench`` (and bench/test_bench_train.py).

* ``build_model("mlp" | "cnn")``: the Keras-style models, compiled with Adam and sparse
  categorical cross-entropy (the integer-label form of categorical cross-entropy);
* ``ReferenceMLP``: the same MLP's training step (forward, backward, Adam) in float32 NumPy,
  composed from ``fastnn.reference``: the baseline of ``fastnn bench``'s training table;
* ``torch_mlp`` / ``torch_cnn``: the same models as idiomatic PyTorch (when torch is installed).
"""

from __future__ import annotations

import numpy as np

MODELS = ("mlp", "cnn")
MLP_UNITS = (256, 128)  # 784-256-128-10


def mlp_layers():
    from fastnn import layers

    return [layers.Input((28, 28)), layers.Flatten(),
            layers.Dense(MLP_UNITS[0], activation="relu"),
            layers.Dense(MLP_UNITS[1], activation="relu"),
            layers.Dense(10, activation="softmax")]


def cnn_layers():
    from fastnn import layers

    return [layers.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]


def build_model(kind: str, learning_rate: float = 1e-3, metrics=("accuracy",)):
    """The compiled Sequential model ``kind`` ("mlp" or "cnn")."""
    from fastnn import models, optimizers

    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")
    model = models.Sequential(mlp_layers() if kind == "mlp" else cnn_layers(), name=kind)
    model.compile(optimizer=optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def prepare_images(x: np.ndarray, kind: str) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 in [0, 1]; (n, 28, 28, 1) for the CNN (channels last)."""
    x = x.astype(np.float32) / np.float32(255.0)
    return x[..., None] if kind == "cnn" else x


# --------------------------------------------------------------------------- NumPy reference

class ReferenceMLP:
    """784-256-128-10 MLP (relu, relu, softmax), sparse categorical cross-entropy on the softmax
    output (as Keras computes it for ``Dense(10, activation="softmax")``) and Adam, in the dtype
    of the weights given (float32 for the benchmark), every op from ``fastnn.reference``.

    ``weights``: ``[W1, b1, W2, b2, W3, b3]`` with kernels stored (in, out) as Keras does
    (``model.get_weights()`` of ``build_model("mlp")``). ``step(x, y)`` updates them in place
    and returns the mean loss; ``grads`` holds the last step's gradients."""

    def __init__(self, weights, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.weights = [np.array(w, copy=True) for w in weights]
        self.states = [[np.zeros_like(w), np.zeros_like(w), None] for w in self.weights]
        self.hyper = dict(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
        self.iterations = 0
        self.grads = None

    def forward(self, x):
        from fastnn import reference as ref

        w1, b1, w2, b2, w3, b3 = self.weights
        x = x.reshape(len(x), -1)
        h1 = ref.matmul(x, w1, bias=b1, activation="relu")
        h2 = ref.matmul(h1, w2, bias=b2, activation="relu")
        return x, h1, h2, ref.softmax(ref.matmul(h2, w3, bias=b3))

    def predict(self, x):
        return self.forward(x)[-1]

    def step(self, x, y) -> float:
        from fastnn import reference as ref

        w1, _, w2, _, w3, _ = self.weights
        x, h1, h2, p = self.forward(x)
        kind = "sparse_categorical_crossentropy"
        loss = float(ref.loss(kind, y, p).mean())
        dp = ref.loss_backward(kind, y, p, grad_rows=1.0 / len(x))   # d mean / d p
        dz = ref.softmax_backward(p, dp)
        dh2 = ref.activation_backward_from_output(h2, ref.matmul(dz, w3, transpose_b=True), "relu")
        dh1 = ref.activation_backward_from_output(h1, ref.matmul(dh2, w2, transpose_b=True), "relu")
        self.grads = [ref.matmul(x, dh1, transpose_a=True), ref.reduce_sum(dh1, axis=0),
                      ref.matmul(h1, dh2, transpose_a=True), ref.reduce_sum(dh2, axis=0),
                      ref.matmul(h2, dz, transpose_a=True), ref.reduce_sum(dz, axis=0)]
        self.iterations += 1
        ref.optimizer_step("adam", self.weights, self.grads, self.states, iteration=self.iterations, **self.hyper)
        return loss


# --------------------------------------------------------------------------- PyTorch twins

def torch_mlp():
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(784, MLP_UNITS[0]), nn.ReLU(),
                         nn.Linear(MLP_UNITS[0], MLP_UNITS[1]), nn.ReLU(), nn.Linear(MLP_UNITS[1], 10))


def torch_cnn():
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
