"""The one training loop, shared by every model.

Protocol (docs/training.md): seed, build, measure the untrained model's
held-out loss, pretrain for the condition's epochs, then train on the target
language until the held-out loss crosses the threshold or the step budget ends
(censored). A non-finite loss stops the run as diverged; nothing raises.

A relative threshold is a fraction of the model's :class:`Reference`: the
untrained held-out loss averaged over the suite's seeds, so every condition
and seed of a model must reach the same loss value
(:func:`untrained_reference`).

The step loop does no host synchronisation: training losses stay on the
device and are read once per evaluation, where the divergence check happens
too, so a loop over a GPU module runs as fast as a bare PyTorch loop.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from harness.atomic import finite_or_none
from harness.batches import BalancedStream, BatchStream, Segments, epoch_batches, generator
from harness.config import TargetConfig, TrainingConfig
from harness.contracts import Classifier, ContractError, Model, check_loss
from harness.objectives import Classification, Objective, OwnLoss
from harness.param_groups import (
    Groups,
    frozen_params,
    model_groups,
    optimizer_params,
    set_trainable,
)
from harness.schedules import make_schedule

#: random streams of one run (see :func:`harness.batches.generator`)
PRETRAIN_STREAM, TARGET_STREAM = 1, 2
#: a classifier's streaming accuracy is measured after these fractions of a segment
STREAMING_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Labels:
    """Targets of a classify task's segments (see :class:`harness.batches.Segments`)."""

    y: np.ndarray
    frame_y: np.ndarray


@dataclass(frozen=True)
class TrainingData:
    """Segments (n, segment_frames, n_features) of each role, float32.

    A ``classify`` task also gives the targets of the training and held-out
    segments, the class names (index i is class i) and the training loss's
    class weights (None: unweighted).
    """

    train: np.ndarray
    heldout: np.ndarray
    pretrain: np.ndarray | None = None
    train_labels: Labels | None = None
    heldout_labels: Labels | None = None
    pretrain_labels: Labels | None = None
    classes: tuple[str, ...] = ()
    class_weights: tuple[float, ...] | None = None

    @property
    def n_classes(self) -> int | None:
        """Classes of a classify task; None for a model's own objective."""
        return len(self.classes) or None

    def segments(self, role: str, device: torch.device) -> Segments:
        """The segments of ``role`` (train, heldout, pretrain) with their targets, on ``device``.

        A classify task pretrains on the same task: the pretraining clips
        (filtered) with their own labels.
        """
        x = torch.from_numpy(getattr(self, role))
        labels: Labels | None = getattr(self, f"{role}_labels")
        if labels is None:
            return Segments(x.to(device))
        y, frame_y = torch.from_numpy(labels.y), torch.from_numpy(labels.frame_y)
        return Segments(x, y, frame_y).to(device)

    def objective(self, model: Model, name: str) -> Objective:
        """What training optimises: the classes' cross-entropy, or the model's own loss."""
        if self.classes:
            return Classification(model, self.classes, self.class_weights, name)
        return OwnLoss(model, name)


