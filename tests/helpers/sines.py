"""A tiny training problem for the fine-tuning options (schedules, parameter
groups, freezing): noisy sinusoid segments and a next-frame LSTM whose
parameters fall into two groups, trained by :func:`harness.learning.training.train`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from torch import nn

from harness.learning.training import Pretraining, TrainingData, TrainingOutcome, train
from harness.spec.config import TargetConfig, TrainingConfig
from harness_plugins.models.lstm_model import LSTMModel

FEATURES, FRAMES = 4, 10


def segments(n: int, seed: int, phase: float = 0.0) -> np.ndarray:
    """Smooth, learnable segments (n, FRAMES, FEATURES): noisy sinusoids per band."""
    rng = np.random.default_rng(seed)
    t = np.arange(FRAMES)[None, :, None]
    freq = rng.uniform(0.3, 0.6, size=(n, 1, FEATURES))
    start = rng.uniform(0, 2 * np.pi, size=(n, 1, FEATURES)) + phase
    x = 0.5 + 0.4 * np.sin(freq * t + start) + 0.02 * rng.standard_normal((n, FRAMES, FEATURES))
    return x.astype(np.float32)


def data(pretrain: bool = False) -> TrainingData:
    """24 training and 8 held-out segments; with ``pretrain``, 20 pretraining ones."""
    return TrainingData(
        train=segments(24, 1),
        heldout=segments(8, 2),
        pretrain=segments(20, 3, phase=1.0) if pretrain else None,
    )


def training(**given: Any) -> TrainingConfig:
    values = {"lr": 1e-2, "batch_size": 8, "segment_frames": FRAMES, "device": "cpu"}
    return TrainingConfig(**{**values, **given})


def target(**given: Any) -> TargetConfig:
    """A budget that always runs to its end (threshold 0, absolute)."""
    values = {"language": "en", "threshold": 0.0, "threshold_mode": "absolute",
              "max_steps": 10, "eval_every": 5}  # fmt: skip
    return TargetConfig(**{**values, **given})


class GroupedLSTM(LSTMModel):
    """The next-frame LSTM with two parameter groups: ``backbone`` (the LSTM) and
    ``head`` (the linear read-out)."""

    GROUPS = ("backbone", "head")

    def __init__(self) -> None:
        super().__init__(hidden_size=8)

    def parameter_groups(self, module: nn.Module) -> Mapping[str, Iterable[nn.Parameter]]:
        return {"backbone": module.lstm.parameters(), "head": module.head.parameters()}


def run(
    model: Any = None,
    *,
    config: TrainingConfig | None = None,
    tgt: TargetConfig | None = None,
    epochs: int = 0,
    seed: int = 0,
    groups: tuple[str, ...] | None = GroupedLSTM.GROUPS,
) -> tuple[nn.Module, TrainingOutcome]:
    """Train ``model`` (default a :class:`GroupedLSTM`) on :func:`data`."""
    return train(
        model or GroupedLSTM(),
        FEATURES,
        data(pretrain=epochs > 0),
        target=tgt or target(),
        training=config or training(),
        pretraining=Pretraining.single(epochs=epochs),
        seed=seed,
        name="grouped",
        groups=groups,
    )
