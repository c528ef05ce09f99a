"""Edge cases a PyTorch or Keras user hits (each found by a review with a reproducer): layouts of
gradients, aliasing, strided views, Keras' loss shape rules, and clear errors instead of wrong
answers."""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import Parameter, Tensor, losses, optimizers

rng = np.random.default_rng(3)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_a_parameter_used_through_its_transpose_trains():
    w = Parameter(r(5, 4))
    x = Tensor(r(3, 4))
    (x @ w.T).sum().backward()
    assert w.grad.flags.c_contiguous
    np.testing.assert_allclose(w.grad, np.tile(x.data.sum(0), (5, 1)), rtol=1e-5)
    before = w.data.copy()
    optimizers.SGD(learning_rate=0.1).step([w])
    np.testing.assert_allclose(w.data, before - 0.1 * w.grad, rtol=1e-6)
    v = Parameter(r(4, 6))
    F.softmax(v.T, axis=0).sum().backward()  # softmax's backward through a transpose
    assert v.grad.flags.c_contiguous


def test_gradients_never_alias_the_callers_or_each_other():
    w = Parameter(r(3))
    g = np.ones(3, np.float32)
    (w + 1.0).backward(g)
    assert w.grad is not g and not np.shares_memory(w.grad, g)
    optimizers.SGD().zero_grad([w], set_to_none=False)
    np.testing.assert_array_equal(g, 1.0)  # the caller's array is untouched
    x, y = Parameter(r(4)), Parameter(r(4))
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad, y.grad)


def test_fresh_kernel_outputs_become_grads_without_a_copy():
    """A large kernel output comes from the host block cache (its base is the capsule that returns
    the block): it is the pass's own array, so it becomes .grad as it is, not copied."""
    x = Parameter(r(64, 1024))  # 256 KiB: the cached size
    w = Parameter(r(1024, 8))
    (x @ w).backward(np.ones((64, 8), np.float32))
    assert x.grad.base is not None and not isinstance(x.grad.base, np.ndarray)
    # each element sums 8 products of |w| < ~5 in float32: within 8 * 2**-24 * 40 of exact
    np.testing.assert_allclose(x.grad, np.tile(w.data.astype(np.float64).sum(1), (64, 1)), rtol=0, atol=2e-5)


def test_strided_views_feed_the_gemm():
    x, w = r(6, 10), r(5, 7)
    np.testing.assert_allclose((Tensor(x)[:, ::2] @ Tensor(w)).data, x[:, ::2] @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(F.linear(Tensor(x[:, :7]), Tensor(r(7, 9)[:, ::2])).shape, (6, 5))
    wp = Parameter(r(5, 8))
    (Tensor(x[:, ::2]) @ wp[:, ::2]).sum().backward()
    assert wp.grad.shape == (5, 8)


def test_numpy_conversion_copies_when_asked():
    t = Tensor(np.zeros(3, np.float32))
    a = np.array(t)  # NumPy 2: copy=True
    a[0] = 5
    assert t.data[0] == 0
    assert np.asarray(t) is t.data


def test_truth_values_and_flatten_bounds():
    assert bool(Tensor([1.0])) and not bool(Tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="flatten: start_dim 3"):
        Tensor(r(2, 3, 4)).flatten(3)
    with pytest.raises(ValueError, match="mean: axis 0 is out of range"):
        Tensor(3.0).mean(axis=0)


def test_integer_tensors_act_as_float_constants():
    x = Tensor(r(3), requires_grad=True)
    y = x * Tensor(np.array([1, 0, 2])) + Tensor(np.array([True, False, True]))
    np.testing.assert_allclose(y.data, x.data * [1, 0, 2] + [1, 0, 1], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1, 0, 2])
    labels = Tensor(np.array([1, 2]))
    assert labels.reshape(2, 1).dtype == labels.dtype  # shape ops keep the dtype


def test_sparse_crossentropy_on_probabilities_with_time_steps():
    p = Tensor(np.full((2, 3, 4), 0.25, np.float32), requires_grad=True)
    loss = losses.sparse_categorical_crossentropy(np.zeros((2, 3), int), p)
    np.testing.assert_allclose(loss.data, np.log(4), rtol=1e-6)
    loss.backward()
    assert p.grad.shape == (2, 3, 4)


def test_sample_weight_follows_keras_rank_rules():
    t, p = r(2, 5, 3), r(2, 5, 3)
    per = ((p.astype(np.float64) - t) ** 2).mean(-1)  # (2, 5)
    w = np.array([1.0, 3.0], np.float32)
    np.testing.assert_allclose(losses.mean_squared_error(t, p, sample_weight=w).data, (per * w[:, None]).mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(losses.mean_squared_error(t[:, 0], p[:, 0], sample_weight=w[:, None]).data,
                               (per[:, 0] * w).mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="mean_squared_error: sample_weight of shape"):
        losses.mean_squared_error(t, p, sample_weight=np.ones(3, np.float32))


def test_keras_loss_options():
    t, p = r(4, 3), r(4, 3)
    assert losses.mean_squared_error(t, p, reduction=None).shape == (4,)
    assert isinstance(losses.get(losses.MeanSquaredError), losses.MeanSquaredError)
    with pytest.raises(ValueError, match="not whole numbers"):
        losses.sparse_categorical_crossentropy(np.array([0.0, np.nan]), np.full((2, 3), 1 / 3, np.float32))


def test_mnist_arrays_are_writable(tmp_path):
    from fastnn.datasets import mnist

    header = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big")
    (tmp_path / "a.idx").write_bytes(header + bytes([1, 2, 3]))
    arr = mnist.read_idx(tmp_path / "a.idx")
    fastnn.random.generator().shuffle(arr)  # in place, as users shuffle x_train
    assert sorted(arr.tolist()) == [1, 2, 3]


def test_no_grad_as_bare_decorator_and_on_generators():
    x = Tensor(r(2), requires_grad=True)

    @fastnn.no_grad
    def double(t):
        return t * 2.0

    @fastnn.no_grad()
    def steps(t):
        for _ in range(2):
            received = yield t * 2.0
            assert received is None or received == "go"

    assert not double(x).requires_grad
    assert [s.requires_grad for s in steps(x)] == [False, False]
    assert (x * 2.0).requires_grad  # the mode did not leak out of the generator
