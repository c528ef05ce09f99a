"""fastnn.optimizers: the Keras-style classes over the fused kernel.

The expected values come from the update formulas written out here in float64,
independently of fastnn.reference (Adam in Kingma & Ba's Algorithm 1 form).
"""

import math
import pickle

import numpy as np
import pytest

from fastnn import optimizers, schedules


class Param:
    """The parameter duck type: .data (float32 array, updated in place) and .grad."""

    def __init__(self, data):
        self.data = data
        self.grad = None


SHAPES = [(33, 5), (7,), (1,), (3, 4, 5)]


# --------------------------------------------------------------------------- the formulas, in float64

def clip(grads, clipnorm=None, global_clipnorm=None, clipvalue=None):
    """Keras' _clip_gradients (only one option is ever set)."""
    if clipnorm:
        return [g * clipnorm / max(np.linalg.norm(g), clipnorm) for g in grads]
    if global_clipnorm:
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
        return [g * global_clipnorm / max(norm, global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


class Formula:
    """One optimizer's update, step t = 1, 2, ..., per parameter state dicts."""

    def __init__(self, kind, learning_rate=0.001, weight_decay=None, clipnorm=None, global_clipnorm=None,
                 clipvalue=None, **h):
        self.kind, self.lr, self.wd, self.h = kind, learning_rate, weight_decay, h
        self.clips = dict(clipnorm=clipnorm, global_clipnorm=global_clipnorm, clipvalue=clipvalue)
        self.states = {}
        self.t = 0

    def step(self, params, grads):
        """params: float64 arrays (None grads skipped), updated in place."""
        self.t += 1
        t = self.t
        lr = self.lr(t - 1) if callable(self.lr) else self.lr  # a schedule sees the steps already taken
        live = [i for i, g in enumerate(grads) if g is not None]
        gs = clip([grads[i] for i in live], **self.clips)
        for i, g in zip(live, gs):
            p, s, h = params[i], self.states.setdefault(i, {}), self.h
            if self.wd:
                p -= lr * self.wd * p
            if self.kind == "sgd":
                mom = h.get("momentum", 0.0)
                if mom:
                    v = s["v"] = mom * s.get("v", 0.0) - lr * g
                    p += mom * v - lr * g if h.get("nesterov") else v
                else:
                    p -= lr * g
            elif self.kind == "adam":
                b1, b2, eps_hat = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
                m = s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
                v = s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
                if h.get("amsgrad"):  # Keras: the running max of v itself
                    v = s["vmax"] = np.maximum(s.get("vmax", 0.0), v)
                # Kingma & Ba, Algorithm 1, with the paper's epsilon-hat (Keras' epsilon,
                # section 2 just before 2.1) written as Algorithm 1's epsilon:
                m_hat = m / (1 - b1**t)
                v_hat = v / (1 - b2**t)
                eps = eps_hat / math.sqrt(1 - b2**t)
                p -= lr * m_hat / (np.sqrt(v_hat) + eps)
            elif self.kind == "rmsprop":
                rho, mom, eps = h.get("rho", 0.9), h.get("momentum", 0.0), h.get("epsilon", 1e-7)
                ms = s["ms"] = rho * s.get("ms", 0.0) + (1 - rho) * g * g
                denom = ms + eps
                if h.get("centered"):
                    mg = s["mg"] = rho * s.get("mg", 0.0) + (1 - rho) * g
                    denom = ms - mg * mg + eps
                inc = lr * g / np.sqrt(denom)
                if mom:
                    inc = s["mom"] = mom * s.get("mom", 0.0) + inc
                p -= inc
            elif self.kind == "adagrad":
                acc = s["acc"] = s.get("acc", h.get("initial_accumulator_value", 0.1)) + g * g
                p -= lr * g / np.sqrt(acc + h.get("epsilon", 1e-7))


CASES = [
    ("SGD", dict(learning_rate=0.05), "sgd", {}),
    ("SGD", dict(learning_rate=0.05, momentum=0.9), "sgd", dict(momentum=0.9)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True, clipnorm=1.0), "sgd",
     dict(momentum=0.9, nesterov=True, clipnorm=1.0)),
    ("RMSprop", dict(learning_rate=0.005), "rmsprop", {}),
    ("RMSprop", dict(learning_rate=0.005, momentum=0.5, centered=True, global_clipnorm=5.0), "rmsprop",
     dict(momentum=0.5, centered=True, global_clipnorm=5.0)),
    ("Adam", dict(learning_rate=0.005), "adam", {}),
    ("Adam", dict(learning_rate=0.005, amsgrad=True, global_clipnorm=2.0), "adam",
     dict(amsgrad=True, global_clipnorm=2.0)),
    ("Adam", dict(learning_rate=0.005, beta_1=0.8, beta_2=0.99, epsilon=1e-4, clipvalue=2.0), "adam",
     dict(beta_1=0.8, beta_2=0.99, epsilon=1e-4, clipvalue=2.0)),
    ("AdamW", dict(learning_rate=0.005), "adam", dict(weight_decay=0.004)),
    ("AdamW", dict(learning_rate=0.005, weight_decay=0.05, clipnorm=3.0), "adam", dict(weight_decay=0.05, clipnorm=3.0)),
    ("Adagrad", dict(learning_rate=0.05), "adagrad", {}),
    ("Adagrad", dict(learning_rate=0.05, initial_accumulator_value=0.5, weight_decay=0.01), "adagrad",
     dict(initial_accumulator_value=0.5, weight_decay=0.01)),
]


def problem(seed):
    """A fixed noisy quadratic: grad = d * (p - c) + noise (see tests/test_optimizers.py for why
    its learning rates keep every step on the way down)."""
    rng = np.random.default_rng(seed)
    d = [rng.uniform(0.2, 2.0, s) for s in SHAPES]
    c = [rng.standard_normal(s) for s in SHAPES]
    p0 = [(ci + rng.choice([-1, 1], s) * rng.uniform(2, 4, s)).astype(np.float32) for ci, s in zip(c, SHAPES)]
    return rng, d, c, p0


def noise_at(rng, t):
    noise = [0.3 * rng.standard_normal(s) for s in SHAPES]
    if t % 5 == 0:
        noise[2] = None  # no gradient for this parameter this step: skipped, its state stays put
    return noise


def grads(d, c, ps, noise, dtype=np.float64):
    """Each side's gradient at its own iterates, with the same noise."""
    return [None if e is None else (di * (p - ci) + e).astype(dtype) for di, ci, p, e in zip(d, c, ps, noise)]


def set_grads(params, gs):
    for p, g in zip(params, gs):
        p.grad = g


@pytest.mark.parametrize("cls,kwargs,kind,formula", CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _, _) in enumerate(CASES)])
def test_200_steps_match_the_formulas(cls, kwargs, kind, formula):
    rng, d, c, p0 = problem(seed=len(kwargs) * 3 + len(cls))
    params = [Param(p.copy()) for p in p0]
    p64 = [p.astype(np.float64) for p in p0]
    opt = getattr(optimizers, cls)(**kwargs)
    ref = Formula(kind, **{**formula, **kwargs})
    for t in range(1, 201):
        noise = noise_at(rng, t)
        set_grads(params, grads(d, c, [p.data for p in params], noise, np.float32))
        opt.step(params)
        ref.step(p64, grads(d, c, p64, noise))
    assert opt.iterations == 200
    for p, q in zip(params, p64):
        assert p.data.dtype == np.float32
        np.testing.assert_allclose(p.data, q, rtol=1e-4, atol=1e-5)


