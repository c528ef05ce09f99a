"""Tensor, autograd, losses and an optimizer step on the GPU give the CPU's results
(``pytest -m gpu``).

Both sides run float32 kernels; sums are ordered differently on the two devices, so values agree
to rtol 1e-5 / atol 1e-6 and gradients (a few products deep) to 1e-4 / 1e-5.
"""

import numpy as np
import pytest

from gpu_support import cupy_or_skip

cp = cupy_or_skip()

import fastnn  # noqa: E402
import fastnn.functional as F  # noqa: E402
from fastnn import Parameter, Tensor  # noqa: E402

pytestmark = pytest.mark.gpu
rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def run_graph(device):
    x = Tensor(X).to(device)
    w1 = Parameter(Tensor(W1).to(device).data)
    b1 = Parameter(Tensor(B1).to(device).data)
    w2 = Parameter(Tensor(W2).to(device).data)
    h = F.linear(x, w1, b1, activation="relu")
    h = F.gelu(h) * 0.5 + F.sigmoid(h) / (1.0 + F.tanh(h) ** 2)
    h = h - h.mean(axis=0) + F.maximum(h, 0.1)
    out = F.softmax(h @ w2, axis=-1)
    loss = fastnn.losses.categorical_crossentropy(Y, out) + fastnn.losses.mean_squared_error(Y, out)
    loss = loss + fastnn.losses.sparse_categorical_crossentropy(LABELS, h @ w2, from_logits=True)
    loss = loss + fastnn.regularizers.L1L2(0.01, 0.02)(w2) + h[1:, ::2].sum() * 1e-3
    loss.backward()
    return [loss.data, w1.grad, b1.grad, w2.grad]


X, W1, B1, W2 = r(16, 12), r(12, 9), r(9), r(9, 5)
LABELS = rng.integers(0, 5, 16)
Y = np.eye(5, dtype=np.float32)[LABELS]


def test_graph_matches_cpu():
    cpu = run_graph("cpu")
    gpu = run_graph("cuda")
    for c, g in zip(cpu, gpu):
        assert isinstance(g, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(g), c, rtol=1e-4, atol=1e-5)


def test_to_device_round_trip_and_gradient_comes_home():
    x = Tensor(r(3, 4), requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda:0" and y.requires_grad
    (y * 3.0).sum().backward()
    assert isinstance(x.grad, np.ndarray)
    np.testing.assert_allclose(x.grad, 3.0)
    assert y.to("cuda") is y and isinstance(y.cpu().data, np.ndarray)


def test_dropout_mask_is_the_same_on_both_devices():
    x = np.ones((64, 33), np.float32)
    fastnn.manual_seed(11)
    a = F.dropout(Tensor(x), 0.3).numpy()
    fastnn.manual_seed(11)
    b = F.dropout(Tensor(x).to("cuda"), 0.3).numpy()
    np.testing.assert_array_equal(a, b)


def test_training_steps_match_cpu():
    def train(device):
        # copies: on the CPU a Parameter shares its array, and the steps update it in place
        w = Parameter(Tensor(W1.copy()).to(device).data)
        b = Parameter(Tensor(B1.copy()).to(device).data)
        opt = fastnn.optimizers.Adam(learning_rate=1e-2)
        for _ in range(5):
            loss = fastnn.losses.mean_squared_error(Tensor(np.tanh(X[:, :9])).to(device),
                                                    F.linear(Tensor(X).to(device), w, b, activation="tanh"))
            w.grad = b.grad = None
            loss.backward()
            opt.step([w, b])
        return w.numpy(), b.numpy()

    for c, g in zip(train("cpu"), train("cuda")):
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-5)
