"""Probes along training in the training loop: ``on_probe`` hears the module at
the steps of ``probe_at`` the run reaches, and the run's training numbers are
bit-identical with and without it, even when what it runs draws random numbers
and switches the module's mode."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import pytest
import torch
from torch import nn

from harness.learning import training as training_loop
from harness.learning.training import Pretraining, train, undisturbed
from harness.spec.config import TargetConfig, TrainingConfig
from harness_plugins.models.lstm_model import LSTMModel

from helpers.sines import FEATURES, FRAMES, data

torch.set_num_threads(1)


class DropoutLSTM(LSTMModel):
    """The LSTM with dropout on its input while training: its steps draw from
    torch's global random stream and depend on the module's mode."""

    def loss(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        dropped = nn.functional.dropout(batch, 0.3, training=module.training)
        return super().loss(module, dropped)


def _target(**given) -> TargetConfig:
    values = {"language": "en", "threshold": 1e-6, "max_steps": 30, "eval_every": 10}
    return TargetConfig(**{**values, **given})


class NaNFrom(DropoutLSTM):
    """Its training loss turns NaN from the given target-training step on."""

    def __init__(self, step: int) -> None:
        super().__init__(hidden_size=8)
        self.bad_from, self.calls = step, 0

    def loss(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        loss = super().loss(module, batch)
        if module.training:
            self.calls += 1
            if self.calls >= self.bad_from:
                return loss * float("nan")
        return loss


def _run(probe_at=(), on_probe=None, tgt=None, model=None):
    training = TrainingConfig(lr=1e-2, batch_size=8, segment_frames=FRAMES, device="cpu")
    return train(
        model or DropoutLSTM(hidden_size=8),
        FEATURES,
        data(pretrain=True),
        target=tgt or _target(),
        training=training,
        pretraining=Pretraining.single(epochs=0),
        seed=3,
        name="test",
        probe_at=probe_at,
        on_probe=on_probe,
    )


def _numbers(outcome) -> dict:
    """Everything training measured except wall-clock timings."""
    record = outcome.convergence()
    for key in ("seconds", "train_seconds", "pretrain_seconds"):
        record.pop(key)
    curve = outcome.curve.to_dict()
    curve.pop("seconds")
    return {**record, **curve}


class Meddler:
    """A probe callback that does what careless probing code does: draws from
    every global random stream, puts the module in training mode and runs it."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.modes: list[bool] = []

    def __call__(self, step: int, module: nn.Module) -> None:
        self.steps.append(step)
        self.modes.append(module.training)
        torch.rand(100)
        np.random.rand(100)
        random.random()
        module.train()
        module(torch.rand(2, FRAMES, FEATURES))


def test_training_is_bit_identical_with_and_without_probe_at():
    plain_module, plain = _run()
    meddler = Meddler()
    probed_module, probed = _run((0, 7, 10, 25, 30), meddler)
    assert meddler.steps == [0, 7, 10, 25, 30]
    # probing sees the model in eval mode, whatever the loop had
    assert meddler.modes == [False] * 5
    assert plain.status == probed.status == "censored"
    assert _numbers(plain) == _numbers(probed)
    for (name, a), (_, b) in zip(
        plain_module.state_dict().items(), probed_module.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_without_the_guard_the_same_callback_changes_training(monkeypatch):
    """The test above can fail: the callback perturbs training when nothing guards it."""
    _, plain = _run()
    monkeypatch.setattr(training_loop, "undisturbed", lambda module: contextlib.nullcontext())
    _, meddled = _run((0, 7, 10, 25), Meddler())
    assert _numbers(plain)["heldout_loss"] != _numbers(meddled)["heldout_loss"]


def test_points_after_the_run_stopped_are_not_probed():
    reached = _target(threshold=0.08, threshold_mode="absolute", max_steps=60)
    _, plain = _run(tgt=reached)
    assert plain.status == "reached"
    stop = plain.steps
    assert 0 < stop < 60
    meddler = Meddler()
    _, probed = _run((0, stop, stop + 5, 60), meddler, tgt=reached)
    # the step the run stopped at is measured; the ones after it are not
    assert meddler.steps == [0, stop]
    assert _numbers(plain) == _numbers(probed)


def test_a_diverged_run_is_not_probed_once_its_loss_went_non_finite():
    _, plain = _run(model=NaNFrom(14))
    assert plain.status == "diverged" and plain.diverged_step == 14
    meddler = Meddler()
    # 13 is probed (the loss so far is finite), 16 not (inside the same window), 30 never reached
    _, probed = _run((0, 13, 16, 30), meddler, model=NaNFrom(14))
    assert meddler.steps == [0, 13]
    assert _numbers(plain) == _numbers(probed)


def test_the_guard_restores_every_mode_and_random_state():
    module = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    module.train()
    module[1].eval()  # a submodule the caller keeps in eval mode
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    with undisturbed(module):
        assert not module.training and not torch.is_grad_enabled()
        module.train()
        torch.rand(3), np.random.rand(3), random.random()
    assert module.training and module[0].training and not module[1].training
    assert torch.equal(torch.get_rng_state(), before[0])
    np.testing.assert_array_equal(np.random.get_state()[1], before[1])
    assert random.getstate() == before[2]
    with pytest.raises(RuntimeError), undisturbed(module):
        raise RuntimeError("a failing probe")
    assert module.training and not module[1].training
