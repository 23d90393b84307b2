"""The pretraining phase: what a run hears before the target task, and the
loop that trains on it.

:class:`Pretraining` is a condition's plan, built once from it
(:meth:`Pretraining.of`): its stages in order (:class:`PretrainStage`), each
the language its clips come from, the filter they pass through, the budget
(``steps`` optimiser steps when given, else ``epochs`` passes) and the
objective. A condition written with its own language and epochs has one stage;
a curriculum (``[[conditions.stages]]``) has several. :func:`pretrain` runs the
plan in place on each stage's own segments (docs/training.md, step 3).

Across stages the optimiser carries on: one optimiser (its moments) and one
learning-rate schedule spanning every stage's steps, until a stage with
``reset_optimizer`` starts a fresh one whose schedule spans it and the stages
after it up to the next reset. Batches come from one pretraining stream of the
run seed, stage after stage. Pretraining steps, examples and seconds count
every stage. One stage runs exactly as pretraining always has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from harness.data.batches import BatchStream, Segments, epoch_batches
from harness.learning.devices import timed
from harness.learning.objectives import Objective, OwnLoss
from harness.learning.stepper import PRETRAIN_STREAM, Learner, Stepper, first_bad
from harness.learning.training_data import TrainingData
from harness.learning.training_outcome import TrainingOutcome
from harness.spec.config import SELF_SUPERVISED, TASK_OBJECTIVE

if TYPE_CHECKING:
    from harness.plugin.contracts import Model
    from harness.plugin.selection import Selection
    from harness.spec.suite import Condition


@dataclass(frozen=True)
class PretrainStage:
    """One stage of pretraining.

    :ivar language: the language whose pretraining clips it hears.
    :ivar filter: the pretraining filter those clips pass through (None: none).
    :ivar epochs: passes over the stage's segments (when ``steps`` is 0).
    :ivar steps: optimiser steps of the stage; 0: ``epochs`` passes instead.
    :ivar objective: :data:`TASK_OBJECTIVE` (the target task's objective) or
        :data:`SELF_SUPERVISED` (the model's own loss, whatever the task).
    :ivar reset_optimizer: start a fresh optimiser here instead of carrying on.
    """

    language: str | None = None
    filter: Selection | None = None
    epochs: int = 0
    steps: int = 0
    objective: str = TASK_OBJECTIVE
    reset_optimizer: bool = False

    @property
    def self_supervised(self) -> bool:
        """The stage optimises the model's own loss, whatever the target task."""
        return self.objective == SELF_SUPERVISED

    @property
    def budgeted(self) -> bool:
        """Steps or epochs to run (the data says whether there is anything to run them on)."""
        return self.epochs > 0 or self.steps > 0


@dataclass(frozen=True)
class Pretraining:
    """What a run pretrains on, stage by stage; the empty plan pretrains nothing."""

    stages: tuple[PretrainStage, ...] = ()

    @classmethod
    def of(cls, condition: Condition) -> Pretraining:
        """``condition``'s plan (:attr:`harness.spec.suite.Condition.curriculum`);
        empty where it pretrains on nothing."""
        return cls(
            tuple(
                PretrainStage(
                    s.language,
                    s.filter,
                    s.epochs,
                    s.pretrain_steps,
                    s.pretrain_objective,
                    s.reset_optimizer,
                )
                for s in condition.curriculum
            )
        )

    @classmethod
    def single(
        cls,
        language: str | None = None,
        filter: Selection | None = None,
        epochs: int = 0,
        steps: int = 0,
        objective: str = TASK_OBJECTIVE,
    ) -> Pretraining:
        """A plan of one stage."""
        return cls((PretrainStage(language, filter, epochs, steps, objective),))

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the stages hear, each once, in order."""
        return tuple(dict.fromkeys(s.language for s in self.stages if s.language))

    @property
    def budgeted(self) -> bool:
        return any(s.budgeted for s in self.stages)


NO_PRETRAINING = Pretraining()


def pretrain(
    learner: Learner,
    model: Model,
    task: Objective,
    data: TrainingData,
    plan: Pretraining,
    outcome: TrainingOutcome,
    heldout: Segments,
) -> bool:
    """Pretrain ``learner.module`` in place as ``plan`` says, each stage on its
    own segments (:meth:`TrainingData.stage_segments`); False when a loss went
    non-finite (the run diverged). A stage without segments or budget is passed
    over; nothing is frozen.

    ``task`` is the target task's objective; a self-supervised stage optimises
    the model's own loss instead, and where any stage did, the model's own
    measures on the ``heldout`` segments after the last stage are recorded
    (``pretrain_heldout``).
    """
    stages = [
        (i, stage)
        for i, stage in enumerate(plan.stages)
        if stage.budgeted and data.stage_size(i) > 0
    ]
    if not stages:
        return True
    batch_size = learner.training.batch_size
    segments = {i: data.stage_segments(i, heldout.device) for i, _ in stages}
    lengths = [
        stage.steps or stage.epochs * math.ceil(len(segments[i]) / batch_size)
        for i, stage in stages
    ]
    rng = learner.rng(PRETRAIN_STREAM)
    own = OwnLoss(model, learner.name)
    step: Stepper | None = None
    start = timed(heldout.device)
    for k, (i, stage) in enumerate(stages):
        objective = own if stage.self_supervised else task
        if step is None or stage.reset_optimizer:
            step = learner.stepper(objective, _span(stages, lengths, k))
        else:
            step.retarget(objective)
        if stage.steps > 0:
            done = _by_steps(step, segments[i], stage.steps, batch_size, rng, outcome)
        else:
            done = _by_epochs(step, segments[i], stage.epochs, batch_size, rng, outcome)
        if not done:
            outcome.pretrain_seconds = timed(heldout.device) - start
            outcome.diverge(0, "pretrain")
            return False
    outcome.pretrain_seconds = timed(heldout.device) - start
    if any(stage.self_supervised for _, stage in stages):
        measures = own.evaluate(learner.module, Segments(heldout.x))
        outcome.pretrain_heldout = {k: float(v) for k, v in measures.items()}
    return True


def _span(stages: list[tuple[int, PretrainStage]], lengths: list[int], k: int) -> int:
    """The steps an optimiser started at stage ``k`` takes: its own and those of
    the stages after it up to the next reset (its schedule spans them)."""
    end = next((j for j in range(k + 1, len(stages)) if stages[j][1].reset_optimizer), None)
    return sum(lengths[k:end])


def _by_epochs(
    step: Stepper,
    data: Segments,
    epochs: int,
    batch_size: int,
    rng: torch.Generator,
    outcome: TrainingOutcome,
) -> bool:
    """``epochs`` random passes (an epoch's last batch may be smaller)."""
    for _ in range(epochs):
        window = torch.stack([step(batch) for batch in epoch_batches(data, batch_size, rng)])
        bad = first_bad(window)
        if bad >= 0:
            outcome.pretrain_steps += bad + 1
            # every batch but an epoch's last holds batch_size segments
            outcome.pretrain_examples += min((bad + 1) * batch_size, len(data))
            return False
        outcome.pretrain_steps += window.shape[0]
        outcome.pretrain_examples += len(data)
    return True


def _by_steps(
    step: Stepper,
    data: Segments,
    steps: int,
    batch_size: int,
    rng: torch.Generator,
    outcome: TrainingOutcome,
) -> bool:
    """``steps`` batches of ``batch_size``, passes drawn as in target training."""
    stream = BatchStream(data, batch_size, rng)
    window = torch.stack([step(stream.next()) for _ in range(steps)])
    bad = first_bad(window)
    done = steps if bad < 0 else bad + 1
    outcome.pretrain_steps += done
    outcome.pretrain_examples += done * batch_size
    return bad < 0
