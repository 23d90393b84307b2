"""The one training loop, shared by every model.

Protocol (docs/training.md): seed, build, measure the untrained model's
held-out loss, pretrain as the condition's :class:`Pretraining` says, then
train on the target language until the held-out loss crosses the threshold or
the step budget ends (censored). A non-finite loss stops the run as diverged;
nothing raises.

A relative threshold is a fraction of the model's :class:`Reference`: the
untrained held-out loss averaged over the suite's seeds, so every condition
and seed of a model must reach the same loss value
(:func:`untrained_reference`).

The step loop does no host synchronisation: training losses stay on the
device and are read once per evaluation, where the divergence check happens
too, so a loop over a GPU module runs as fast as a bare PyTorch loop.

Probing along training (``[probing] probe_at``): the caller's ``on_probe``
hears ``(step, module)`` at each of those target-training steps the run
reaches without a non-finite loss (0: as target training starts; never after
the run stopped), each inside :func:`undisturbed`, so the training numbers are
those of the same run without it (its time is not training time either).

The loop's pieces live in their own modules and are importable from here too:
the data (:mod:`harness.learning.training_data`), the records
(:mod:`harness.learning.training_outcome`), the step (:mod:`harness.learning.stepper`), the
untrained model (:mod:`harness.learning.untrained`), pretraining
(:mod:`harness.learning.pretraining`) and the device (:mod:`harness.learning.devices`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.data.batches import BalancedStream, BatchStream, Segments
from harness.learning.devices import resolve_device, timed
from harness.learning.objectives import Classification, Objective
from harness.learning.param_groups import frozen_params, model_groups, set_trainable
from harness.learning.pretraining import NO_PRETRAINING, Pretraining, pretrain
from harness.learning.schedules import make_schedule
from harness.learning.stepper import (
    PRETRAIN_STREAM,
    TARGET_STREAM,
    Learner,
    first_bad,
    make_optimizer,
)
from harness.learning.training_data import Labels, TrainingData
from harness.learning.training_outcome import Curve, Reference, TrainingOutcome
from harness.learning.untrained import build_module, seed_everything, untrained_reference
from harness.plugin.contracts import Model
from harness.spec.config import TargetConfig, TrainingConfig

__all__ = [
    "NO_PRETRAINING",
    "PRETRAIN_STREAM",
    "STREAMING_FRACTIONS",
    "TARGET_STREAM",
    "Curve",
    "Labels",
    "Pretraining",
    "Reference",
    "TrainingData",
    "TrainingOutcome",
    "build_module",
    "make_optimizer",
    "make_schedule",
    "resolve_device",
    "seed_everything",
    "train",
    "undisturbed",
    "untrained_reference",
]

#: what hears the module at each step of ``probe_at``: ``(step, module)``
OnProbe = Callable[[int, nn.Module], object]

#: a classifier's streaming accuracy is measured after these fractions of a segment
STREAMING_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def train(
    model: Model,
    n_features: int,
    data: TrainingData,
    *,
    target: TargetConfig,
    training: TrainingConfig,
    seed: int,
    pretraining: Pretraining = NO_PRETRAINING,
    name: str = "model",
    reference: Reference | None = None,
    initialise: Callable[[nn.Module], object] | None = None,
    groups: Sequence[str] | None = None,
    input_length: int | None = None,
    probe_at: Sequence[int] = (),
    on_probe: OnProbe | None = None,
) -> tuple[nn.Module, TrainingOutcome]:
    """Run the whole protocol; return the trained module and what was measured.

    ``pretraining`` is the condition's plan (:meth:`Pretraining.of`; default
    none). ``input_length`` is what the module is built for: frames per segment
    (default ``training.segment_frames``) or a waveform model's samples per crop.
    ``name`` is the model component's name (in contract errors), ``groups`` its
    declared parameter groups (``Component.groups``). ``reference`` is what a
    relative threshold is a fraction of: the caller computes it once per model
    and suite (:func:`untrained_reference` over the suite's seeds); default this
    run's seed alone; an absolute threshold ignores it. ``initialise`` loads the
    run's starting weights (a checkpoint) into the built module, before its
    untrained loss and pretraining. ``on_probe``: see the module's docstring.
    """
    length = training.segment_frames if input_length is None else input_length
    # before the run's own build: building the reference's modules reseeds everything
    if target.threshold_mode == "absolute":
        reference = None
    elif reference is None:
        reference = _own_reference(
            model, n_features, data, seed, training, name, initialise, length
        )
    device = resolve_device(training.device)
    objective = data.objective(model, name)
    module = build_module(model, n_features, length, seed, name, data.n_classes, initialise)
    module.to(device).train()
    grouped = model_groups(model, module, training, name, groups)
    learner = Learner(module, training, seed, name, grouped)
    heldout, train_set = data.segments("heldout", device), data.segments("train", device)
    if len(heldout) == 0 or len(train_set) == 0:
        raise ValueError("training needs at least one training and one held-out segment")
    outcome = _untrained(objective, module, heldout, target, reference, device)
    if outcome.status == "diverged" or not pretrain(
        learner, model, objective, data, pretraining, outcome, heldout
    ):
        return module, outcome
    frozen = frozen_params(module, grouped, training, name)
    probing = _Probing(probe_at, on_probe, module)
    _TargetTraining(learner, objective, train_set, heldout, target, outcome, frozen, probing).run()
    if isinstance(objective, Classification) and outcome.status != "diverged":
        outcome.classification = _final_scores(objective, module, heldout)
    return module, outcome


def _final_scores(
    objective: Classification, module: nn.Module, heldout: Segments
) -> dict[str, Any]:
    """A classifier's held-out scores at the end, with its streaming accuracy."""
    return {
        **objective.scores(module, heldout).to_dict(),
        "streaming": objective.streaming(module, heldout, STREAMING_FRACTIONS),
    }


def _own_reference(
    model: Model,
    n_features: int,
    data: TrainingData,
    seed: int,
    training: TrainingConfig,
    name: str,
    initialise: Callable[[nn.Module], object] | None,
    length: int,
) -> Reference:
    """A relative threshold's reference when the caller gives none: this run's seed alone."""
    return untrained_reference(
        model,
        n_features,
        data,
        segment_frames=length,
        seeds=(seed,),
        device=training.device,
        name=name,
        initialise=initialise,
    )


def _untrained(
    objective: Objective,
    module: nn.Module,
    heldout: Segments,
    target: TargetConfig,
    reference: Reference | None,
    device: torch.device,
) -> TrainingOutcome:
    """The outcome as it starts: the threshold, the untrained held-out loss, and
    diverged at "init" when that loss is not finite."""
    initial = objective.evaluate(module, heldout)
    threshold = target.threshold if reference is None else target.threshold * reference.mean
    outcome = TrainingOutcome(
        "censored",
        threshold,
        initial["loss"],
        device=str(device),
        reference=reference,
        metric=target.metric,
        higher_is_better=target.higher_is_better,
    )
    if not math.isfinite(initial["loss"]):
        outcome.diverge(0, "init")
    return outcome


def _crossed(value: float, threshold: float, higher_is_better: bool) -> bool:
    return value >= threshold if higher_is_better else value <= threshold


def _eval_points(max_steps: int, every: int) -> Iterator[int]:
    yield from range(every, max_steps, every)
    yield max_steps


@contextmanager
def undisturbed(module: nn.Module) -> Iterator[None]:
    """Run the block with ``module`` in eval mode and no autograd, then put back
    every submodule's mode and the torch (CPU and CUDA), numpy and ``random``
    global random states, so what the block draws or switches leaves training
    as it would have gone without it."""
    modes = [(m, m.training) for m in module.modules()]
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


class _Probing:
    """The steps of ``probe_at`` and who hears the module there; the seconds it
    took, which target training's clock leaves out."""

    def __init__(self, steps: Sequence[int], on_probe: OnProbe | None, module: nn.Module) -> None:
        self.steps = sorted(set(steps)) if on_probe is not None else []
        self.on_probe, self.module = on_probe, module
        self.seconds = 0.0

    def within(self, done: int, point: int) -> list[int]:
        """The steps strictly between ``done`` and ``point``, in order."""
        return [s for s in self.steps if done < s < point]

    def at(self, step: int) -> None:
        """Hear the module at ``step`` when it is a probing step."""
        if self.on_probe is None or step not in self.steps:
            return
        start = time.perf_counter()
        with undisturbed(self.module):
            self.on_probe(step, self.module)
        self.seconds += time.perf_counter() - start


class _TargetTraining:
    """Training on the target until the threshold or the budget; the schedule
    spans ``max_steps`` and the ``frozen`` parameters sit out ``freeze_steps``.
    Each evaluation adds a point to the outcome's curve; ``probing`` hears the
    module at its steps (after the evaluation of the same step)."""

    def __init__(
        self,
        learner: Learner,
        objective: Objective,
        train_set: Segments,
        heldout: Segments,
        target: TargetConfig,
        outcome: TrainingOutcome,
        frozen: list[nn.Parameter],
        probing: _Probing,
    ) -> None:
        self.learner, self.objective, self.heldout = learner, objective, heldout
        self.target, self.outcome, self.probing = target, outcome, probing
        batch_size = learner.training.batch_size
        rng = learner.rng(TARGET_STREAM)
        self.stream: BatchStream[Segments] | BalancedStream = (
            BalancedStream(train_set, batch_size, rng)
            if target.sampler == "balanced"
            else BatchStream(train_set, batch_size, rng)
        )
        self.frozen = frozen
        self.step = learner.stepper(objective, target.max_steps, frozen, record_norms=True)
        self.device = train_set.device
        self.held: dict[str, Any] | None = None

    def run(self) -> None:
        try:
            self._run()
        finally:
            set_trainable(self.frozen, True)  # the trained module keeps no frozen flags

    def _run(self) -> None:
        done, train_loss = 0, None
        if self._evaluate(done, train_loss):
            return
        for point in _eval_points(self.target.max_steps, self.target.eval_every):
            start, probed = timed(self.device), self.probing.seconds
            window = self._window(done, point)
            # reading the losses waits for the device, so the clock below is honest
            bad = first_bad(window)
            train_loss = float(window.mean()) if bad < 0 else None
            probing = self.probing.seconds - probed
            self.outcome.train_seconds += time.perf_counter() - start - probing
            if bad >= 0:
                self.outcome.diverge(done + bad + 1, "target")
                return self._finish("diverged", done + bad + 1, None, None)
            done = point
            if self._evaluate(done, train_loss):
                return
        self._finish("censored", done, train_loss, self.held)

    def _window(self, done: int, point: int) -> torch.Tensor:
        """The training losses of the steps from ``done`` to ``point``, the module
        heard at the probing steps in between while no loss so far is non-finite."""
        parts: list[torch.Tensor] = []
        for stop in [*self.probing.within(done, point), point]:
            parts.append(torch.stack([self.step(self.stream.next()) for _ in range(stop - done)]))
            done = stop
            if stop < point and first_bad(torch.cat(parts)) < 0:
                self.probing.at(stop)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _evaluate(self, done: int, train_loss: float | None) -> bool:
        """Score the held-out segments after ``done`` steps, then probe there unless
        the run diverged; True when training ends here."""
        ends = self._score(done, train_loss)
        if self.outcome.status != "diverged":
            self.probing.at(done)
        return ends

    def _score(self, done: int, train_loss: float | None) -> bool:
        """Score the held-out segments after ``done`` steps; True when training ends here."""
        held = self.objective.evaluate(self.learner.module, self.heldout)
        norms = self.step.gradient_norms()
        self.outcome.curve.add(
            done, train_loss, held["loss"], self.outcome.train_seconds, held, norms
        )
        if not math.isfinite(held["loss"]):
            self.outcome.diverge(done, "target")
            self._finish("diverged", done, train_loss, None)
            return True
        if _crossed(held[self.target.metric], self.outcome.threshold, self.target.higher_is_better):
            self._finish("reached", done, train_loss, held)
            return True
        self.held = held
        return False

    def _finish(
        self, status: str, steps: int, train_loss: float | None, held: dict[str, Any] | None
    ) -> None:
        batch_size = self.learner.training.batch_size
        self.outcome.finish(
            status, steps, train_loss, held, batch_size=batch_size, epoch=len(self.stream)
        )
