"""fastnn.Tensor and the tape: construction, grad mode, graph bookkeeping, and every
differentiable op's gradient against central differences.

Gradient checks run the float32 kernels, so the finite differences are taken in float32 with
h = 1e-2 on functions of O(1) values: the truncation error is O(h^2 |f'''|) ~ 1e-4 and the
rounding error ~ eps32 |f| / h ~ 1e-5, hence rtol/atol = 2e-3. A wrong rule (a missing
transpose, a wrong broadcast reduction, a lost factor) is off by O(1).
"""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import Tensor


def numeric_grad(fn, arrays, index, h=1e-2):
    """d fn(arrays) / d arrays[index] by central differences (fn returns a float)."""
    base = arrays[index]
    grad = np.zeros(base.shape, np.float64)
    flat = base.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = fn(arrays)
        flat[i] = old - h
        down = fn(arrays)
        flat[i] = old
        grad.reshape(-1)[i] = (up - down) / (2 * h)
    return grad


def check_grads(build, *arrays, rtol=2e-3, atol=2e-3, weights=None):
    """build(*tensors) -> Tensor; compares autograd's gradient of sum(out * weights) with
    central differences for every input."""
    arrays = [np.array(a, dtype=np.float32) for a in arrays]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = build(*tensors)
    if weights is None:
        weights = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (out * Tensor(weights)).sum().backward()

    def value(arrs):
        with fastnn.no_grad():
            res = build(*[Tensor(a) for a in arrs])
        return float((res.numpy().astype(np.float64) * weights).sum())

    for i, t in enumerate(tensors):
        want = numeric_grad(value, arrays, i)
        assert t.grad is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(t.grad, want, rtol=rtol, atol=atol, err_msg=f"input {i}")


rng = np.random.default_rng(0)


def r(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# --------------------------------------------------------------------------- construction

def test_construction_and_facts():
    t = Tensor([[1, 2, 3], [4, 5, 6]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.dtype == np.int64 or t.dtype == np.int32  # integer data keeps an integer dtype
    f = Tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    assert f.dtype == np.float32  # floating data is stored as float32
    assert Tensor(2.5).item() == 2.5 and float(Tensor([[3.0]])) == 3.0
    assert f.device == "cpu" and f.is_leaf and f.grad_fn is None
    assert np.asarray(f).shape == (2, 3)
    assert "Tensor(" in repr(f) and "requires_grad=True" in repr(Tensor([1.0], requires_grad=True))
    shared = np.ones(3, np.float32)
    assert Tensor(shared).data is shared  # no copy
    with pytest.raises(TypeError, match="only floating tensors"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match="item"):
        Tensor([1.0, 2.0]).item()


def test_parameter_requires_grad_by_default():
    p = fastnn.Parameter(np.zeros((2, 2)))
    assert p.requires_grad and p.dtype == np.float32 and repr(p).startswith("Parameter(")


# --------------------------------------------------------------------------- grad mode and graph

def test_no_grad_records_nothing():
    x = Tensor(r(3), requires_grad=True)
    with fastnn.no_grad():
        y = x * 2.0
        with fastnn.enable_grad():
            z = x * 3.0
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @fastnn.no_grad()
    def infer(t):
        return t * 2.0

    assert not infer(x).requires_grad


def test_gradient_accumulates_over_uses_and_calls():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (x * x + x).sum().backward()  # d/dx = 2x + 1
    np.testing.assert_allclose(x.grad, [3.0, 5.0, 7.0])
    (x * 2.0).sum().backward()  # accumulates, as in PyTorch
    np.testing.assert_allclose(x.grad, [5.0, 7.0, 9.0])
    x.zero_grad()
    assert x.grad is None


def test_diamond_graph_and_retain_grad():
    a = Tensor(r(4), requires_grad=True)
    b = a * 2.0
    b.retain_grad()
    c = b * b + b  # b used twice
    c.sum().backward()
    np.testing.assert_allclose(b.grad, 2 * b.data + 1, rtol=1e-6)
    np.testing.assert_allclose(a.grad, 2 * (2 * b.data + 1), rtol=1e-6)


def test_detach_and_constants_get_no_gradient():
    x = Tensor(r(3), requires_grad=True)
    y = x.detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad, x.data, rtol=1e-6)
    c = Tensor(r(3))
    (c * x).sum().backward()
    assert c.grad is None


def test_backward_errors():
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        Tensor([1.0]).backward()
    x = Tensor(r(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match="grad has shape"):
        (x * 2.0).backward(np.ones(4, np.float32))
    (x * 2.0).backward(np.ones(3, np.float32))
    np.testing.assert_allclose(x.grad, 2.0)


def test_deep_chain_does_not_recurse():
    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 1.0)


# --------------------------------------------------------------------------- op gradients

@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "maximum", "minimum"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                                    ((5,), ()), ((1,), (3, 2))])
def test_binary_broadcasting_gradients(op, shapes):
    a, b = r(*shapes[0]), r(*shapes[1])
    if op == "divide":
        b = np.where(np.abs(b) < 0.5, 1.0 + np.abs(b), b).astype(np.float32)  # away from 0
    while op in ("maximum", "minimum") and np.abs(a - b).min() < 0.05:  # no near-ties within h
        a, b = r(*shapes[0]), r(*shapes[1])
    check_grads(lambda x, y: getattr(F, op)(x, y), a, b)


