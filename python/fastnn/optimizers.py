"""Optimizers with Keras 3's names, defaults and update rules, driven the
Keras way (``apply_gradients``) or the PyTorch way (``step`` / ``zero_grad``).

Each ``step`` is ONE fused kernel call (``fastnn.ops.optimizer_step``) that
updates every parameter: gradient clipping (clipnorm / global_clipnorm /
clipvalue), decoupled weight decay and the update all happen inside it, on the
CPU or the GPU, with no host synchronisation. Python only gathers the arrays.

A parameter is any object with ``.data`` (a float32 NumPy or CuPy array,
updated in place) and ``.grad`` (an array of the same shape, or None):
``fastnn.Tensor`` or anything shaped like it.

    opt = fastnn.optimizers.Adam(learning_rate=1e-3)
    opt.step(params)            # every parameter whose .grad is set
    opt.zero_grad(params)       # .grad = None (set_to_none=False: fill with 0)

    opt = fastnn.optimizers.SGD(0.1, momentum=0.9, params=model_params)
    opt.step(); opt.zero_grad()

    opt.apply_gradients(zip(grads, params))   # Keras: (gradient, variable) pairs

State arrays (Keras' optimizer variables: momentum, velocity, ...) are made
on a parameter's device the first time it is updated, and are keyed by the
parameter's position: the order in which the optimizer first saw it (the
order of the first ``step``/``apply``/``build`` list). ``state_dict()`` /
``load_state_dict()`` use these positions, so the same model rebuilt in the
same order can load a saved state.

The learning rate is a float, a ``fastnn.schedules.LearningRateSchedule``
(evaluated at ``iterations``, the number of steps taken: 0 on the first step,
as in Keras) or a callable with no arguments returning the rate.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastnn import _C, schedules
from fastnn.backend import array_module, device_of, is_cuda_array
from fastnn.ops import OPTIMIZERS as _KERNEL_CODES
from fastnn.ops import _launch

__all__ = ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Optimizer", "get", "serialize", "deserialize", "schedules"]

# Keras config keys this implementation has no equivalent for: accepted by
# from_config only at their "off" values (False / None).
_KERAS_ONLY = ("use_ema", "ema_momentum", "ema_overwrite_frequency", "gradient_accumulation_steps")


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or is_cuda_array(x)


def _data_of(v):
    """The array a variable updates: a parameter's .data, or the variable itself when it is an array."""
    return v if _is_array(v) else v.data