def test_schedule_is_evaluated_at_the_steps_taken():
    lr = schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.25])
    opt = optimizers.SGD(learning_rate=lr)
    p = Param(np.zeros(1, np.float32))
    seen = []
    for _ in range(7):
        seen.append(opt.learning_rate)
        p.grad = np.ones(1, np.float32)
        opt.step([p])
    # iterations 0,1,2 -> 1.0; 3,4 -> 0.5; 5,6 -> 0.25 (Keras: schedule(iterations) before the increment)
    assert seen == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert p.data[0] == pytest.approx(-(3 * 1.0 + 2 * 0.5 + 2 * 0.25))


def test_adam_with_a_schedule_matches_the_formula():
    sched = schedules.CosineDecay(0.0, 150, warmup_target=0.01, warmup_steps=50)
    rng, d, c, p0 = problem(seed=9)
    params = [Param(p.copy()) for p in p0]
    p64 = [p.astype(np.float64) for p in p0]
    opt, ref = optimizers.Adam(learning_rate=sched), Formula("adam", learning_rate=sched)
    for t in range(1, 201):
        noise = noise_at(rng, t)
        set_grads(params, grads(d, c, [p.data for p in params], noise, np.float32))
        opt.step(params)
        ref.step(p64, grads(d, c, p64, noise))
    for p, q in zip(params, p64):
        np.testing.assert_allclose(p.data, q, rtol=1e-4, atol=1e-5)


