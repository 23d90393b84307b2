"""The pretraining phase: what a run hears before the target task, and the
loop that trains on it.

:class:`Pretraining` is a condition's plan, built once from it
(:meth:`Pretraining.of`): the language its clips come from, the filter they
pass through, the budget (``steps`` optimiser steps when given, else
``epochs`` passes) and the objective. It is one stage; a curriculum would be a
sequence of such stages. :func:`pretrain` runs the plan in place on the run's
pretraining segments (docs/training.md, step 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from harness.data.batches import BatchStream, Segments, epoch_batches
from harness.learning.devices import timed
from harness.learning.objectives import Objective, OwnLoss
from harness.learning.stepper import PRETRAIN_STREAM, Learner, first_bad
from harness.learning.training_data import TrainingData
from harness.learning.training_outcome import TrainingOutcome
from harness.spec.config import SELF_SUPERVISED, TASK_OBJECTIVE

if TYPE_CHECKING:
    from harness.plugin.contracts import Model
    from harness.plugin.selection import Selection
    from harness.spec.suite import Condition

#: pretraining objectives: the target task's, or the model's own loss


@dataclass(frozen=True)
class Pretraining:
    """What a run pretrains on and for how long; the empty plan pretrains nothing.

    :ivar language: the language whose pretraining clips it hears.
    :ivar filter: the pretraining filter those clips pass through (None: none).
    :ivar epochs: passes over the pretraining segments (when ``steps`` is 0).
    :ivar steps: optimiser steps of pretraining; 0: ``epochs`` passes instead.
    :ivar objective: :data:`TASK_OBJECTIVE` (the target task's objective) or
        :data:`SELF_SUPERVISED` (the model's own loss, whatever the task).
    """

    language: str | None = None
    filter: Selection | None = None
    epochs: int = 0
    steps: int = 0
    objective: str = TASK_OBJECTIVE

    @classmethod
    def of(cls, condition: Condition) -> Pretraining:
        """``condition``'s plan; empty where it pretrains on nothing
        (:attr:`harness.spec.suite.Condition.pretrains`)."""
        if not condition.pretrains:
            return NO_PRETRAINING
        return cls(
            language=condition.language,
            filter=condition.filter,
            epochs=condition.epochs,
            steps=condition.pretrain_steps,
            objective=condition.pretrain_objective,
        )

    @property
    def self_supervised(self) -> bool:
        """Pretraining optimises the model's own loss, whatever the target task."""
        return self.objective == SELF_SUPERVISED

    @property
    def budgeted(self) -> bool:
        """Steps or epochs to run (the data says whether there is anything to run them on)."""
        return self.epochs > 0 or self.steps > 0


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
    """Pretrain ``learner.module`` in place on ``data.pretrain`` as ``plan`` says;
    False when a loss went non-finite (the run diverged). Nothing happens
    without pretraining segments or a budget.

    ``task`` is the target task's objective; a self-supervised plan optimises
    the model's own loss instead and then records its measures on the
    ``heldout`` segments (``pretrain_heldout``). The learning-rate schedule
    spans the pretraining steps; nothing is frozen.
    """
    if data.pretrain is None or not plan.budgeted or not len(data.pretrain):
        return True
    segments = data.segments("pretrain", heldout.device)
    objective = OwnLoss(model, learner.name) if plan.self_supervised else task
    if plan.steps > 0:
        done = _by_steps(learner, objective, segments, plan.steps, outcome)
    else:
        done = _by_epochs(learner, objective, segments, plan.epochs, outcome)
    if done and plan.self_supervised:
        measures = objective.evaluate(learner.module, Segments(heldout.x))
        outcome.pretrain_heldout = {k: float(v) for k, v in measures.items()}
    return done


def _by_epochs(
    learner: Learner, objective: Objective, data: Segments, epochs: int, outcome: TrainingOutcome
) -> bool:
    """``epochs`` random passes (an epoch's last batch may be smaller)."""
    batch_size = learner.training.batch_size
    rng = learner.rng(PRETRAIN_STREAM)
    step = learner.stepper(objective, epochs * math.ceil(len(data) / batch_size))
    start = timed(data.device)
    for _ in range(epochs):
        window = torch.stack([step(batch) for batch in epoch_batches(data, batch_size, rng)])
        bad = first_bad(window)
        if bad >= 0:
            outcome.pretrain_steps += bad + 1
            # every batch but an epoch's last holds batch_size segments
            outcome.pretrain_examples += min((bad + 1) * batch_size, len(data))
            outcome.pretrain_seconds = timed(data.device) - start
            outcome.diverge(0, "pretrain")
            return False
        outcome.pretrain_steps += window.shape[0]
        outcome.pretrain_examples += len(data)
    outcome.pretrain_seconds = timed(data.device) - start
    return True


def _by_steps(
    learner: Learner, objective: Objective, data: Segments, steps: int, outcome: TrainingOutcome
) -> bool:
    """``steps`` batches of ``batch_size``, passes drawn as in target training."""
    batch_size = learner.training.batch_size
    stream = BatchStream(data, batch_size, learner.rng(PRETRAIN_STREAM))
    step = learner.stepper(objective, steps)
    start = timed(data.device)
    window = torch.stack([step(stream.next()) for _ in range(steps)])
    bad = first_bad(window)
    done = steps if bad < 0 else bad + 1
    outcome.pretrain_steps += done
    outcome.pretrain_examples += done * batch_size
    outcome.pretrain_seconds = timed(data.device) - start
    if bad >= 0:
        outcome.diverge(0, "pretrain")
        return False
    return True
