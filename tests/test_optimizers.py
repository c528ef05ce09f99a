"""Fused optimizer updates (fastnn.optimizer_step) against the NumPy reference formulas."""

import math

import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn import reference as ref
from conftest import AVAILABLE_ISAS

SHAPES = [(1,), (7,), (33, 5), (3, 4, 5), (70_001,)]  # the last is split into chunks across threads
CONFIGS = [
    ("sgd", dict(learning_rate=0.05), 0),
    ("sgd", dict(learning_rate=0.05, momentum=0.9), 1),
    ("sgd", dict(learning_rate=0.05, momentum=0.9, nesterov=True), 1),
    ("adam", dict(learning_rate=0.005), 2),
    ("adam", dict(learning_rate=0.005, amsgrad=True), 3),
    ("adam", dict(learning_rate=0.005, weight_decay=0.004), 2),  # AdamW
    ("rmsprop", dict(learning_rate=0.005), 1),
    ("rmsprop", dict(learning_rate=0.005, momentum=0.5, centered=True), 3),
    ("adagrad", dict(learning_rate=0.05), 1),
    ("sgd", dict(learning_rate=0.05, momentum=0.5, grad_scale=0.5, clip_value=0.3), 1),
]


def quadratic(rng, shape):
    """f(p) = sum d (p - c)^2 / 2, a fixed problem. SGD's iterates contract;
    the sign-like steps of Adam, RMSProp and Adagrad would bounce around the
    optimum, where a rounding difference flips a step, so their learning rates
    keep all 200 steps on the way down (start 2..4 from c, steps <= ~0.01)."""
    return rng.uniform(0.2, 2.0, shape), rng.standard_normal(shape)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind,hyper,n_states", CONFIGS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(CONFIGS)])
def test_200_steps_match_reference(kind, hyper, n_states, threads, isa):
    fastnn.set_num_threads(threads)
    _C.set_cpu_isa(isa)
    rng = np.random.default_rng(len(hyper) * 7 + n_states)
    problems = [quadratic(rng, s) for s in SHAPES]
    p32 = [(c + rng.choice([-1, 1], s) * rng.uniform(2, 4, s)).astype(np.float32) for (d, c), s in zip(problems, SHAPES)]
    p64 = [p.astype(np.float64) for p in p32]
    init = 0.1 if kind == "adagrad" else 0.0  # Keras' initial_accumulator_value
    s32 = [[np.full(s, init, np.float32) if k < n_states else None for k in range(3)] for s in SHAPES]
    s64 = [[None if a is None else a.astype(np.float64) for a in st] for st in s32]
    for t in range(1, 201):
        # Plus fixed noise: centered RMSProp divides by ms - mg^2, which cancels
        # to nothing in float32 when the gradient barely varies.
        noise = [0.3 * rng.standard_normal(s) for s in SHAPES]
        g32 = [(d * (p - c) + e).astype(np.float32) for (d, c), p, e in zip(problems, p32, noise)]
        g64 = [d * (p - c) + e for (d, c), p, e in zip(problems, p64, noise)]
        fastnn.optimizer_step(kind, p32, g32, s32, iteration=t, **hyper)
        ref.optimizer_step(kind, p64, g64, s64, iteration=t, **hyper)
    # float32 states and parameters: each step rounds at ~eps relative and the
    # contraction keeps the accumulated error at a few hundred eps (~3e-5).
    for a, b in zip(p32, p64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for sa, sb in zip(s32, s64):
        for a, b in zip(sa, sb):
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_adam_first_step_is_kingma_ba():
    # After one step from zero moments, m_hat = g and v_hat = g^2, so (with
    # Keras' epsilon outside the bias correction) p moves by lr * g / (|g| + eps_hat).
    p = np.array([1.0, -2.0, 0.5], np.float32)
    g = np.array([0.3, -0.1, 2.0], np.float32)
    m, v = np.zeros(3, np.float32), np.zeros(3, np.float32)
    fastnn.optimizer_step("adam", [p], [g], [[m, v, None]], learning_rate=0.1, epsilon=1e-7, iteration=1)
    lr_t = 0.1 * math.sqrt(1 - 0.999) / (1 - 0.9)
    want = np.array([1.0, -2.0, 0.5]) - lr_t * 0.1 * g / (np.sqrt(0.001 * g * g) + 1e-7)
    np.testing.assert_allclose(p, want, rtol=1e-6)
    np.testing.assert_allclose(p, np.array([1.0, -2.0, 0.5]) - 0.1 * np.sign(g), rtol=1e-5)


def test_grad_global_norm(rng):
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    want = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads))
    assert fastnn.grad_global_norm(grads) == pytest.approx(want, rel=1e-12)
    fastnn.set_num_threads(1)
    one = fastnn.grad_global_norm(grads)
    fastnn.set_num_threads(2)
    assert fastnn.grad_global_norm(grads) == one  # fixed summation order
    assert fastnn.grad_global_norm([]) == 0.0


