"""fastnn.schedules: Keras 3's learning-rate schedules at hand-computed steps."""

import math

import pytest

from fastnn import optimizers, schedules


@pytest.mark.parametrize("step,want", [(0, 0.1), (5, 0.1 * 0.5**0.5), (10, 0.05), (25, 0.1 * 0.5**2.5)])
def test_exponential_decay(step, want):
    assert schedules.ExponentialDecay(0.1, 10, 0.5)(step) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("step,want", [(0, 0.1), (9, 0.1), (10, 0.05), (19, 0.05), (20, 0.025), (35, 0.0125)])
def test_exponential_decay_staircase(step, want):
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(step) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("step,want", [(0, 1.0), (10, 1.0), (11, 0.5), (15, 0.5), (20, 0.5), (21, 0.1),
                                       (10_000, 0.1)])
def test_piecewise_constant_decay(step, want):
    # values[0] while step <= boundaries[0], values[1] while boundaries[0] < step <= boundaries[1], ...
    assert schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])(step) == want


@pytest.mark.parametrize("step,want", [
    (0, 0.1),
    (25, 0.1 * 0.5 * (1 + math.cos(math.pi / 4))),  # 0.0853553...
    (50, 0.05),
    (100, 0.0),
    (250, 0.0),  # held at the end
])
def test_cosine_decay(step, want):
    assert schedules.CosineDecay(0.1, 100)(step) == pytest.approx(want, abs=1e-15)


@pytest.mark.parametrize("step,want", [(0, 0.1), (50, 0.1 * (0.9 * 0.5 + 0.1)), (100, 0.01), (1000, 0.01)])
def test_cosine_decay_alpha(step, want):
    assert schedules.CosineDecay(0.1, 100, alpha=0.1)(step) == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("step,want", [
    (0, 0.01),                   # the ramp starts at initial_learning_rate ...
    (5, 0.01 + 0.09 * 0.5),      # ... linear: 0.055 half way ...
    (9, 0.01 + 0.09 * 0.9),
    (10, 0.1),                   # ... and the decay starts from warmup_target at warmup_steps
    (60, 0.05),                  # 50 of 100 decay steps
    (110, 0.0),
    (500, 0.0),
])
def test_cosine_decay_warmup(step, want):
    sched = schedules.CosineDecay(0.01, 100, warmup_target=0.1, warmup_steps=10)
    assert sched(step) == pytest.approx(want, abs=1e-15)


def test_cosine_decay_warmup_zero_steps_is_decay_from_target():
    sched = schedules.CosineDecay(0.5, 100, warmup_target=0.1, warmup_steps=0)
    assert sched(0) == pytest.approx(0.1) and sched(50) == pytest.approx(0.05)


def test_config_round_trip():
    for s in [schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True),
              schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]),
              schedules.CosineDecay(0.0, 100, alpha=0.1, warmup_target=0.1, warmup_steps=10)]:
        again = type(s).from_config(s.get_config())
        assert again.get_config() == s.get_config()
        assert [again(t) for t in range(0, 150, 7)] == [s(t) for t in range(0, 150, 7)]
        assert schedules.deserialize(schedules.serialize(s)).get_config() == s.get_config()
        assert schedules.get(schedules.serialize(s)).get_config() == s.get_config()
    assert schedules.CosineDecay(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.0, "name": "CosineDecay",
        "warmup_target": None, "warmup_steps": 0}


def test_user_schedule_drives_an_optimizer():
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 1.0 / 2**step

        def get_config(self):
            return {}

    opt = optimizers.SGD(learning_rate=Halving())
    seen = []
    for it in range(4):
        opt.iterations = it
        seen.append(opt.learning_rate)
    assert seen == [1.0, 0.5, 0.25, 0.125]


def test_bad_input():
    with pytest.raises(ValueError, match=r"ExponentialDecay: decay_steps must be > 0, got 0"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match=r"CosineDecay: decay_steps must be > 0"):
        schedules.CosineDecay(0.1, -5)
    with pytest.raises(ValueError, match=r"CosineDecay: warmup_steps must be >= 0"):
        schedules.CosineDecay(0.1, 5, warmup_target=0.2, warmup_steps=-1)
    with pytest.raises(ValueError, match=r"PiecewiseConstantDecay: the length of boundaries should be 1 less"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])
    with pytest.raises(ValueError, match=r"PiecewiseConstantDecay: boundaries must be strictly increasing"):
        schedules.PiecewiseConstantDecay([2, 2], [1.0, 0.5, 0.1])
    with pytest.raises(TypeError, match=r"ExponentialDecay: initial_learning_rate must be a finite number"):
        schedules.ExponentialDecay("0.1", 10, 0.5)
    with pytest.raises(TypeError, match=r"CosineDecay: step must be a finite number"):
        schedules.CosineDecay(0.1, 10)("3")
    with pytest.raises(ValueError, match=r"schedules.deserialize: unknown schedule 'Nope'; expected one of"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(NotImplementedError, match=r"must override __call__"):
        schedules.LearningRateSchedule()(1)
