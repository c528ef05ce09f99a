"""Batch normalisation (ops, functional, the BatchNormalization layer) against the float64 NumPy
reference, finite-difference checks of the reference backward, Keras 3 semantics of the layer,
saving, bad input.

Tolerances (u = 2**-24; M rows of C channels; column sums in double are exact to M 2**-52 of the
sum of magnitudes, negligible beside u for the sizes here but included):

* mean: rounded once, |err| <= u |mean| + M 2**-52 max|x - x0|;
  invstd: formed in double, rounded once: <= 2u invstd (the variance's double error included);
* running statistics: formed in double, rounded once: <= 2u |value| (+ the tiniest subnormal);
* y = (x - mean_f) * scale_f + beta in float32, mean_f and scale_f = fl(gamma invstd) rounded:
  about 5 roundings of the terms, |err| <= 8u (|scale| (|x - mean| + |mean|) + |beta|);
* backward, given the kernel's saved mean and invstd (the reference gets the same values):
  dbeta, dgamma rounded once from double sums: <= 2u |value| + M 2**-52 sum|terms|;
  dx = a dy + b + (x - mean) d with a, b, d rounded from double and 4 float32 operations:
  |err| <= 8u (|a dy| + |b| + |x - mean| |d|).
"""

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import _C, layers, ops
from fastnn import reference as ref
from conftest import AVAILABLE_ISAS

U = 2.0**-24
TINY = float(np.finfo(np.float32).smallest_subnormal)
EPS = 1e-3


def random_shapes(seed, count):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        c = int(rng.integers(1, 18))
        if i % 3 == 0:
            out.append((int(rng.integers(1, 65)), c))
        else:
            out.append((int(rng.integers(1, 9)), int(rng.integers(1, 21)), int(rng.integers(1, 21)), c))
    return out


SHAPES = random_shapes(7, 18) + [(1, 1), (128, 256), (64, 13, 13, 16), (3, 2, 5, 7, 3)]
AFFINE = [(True, True), (False, True), (True, False), (False, False)]