def test_bad_input():
    p = np.zeros(4, np.float32)
    g = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"optimizer_step: unknown optimizer 'adamax'"):
        fastnn.optimizer_step("adamax", [p], [g], [[None, None, None]])
    with pytest.raises(ValueError, match=r"optimizer_step: states\[0\]\[1\] is needed by this optimizer"):
        fastnn.optimizer_step("adam", [p], [g], [[np.zeros(4, np.float32), None, None]])
    with pytest.raises(ValueError, match=r"optimizer_step: argument 'grads\[0\]' must have the shape of 'params\[0\]'"):
        fastnn.optimizer_step("sgd", [p], [np.zeros(5, np.float32)], [[None, None, None]])
    with pytest.raises(ValueError, match=r"params, grads and states must have one entry per parameter"):
        fastnn.optimizer_step("sgd", [p, p.copy()], [g], [[None, None, None]])
    with pytest.raises(TypeError, match=r"optimizer_step: argument 'params\[0\]' must have dtype float32"):
        fastnn.optimizer_step("sgd", [p.astype(np.float64)], [g], [[None, None, None]])
    with pytest.raises(ValueError, match=r"iteration must be >= 1"):
        fastnn.optimizer_step("adam", [p], [g], [[p.copy(), p.copy(), None]], iteration=0)
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"'params\[0\]' is read-only"):
        fastnn.optimizer_step("sgd", [ro], [g], [[None, None, None]])


# --------------------------------------------------------------------------- norm clipping (optim.h steps 1-4)

CLIP_KINDS = [
    ("sgd", dict(learning_rate=0.05), 0),
    ("sgd", dict(learning_rate=0.05, momentum=0.9, nesterov=True), 1),
    ("adam", dict(learning_rate=0.005), 2),
    ("adam", dict(learning_rate=0.005, amsgrad=True, weight_decay=0.004), 3),
    ("rmsprop", dict(learning_rate=0.005, momentum=0.5), 2),
    ("rmsprop", dict(learning_rate=0.005, momentum=0.5, centered=True), 3),
    ("adagrad", dict(learning_rate=0.05), 1),
]
# The problem's gradients have norms ~3 (small tensors) to ~800 (70001 elements), so each option clips.
CLIPS = {
    "clip_norm": dict(clip_norm=1.0),
    "global_clip_norm": dict(global_clip_norm=10.0),
    "clip_value": dict(clip_value=0.5),
    "all": dict(grad_scale=0.5, clip_norm=50.0, global_clip_norm=100.0, clip_value=0.2),
}


def run_problem(kind, hyper, n_states, steps, seed):
    """steps of the kernel (float32) and the reference (float64) on the noisy quadratic."""
    rng = np.random.default_rng(seed)
    problems = [quadratic(rng, s) for s in SHAPES]
    p32 = [(c + rng.choice([-1, 1], s) * rng.uniform(2, 4, s)).astype(np.float32) for (d, c), s in zip(problems, SHAPES)]
    p64 = [p.astype(np.float64) for p in p32]
    init = 0.1 if kind == "adagrad" else 0.0
    s32 = [[np.full(s, init, np.float32) if k < n_states else None for k in range(3)] for s in SHAPES]
    s64 = [[None if a is None else a.astype(np.float64) for a in st] for st in s32]
    for t in range(1, steps + 1):
        noise = [0.3 * rng.standard_normal(s) for s in SHAPES]
        g32 = [(d * (p - c) + e).astype(np.float32) for (d, c), p, e in zip(problems, p32, noise)]
        g64 = [d * (p - c) + e for (d, c), p, e in zip(problems, p64, noise)]
        fastnn.optimizer_step(kind, p32, g32, s32, iteration=t, **hyper)
        ref.optimizer_step(kind, p64, g64, s64, iteration=t, **hyper)
    return p32, p64, s32, s64


# Centered RMSProp with clip_value is left out: the clipped gradients are constant, so
# ms - mg^2 cancels to ~0 and amplifies float32 rounding (an ill-conditioned comparison,
# not a kernel difference); its clip_norm / global_clip_norm cases run.
CLIP_CASES = [pytest.param(k, h, n, c, id=f"{k}-{i}-{c}") for i, (k, h, n) in enumerate(CLIP_KINDS) for c in CLIPS
              if not (h.get("centered") and "clip_value" in CLIPS[c])]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind,hyper,n_states,clip", CLIP_CASES)