class Optimizer:
    """Base class: the bookkeeping around one fused ``optimizer_step`` call.

    Subclasses set ``_kind`` (the kernel), ``_slot_names`` (Keras' names of the
    kernel's state arrays s1, s2, s3) and implement ``_kernel_hyper()``,
    ``_slots_used()`` and ``get_config()``.
    """

    _kind: str = ""
    _slot_names: tuple = (None, None, None)
    _HYPER = frozenset({"weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "loss_scale_factor"})

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, *,
                 loss_scale_factor=None, name=None, params=None):
        object.__setattr__(self, "_hyper", None)
        self.name = name if name is not None else type(self).__name__.lower()
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.loss_scale_factor = loss_scale_factor
        self._lr = self._check_learning_rate(learning_rate)
        self._iterations = 0
        self._params = []      # position -> parameter object (kept alive, so ids stay unique)
        self._index = {}       # id(parameter) -> position
        self._states = []      # position -> [s1, s2, s3] as passed to the kernel, or None before the first update
        self._pending = {}     # position -> {slot name: array}, loaded before that parameter was seen
        self._bound = None if params is None else list(params)
        if self._bound is not None:
            for p in self._bound:
                self._register(p)

    # ------------------------------------------------------------------ configuration

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name in self._HYPER:
            object.__setattr__(self, "_hyper", None)  # rebuilt (and checked) by the next step

    def _err(self, msg, exc=ValueError):
        return exc(f"{type(self).__name__}: {msg}")

    def _check_number(self, name, value, *, low=None, high=None, low_open=False, high_open=False, optional=False):
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self._err(f"{name} must be a number{' or None' if optional else ''}, got {value!r}", TypeError)
        value = float(value)
        if not math.isfinite(value):
            raise self._err(f"{name} must be finite, got {value!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise self._err(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
        if high is not None and (value >= high if high_open else value > high):
            raise self._err(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
        return value

    def _check_bool(self, name, value):
        if not isinstance(value, (bool, np.bool_)):
            raise self._err(f"{name} must be a bool, got {value!r}", TypeError)
        return bool(value)

    def _check_learning_rate(self, lr):
        if isinstance(lr, schedules.LearningRateSchedule) or (callable(lr) and not isinstance(lr, numbers.Real)):
            return lr
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise self._err("learning_rate must be a float, a fastnn.schedules.LearningRateSchedule or a callable "
                            f"with no arguments returning the rate, got {lr!r}", TypeError)
        return self._check_lr_value(lr)

    def _check_lr_value(self, lr):
        lr = float(lr)
        if not (lr >= 0.0 and math.isfinite(lr)):
            raise self._err(f"learning_rate must be a finite number >= 0, got {lr!r}")
        return lr

    def _build_hyper(self):
        """The kernel's hyper-parameter dict (checked), cached until a hyper attribute changes."""
        clips = {k: getattr(self, k) for k in ("clipnorm", "clipvalue", "global_clipnorm")}
        for k, v in clips.items():
            self._check_number(k, v, low=0.0, optional=True)
        if sum(v is not None for v in clips.values()) > 1:
            raise self._err("only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set (as in Keras). "
                            f"Received: clipnorm={clips['clipnorm']}, clipvalue={clips['clipvalue']}, "
                            f"global_clipnorm={clips['global_clipnorm']}")
        wd = self._check_number("weight_decay", self.weight_decay, low=0.0, optional=True)
        scale = self._check_number("loss_scale_factor", self.loss_scale_factor, low=0.0, low_open=True, optional=True)
        h = dict(self._kernel_hyper())
        h.update(weight_decay=wd or 0.0, grad_scale=1.0 if scale is None else 1.0 / scale,
                 clip_norm=clips["clipnorm"] or 0.0, clip_value=clips["clipvalue"] or 0.0,
                 global_clip_norm=clips["global_clipnorm"] or 0.0, learning_rate=0.0, iteration=1)
        object.__setattr__(self, "_hyper", h)
        used = self._slots_used()
        for i, st in enumerate(self._states):  # a changed setting: drop unused state arrays, add needed ones
            if st is None:
                continue
            for k in range(3):
                if not used[k]:
                    st[k] = None
            if any(u and a is None for u, a in zip(used, st)):
                self._make_states(i, _data_of(self._params[i]), keep=st)
        return h

    def _kernel_hyper(self) -> dict:
        raise NotImplementedError

    def _slots_used(self) -> tuple:
        """Which of the kernel's state arrays s1, s2, s3 this configuration uses."""
        raise NotImplementedError

    def _slot_init(self, k) -> float:
        return 0.0

    def get_config(self) -> dict:
        lr = self._lr
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "loss_scale_factor": self.loss_scale_factor}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        for key in _KERAS_ONLY:
            value = config.pop(key, None)
            if value and key != "ema_momentum":  # ema_momentum means nothing without use_ema
                raise ValueError(f"{cls.__name__}.from_config: {key}={value!r} is not supported by fastnn")
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        cfg = self.get_config()
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in cfg.items() if k != 'name')})"

    # ------------------------------------------------------------------ learning rate and iterations

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule evaluated at ``iterations``)."""
        return self._current_lr()

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(self._lr, schedules.LearningRateSchedule) and not callable(value):
            raise self._err("this optimizer was created with a LearningRateSchedule as its learning_rate, so its "
                            "learning rate is not settable to a number; create it with a float learning_rate, or "
                            "assign another schedule", TypeError)
        self._lr = self._check_learning_rate(value)

    @property
    def learning_rate_schedule(self):
        """The schedule or callable given as learning_rate (None for a constant rate)."""
        return None if isinstance(self._lr, float) else self._lr

    def _current_lr(self) -> float:
        lr = self._lr
        if type(lr) is float:
            return lr
        value = lr(self._iterations) if isinstance(lr, schedules.LearningRateSchedule) else lr()
        try:
            return self._check_lr_value(value)
        except (TypeError, ValueError) as e:
            raise self._err(f"the learning-rate schedule {lr!r} returned {value!r} at iteration "
                            f"{self._iterations}: {e}") from None

    @property
    def iterations(self) -> int:
        """Steps taken so far (Keras' ``optimizer.iterations``)."""
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise self._err(f"iterations must be an int >= 0, got {value!r}")
        self._iterations = int(value)

    # ------------------------------------------------------------------ parameters and states

    def _register(self, p) -> int:
        i = len(self._params)
        self._params.append(p)
        self._index[id(p)] = i
        self._states.append(None)
        return i

    def _make_states(self, i, data, keep=None):
        """[s1, s2, s3] for position i, on data's device: loaded values, kept ones, or fresh."""
        used = self._hyper_slots()
        loaded = self._pending.pop(i, None)
        if loaded is not None:
            self._check_loaded(i, loaded, data)
        xp = array_module(data)
        states = [None, None, None]
        with device_of(data):
            for k in range(3):
                if not used[k]:
                    continue
                name = self._slot_names[k]
                if loaded is not None:
                    states[k] = _copy_like(loaded[name], data)
                elif keep is not None and keep[k] is not None:
                    states[k] = keep[k]
                else:
                    states[k] = xp.full(data.shape, self._slot_init(k), dtype=xp.float32)
        self._states[i] = states
        return states

    def _hyper_slots(self):
        if self._hyper is None:
            self._build_hyper()
        return self._slots_used()

    def build(self, params):
        """Registers ``params`` in this order (their positions) and makes their state arrays now
        (Keras' ``optimizer.build``); otherwise this happens at the first update."""
        for p in params:
            i = self._index.get(id(p))
            if i is None:
                i = self._register(p)
            if self._states[i] is None:
                self._make_states(i, _data_of(p))

    def move_state(self, move) -> None:
        """Replaces every state array by ``move(array)`` (``Model.to`` moves them with the weights,
        so a model keeps training where it goes)."""
        for st in self._states:
            if st is not None:
                st[:] = [None if a is None else move(a) for a in st]
        for loaded in self._pending.values():
            for name in loaded:
                loaded[name] = move(loaded[name])

    @property
    def variables(self) -> list:
        """Every state array, by parameter position, then in the kernel's slot order."""
        return [a for st in self._states if st is not None for a in st if a is not None]

    def slots(self, param) -> dict:
        """The state arrays of ``param`` by Keras' names (empty before its first update)."""
        i = self._index.get(id(param))
        st = None if i is None else self._states[i]
        if st is None:
            return {}
        return {self._slot_names[k]: a for k, a in enumerate(st) if a is not None}

    # ------------------------------------------------------------------ updates

    def _run(self, datas, grads, states):
        """One fused kernel call over the gathered arrays; then iterations += 1."""
        h = self._hyper
        h["learning_rate"] = self._current_lr()
        h["iteration"] = self._iterations + 1
        code = _KERNEL_CODES[self._kind]
        try:
            _launch("optimizer_step", datas[0], datas[0], None,
                    lambda _, stream: _C.optimizer_step(code, datas, grads, states, h, stream))
        except (ValueError, TypeError, RuntimeError) as e:
            if type(e) not in (ValueError, TypeError, RuntimeError):
                raise
            # The kernel's indices count the parameters that have a gradient, in the order given.
            raise type(e)(f"{type(self).__name__}: {e} (indices count the parameters with a gradient)") from e
        self._iterations += 1

    def step(self, params=None):
        """One update of every parameter in ``params`` (default: the ``params`` given at
        construction) whose ``.grad`` is not None; a no-op when none has a gradient."""
        if params is None:
            params = self._bound
            if params is None:
                raise self._err("step() needs the parameters: call opt.step(params), or create the optimizer "
                                "with params=...")
        if self._hyper is None:  # a setting changed: check it and fit the state arrays before gathering them
            self._build_hyper()
        index, all_states = self._index, self._states
        datas, grads, states = [], [], []
        for p in params:
            i = index.get(id(p))
            if i is None:
                i = self._register(p)
            g = p.grad
            if g is None:
                continue
            data = p.data
            st = all_states[i]
            if st is None:
                st = self._make_states(i, data)
            datas.append(data)
            grads.append(g)
            states.append(st)
        if datas:
            self._run(datas, grads, states)

    def apply_gradients(self, grads_and_vars):
        """Keras: applies ``(gradient, variable)`` pairs (a variable is a parameter object or an
        array updated in place); returns ``iterations``."""
        pairs = list(grads_and_vars)
        if not pairs:
            return self._iterations
        grads, variables = zip(*pairs)
        self.apply(list(grads), list(variables))
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        """Keras: ``grads[i]`` updates ``trainable_variables[i]`` (default: every parameter
        registered, in position order). None gradients are skipped; all None is an error."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self._params:
                raise self._err("apply(grads) without variables needs a built optimizer: call "
                                "opt.build(variables) first or pass the variables")
            trainable_variables = self._params
        trainable_variables = list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise self._err(f"got {len(grads)} gradients for {len(trainable_variables)} variables")
        if self._hyper is None:
            self._build_hyper()
        index = self._index
        datas, gs, states = [], [], []
        for g, v in zip(grads, trainable_variables):
            i = index.get(id(v))
            if i is None:
                i = self._register(v)
            if g is None:
                continue
            data = _data_of(v)
            st = self._states[i]
            if st is None:
                st = self._make_states(i, data)
            datas.append(data)
            gs.append(g)
            states.append(st)
        if not datas:
            raise self._err("no gradients provided for any variable")
        self._run(datas, gs, states)

    def zero_grad(self, params=None, set_to_none=True):
        """Clears ``.grad`` of ``params`` (default: those given at construction, else every
        registered parameter): None, or filled with 0 when ``set_to_none`` is False."""
        if params is None:
            params = self._bound if self._bound is not None else self._params
        for p in params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.fill(0)

    # ------------------------------------------------------------------ saving and loading

    def state_dict(self) -> dict:
        """A snapshot (copies, on each parameter's device): ``{"class_name", "iterations",
        "learning_rate" (a float, or None for a schedule), "states": {position: {slot: array}}}``."""
        states = {}
        for i, st in enumerate(self._states):
            if st is not None:
                states[i] = {self._slot_names[k]: a.copy() for k, a in enumerate(st) if a is not None}
        for i, loaded in self._pending.items():
            states[i] = {k: a.copy() for k, a in loaded.items()}
        return {"class_name": type(self).__name__, "iterations": self._iterations,
                "learning_rate": self._lr if isinstance(self._lr, float) else None, "states": states}

    def _check_loaded(self, i, loaded, data):
        used = self._slots_used()
        want = {self._slot_names[k] for k in range(3) if used[k]}
        if set(loaded) != want:
            raise self._err(f"load_state_dict: the state of parameter {i} has {sorted(loaded)} but this "
                            f"optimizer's settings use {sorted(want)}")
        for name, a in loaded.items():
            if tuple(a.shape) != tuple(data.shape):
                raise self._err(f"load_state_dict: state {name!r} of parameter {i} has shape {tuple(a.shape)} "
                                f"but the parameter has shape {tuple(data.shape)}")

    def load_state_dict(self, state: dict):
        """Restores ``state_dict()``'s iterations, learning rate (when both are plain floats) and
        states by parameter position; positions not seen yet are applied when first seen."""
        if not isinstance(state, dict) or "states" not in state or "iterations" not in state:
            raise self._err("load_state_dict: expected the dict returned by state_dict()", TypeError)
        if state.get("class_name", type(self).__name__) != type(self).__name__:
            raise self._err(f"load_state_dict: the state was saved by {state['class_name']}")
        iterations = state["iterations"]
        if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
            raise self._err(f"load_state_dict: iterations must be an int >= 0, got {iterations!r}")
        if self._hyper is None:
            self._build_hyper()
        loaded = {}
        for key, slots in state["states"].items():
            try:
                i = int(key)
            except (TypeError, ValueError):
                raise self._err(f"load_state_dict: state keys are parameter positions (ints), got {key!r}") from None
            if i < 0 or not isinstance(slots, dict):
                raise self._err(f"load_state_dict: bad entry for position {key!r}")
            loaded[i] = dict(slots)
        for i, slots in loaded.items():  # check everything before changing anything
            if i < len(self._params):
                p = self._params[i]
                self._check_loaded(i, slots, _data_of(p))
        lr = state.get("learning_rate")
        self._iterations = int(iterations)
        if isinstance(lr, float) and isinstance(self._lr, float):
            self._lr = self._check_lr_value(lr)
        self._states = [None] * len(self._params)
        self._pending = {}
        for i, slots in loaded.items():
            self._pending[i] = slots
            if i < len(self._params):
                p = self._params[i]
                self._make_states(i, _data_of(p))


def _copy_like(a, data):
    """A float32 C-contiguous copy of ``a`` on ``data``'s device (NumPy or CuPy)."""
    if array_module(data) is np:
        if is_cuda_array(a):
            a = a.get()
        return np.array(a, dtype=np.float32, order="C", copy=True)
    return array_module(data).array(a, dtype="float32", order="C", copy=True)


def _bounded(opt, name, value, low, high, high_open=False):
    return opt._check_number(name, value, low=low, high=high, high_open=high_open)


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum (Keras' rules):
    ``velocity = momentum * velocity - lr * g``; ``w += velocity``
    (Nesterov: ``w += momentum * velocity - lr * g``); plain ``w -= lr * g`` without momentum."""

    _kind = "sgd"
    _slot_names = ("momentum", None, None)
    _HYPER = Optimizer._HYPER | {"momentum", "nesterov"}

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, *, loss_scale_factor=None, name="SGD", params=None):
        self.momentum = momentum
        self.nesterov = nesterov
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         loss_scale_factor=loss_scale_factor, name=name, params=params)
        self._build_hyper()

    def _kernel_hyper(self):
        return {"momentum": _bounded(self, "momentum", self.momentum, 0.0, 1.0),
                "nesterov": self._check_bool("nesterov", self.nesterov)}

    def _slots_used(self):
        return (self.momentum > 0, False, False)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop (Keras' rules): ``velocity = rho * velocity + (1 - rho) g^2``; centered also
    keeps ``average_gradient`` and divides by ``sqrt(velocity - average_gradient^2 + epsilon)``;
    with momentum the increment goes through a momentum buffer."""

    _kind = "rmsprop"
    _slot_names = ("velocity", "momentum", "average_gradient")
    _HYPER = Optimizer._HYPER | {"rho", "momentum", "epsilon", "centered"}

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, *, loss_scale_factor=None, name="rmsprop",
                 params=None):
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         loss_scale_factor=loss_scale_factor, name=name, params=params)
        self._build_hyper()

    def _kernel_hyper(self):
        return {"rho": _bounded(self, "rho", self.rho, 0.0, 1.0),
                "momentum": _bounded(self, "momentum", self.momentum, 0.0, 1.0),
                "epsilon": self._check_number("epsilon", self.epsilon, low=0.0),
                "centered": self._check_bool("centered", self.centered)}

    def _slots_used(self):
        return (True, self.momentum > 0, bool(self.centered))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam (Kingma & Ba, in Keras' form): ``m += (g - m)(1 - beta_1)``,
    ``v += (g^2 - v)(1 - beta_2)``, ``w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``
    (epsilon is the paper's "epsilon hat"); AMSGrad divides by the running max of v."""

    _kind = "adam"
    _slot_names = ("momentum", "velocity", "velocity_hat")
    _HYPER = Optimizer._HYPER | {"beta_1", "beta_2", "epsilon", "amsgrad"}

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, *, loss_scale_factor=None,
                 name="adam", params=None):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         loss_scale_factor=loss_scale_factor, name=name, params=params)
        self._build_hyper()

    def _kernel_hyper(self):
        return {"beta_1": _bounded(self, "beta_1", self.beta_1, 0.0, 1.0, high_open=True),
                "beta_2": _bounded(self, "beta_2", self.beta_2, 0.0, 1.0, high_open=True),
                "epsilon": self._check_number("epsilon", self.epsilon, low=0.0),
                "amsgrad": self._check_bool("amsgrad", self.amsgrad)}

    def _slots_used(self):
        return (True, True, bool(self.amsgrad))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w -= lr * weight_decay * w``
    before the Adam update (Keras 3's AdamW; weight_decay must be a number)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, *, loss_scale_factor=None,
                 name="adamw", params=None):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float. Received: weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, loss_scale_factor=loss_scale_factor, name=name, params=params)