def test_one_fused_kernel_call_per_step(monkeypatch):
    calls = []
    real = optimizers._C

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def optimizer_step(self, *args):
            calls.append(len(args[1]))
            return real.optimizer_step(*args)

    monkeypatch.setattr(optimizers, "_C", Spy())
    params = [Param(np.ones(s, np.float32)) for s in SHAPES]
    opt = optimizers.Adam(global_clipnorm=1.0)
    for _ in range(3):
        for p in params:
            p.grad = np.ones_like(p.data)
        params[1].grad = None
        opt.step(params)
    assert calls == [3, 3, 3]


def test_step_apply_and_zero_grad_styles():
    a, b = Param(np.ones(3, np.float32)), Param(np.ones(2, np.float32))
    # PyTorch style with the parameters given at construction.
    opt = optimizers.SGD(0.5, params=[a, b])
    a.grad, b.grad = np.ones(3, np.float32), None
    opt.step()
    np.testing.assert_array_equal(a.data, 0.5)
    np.testing.assert_array_equal(b.data, 1.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = np.ones(3, np.float32)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, 0.0)
    # Nothing to do: no step, no iteration.
    opt.zero_grad()
    opt.step()
    assert opt.iterations == 1
    # Keras style: (gradient, variable) pairs; a variable may be a bare array.
    w = np.ones(4, np.float32)
    k = optimizers.SGD(0.25)
    assert k.apply_gradients([(np.ones(4, np.float32), w)]) == 1
    np.testing.assert_array_equal(w, 0.75)
    k.apply([np.ones(4, np.float32)])  # built: the variables it knows, in order
    np.testing.assert_array_equal(w, 0.5)
    with pytest.raises(ValueError, match=r"SGD: no gradients provided for any variable"):
        k.apply_gradients([(None, w)])


def test_positions_states_and_variables():
    a, b = Param(np.ones(3, np.float32)), Param(np.ones((2, 2), np.float32))
    opt = optimizers.Adam(amsgrad=True)
    assert opt.variables == [] and opt.slots(a) == {}
    b.grad = np.ones((2, 2), np.float32)
    opt.step([a, b])  # a has no gradient: registered at position 0, no states yet
    assert opt.slots(a) == {}
    assert sorted(opt.slots(b)) == ["momentum", "velocity", "velocity_hat"]
    assert len(opt.variables) == 3
    assert list(opt.state_dict()["states"]) == [1]
    opt.build([a])
    assert sorted(opt.slots(a)) == ["momentum", "velocity", "velocity_hat"]
    # Turning amsgrad off drops velocity_hat at the next step; SGD momentum 0 has no state.
    opt.amsgrad = False
    opt.step([a, b])
    assert sorted(opt.slots(b)) == ["momentum", "velocity"]
    sgd = optimizers.SGD()
    a.grad = np.ones(3, np.float32)
    sgd.step([a])
    assert sgd.slots(a) == {} and sgd.variables == []
    sgd.momentum = 0.5
    sgd.step([a])
    assert list(sgd.slots(a)) == ["momentum"]
    ada = optimizers.Adagrad(initial_accumulator_value=0.25)
    ada.build([a])
    np.testing.assert_array_equal(ada.slots(a)["accumulator"], 0.25)


@pytest.mark.parametrize("cls,kwargs,kind,formula", CASES[::2], ids=[c for c, _, _, _ in CASES[::2]])
def test_state_dict_round_trip_continues_identically(cls, kwargs, kind, formula):
    rng, d, c, p0 = problem(seed=5)
    params = [Param(p.copy()) for p in p0]
    opt = getattr(optimizers, cls)(**kwargs)

    def run(opt, params, gs):
        set_grads(params, gs)
        opt.step(params)

    for t in range(1, 31):
        run(opt, params, grads(d, c, [p.data for p in params], noise_at(rng, t), np.float32))
    saved = pickle.loads(pickle.dumps(opt.state_dict()))  # survives serialisation
    # A rebuilt model (new objects, same order) and a new optimizer from the config.
    clones = [Param(p.data.copy()) for p in params]
    new = getattr(optimizers, cls).from_config(opt.get_config())
    new.load_state_dict(saved)  # before it has seen the parameters: applied when it does
    assert new.iterations == 30
    for t in range(31, 61):
        g = grads(d, c, [p.data for p in params], noise_at(rng, t), np.float32)
        run(opt, params, g)
        run(new, clones, [None if x is None else x.copy() for x in g])
    for p, q in zip(params, clones):
        np.testing.assert_array_equal(p.data, q.data)
    for p, q in zip(params, clones):
        for name, arr in opt.slots(p).items():
            np.testing.assert_array_equal(arr, new.slots(q)[name])
    # Loading into an optimizer that has already stepped replaces its states.
    new.load_state_dict(saved)
    assert new.iterations == 30
    for i, q in enumerate(clones):
        for name, arr in new.slots(q).items():
            np.testing.assert_array_equal(arr, saved["states"][i][name])


