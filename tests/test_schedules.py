"""Learning-rate schedules: warm-up, hold, linear or cosine decay, per phase."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import harness.learning.stepper
from harness.learning.schedules import Schedule, make_schedule
from harness.spec.config import TrainingConfig
from harness.spec.suite import SuiteError, load_suite
from harness.testing import write_tiny_suite

from helpers.sines import run, target, training


def rates(config: TrainingConfig, steps: int, lr: float = 0.1) -> list[float]:
    """The rate each of ``steps`` optimiser steps takes, as the loop steps the scheduler."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    schedule = make_schedule(optimizer, config, steps)
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if schedule is not None:
            schedule.step()
    return out


def test_tri_stage_factors_by_hand():
    # 10 steps: warm-up over 2, hold, linear decay from step index 5 to 0.1
    schedule = Schedule(10, "linear", warmup=2, decay_start=0.5, final=0.1)
    expected = {0: 0.5, 1: 1.0, 4: 1.0, 5: 1.0, 7: 1 - 0.9 * 2 / 5, 9: 1 - 0.9 * 4 / 5}
    for done, factor in expected.items():
        assert schedule(done) == pytest.approx(factor, abs=1e-15), done


def test_cosine_after_seventy_percent_by_hand():
    schedule = Schedule(10, "cosine", decay_start=0.6)
    assert [schedule(k) for k in (0, 5, 6)] == [1.0, 1.0, 1.0]
    assert schedule(8) == pytest.approx(0.5, abs=1e-15)
    assert schedule(9) == pytest.approx((1 + math.cos(0.75 * math.pi)) / 2, abs=1e-15)


def test_warmup_fraction_is_a_fraction_of_the_phase_and_overlaps_multiply():
    config = TrainingConfig(warmup_fraction=0.25, schedule="linear", device="cpu")
    assert rates(config, 8) == pytest.approx([0.05, 0.1 * 7 / 8, 0.1 * 6 / 8, 0.1 * 5 / 8,
                                              0.1 * 4 / 8, 0.1 * 3 / 8, 0.1 * 2 / 8, 0.1 / 8])  # fmt: skip


def test_the_loop_takes_the_factor_times_each_groups_rate():
    first, second = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [first], "lr": 0.1}, {"params": [second], "lr": 0.01}])
    config = TrainingConfig(warmup_steps=4, schedule="cosine", decay_start=0.5)
    schedule = make_schedule(optimizer, config, 8)
    factor = Schedule.of(config, 8)
    for done in range(8):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * factor(done), abs=1e-15)
        assert optimizer.param_groups[1]["lr"] == pytest.approx(0.01 * factor(done), abs=1e-15)
        optimizer.step()
        assert schedule is not None
        schedule.step()


def test_cosine_without_warmup_is_the_cosine_annealing_of_before():
    steps = 12
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    before = []
    for _ in range(steps):
        before.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        annealing.step()
    assert rates(TrainingConfig(schedule="cosine"), steps) == pytest.approx(before, abs=1e-12)


def test_a_constant_rate_without_warmup_has_no_scheduler():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    assert make_schedule(optimizer, TrainingConfig(), 10) is None
    assert make_schedule(optimizer, TrainingConfig(warmup_steps=3), 10) is not None
    assert rates(TrainingConfig(warmup_steps=3), 5) == pytest.approx(
        [0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.1]
    )


def test_each_phase_has_its_own_schedule_over_its_own_steps(monkeypatch):
    spans = []

    def spy(optimizer, config, steps):
        spans.append(steps)
        return make_schedule(optimizer, config, steps)

    monkeypatch.setattr(harness.learning.stepper, "make_schedule", spy)
    run(epochs=3, tgt=target(max_steps=7, eval_every=7), config=training(warmup_steps=2))
    # 20 pretraining segments in batches of 8: 3 batches an epoch, 3 epochs; then the budget
    assert spans == [9, 7]