@dataclass
class Curve:
    """Held-out evaluations: columns of equal length.

    ``train_loss`` at step k is the mean training-batch loss since the previous
    evaluation (None at step 0, before any step); ``seconds`` is target-training
    time up to step k, evaluations excluded.
    """

    step: list[int] = field(default_factory=list)
    train_loss: list[float | None] = field(default_factory=list)
    heldout_loss: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    #: a classifier's other held-out measures (``accuracy``, ``balanced_accuracy``)
    heldout: dict[str, list[float | None]] = field(default_factory=dict)
    #: with gradient clipping, the gradient norm before clipping since the previous
    #: evaluation: ``grad_norm`` (mean) and ``grad_norm_max`` (None at step 0)
    gradients: dict[str, list[float | None]] = field(default_factory=dict)

    def add(
        self,
        step: int,
        train: float | None,
        heldout: float,
        seconds: float,
        measures: dict[str, Any] | None = None,
        gradients: dict[str, float | None] | None = None,
    ) -> None:
        self.step.append(step)
        self.train_loss.append(finite_or_none(train))
        self.heldout_loss.append(finite_or_none(heldout))
        self.seconds.append(seconds)
        for name, value in (measures or {}).items():
            if name != "loss":
                self.heldout.setdefault(name, []).append(finite_or_none(value))
        for name, value in (gradients or {}).items():
            self.gradients.setdefault(name, []).append(finite_or_none(value))

    def to_dict(self) -> dict[str, list[Any]]:
        return {
            "step": list(self.step),
            "train_loss": list(self.train_loss),
            "heldout_loss": list(self.heldout_loss),
            "seconds": list(self.seconds),
            **{f"heldout_{name}": list(values) for name, values in self.heldout.items()},
            **{name: list(values) for name, values in self.gradients.items()},
        }