class Adagrad(Optimizer):
    """Adagrad (Keras' rules): ``accumulator += g^2``; ``w -= lr g / sqrt(accumulator + epsilon)``,
    the accumulator starting at ``initial_accumulator_value``."""

    _kind = "adagrad"
    _slot_names = ("accumulator", None, None)
    _HYPER = Optimizer._HYPER | {"epsilon"}

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, *, loss_scale_factor=None, name="adagrad",
                 params=None):
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         loss_scale_factor=loss_scale_factor, name=name, params=params)
        self._check_number("initial_accumulator_value", initial_accumulator_value, low=0.0)
        self._build_hyper()

    def _kernel_hyper(self):
        return {"epsilon": self._check_number("epsilon", self.epsilon, low=0.0)}

    def _slots_used(self):
        return (True, False, False)

    def _slot_init(self, k):
        return float(self.initial_accumulator_value)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad}


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}`` (Keras' layout)."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizers.serialize: expected a fastnn optimizer, got {type(optimizer).__name__}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict, custom_objects=None) -> Optimizer:
    """The optimizer ``serialize`` described (class names matched case-insensitively)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"optimizers.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    return _lookup(config["class_name"], "deserialize").from_config(dict(config.get("config", {})), custom_objects)


def _lookup(name, op):
    cls = _BY_NAME.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"optimizers.{op}: unknown optimizer {name!r}; expected one of "
                         f"{', '.join(repr(k) for k in _BY_NAME)}")
    return cls


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"adam"``, case-insensitive; Keras' defaults), an optimizer
    (returned as is) or a ``serialize`` dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return _lookup(identifier, "get")()
    raise ValueError(f"optimizers.get: could not interpret {identifier!r} as an optimizer; pass a name "
                     f"({', '.join(repr(k) for k in _BY_NAME)}), an optimizer or a config dict")
