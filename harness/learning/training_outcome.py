"""What the training protocol measured: the held-out :class:`Curve`, the
:class:`Reference` a relative threshold is a fraction of, and the
:class:`TrainingOutcome` whose :meth:`~TrainingOutcome.convergence` is the run
record's ``convergence`` section (docs/training.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.atomic import finite_or_none


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

    def diverge(self, step: int, phase: str) -> None:
        """A loss went non-finite at ``step`` of ``phase`` (init, pretrain, target)."""
        self.status, self.diverged_step, self.diverged_phase = "diverged", step, phase

    def finish(
        self,
        status: str,
        steps: int,
        train_loss: float | None,
        held: dict[str, Any] | None,
        *,
        batch_size: int,
        epoch: int,
    ) -> None:
        """Target training ended after ``steps`` batches of ``batch_size`` (``epoch``
        segments make one pass): with ``status``, the last mean training loss and
        the last held-out measures (None after a divergence)."""
        self.status = status
        self.steps = steps
        self.examples = steps * batch_size
        self.epochs = self.examples / epoch
        self.final_train_loss = finite_or_none(train_loss)
        self.final_heldout_loss = finite_or_none(held["loss"]) if held else None
        self.final_metric = finite_or_none(held[self.metric]) if held else None

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