def test_clipping_matches_reference(kind, hyper, n_states, clip, threads):
    fastnn.set_num_threads(threads)
    p32, p64, s32, s64 = run_problem(kind, {**hyper, **CLIPS[clip]}, n_states, 100, seed=n_states * 11 + len(clip))
    for a, b in zip(p32, p64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for sa, sb in zip(s32, s64):
        for a, b in zip(sa, sb):
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
def test_clipping_every_isa(isa):
    _C.set_cpu_isa(isa)
    p32, p64, _, _ = run_problem("adam", dict(learning_rate=0.005, **CLIPS["all"]), 2, 50, seed=4)
    for a, b in zip(p32, p64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_clipping_order_by_hand():
    # g1 = [3, 4] (norm 5), g2 = [0, 12] (norm 12). clip_norm 6: g1 stays, g2 -> [0, 6];
    # global norm after that sqrt(25 + 36) = sqrt(61) > 5: everything * 5 / sqrt(61);
    # clip_value 2 then caps 12 * ... no: caps each element at 2. SGD with lr 1 from 0: p = -g.
    g = [np.array([3.0, 4.0], np.float32), np.array([0.0, 12.0], np.float32)]
    f = 5 / math.sqrt(61)
    cases = [
        (dict(clip_norm=6.0), [[3, 4], [0, 6]]),
        (dict(global_clip_norm=5.0), [[3 * 5 / 13, 4 * 5 / 13], [0, 12 * 5 / 13]]),
        (dict(clip_norm=6.0, global_clip_norm=5.0), [[3 * f, 4 * f], [0, 6 * f]]),
        (dict(clip_norm=6.0, global_clip_norm=5.0, clip_value=2.0), [[3 * f, 2], [0, 2]]),
        (dict(grad_scale=0.5, clip_norm=3.0), [[1.5, 2], [0, 3]]),
        (dict(clip_norm=100.0, global_clip_norm=100.0), [[3, 4], [0, 12]]),  # below both thresholds
    ]
    for hyper, want in cases:
        p = [np.zeros(2, np.float32), np.zeros(2, np.float32)]
        fastnn.optimizer_step("sgd", p, g, [[None] * 3] * 2, learning_rate=1.0, **hyper)
        for a, w in zip(p, want):
            np.testing.assert_allclose(-a, w, rtol=1e-6, err_msg=str(hyper))
        p64 = [np.zeros(2), np.zeros(2)]
        ref.optimizer_step("sgd", p64, [a.astype(np.float64) for a in g], [[None] * 3] * 2, learning_rate=1.0, **hyper)
        for a, w in zip(p64, want):
            np.testing.assert_allclose(-a, w, rtol=1e-12, err_msg=str(hyper))


def test_clipping_zero_and_non_finite_gradients():
    # A zero gradient is left alone (no 0/0).
    p = [np.ones(3, np.float32)]
    fastnn.optimizer_step("sgd", p, [np.zeros(3, np.float32)], [[None] * 3], clip_norm=1.0, global_clip_norm=1.0)
    np.testing.assert_array_equal(p[0], 1.0)
    # Keras: an infinite global norm makes every update NaN ...
    g = [np.array([np.inf, 1.0], np.float32), np.array([1.0, 2.0], np.float32)]
    p = [np.zeros(2, np.float32), np.zeros(2, np.float32)]
    fastnn.optimizer_step("sgd", p, g, [[None] * 3] * 2, learning_rate=1.0, global_clip_norm=1.0)
    assert np.isnan(p[0]).all() and np.isnan(p[1]).all()
    # ... while clipnorm scales that gradient by c / inf = 0 (inf * 0 = NaN) and leaves the others.
    p = [np.zeros(2, np.float32), np.zeros(2, np.float32)]
    fastnn.optimizer_step("sgd", p, g, [[None] * 3] * 2, learning_rate=1.0, clip_norm=10.0)
    assert np.isnan(p[0][0]) and p[0][1] == 0.0
    np.testing.assert_array_equal(p[1], [-1.0, -2.0])
    p = [np.zeros(2, np.float32)]
    fastnn.optimizer_step("sgd", p, [np.array([np.nan, 1.0], np.float32)], [[None] * 3], clip_norm=10.0)
    assert np.isnan(p[0]).all()


def test_clipping_same_result_for_any_thread_count(rng):
    shapes = [(300_001,), (70_000,), (5,)]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        p = [np.zeros(s, np.float32) for s in shapes]
        fastnn.optimizer_step("sgd", p, grads, [[None] * 3] * 3, learning_rate=1.0, clip_norm=100.0,
                              global_clip_norm=200.0)
        results.append(p)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