def inputs(rng, shape, offset=0.0):
    x = (rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + offset).astype(np.float32)
    c = shape[-1]
    gamma = rng.uniform(0.5, 2.0, c).astype(np.float32) * rng.choice([-1, 1], c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    rm = rng.standard_normal(c).astype(np.float32)
    rv = rng.uniform(0.5, 2.0, c).astype(np.float32)
    return x, gamma, beta, rm, rv


def assert_train_forward(x, gamma, beta, rm0, rv0, got, momentum=0.9):
    """got = (y, mean, invstd, running_mean, running_var) from the kernel."""
    y, mean, invstd, rm, rv = got
    x64 = x.astype(np.float64)
    g64 = None if gamma is None else gamma.astype(np.float64)
    b64 = None if beta is None else beta.astype(np.float64)
    wy, wm, wi, wrm, wrv = ref.batch_norm(x64, g64, b64, rm0.astype(np.float64), rv0.astype(np.float64), True,
                                          momentum, EPS)
    x2 = x64.reshape(-1, x.shape[-1])
    m = x2.shape[0]
    slack = m * 2.0**-52 * np.abs(x2 - x2[0]).max(axis=0)
    assert np.all(np.abs(mean - wm) <= U * np.abs(wm) + slack + TINY)
    assert np.all(np.abs(invstd - wi) <= 2 * U * wi)
    assert np.all(np.abs(rm - wrm) <= 2 * U * np.abs(wrm) + slack + TINY)
    assert np.all(np.abs(rv - wrv) <= 2 * U * np.abs(wrv) + TINY)
    assert_y(x64, y, wy, wm, wi, g64, b64)


def assert_y(x64, y, wy, wm, wi, g64, b64):
    scale = wi if g64 is None else g64 * wi
    bound = np.abs(scale) * (np.abs(x64.reshape(-1, x64.shape[-1]) - wm) + np.abs(wm))
    if b64 is not None:
        bound = bound + np.abs(b64)
    assert y.shape == x64.shape and y.dtype == np.float32
    err = np.abs(y.astype(np.float64) - wy).reshape(bound.shape)
    assert np.all(err <= 8 * U * bound + TINY), err.max()


def assert_backward(x, dy, mean, invstd, gamma, training, got):
    dx, dgamma, dbeta = got
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    m64, i64 = mean.astype(np.float64), invstd.astype(np.float64)
    g64 = None if gamma is None else gamma.astype(np.float64)
    wdx, wdg, wdb = ref.batch_norm_backward(x64, dy64, m64, i64, g64, training)
    x2, d2 = x64.reshape(-1, x.shape[-1]), dy64.reshape(-1, x.shape[-1])
    M = x2.shape[0]
    slack = M * 2.0**-52
    if dbeta is not None:
        assert np.all(np.abs(dbeta - wdb) <= 2 * U * np.abs(wdb) + slack * np.abs(d2).sum(0) + TINY)
    if dgamma is not None:
        mag = (np.abs(d2) * np.abs(x2 - m64)).sum(0) * i64
        assert np.all(np.abs(dgamma - wdg) <= 2 * U * np.abs(wdg) + slack * mag + TINY)
    if dx is not None:
        a = i64 if g64 is None else g64 * i64
        b = a * wdb / M if training else 0 * a
        d = a * i64 * wdg / M if training else 0 * a
        bound = np.abs(a * d2) + np.abs(b) + np.abs(x2 - m64) * np.abs(d)
        err = np.abs(dx.astype(np.float64) - wdx).reshape(bound.shape)
        assert dx.shape == x.shape and np.all(err <= 8 * U * bound + TINY), err.max()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("scale,center", AFFINE)
def test_train_forward_and_backward_match_reference(rng, shape, scale, center):
    x, gamma, beta, rm0, rv0 = inputs(rng, shape)
    gamma, beta = (gamma if scale else None), (beta if center else None)
    dy = rng.standard_normal(shape).astype(np.float32)
    for isa in AVAILABLE_ISAS:
        _C.set_cpu_isa(isa)
        rm, rv = rm0.copy(), rv0.copy()
        y, mean, invstd = ops.batch_norm_train(x, gamma, beta, rm, rv, 0.9, EPS)
        assert_train_forward(x, gamma, beta, rm0, rv0, (y, mean, invstd, rm, rv))
        got = ops.batch_norm_backward(x, dy, mean, invstd, gamma, training=True)
        assert_backward(x, dy, mean, invstd, gamma, True, got)


@pytest.mark.parametrize("shape", SHAPES[:8] + [(0, 5), (4, 0, 3, 2)], ids=str)
@pytest.mark.parametrize("scale,center", AFFINE[:2] + AFFINE[3:])
def test_inference_forward_and_backward_match_reference(rng, shape, scale, center):
    x, gamma, beta, rm, rv = inputs(rng, shape)
    gamma, beta = (gamma if scale else None), (beta if center else None)
    dy = rng.standard_normal(shape).astype(np.float32)
    for isa in AVAILABLE_ISAS:
        _C.set_cpu_isa(isa)
        y, invstd = ops.batch_norm_infer(x, gamma, beta, rm, rv, EPS, return_invstd=True)
        x64 = x.astype(np.float64)
        g64 = None if gamma is None else gamma.astype(np.float64)
        b64 = None if beta is None else beta.astype(np.float64)
        wy, _, wi, _, _ = ref.batch_norm(x64, g64, b64, rm.astype(np.float64), rv.astype(np.float64), False, 0.9, EPS)
        assert np.all(np.abs(invstd - wi) <= 2 * U * wi)
        assert_y(x64, y, wy, rm.astype(np.float64), wi, g64, b64)
        assert np.array_equal(ops.batch_norm_infer(x, gamma, beta, rm, rv, EPS), y)
        got = ops.batch_norm_backward(x, dy, rm, invstd, gamma, training=False)
        assert_backward(x, dy, rm, invstd, gamma, False, got)


def test_large_mean_keeps_the_variance(rng):
    """x = 1000 + N(0, 1e-2): sums of x and x^2 would cancel; the shifted sums do not."""
    x = (1000.0 + 0.01 * rng.standard_normal((4096, 3))).astype(np.float32)
    _, _, invstd = ops.batch_norm_train(x, None, None, None, None, 0.9, 0.0)
    want = 1 / x.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(invstd, want, rtol=4 * U)


def test_threads_do_not_change_results(rng):
    x, gamma, beta, rm0, rv0 = inputs(rng, (128, 13, 13, 64))
    dy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        rm, rv = rm0.copy(), rv0.copy()
        y, mean, invstd = ops.batch_norm_train(x, gamma, beta, rm, rv, 0.99, EPS)
        results.append((y, mean, invstd, rm, rv) + ops.batch_norm_backward(x, dy, mean, invstd, gamma))
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


def test_backward_in_place_and_partial(rng):
    x, gamma, beta, rm, rv = inputs(rng, (50, 6))
    y, mean, invstd = ops.batch_norm_train(x, gamma, beta, None, None)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    want = ops.batch_norm_backward(x, dy, mean, invstd, gamma)
    g = dy.copy()
    dx, dg, db = ops.batch_norm_backward(x, g, mean, invstd, gamma, out=g)
    assert dx is g and np.array_equal(dx, want[0]) and np.array_equal(dg, want[1]) and np.array_equal(db, want[2])
    none, dg2, db2 = ops.batch_norm_backward(x, dy, mean, invstd, gamma, need_input=False, need_beta=False)
    assert none is None and db2 is None and np.array_equal(dg2, want[1])


# ------------------------------------------------------------------ reference gradients

@pytest.mark.parametrize("training", [True, False])
def test_reference_gradients_by_finite_differences(rng, training):
    shape = (3, 2, 4, 3)
    x = rng.standard_normal(shape)
    gamma, beta = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    g = rng.standard_normal(shape)

    def loss(xv, gv, bv):
        return np.sum(g * ref.batch_norm(xv, gv, bv, rm, rv, training, 0.9, EPS)[0])

    _, mean, invstd, _, _ = ref.batch_norm(x, gamma, beta, rm, rv, training, 0.9, EPS)
    dx, dgamma, dbeta = ref.batch_norm_backward(x, g, mean, invstd, gamma, training)
    h = 1e-6
    for arr, grad, name in ((x, dx, "x"), (gamma, dgamma, "gamma"), (beta, dbeta, "beta")):
        fd = np.empty_like(arr)
        for i in range(arr.size):
            plus, minus = arr.copy(), arr.copy()
            plus.flat[i] += h
            minus.flat[i] -= h
            args_p = {"x": x, "gamma": gamma, "beta": beta, name: plus}
            args_m = {"x": x, "gamma": gamma, "beta": beta, name: minus}
            fd.flat[i] = (loss(args_p["x"], args_p["gamma"], args_p["beta"])
                          - loss(args_m["x"], args_m["gamma"], args_m["beta"])) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("training", [True, False])
def test_autograd_through_functional(rng, training):
    x, gamma, beta, rm0, rv0 = inputs(rng, (6, 5, 4, 7))
    px, pg, pb = fastnn.Parameter(x.copy()), fastnn.Parameter(gamma.copy()), fastnn.Parameter(beta.copy())
    rm, rv = rm0.copy(), rv0.copy()
    y = F.batch_norm(px, pg, pb, rm, rv, training=training, momentum=0.9, epsilon=EPS)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    F.sum(F.multiply(y, dy)).backward()
    x64 = x.astype(np.float64)
    _, mean, invstd, wrm, wrv = ref.batch_norm(x64, gamma, beta, rm0, rv0, training, 0.9, EPS)
    wdx, wdg, wdb = ref.batch_norm_backward(x64, dy.astype(np.float64), mean, invstd, gamma, training)
    np.testing.assert_allclose(px.grad, wdx, rtol=1e-4, atol=1e-5 * np.abs(wdx).max())
    np.testing.assert_allclose(pg.grad, wdg, rtol=1e-4, atol=1e-5 * np.abs(wdg).max())
    np.testing.assert_allclose(pb.grad, wdb, rtol=1e-5, atol=1e-6 * np.abs(wdb).max())
    if training:
        np.testing.assert_allclose(rm, wrm, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(rv, wrv, rtol=1e-6)
    else:
        assert np.array_equal(rm, rm0) and np.array_equal(rv, rv0)


# ------------------------------------------------------------------ bad input

def test_bad_input(rng):
    x, gamma, beta, rm, rv = inputs(rng, (8, 4))
    with pytest.raises(TypeError, match="batch_norm.*'x'.*float32"):
        ops.batch_norm_train(x.astype(np.float64), gamma, beta)
    with pytest.raises(ValueError, match="batch_norm: argument 'x'.*contiguous"):
        ops.batch_norm_train(np.asfortranarray(x), gamma, beta)
    with pytest.raises(ValueError, match=r"batch_norm: argument 'gamma' must have shape \(4,\) .* got \(5,\)"):
        ops.batch_norm_train(x, np.ones(5, np.float32), beta)
    with pytest.raises(ValueError, match=r"batch_norm: argument 'running_var' must have shape \(4,\)"):
        ops.batch_norm_infer(x, gamma, beta, rm, rv[:2])
    with pytest.raises(ValueError, match="batch_norm: training needs at least one sample"):
        ops.batch_norm_train(np.zeros((0, 4), np.float32), gamma, beta)
    with pytest.raises(ValueError, match="batch_norm: epsilon must be a finite number >= 0"):
        ops.batch_norm_train(x, gamma, beta, None, None, 0.9, -1.0)
    with pytest.raises(ValueError, match="batch_norm: argument 'running_mean'.*overlap|share"):
        ops.batch_norm_train(x, gamma, beta, rm, rm)
    with pytest.raises(ValueError, match="batch_norm_backward: argument 'grad' must have the shape of 'x'"):
        ops.batch_norm_backward(x, x[:2], rm, rv, gamma)
    with pytest.raises(ValueError, match="batch_norm: inference .* needs running_mean and running_var"):
        F.batch_norm(x, gamma, beta, None, None, training=False)


# ------------------------------------------------------------------ the layer

def test_layer_weights_and_config():
    bn = layers.BatchNormalization()
    bn.build((None, 5, 5, 3))
    assert [p.name.split("/")[-1] for p in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    assert np.array_equal(bn.moving_variance.numpy(), np.ones(3, np.float32))
    cfg = bn.get_config()
    assert cfg["momentum"] == 0.99 and cfg["epsilon"] == 0.001 and cfg["axis"] == -1
    clone = layers.deserialize(layers.serialize(bn))
    assert isinstance(clone, layers.BatchNormalization) and clone.get_config()["center"] is True
    assert bn.compute_output_shape((None, 5, 5, 3)) == (None, 5, 5, 3)


def test_training_vs_inference(rng):
    x = (rng.standard_normal((16, 3, 3, 4)) * 2 + 5).astype(np.float32)
    bn = layers.BatchNormalization()
    y_inf = bn(x, training=False).numpy()
    np.testing.assert_allclose(y_inf, x / np.sqrt(1 + 1e-3), rtol=1e-6)  # moving stats 0 / 1
    assert np.array_equal(bn.moving_mean.numpy(), np.zeros(4, np.float32))
    y_tr = bn(x, training=True).numpy()
    np.testing.assert_allclose(y_tr.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y_tr.var(axis=(0, 1, 2)), 1, rtol=1e-3)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    bn.trainable = False  # a frozen layer runs in inference mode even when training (Keras 3)
    before = bn.moving_mean.numpy().copy()
    bn(x, training=True)
    assert np.array_equal(bn.moving_mean.numpy(), before)


def test_running_statistics_after_steps(rng):
    bn = layers.BatchNormalization(momentum=0.8)
    rm, rv = np.zeros(5), np.ones(5)
    for _ in range(6):
        x = (rng.standard_normal((32, 5)) * 3 + 2).astype(np.float32)
        bn(x, training=True)
        x64 = x.astype(np.float64)
        rm = rm * 0.8 + x64.mean(0) * 0.2
        rv = rv * 0.8 + x64.var(0) * 0.2  # biased, as Keras 3
    np.testing.assert_allclose(bn.moving_mean.numpy(), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), rv, rtol=1e-5)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    g, b = bn.gamma.numpy().astype(np.float64), bn.beta.numpy().astype(np.float64)
    want = (x - rm) / np.sqrt(rv + 1e-3) * g + b
    np.testing.assert_allclose(bn(x).numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("center,scale", [(False, True), (True, False), (False, False)])
def test_center_scale_false(rng, center, scale):
    bn = layers.BatchNormalization(center=center, scale=scale)
    x = rng.standard_normal((10, 6)).astype(np.float32)
    y = bn(x, training=True)
    assert (bn.beta is None) != center and (bn.gamma is None) != scale
    assert len(bn.trainable_weights) == int(center) + int(scale) and len(bn.weights) == 2 + center + scale
    want = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)


def test_layer_errors():
    with pytest.raises(NotImplementedError, match=r"BatchNormalization .*only axis=-1 .* got axis=1"):
        layers.BatchNormalization(axis=1)(np.zeros((2, 3, 4), np.float32))
    layers.BatchNormalization(axis=2)(np.zeros((2, 3, 4), np.float32))  # the last axis, spelled positively
    bn = layers.BatchNormalization()
    bn(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"BatchNormalization.*expected axis -1 of the input to have value 4"):
        bn(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="BatchNormalization .*rank >= 2"):
        layers.BatchNormalization()(np.zeros((3,), np.float32))


def _bn_model():
    return fastnn.Sequential([layers.InputLayer(shape=(6, 6, 2)), layers.BatchNormalization(),
                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(8, activation="relu"),
                              layers.BatchNormalization(momentum=0.9), layers.Dense(3, activation="softmax")])


def test_model_with_batchnorm_trains_and_round_trips(rng, tmp_path):
    fastnn.manual_seed(3)
    x = (rng.standard_normal((96, 6, 6, 2)) * 4 + 3).astype(np.float32)
    y = (x[:, :3, :, 0].mean(axis=(1, 2)) > 3).astype(np.int64) + (x[:, 3:, :, 1].mean(axis=(1, 2)) > 3)
    model = _bn_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    h = model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.8 * h.history["loss"][0]
    bn = model.layers[0]
    assert not np.array_equal(bn.moving_mean.numpy(), np.zeros(2, np.float32))
    pred = model.predict(x, verbose=0)
    path = tmp_path / "bn.safetensors"
    model.save(str(path))
    loaded = fastnn.models.load_model(str(path))
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)
    assert np.array_equal(loaded.layers[0].moving_variance.numpy(), bn.moving_variance.numpy())
    assert np.array_equal(loaded.predict(x, verbose=0), pred)