def test_state_dict_is_a_snapshot_and_restores_the_learning_rate():
    p = Param(np.ones(2, np.float32))
    p.grad = np.ones(2, np.float32)
    opt = optimizers.SGD(0.1, momentum=0.9)
    opt.step([p])
    sd = opt.state_dict()
    opt.step([p])
    assert not np.array_equal(sd["states"][0]["momentum"], opt.slots(p)["momentum"])
    fresh = optimizers.SGD(0.5, momentum=0.9)
    fresh.load_state_dict(sd)
    assert fresh.learning_rate == pytest.approx(0.1)


def test_config_round_trip_and_get():
    sched = schedules.ExponentialDecay(0.1, 100, 0.5, staircase=True)
    for opt in [optimizers.SGD(0.1, momentum=0.9, nesterov=True, clipnorm=1.0),
                optimizers.RMSprop(rho=0.8, centered=True, global_clipnorm=2.0),
                optimizers.Adam(learning_rate=sched, amsgrad=True, clipvalue=0.5),
                optimizers.AdamW(weight_decay=0.1), optimizers.Adagrad(initial_accumulator_value=0.2)]:
        cfg = opt.get_config()
        again = type(opt).from_config(cfg)
        assert again.get_config() == cfg
        assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == cfg
    assert optimizers.Adam(learning_rate=sched).get_config()["learning_rate"] == {
        "class_name": "ExponentialDecay", "config": sched.get_config()}
    for name, cls in [("sgd", optimizers.SGD), ("RMSprop", optimizers.RMSprop), ("ADAM", optimizers.Adam),
                      ("adamw", optimizers.AdamW), ("Adagrad", optimizers.Adagrad)]:
        opt = optimizers.get(name)
        assert type(opt) is cls
    assert optimizers.get("sgd").learning_rate == 0.01
    assert optimizers.get("adam").learning_rate == 0.001
    o = optimizers.Adam()
    assert optimizers.get(o) is o
    assert optimizers.schedules is schedules
    # A Keras config with its extra keys at their "off" values loads.
    keras_cfg = {**optimizers.Adam().get_config(), "use_ema": False, "ema_momentum": 0.99,
                 "ema_overwrite_frequency": None, "gradient_accumulation_steps": None}
    assert optimizers.Adam.from_config(keras_cfg).get_config() == optimizers.Adam().get_config()


def test_keras_defaults():
    assert optimizers.SGD().get_config() == {**optimizers.SGD().get_config(), "learning_rate": 0.01, "momentum": 0.0,
                                             "nesterov": False, "name": "SGD"}
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (0.001, 0.9, 0.0, 1e-7, False)
    a = optimizers.Adam()
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon, a.amsgrad) == (0.001, 0.9, 0.999, 1e-7, False)
    w = optimizers.AdamW()
    assert (w.learning_rate, w.weight_decay) == (0.001, 0.004)
    g = optimizers.Adagrad()
    assert (g.learning_rate, g.initial_accumulator_value, g.epsilon) == (0.001, 0.1, 1e-7)
    for o in (r, a, w, g):
        assert (o.clipnorm, o.clipvalue, o.global_clipnorm) == (None, None, None)


def test_learning_rate_and_iterations_are_settable():
    opt = optimizers.Adam(0.01)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    opt.learning_rate = schedules.ExponentialDecay(1.0, 1, 0.5)
    opt.iterations = 3
    assert opt.learning_rate == 0.125
    with pytest.raises(TypeError, match=r"Adam: .*not settable"):
        opt.learning_rate = 0.1
    calls = []
    opt2 = optimizers.SGD(lambda: calls.append(1) or 0.25)  # a callable without arguments, as Keras
    assert opt2.learning_rate == 0.25 and calls