def test_warmup_changes_the_run_and_a_constant_rate_keeps_it():
    _, plain = run()
    _, again = run(config=training(warmup_steps=0, schedule="constant"))
    _, warm = run(config=training(warmup_steps=5))
    assert plain.curve.heldout_loss == again.curve.heldout_loss
    assert warm.curve.heldout_loss[1:] != plain.curve.heldout_loss[1:]
    assert warm.curve.heldout_loss[0] == plain.curve.heldout_loss[0]


@pytest.mark.parametrize(
    ("training", "key", "message"),
    [
        ({"warmup_steps": 10, "warmup_fraction": 0.1}, "warmup_fraction", "give the warm-up once"),
        ({"decay_start": 0.7}, "decay_start", "the schedule is 'constant'"),
        ({"final_lr_fraction": 0.1}, "final_lr_fraction", "decaying schedule only"),
        ({"schedule": "linear", "decay_start": 1.0}, "decay_start", "expected below 1"),
        ({"schedule": "exponential"}, "schedule", "'constant', 'linear', 'cosine'"),
        ({"warmup_fraction": 1.5}, "warmup_fraction", "in [0.0, 1.0]"),
        ({"freeze_steps": 10}, "freeze_steps", "applies with freeze only"),
    ],
)
def test_bad_schedule_settings_are_located_errors(tmp_path, training, key, message):
    path = write_tiny_suite(tmp_path, training=training)
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    problems = dict(caught.value.problems)
    assert message in problems[f"training.{key}"], problems


def test_a_condition_may_warm_up_otherwise(tmp_path):
    conditions = [{"name": "none"}, {"name": "warm", "training": {"warmup_steps": 5}}]
    suite = load_suite(write_tiny_suite(tmp_path, conditions=conditions, control="none"))
    assert suite.training_for(suite.condition("warm")).warmup_steps == 5
    bad = [{"name": "none"}, {"name": "warm", "training": {"decay_start": 0.5}}]
    with pytest.raises(SuiteError) as caught:
        load_suite(write_tiny_suite(tmp_path, conditions=bad, control="none"))
    assert (
        "the schedule is 'constant'"
        in dict(caught.value.problems)["conditions[1].training.decay_start"]
    )


def test_clipping_records_the_gradient_norm_before_clipping():
    from harness.data.batches import BatchStream, generator
    from harness.learning.training import TARGET_STREAM, build_module

    from helpers.sines import FEATURES, FRAMES, GroupedLSTM, data

    one = target(max_steps=1, eval_every=1)
    _, tight = run(config=training(grad_clip=1e-6), tgt=one)
    _, loose = run(config=training(grad_clip=1e6), tgt=one)
    # the same first step from the same weights and batch, by hand
    model = GroupedLSTM()
    module = build_module(model, FEATURES, FRAMES, seed=0)
    train_set = data().segments("train", torch.device("cpu"))
    batch = BatchStream(train_set, 8, generator(0, TARGET_STREAM)).next()
    model.loss(module, batch.x).backward()
    norm = float(torch.cat([p.grad.flatten() for p in module.parameters()]).norm())
    for outcome in (tight, loose):
        curve = outcome.curve.to_dict()
        assert curve["grad_norm"][0] is None and curve["grad_norm_max"][0] is None
        assert curve["grad_norm"][1] == pytest.approx(norm, rel=1e-5)
        assert curve["grad_norm_max"][1] == curve["grad_norm"][1]
    _, longer = run(config=training(grad_clip=1.0), tgt=target(max_steps=10, eval_every=5))
    curve = longer.curve.to_dict()
    assert len(curve["grad_norm"]) == len(curve["step"]) == 3
    pairs = zip(curve["grad_norm"][1:], curve["grad_norm_max"][1:], strict=True)
    assert all(largest >= mean > 0 for mean, largest in pairs)
    # without clipping nothing is recorded (the norm is a by-product of clipping)
    _, plain = run(tgt=one)
    assert "grad_norm" not in plain.curve.to_dict()
