"""The training protocol: thresholds, censoring, divergence, pretraining, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from harness.data.batches import BatchStream, epoch_batches, generator, segment, segment_all
from harness.learning.training import Pretraining, build_module, make_schedule, train
from harness.plugin.contracts import ContractError
from harness.spec.config import TargetConfig, TrainingConfig
from harness_plugins.models.conv_autoencoder_model import ConvAutoencoderModel
from harness_plugins.models.lstm_model import LSTMModel

from helpers.sines import FEATURES, FRAMES, data

torch.set_num_threads(1)


def cfg(**training) -> TrainingConfig:
    values = {"lr": 1e-2, "batch_size": 8, "segment_frames": FRAMES, "device": "cpu"}
    return TrainingConfig(**{**values, **training})


def target(**given) -> TargetConfig:
    values = {"language": "en", "threshold": 0.5, "max_steps": 30, "eval_every": 5}
    return TargetConfig(**{**values, **given})


def run(model=None, d=None, epochs=0, seed=0, tgt=None, training=None):
    return train(
        model or LSTMModel(hidden_size=8),
        FEATURES,
        d or data(),
        target=tgt or target(),
        training=training or cfg(),
        pretraining=Pretraining.single(epochs=epochs),
        seed=seed,
        name="test",
    )


def numbers(outcome) -> dict:
    """Everything in the record except wall-clock timings."""
    record = outcome.convergence()
    for key in ("seconds", "train_seconds", "pretrain_seconds"):
        record.pop(key)
    curve = outcome.curve.to_dict()
    curve.pop("seconds")
    return {**record, **curve}


# ---------------------------------------------------------------- segments and batches


def test_segment_drops_the_remainder_and_keeps_order():
    clip = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
    parts = segment(clip, 10)
    assert parts.shape == (2, 10, 2)
    np.testing.assert_array_equal(parts[1, 0], clip[10])


def test_segment_all_refuses_clips_shorter_than_a_segment():
    with pytest.raises(ValueError, match="segment_frames"):
        segment_all([np.zeros((5, 3)), np.zeros((7, 3))], 8)
    assert segment_all([np.zeros((5, 3)), np.zeros((17, 3))], 8).shape == (2, 8, 3)


def test_batch_stream_gives_full_batches_and_each_segment_once_per_pass():
    data = torch.arange(10).float().unsqueeze(1)
    stream = BatchStream(data, 4, generator(0, 0))
    seen = torch.cat([stream.next() for _ in range(5)]).flatten().long()  # 20 = two passes
    assert all(stream.next().shape == (4, 1) for _ in range(3))
    assert sorted(seen[:10].tolist()) == list(range(10))
    assert sorted(seen[10:].tolist()) == list(range(10))


def test_epoch_batches_cover_the_data_once():
    data = torch.arange(10).float()
    batches = list(epoch_batches(data, 4, generator(0, 0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))


def test_random_streams_are_reproducible_and_independent():
    draw = lambda seed, stream: torch.randperm(50, generator=generator(seed, stream)).tolist()  # noqa: E731
    assert draw(3, 1) == draw(3, 1)
    assert draw(3, 1) != draw(3, 2)
    assert draw(3, 1) != draw(4, 1)


# ---------------------------------------------------------------- the protocol


def test_relative_threshold_is_reached_and_recorded():
    module, outcome = run(tgt=target(threshold=0.5, threshold_mode="relative"))
    assert outcome.status == "reached"
    assert outcome.threshold == pytest.approx(0.5 * outcome.initial_heldout_loss)
    assert outcome.final_heldout_loss <= outcome.threshold
    assert outcome.steps % 5 == 0 and 0 < outcome.steps < 30
    assert outcome.examples == outcome.steps * 8
    assert outcome.epochs == pytest.approx(outcome.examples / 24)
    assert outcome.convergence()["seconds"] == outcome.train_seconds > 0
    curve = outcome.curve
    assert curve.step == list(range(0, outcome.steps + 1, 5))
    assert curve.train_loss[0] is None and all(x > 0 for x in curve.train_loss[1:])
    assert curve.heldout_loss[0] == pytest.approx(outcome.initial_heldout_loss)
    assert curve.seconds == sorted(curve.seconds)
    # every evaluation before the last stayed above the threshold
    assert all(x > outcome.threshold for x in curve.heldout_loss[:-1])
    assert isinstance(module, nn.Module)


def test_absolute_threshold_uses_the_value_as_given():
    _, outcome = run(tgt=target(threshold=0.004, threshold_mode="absolute", max_steps=60))
    assert outcome.threshold == 0.004
    assert outcome.reached == (outcome.final_heldout_loss <= 0.004)


def test_unreachable_threshold_is_censored_at_the_budget():
    _, outcome = run(tgt=target(threshold=0.0, threshold_mode="absolute", max_steps=12))
    assert outcome.status == "censored" and not outcome.reached
    assert outcome.steps == 12 and outcome.examples == 96
    # evaluations every 5 steps and always at the end of the budget
    assert outcome.curve.step == [0, 5, 10, 12]
    assert outcome.final_heldout_loss == outcome.curve.heldout_loss[-1]
    assert outcome.diverged_step is None


def test_threshold_met_before_training_counts_as_reached_at_step_zero():
    _, outcome = run(tgt=target(threshold=1.0, threshold_mode="relative"))
    assert outcome.status == "reached"
    assert outcome.steps == 0 and outcome.convergence()["seconds"] == 0.0
    assert outcome.curve.step == [0]


def test_same_seed_same_numbers_other_seed_other_numbers():
    training = cfg(schedule="cosine", grad_clip=1.0)
    tgt = target(threshold=0.0, threshold_mode="absolute", max_steps=15)
    a = run(seed=7, d=data(pretrain=True), epochs=2, tgt=tgt, training=training)
    b = run(seed=7, d=data(pretrain=True), epochs=2, tgt=tgt, training=training)
    c = run(seed=8, d=data(pretrain=True), epochs=2, tgt=tgt, training=training)
    assert numbers(a[1]) == numbers(b[1])
    for key, value in a[0].state_dict().items():
        torch.testing.assert_close(value, b[0].state_dict()[key], rtol=0, atol=0)
    assert numbers(a[1]) != numbers(c[1])


def test_pretraining_runs_the_condition_epochs_before_the_target():
    tgt = target(threshold=0.0, threshold_mode="absolute", max_steps=5)
    _, control = run(tgt=tgt)
    _, pretrained = run(d=data(pretrain=True), epochs=3, tgt=tgt)
    assert control.pretrain_steps == 0 and control.pretrain_seconds == 0.0
    assert pretrained.pretrain_steps == 3 * math.ceil(20 / 8)
    assert pretrained.pretrain_seconds > 0
    # same seed: same untrained model, so the same threshold in every condition
    assert pretrained.initial_heldout_loss == control.initial_heldout_loss
    # pretraining moved the model before target training began
    assert pretrained.curve.heldout_loss[0] != control.curve.heldout_loss[0]


def test_conv_autoencoder_trains_under_the_same_protocol():
    model = ConvAutoencoderModel(channels=[4, 8], bottleneck=4)
    _, outcome = run(model=model, tgt=target(threshold=0.9, max_steps=40))
    assert outcome.status in {"reached", "censored"}
    assert outcome.curve.heldout_loss[-1] < outcome.initial_heldout_loss


class NaNAfter(LSTMModel):
    """Its training loss turns NaN from the given optimiser step on."""

    def __init__(self, step: int) -> None:
        super().__init__(hidden_size=4)
        self.bad_from = step
        self.calls = 0

    def loss(self, module, batch):
        loss = super().loss(module, batch)
        if module.training:
            self.calls += 1
            if self.calls >= self.bad_from:
                return loss * float("nan")
        return loss


def test_nan_loss_marks_the_run_diverged_at_that_step():
    _, outcome = run(model=NaNAfter(8), tgt=target(threshold=0.0, threshold_mode="absolute"))
    assert outcome.status == "diverged"
    assert outcome.diverged_step == 8 and outcome.diverged_phase == "target"
    assert outcome.steps == 8
    assert outcome.final_heldout_loss is None and outcome.final_train_loss is None
    # the curve keeps the evaluations made before the divergence, all finite
    assert outcome.curve.step == [0, 5]
    assert outcome.convergence()["reached"] is False


def test_nan_during_pretraining_is_diverged_before_the_target():
    # 3 pretraining batches per epoch; the 4th step is in the second epoch
    _, outcome = run(model=NaNAfter(4), d=data(pretrain=True), epochs=2)
    assert outcome.status == "diverged" and outcome.diverged_phase == "pretrain"
    assert outcome.pretrain_steps == 4 and outcome.steps == 0
    assert outcome.curve.step == []


def test_huge_learning_rate_diverges_without_raising():
    _, outcome = run(training=cfg(lr=1e30), tgt=target(threshold=0.0, threshold_mode="absolute"))
    assert outcome.status == "diverged"
    assert 1 <= outcome.diverged_step <= 30


def test_gradient_clipping_bounds_each_update():
    training = cfg(optimizer="sgd", lr=1.0, grad_clip=1e-3)
    tgt = target(threshold=0.0, threshold_mode="absolute", max_steps=1, eval_every=1)
    module, _ = run(training=training, tgt=tgt)
    start = build_module(LSTMModel(hidden_size=8), FEATURES, FRAMES, seed=0)
    moved = torch.cat(
        [(p - q).flatten() for p, q in zip(module.parameters(), start.parameters(), strict=True)]
    )
    assert 0 < float(moved.detach().norm()) <= 1e-3 * 1.0001


def test_cosine_schedule_decays_to_zero_over_the_budget():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = make_schedule(optimizer, cfg(schedule="cosine"), 10)
    rates = []
    for _ in range(10):
        optimizer.step()
        schedule.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates[4] == pytest.approx(0.05) and rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert make_schedule(optimizer, cfg(), 10) is None


def test_a_loss_that_is_not_a_scalar_breaks_the_contract():
    class Vector(LSTMModel):
        def loss(self, module, batch):
            return super().loss(module, batch).expand(3)

    with pytest.raises(ContractError, match="scalar"):
        run(model=Vector(hidden_size=4))
