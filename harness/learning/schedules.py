"""The learning-rate schedule of one training phase: warm-up, hold, decay.

``[training]`` declares it (docs/suites.md); :class:`Schedule` is the factor
every parameter group's rate is multiplied by before each optimiser step,
given to :class:`torch.optim.lr_scheduler.LambdaLR`. With ``n`` steps in the
phase and ``k`` steps already taken (``k = 0`` before the first):

* warm-up over ``W`` steps (``warmup_steps``, or ``warmup_fraction * n``):
  ``min(1, (k + 1) / W)``, so the first step takes ``1 / W`` of the rate and
  step ``W`` the whole of it;
* decay (``linear`` or ``cosine``) from ``D = decay_start * n`` on, with
  ``p = (k - D) / (n - D)``: linear ``1 - (1 - f) p``, cosine
  ``f + (1 - f) (1 + cos(pi p)) / 2``, where ``f`` is ``final_lr_fraction``;
  before ``D`` the factor is 1 (tri-stage: warm up, hold, decay);
* the two multiply, so a warm-up that overlaps the decay stays well defined.

Without warm-up and with decay_start = 0, cosine is the classic cosine
annealing to ``f * lr`` over the phase (:class:`torch.optim.lr_scheduler.CosineAnnealingLR`
with ``T_max = n``). A constant schedule without warm-up has no scheduler at
all (:func:`make_schedule` returns None), so the loop does not call one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harness.spec.config import SCHEDULES, TrainingConfig


@dataclass(frozen=True)
class Schedule:
    """The rate factor at each step of a phase of ``steps`` optimiser steps.

    :param steps: the phase's steps (its budget; a run may stop before).
    :param decay: one of :data:`harness.spec.config.SCHEDULES`.
    :param warmup: warm-up length in steps (need not be whole); 0 for none.
    :param decay_start: fraction of ``steps`` before the decay begins.
    :param final: the factor the decay ends at.
    """

    steps: int
    decay: str = "constant"
    warmup: float = 0.0
    decay_start: float = 0.0
    final: float = 0.0

    def __post_init__(self) -> None:
        if self.decay not in SCHEDULES:
            raise ValueError(
                f"schedule: expected one of {', '.join(SCHEDULES)}, got {self.decay!r}"
            )
        if self.steps < 1:
            raise ValueError(f"a schedule needs at least one step, got {self.steps}")
        if self.decay != "constant" and not 0 <= self.decay_start < 1:
            raise ValueError(f"decay_start: expected in [0, 1), got {self.decay_start}")

    @classmethod
    def of(cls, config: TrainingConfig, steps: int) -> Schedule:
        """The schedule ``[training]`` gives a phase of ``steps`` steps."""
        warmup = float(config.warmup_steps) or config.warmup_fraction * steps
        return cls(steps, config.schedule, warmup, config.decay_start, config.final_lr_fraction)

    @property
    def constant(self) -> bool:
        """Whether the factor is 1 at every step (no scheduler needed)."""
        return self.decay == "constant" and self.warmup == 0

    def __call__(self, done: int) -> float:
        """The factor of the step taken after ``done`` steps of the phase."""
        factor = min(1.0, (done + 1) / self.warmup) if self.warmup > 0 else 1.0
        start = self.decay_start * self.steps
        if self.decay == "constant" or done < start:
            return factor
        progress = min(1.0, (done - start) / (self.steps - start))
        if self.decay == "linear":
            return factor * (1.0 - (1.0 - self.final) * progress)
        return factor * (self.final + (1.0 - self.final) * (1.0 + math.cos(math.pi * progress)) / 2)


def make_schedule(
    optimizer: torch.optim.Optimizer, config: TrainingConfig, steps: int
) -> torch.optim.lr_scheduler.LambdaLR | None:
    """The scheduler of a phase of ``steps`` steps; None when the rate is constant,
    so the loop skips the scheduler call altogether (and today's numbers stay)."""
    schedule = Schedule.of(config, steps)
    if schedule.constant:
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