def test_operators_and_python_numbers():
    x = Tensor(r(2, 3), requires_grad=True)
    y = 2.0 * x - 1.0 / (x * x + 1.0) + (-x) / 4.0 + x ** 2
    y.sum().backward()
    xd = x.data.astype(np.float64)
    want = 2 + 2 * xd / (xd * xd + 1) ** 2 - 0.25 + 2 * xd
    np.testing.assert_allclose(x.grad, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose((3.0 - x).data, 3.0 - x.data)
    np.testing.assert_allclose((np.ones((2, 3), np.float32) + x).data, 1 + x.data)


@pytest.mark.parametrize("a_shape,b_shape", [((4, 3), (3, 5)), ((2, 4, 3), (3, 5)), ((3,), (3, 5)), ((4, 3), (3,))])
def test_matmul_gradients(a_shape, b_shape):
    check_grads(lambda a, b: a @ b, r(*a_shape), r(*b_shape))


def test_matmul_reads_transposed_views():
    a, b = r(3, 4), r(5, 4)
    check_grads(lambda x, y: x @ y.T, a, b)


@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_linear_gradients(activation):
    x, w, b = r(6, 4), r(4, 3), r(3)
    check_grads(lambda x, w, b: F.linear(x, w, b, activation=activation), x, w, b)
    check_grads(lambda x, w: F.linear(x, w), r(2, 3, 4), w)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
def test_sum_and_mean_gradients(axis, keepdims):
    x = r(3, 4, 5)
    check_grads(lambda t: t.sum(axis=axis, keepdims=keepdims), x)
    check_grads(lambda t: t.mean(axis=axis, keepdims=keepdims), x)
    np.testing.assert_allclose(Tensor(x).mean(axis=axis, keepdims=keepdims).data,
                               x.astype(np.float64).mean(axis=axis, keepdims=keepdims), rtol=1e-5, atol=1e-6)


def test_shape_op_gradients():
    x = r(2, 3, 4)
    check_grads(lambda t: t.reshape(6, 4) * 1.5, x)
    m = Tensor(r(4, 2, 3))
    check_grads(lambda t: t.transpose(2, 0, 1) * m, x)
    check_grads(lambda t: t.T * 2.0, r(3, 5))
    check_grads(lambda t: t[1:, ::2] * 3.0, x)
    check_grads(lambda t: t[np.array([0, 2, 2])] * 1.0, r(3, 4))  # repeated pick adds up
    check_grads(lambda t: t.flatten(1) * 1.0, x)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "sigmoid",
                                  "hard_sigmoid", "tanh", "softplus", "softsign", "exponential"])