@dataclass(frozen=True)
class Reference:
    """The untrained held-out loss of a model built from each of ``seeds``.

    A relative threshold is a fraction of :attr:`mean`, one value per model
    and suite, so the untrained loss of a run's own seed does not move its
    threshold (docs/training.md).
    """

    seeds: tuple[int, ...]
    losses: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Arithmetic mean of :attr:`losses` (exact summation, order-independent)."""
        return math.fsum(self.losses) / len(self.losses)


@dataclass
class TrainingOutcome:
    """What the protocol measured; :meth:`convergence` is the record's section."""

    status: str  # "reached" | "censored" | "diverged"
    threshold: float
    initial_heldout_loss: float
    steps: int = 0
    examples: int = 0
    epochs: float = 0.0
    pretrain_steps: int = 0
    #: pretraining segments seen (each epoch is one pass over them)
    pretrain_examples: int = 0
    pretrain_seconds: float = 0.0
    train_seconds: float = 0.0
    final_train_loss: float | None = None
    final_heldout_loss: float | None = None
    diverged_step: int | None = None
    #: when diverged: "init" (untrained model), "pretrain" or "target"
    diverged_phase: str | None = None
    device: str = "cpu"
    #: what a relative threshold was a fraction of; None for an absolute one
    reference: Reference | None = None
    curve: Curve = field(default_factory=Curve)
    #: the held-out measure the threshold applies to, and its direction
    metric: str = "loss"
    higher_is_better: bool = False
    #: the metric's value at the end (the loss's is final_heldout_loss)
    final_metric: float | None = None
    #: a classifier's held-out scores at the end (ClassScores.to_dict, with "streaming")
    classification: dict[str, Any] | None = None
    #: after self-supervised pretraining: the model's own measures on the held-out
    #: crops or segments (its loss, and such as wav2vec2's codebook perplexity)
    pretrain_heldout: dict[str, float] | None = None

    @property
    def reached(self) -> bool:
        return self.status == "reached"

    def convergence(self) -> dict[str, Any]:
        return {
            "reached": self.reached,
            "threshold": finite_or_none(self.threshold),
            "initial_heldout_loss": finite_or_none(self.initial_heldout_loss),
            "reference_heldout_loss": (
                finite_or_none(self.reference.mean) if self.reference is not None else None
            ),
            "reference_losses": (
                [finite_or_none(x) for x in self.reference.losses]
                if self.reference is not None
                else None
            ),
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "final_metric": finite_or_none(self.final_metric),
            "steps": self.steps,
            "examples": self.examples,
            "epochs": self.epochs,
            "seconds": self.train_seconds,  # the tables' time measure "seconds"
            "pretrain_steps": self.pretrain_steps,
            "pretrain_examples": self.pretrain_examples,
            "pretrain_seconds": self.pretrain_seconds,
            "train_seconds": self.train_seconds,
            "final_train_loss": finite_or_none(self.final_train_loss),
            "final_heldout_loss": finite_or_none(self.final_heldout_loss),
            "diverged_step": self.diverged_step,
            "diverged_phase": self.diverged_phase,
            **({"pretrain_heldout": self.pretrain_heldout} if self.pretrain_heldout else {}),
        }


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` is cuda when available; asking for cuda without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device = 'cuda' but torch sees no CUDA device")
    return torch.device(name)


def make_optimizer(
    params: Iterable[nn.Parameter] | Iterable[dict[str, Any]], config: TrainingConfig
) -> torch.optim.Optimizer:
    """The optimiser of ``[training]`` (plain SGD has no momentum); ``params`` may be
    torch parameter groups with their own ``lr`` (:func:`harness.param_groups.optimizer_params`)."""
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    return kinds[config.optimizer](params, lr=config.lr, weight_decay=config.weight_decay)


class _Stepper:
    """One optimiser step; shared by pretraining and target training.

    ``steps`` is the phase's length, which its learning-rate schedule spans
    (:mod:`harness.schedules`). ``frozen`` parameters get no gradient until
    ``unfreeze_at`` steps are done (None: throughout). With clipping and
    ``record_norms``, the gradient norms before clipping are kept for
    :meth:`gradient_norms`.
    """

    def __init__(
        self,
        objective: Objective,
        module: nn.Module,
        config: TrainingConfig,
        steps: int,
        name: str,
        groups: Groups | None = None,
        frozen: list[nn.Parameter] | None = None,
        unfreeze_at: int | None = None,
        record_norms: bool = False,
    ) -> None:
        self.objective = objective
        self.module = module
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(optimizer_params(module, groups, config), config)
        self.schedule = make_schedule(self.optimizer, config, steps)
        self.clip = config.grad_clip
        self.name = name
        self.checked = False
        self.frozen = frozen or []
        self.unfreeze_at = unfreeze_at if self.frozen else None
        self.done = 0
        #: gradient norms before clipping since :meth:`gradient_norms` last read them;
        #: None: not recorded (pretraining)
        self.norms: list[torch.Tensor] | None = [] if record_norms else None
        set_trainable(self.frozen, False)

    def gradient_norms(self) -> dict[str, float | None]:
        """Mean and largest gradient norm (before clipping) of the steps since the
        last call (None before any); empty without clipping (the norm is a
        by-product of clipping)."""
        if self.clip is None or self.norms is None:
            return {}
        if not self.norms:
            return {"grad_norm": None, "grad_norm_max": None}
        norms = torch.stack(self.norms)
        self.norms = []
        return {"grad_norm": float(norms.mean()), "grad_norm_max": float(norms.max())}

    def __call__(self, batch: Segments) -> torch.Tensor:
        if self.done == self.unfreeze_at:
            set_trainable(self.frozen, True)
        self.done += 1
        loss = self.objective.loss(self.module, batch)
        if not self.checked:
            check_loss(self.name, loss)
            self.checked = True
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            norm = nn.utils.clip_grad_norm_(self.params, self.clip)
            if self.norms is not None:
                self.norms.append(norm)
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        return loss.detach()


def _first_bad(window: torch.Tensor) -> int:
    """Index of the first non-finite loss in ``window``, or -1."""
    bad = (~torch.isfinite(window)).nonzero()
    return int(bad[0, 0]) if bad.numel() else -1


def _timed(device: torch.device) -> float:
    # CUDA work is asynchronous: wait for it so the clock measures the work
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def build_module(
    model: Model,
    n_features: int,
    segment_frames: int,
    seed: int,
    name: str = "model",
    n_classes: int | None = None,
    initialise: Callable[[nn.Module], object] | None = None,
) -> nn.Module:
    """Seed everything, then build: the same seed gives the same initial weights.
    A classifier (``n_classes``) is built with its number of classes;
    ``initialise`` then loads the starting weights (a checkpoint) into the module."""
    seed_everything(seed)
    if n_classes is None:
        module = model.build(n_features, segment_frames)
    else:
        module = cast(Classifier, model).build(n_features, segment_frames, n_classes=n_classes)
    if not isinstance(module, nn.Module):
        raise ContractError(
            "model", name, f"build() must return a torch.nn.Module, got {type(module).__name__}"
        )
    if initialise is not None:
        initialise(module)
    return module


def untrained_reference(
    model: Model,
    n_features: int,
    heldout: np.ndarray | TrainingData,
    *,
    segment_frames: int,
    seeds: Iterable[int],
    device: str,
    name: str = "model",
    initialise: Callable[[nn.Module], object] | None = None,
) -> Reference:
    """The held-out loss of the untrained model built from each seed (as :func:`train`
    builds it), on ``device`` (a ``[training] device`` value).

    ``heldout`` is the held-out segments of a model's own objective, or the
    run's :class:`TrainingData` (any task: a classifier's loss needs its targets).
    It depends on the model, its seeds and the held-out segments only, not on
    the condition, so every run of a model in a suite gets the same reference.
    ``initialise`` is the model's own starting weights (``[[models]] checkpoint``),
    never a condition's.

    :raises ValueError: when a seed's untrained loss is not finite: the
        reference, and every relative threshold of the model, would be too.
    """
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("a relative threshold needs at least one reference seed")
    data = heldout if isinstance(heldout, TrainingData) else TrainingData(heldout, heldout)
    where = resolve_device(device)
    segments = data.segments("heldout", where)
    if len(segments) == 0:
        raise ValueError("training needs at least one training and one held-out segment")
    losses = []
    for seed in seeds:
        objective = data.objective(model, name)
        module = build_module(
            model, n_features, segment_frames, seed, name, data.n_classes, initialise
        )
        loss = objective.evaluate(module.to(where), segments)["loss"]
        if not math.isfinite(loss):
            raise ValueError(
                f"model plugin {name!r}: the untrained model of seed {seed} has a non-finite "
                f"held-out loss ({loss}); a relative threshold is a fraction of the mean "
                f"untrained loss over the seeds {list(seeds)}, so it would not be finite "
                "either (fix the model's initialisation or use threshold_mode = 'absolute')"
            )
        losses.append(loss)
        del module
    return Reference(seeds, tuple(losses))


def _crossed(value: float, threshold: float, higher_is_better: bool) -> bool:
    return value >= threshold if higher_is_better else value <= threshold


def train(
    model: Model,
    n_features: int,
    data: TrainingData,
    *,
    target: TargetConfig,
    training: TrainingConfig,
    pretrain_epochs: int,
    seed: int,
    name: str = "model",
    reference: Reference | None = None,
    initialise: Callable[[nn.Module], object] | None = None,
    groups: Sequence[str] | None = None,
    pretrain_steps: int = 0,
    pretrain_objective: str = "task",
    input_length: int | None = None,
) -> tuple[nn.Module, TrainingOutcome]:
    """Run the whole protocol; return the trained module and what was measured.

    Pretraining runs ``pretrain_steps`` optimiser steps when given, else
    ``pretrain_epochs`` passes; ``pretrain_objective`` "self_supervised"
    pretrains on the model's own loss (:class:`OwnLoss`) whatever the target
    task, "task" on the target task's objective. ``input_length`` is what the
    module is built for: frames per segment (default ``training.segment_frames``)
    or, for a waveform model, samples per crop.

    ``name`` is the model component's name, used in contract errors; ``groups``
    its declared parameter groups (``Component.groups``), which the model's
    ``parameter_groups`` must return when ``[training]`` names groups.
    ``reference`` is what a relative threshold is a fraction of: the caller
    computes it once per model and suite with :func:`untrained_reference` over
    the suite's seeds; default, this run's seed alone. An absolute threshold
    ignores it. ``initialise`` loads the run's starting weights (a checkpoint)
    into the built module, before its untrained loss and pretraining.
    """
    length = training.segment_frames if input_length is None else input_length
    # before the run's own build: building the reference's modules reseeds everything
    if target.threshold_mode == "absolute":
        reference = None
    elif reference is None:
        reference = untrained_reference(
            model,
            n_features,
            data,
            segment_frames=length,
            seeds=(seed,),
            device=training.device,
            name=name,
            initialise=initialise,
        )
    device = resolve_device(training.device)
    objective = data.objective(model, name)
    module = build_module(model, n_features, length, seed, name, data.n_classes, initialise).to(
        device
    )
    module.train()
    grouped = model_groups(model, module, training, name, groups)
    heldout = data.segments("heldout", device)
    train_set = data.segments("train", device)
    if len(heldout) == 0 or len(train_set) == 0:
        raise ValueError("training needs at least one training and one held-out segment")

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
        outcome.status, outcome.diverged_step, outcome.diverged_phase = "diverged", 0, "init"
        return module, outcome

    pretrains = pretrain_epochs > 0 or pretrain_steps > 0
    if data.pretrain is not None and pretrains and len(data.pretrain):
        pretrain = data.segments("pretrain", device)
        before = OwnLoss(model, name) if pretrain_objective == "self_supervised" else objective
        if pretrain_steps > 0:
            done = _pretrain_steps(
                before, module, pretrain, pretrain_steps, training, seed, outcome, name, grouped
            )
        else:
            done = _pretrain(
                before, module, pretrain, pretrain_epochs, training, seed, outcome, name, grouped
            )
        if not done:
            return module, outcome
        if pretrain_objective == "self_supervised":
            outcome.pretrain_heldout = {
                k: float(v) for k, v in before.evaluate(module, Segments(heldout.x)).items()
            }

    frozen = frozen_params(module, grouped, training, name)
    try:
        _train_target(
            objective, module, train_set, heldout, target, training, seed, outcome, name,
            grouped, frozen,
        )  # fmt: skip
    finally:
        set_trainable(frozen, True)  # the trained module keeps no frozen flags
    if isinstance(objective, Classification) and outcome.status != "diverged":
        outcome.classification = {
            **objective.scores(module, heldout).to_dict(),
            "streaming": objective.streaming(module, heldout, STREAMING_FRACTIONS),
        }
    return module, outcome


def _pretrain(
    objective: Objective,
    module: nn.Module,
    data: Segments,
    epochs: int,
    training: TrainingConfig,
    seed: int,
    outcome: TrainingOutcome,
    name: str,
    groups: Groups | None = None,
) -> bool:
    """Pretrain in place; False when a loss went non-finite (the run diverged).
    The learning-rate schedule spans the pretraining steps (every epoch's batches);
    nothing is frozen."""
    device = data.device
    rng = generator(seed, PRETRAIN_STREAM)
    steps = epochs * math.ceil(len(data) / training.batch_size)
    step = _Stepper(objective, module, training, steps, name, groups)
    start = _timed(device)
    for _ in range(epochs):
        window = torch.stack(
            [step(batch) for batch in epoch_batches(data, training.batch_size, rng)]
        )
        bad = _first_bad(window)
        if bad >= 0:
            outcome.pretrain_steps += bad + 1
            # every batch but an epoch's last holds batch_size segments
            outcome.pretrain_examples += min((bad + 1) * training.batch_size, len(data))
            outcome.pretrain_seconds = _timed(device) - start
            outcome.status, outcome.diverged_step, outcome.diverged_phase = (
                "diverged",
                0,
                "pretrain",
            )
            return False
        outcome.pretrain_steps += window.shape[0]
        outcome.pretrain_examples += len(data)
    outcome.pretrain_seconds = _timed(device) - start
    return True


def _pretrain_steps(
    objective: Objective,
    module: nn.Module,
    data: Segments,
    steps: int,
    training: TrainingConfig,
    seed: int,
    outcome: TrainingOutcome,
    name: str,
    groups: Groups | None = None,
) -> bool:
    """Pretrain in place for ``steps`` batches of ``batch_size`` (passes drawn as
    in target training); False when a loss went non-finite (the run diverged).
    The learning-rate schedule spans the ``steps``; nothing is frozen."""
    device = data.device
    stream = BatchStream(data, training.batch_size, generator(seed, PRETRAIN_STREAM))
    step = _Stepper(objective, module, training, steps, name, groups)
    start = _timed(device)
    window = torch.stack([step(stream.next()) for _ in range(steps)])
    bad = _first_bad(window)
    done = steps if bad < 0 else bad + 1
    outcome.pretrain_steps += done
    outcome.pretrain_examples += done * training.batch_size
    outcome.pretrain_seconds = _timed(device) - start
    if bad >= 0:
        outcome.status, outcome.diverged_step, outcome.diverged_phase = "diverged", 0, "pretrain"
        return False
    return True


def _eval_points(max_steps: int, every: int) -> Iterator[int]:
    yield from range(every, max_steps, every)
    yield max_steps


def _train_target(
    objective: Objective,
    module: nn.Module,
    train_set: Segments,
    heldout: Segments,
    target: TargetConfig,
    training: TrainingConfig,
    seed: int,
    outcome: TrainingOutcome,
    name: str,
    groups: Groups | None = None,
    frozen: list[nn.Parameter] | None = None,
) -> None:
    """Train on the target until the threshold or the budget; the schedule spans
    ``max_steps`` and the ``frozen`` parameters sit out (``freeze_steps``)."""
    rng = generator(seed, TARGET_STREAM)
    stream: BatchStream[Segments] | BalancedStream = (
        BalancedStream(train_set, training.batch_size, rng)
        if target.sampler == "balanced"
        else BatchStream(train_set, training.batch_size, rng)
    )
    step = _Stepper(
        objective,
        module,
        training,
        target.max_steps,
        name,
        groups,
        frozen,
        training.freeze_steps,
        record_norms=True,
    )
    device = train_set.device
    threshold = outcome.threshold
    curve = outcome.curve
    metric, higher = target.metric, target.higher_is_better

    def finish(
        status: str, steps: int, train_loss: float | None, held: dict[str, Any] | None
    ) -> None:
        outcome.status = status
        outcome.steps = steps
        outcome.examples = steps * training.batch_size
        outcome.epochs = outcome.examples / len(stream)
        outcome.final_train_loss = finite_or_none(train_loss)
        outcome.final_heldout_loss = finite_or_none(held["loss"]) if held else None
        outcome.final_metric = finite_or_none(held[metric]) if held else None

    held = objective.evaluate(module, heldout)
    curve.add(0, None, held["loss"], 0.0, held, step.gradient_norms())
    if not math.isfinite(held["loss"]):
        outcome.diverged_step, outcome.diverged_phase = 0, "target"
        return finish("diverged", 0, None, None)
    if _crossed(held[metric], threshold, higher):
        return finish("reached", 0, None, held)

    done = 0
    train_loss: float | None = None
    for point in _eval_points(target.max_steps, target.eval_every):
        start = _timed(device)
        window = torch.stack([step(stream.next()) for _ in range(point - done)])
        # reading the losses waits for the device, so the clock below is honest
        bad = _first_bad(window)
        train_loss = float(window.mean()) if bad < 0 else None
        outcome.train_seconds += time.perf_counter() - start
        if bad >= 0:
            outcome.diverged_step, outcome.diverged_phase = done + bad + 1, "target"
            return finish("diverged", done + bad + 1, None, None)
        done = point
        held = objective.evaluate(module, heldout)
        curve.add(
            done, train_loss, held["loss"], outcome.train_seconds, held, step.gradient_norms()
        )
        if not math.isfinite(held["loss"]):
            outcome.diverged_step, outcome.diverged_phase = done, "target"
            return finish("diverged", done, train_loss, {"loss": None, metric: None})
        if _crossed(held[metric], threshold, higher):
            return finish("reached", done, train_loss, held)
    finish("censored", done, train_loss, held)