def test_bad_input():
    with pytest.raises(ValueError, match=r"optimizers.get: unknown optimizer 'adamax'; expected one of 'sgd', "
                                         r"'rmsprop', 'adam', 'adamw', 'adagrad'"):
        optimizers.get("adamax")
    with pytest.raises(ValueError, match=r"optimizers.get: could not interpret 3"):
        optimizers.get(3)
    with pytest.raises(ValueError, match=r"Adam: only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match=r"SGD: only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match=r"SGD: learning_rate must be a finite number >= 0, got -0.1"):
        optimizers.SGD(learning_rate=-0.1)
    with pytest.raises(ValueError, match=r"Adam: learning_rate must be a finite number >= 0, got nan"):
        optimizers.Adam(learning_rate=float("nan"))
    with pytest.raises(TypeError, match=r"RMSprop: learning_rate must be a float"):
        optimizers.RMSprop(learning_rate="0.1")
    with pytest.raises(ValueError, match=r"SGD: momentum must be <= 1.0, got 1.5"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match=r"Adam: beta_1 must be < 1.0, got 1.0"):
        optimizers.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match=r"AdamW: weight_decay must be a float"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match=r"Adagrad: initial_accumulator_value must be >= 0.0"):
        optimizers.Adagrad(initial_accumulator_value=-1.0)
    with pytest.raises(ValueError, match=r"Adam: clipnorm must be >= 0.0, got -1.0"):
        optimizers.Adam(clipnorm=-1.0)
    with pytest.raises(TypeError, match=r"SGD: nesterov must be a bool"):
        optimizers.SGD(nesterov="yes")
    with pytest.raises(TypeError):
        optimizers.Adam(lr=0.1)  # Keras' name is learning_rate
    with pytest.raises(ValueError, match=r"SGD: step\(\) needs the parameters"):
        optimizers.SGD().step()
    # A schedule that goes negative is caught at the step that uses it.
    opt = optimizers.SGD(learning_rate=schedules.PiecewiseConstantDecay([0], [0.1, -1.0]))
    p = Param(np.zeros(2, np.float32))
    p.grad = np.ones(2, np.float32)
    opt.step([p])
    with pytest.raises(ValueError, match=r"SGD: the learning-rate schedule .* returned -1.0 at iteration 1"):
        opt.step([p])
    assert opt.iterations == 1
    # A setting changed to a bad value is reported by the next step.
    opt = optimizers.Adam()
    opt.beta_2 = 2.0
    with pytest.raises(ValueError, match=r"Adam: beta_2 must be < 1.0"):
        opt.step([p])
    # Kernel errors name the class and the op; nothing is updated and iterations stay.
    q = Param(np.zeros(3, np.float32))
    q.grad = np.zeros(4, np.float32)
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match=r"Adam: optimizer_step: argument 'grads\[0\]' must have the shape"):
        opt.step([q])
    assert opt.iterations == 0
    q.grad = np.zeros(3, np.float64)
    with pytest.raises(TypeError, match=r"Adam: optimizer_step: .*float32"):
        opt.step([q])


def test_load_state_dict_bad_input():
    p = Param(np.zeros(3, np.float32))
    p.grad = np.ones(3, np.float32)
    adam = optimizers.Adam()
    adam.step([p])
    sd = adam.state_dict()
    with pytest.raises(ValueError, match=r"SGD: load_state_dict: the state was saved by Adam"):
        optimizers.SGD().load_state_dict(sd)
    ams = optimizers.Adam(amsgrad=True)
    ams.build([Param(np.zeros(3, np.float32))])
    with pytest.raises(ValueError, match=r"Adam: load_state_dict: the state of parameter 0 has \['momentum', "
                                         r"'velocity'\] but this optimizer's settings use"):
        ams.load_state_dict(sd)
    other = optimizers.Adam()
    other.build([Param(np.zeros(4, np.float32))])
    with pytest.raises(ValueError, match=r"Adam: load_state_dict: state 'momentum' of parameter 0 has shape \(3,\) "
                                         r"but the parameter has shape \(4,\)"):
        other.load_state_dict(sd)
    assert other.slots(other._params[0])["momentum"].shape == (4,)  # unchanged by the failed load
    with pytest.raises(TypeError, match=r"Adam: load_state_dict: expected the dict returned by state_dict"):
        other.load_state_dict({"momentum": 1})
    # Pending state is checked when the parameter arrives.
    late = optimizers.Adam()
    late.load_state_dict(sd)
    bad = Param(np.zeros(5, np.float32))
    bad.grad = np.ones(5, np.float32)
    with pytest.raises(ValueError, match=r"has shape \(3,\) but the parameter has shape \(5,\)"):
        late.step([bad])