def test_activation_gradients(name):
    x = r(3, 5)
    x = np.where(np.abs(x) < 0.1, 0.3, x).astype(np.float32)  # away from kinks at 0
    if name == "hard_sigmoid":
        x = np.clip(x, -2.0, 2.0).astype(np.float32)  # inside its linear part (kinks at +-2.5 or +-3)
    check_grads(lambda t: F.activation(t, name), x)


@pytest.mark.parametrize("name,alpha", [("sigmoid", None), ("tanh", None), ("relu", None), ("elu", 0.7),
                                        ("leaky_relu", 0.0), ("leaky_relu", -0.3), ("elu", -0.5), ("gelu", None)])
def test_activation_backward_rule(name, alpha):
    # Kinds in ops.ACTIVATIONS_FROM_OUTPUT (leaky_relu / elu with alpha >= 0) differentiate from
    # the saved output; the rest (and negative alphas) from the input. Same gradient either way.
    x = r(4, 6)
    x = np.where(np.abs(x) < 0.1, 0.3, x).astype(np.float32)
    t = Tensor(x.copy(), requires_grad=True)
    out = F.activation(t, name, alpha=alpha)
    g = r(4, 6)
    out.backward(g)
    a = fastnn.ops.ACTIVATIONS[name][1] if alpha is None else alpha
    want = fastnn.reference.activation_backward(x.astype(np.float64), g.astype(np.float64), name, a)
    np.testing.assert_allclose(t.grad, want, rtol=1e-5, atol=1e-6)
    if name in fastnn.ops.ACTIVATIONS_FROM_OUTPUT and a >= 0:
        np.testing.assert_array_equal(
            t.grad, fastnn.ops.activation_backward(out.numpy(), g, name, alpha=a, from_output=True))
    check_grads(lambda u: F.activation(u, name, alpha=alpha), x)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_gradients(axis):
    x = r(4, 6)
    check_grads(lambda t: F.softmax(t, axis=axis), x)
    check_grads(lambda t: F.log_softmax(t, axis=axis), x)
    np.testing.assert_allclose(F.softmax(Tensor(x), axis=axis).data.sum(axis=axis), 1.0, rtol=1e-6)


def test_dropout_gradient_matches_its_mask():
    fastnn.manual_seed(5)
    x = Tensor(np.ones((50, 40), np.float32), requires_grad=True)
    y = F.dropout(x, 0.25)
    kept = y.data != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y.data[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.75, rtol=1e-6)
    assert F.dropout(x, 0.25, training=False) is x
    fastnn.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(Tensor(np.ones((50, 40), np.float32)), 0.25).data, y.data)
    with pytest.raises(ValueError, match="dropout: rate"):
        F.dropout(x, 1.0)


def test_bad_input_names_the_op():
    with pytest.raises(ValueError, match="matmul: inner dimensions"):
        Tensor(r(2, 3)) @ Tensor(r(4, 2))
    with pytest.raises(ValueError, match="linear: x has 3 features"):
        F.linear(Tensor(r(2, 3)), Tensor(r(4, 2)))
    with pytest.raises(ValueError, match="reshape"):
        Tensor(r(2, 3)).reshape(4, 2)
    with pytest.raises(ValueError, match="sum: axis"):
        Tensor(r(2, 3)).sum(axis=2)
    with pytest.raises(ValueError, match="unknown activation"):
        F.activation(Tensor(r(2)), "relu7")
    with pytest.raises(ValueError, match="power"):
        Tensor(r(2)) ** 0.5


def test_to_cpu_is_identity_and_bad_devices_raise():
    x = Tensor(r(2), requires_grad=True)
    assert x.to("cpu") is x
    with pytest.raises(ValueError, match="device"):
        x.to("tpu")
    if not fastnn.cuda_available():
        with pytest.raises(RuntimeError, match="no usable GPU"):
            x.to("cuda")
