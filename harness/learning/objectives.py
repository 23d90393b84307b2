"""What a run optimises and how the held-out segments are scored.

Two objectives share the one training loop (:mod:`harness.learning.training`):

* :class:`OwnLoss`: the model's own ``loss(module, batch)`` (next-frame
  prediction, reconstruction): the held-out measure is that loss.
* :class:`Classification`: the ``classify`` task. The model returns logits,
  per segment ``(batch, classes)`` or per frame ``(batch, frames, classes)``;
  the core computes the cross-entropy (with class weights, and with masked
  frames ignored) and scores the held-out segments: loss, accuracy, balanced
  accuracy and the confusion matrix.

A per-frame model decides a segment by the mean log-probability over its
frames that count (not masked, not padding, not labelled silence), with the
silence class left out of the decision; its per-frame accuracy is kept too.
A held-out segment that is silence throughout is not scored.

The held-out loss of a classifier is the unweighted mean cross-entropy, so
conditions that differ in class weights are measured alike; the weights act
on training only. Every evaluation runs on the device and reads the host
once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch.nn import functional as F

from harness.data.batches import IGNORE, Segments, chunks
from harness.plugin.contracts import ContractError, Model, check_loss

#: segments per forward pass when scoring held-out segments
EVAL_BATCH = 256
#: the class of silent frames with ``[features] silence = "label"``
SILENCE = "silence"


class Objective(Protocol):
    """The loss a run trains on and what its held-out evaluation reports."""

    def loss(self, module: torch.nn.Module, batch: Segments) -> torch.Tensor:
        """Scalar training loss of ``batch``."""
        ...

    def evaluate(self, module: torch.nn.Module, data: Segments) -> dict[str, Any]:
        """Held-out measures of ``data``: ``loss`` always, numbers first."""
        ...


class OwnLoss:
    """The model's own objective: ``model.loss(module, x)``."""

    def __init__(self, model: Model, name: str) -> None:
        self.model = model
        self.name = name

    def loss(self, module: torch.nn.Module, batch: Segments) -> torch.Tensor:
        return self.model.loss(module, batch.x)

    def evaluate(self, module: torch.nn.Module, data: Segments) -> dict[str, Any]:
        """Mean loss over the segments (weighted by chunk size); one host sync.

        A model that also defines ``measures(module, batch) -> {name: scalar
        tensor}`` (its ``"loss"`` and other held-out numbers, such as a
        quantizer's codebook perplexity) is scored by it instead, in one
        forward pass; every measure is averaged the same way and lands in the
        curve as ``heldout_<name>``.
        """
        measures = getattr(self.model, "measures", None)
        module.eval()
        with torch.no_grad():
            totals: dict[str, torch.Tensor] = {}
            for chunk in chunks(data, EVAL_BATCH):
                if measures is None:
                    values = {"loss": self.model.loss(module, chunk.x)}
                else:
                    values = dict(measures(module, chunk.x))
                check_loss(self.name, values.get("loss"))
                for key, value in values.items():
                    value = check_loss(self.name, value).detach().float() * len(chunk)
                    totals[key] = totals[key] + value if key in totals else value
        module.train()
        names = list(totals)
        numbers = torch.stack([totals[k] for k in names]).tolist()
        return {k: v / len(data) for k, v in zip(names, numbers, strict=True)}


@dataclass(frozen=True)
class ClassScores:
    """A classifier's held-out evaluation, as the run record keeps it."""

    classes: tuple[str, ...]
    loss: float
    confusion: list[list[int]]
    frame_accuracy: float | None = None

    @property
    def recall(self) -> dict[str, float | None]:
        """Per true class, the fraction decided right (None: no held-out segment)."""
        out: dict[str, float | None] = {}
        for name, row in zip(self.classes, self.confusion, strict=True):
            total = sum(row)
            out[name] = row[self.classes.index(name)] / total if total else None
        return out

    @property
    def accuracy(self) -> float:
        total = sum(map(sum, self.confusion))
        right = sum(self.confusion[i][i] for i in range(len(self.classes)))
        return right / total if total else float("nan")

    @property
    def balanced_accuracy(self) -> float:
        """Mean recall over the classes present in the held-out segments (as scikit-learn)."""
        present = [r for r in self.recall.values() if r is not None]
        return sum(present) / len(present) if present else float("nan")

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "balanced_accuracy": self.balanced_accuracy,
        }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.metrics(),
            "classes": list(self.classes),
            "recall": self.recall,
            "confusion": self.confusion,
            "frame_accuracy": self.frame_accuracy,
        }


class Classification:
    """The ``classify`` task: cross-entropy of the model's logits.

    :param classes: class names; index i is class i. With silence labelled,
        :data:`SILENCE` is the last and never a segment's decision.
    :param weights: per-class weights of the training loss, or None.
    """

    def __init__(
        self,
        model: Model,
        classes: Sequence[str],
        weights: Sequence[float] | None,
        name: str,
    ) -> None:
        self.model = model
        self.classes = tuple(classes)
        self.name = name
        self.weights = None if weights is None else torch.tensor(weights, dtype=torch.float32)
        #: classes a segment may be decided as (silence never is)
        self.decidable = len(self.classes) - (1 if self.classes[-1:] == (SILENCE,) else 0)
        self.checked = False

    def logits(self, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        logits = getattr(self.model, "logits", None)
        if logits is None:
            raise ContractError("model", self.name, "task 'classify' needs logits(module, x)")
        out = logits(module, x)
        if not self.checked:
            self._check(out, x)
            self.checked = True
        return out

    def _check(self, out: Any, x: torch.Tensor) -> None:
        n = len(self.classes)
        clip = (x.shape[0], n)
        frames = (x.shape[0], x.shape[1], n)
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        if not isinstance(out, torch.Tensor) or shape not in (clip, frames):
            raise ContractError(
                "model",
                self.name,
                f"logits() must return (batch, classes) = {clip} or (batch, frames, classes) "
                f"= {frames} for a batch of shape {tuple(x.shape)}, got {shape}",
            )

    def _weights(self, device: torch.device) -> torch.Tensor | None:
        if self.weights is not None and self.weights.device != device:
            self.weights = self.weights.to(device)
        return self.weights

    def loss(self, module: torch.nn.Module, batch: Segments) -> torch.Tensor:
        return self._loss(self.logits(module, batch.x), batch, self._weights(batch.x.device))

    def _loss(
        self, logits: torch.Tensor, batch: Segments, weights: torch.Tensor | None
    ) -> torch.Tensor:
        assert batch.y is not None and batch.frame_y is not None
        if logits.dim() == 2:
            return F.cross_entropy(logits, batch.y, weight=weights)
        flat = logits.reshape(-1, logits.shape[-1])
        return F.cross_entropy(flat, batch.frame_y.reshape(-1), weight=weights, ignore_index=IGNORE)

    def decide(self, logits: torch.Tensor, frame_y: torch.Tensor | None) -> torch.Tensor:
        """Class index decided for each segment (silence excluded)."""
        scores = logits[..., : self.decidable]
        if logits.dim() == 2:
            return scores.argmax(-1)
        log_p = torch.log_softmax(logits, -1)[..., : self.decidable]
        counts = torch.ones(logits.shape[:2], device=logits.device)
        if frame_y is not None:
            speech = (frame_y != IGNORE) & (frame_y < self.decidable)
            # a segment with no frame that counts is decided on all its frames
            counts = torch.where(speech.any(1, keepdim=True), speech.float(), counts)
        return (log_p * counts.unsqueeze(-1)).sum(1).argmax(-1)

    def counted(self, frame_y: torch.Tensor) -> torch.Tensor:
        """Which segments are scored: those with at least one frame that counts.

        A segment that is silence from end to end (masked or labelled silence)
        holds nothing of its clip's class, so it is left out of the held-out
        decisions; without silence handling every segment has real frames.
        """
        return ((frame_y != IGNORE) & (frame_y < self.decidable)).any(1)

    def scores(self, module: torch.nn.Module, data: Segments) -> ClassScores:
        """Loss, decisions and confusion matrix of ``data``; one host sync."""
        assert data.y is not None and data.frame_y is not None
        n = len(self.classes)
        device = data.x.device
        module.eval()
        with torch.no_grad():
            loss_sum = torch.zeros((), device=device)
            loss_count = torch.zeros((), device=device)
            confusion = torch.zeros(n * n, dtype=torch.long, device=device)
            frames_right = torch.zeros((), device=device)
            frames_total = torch.zeros((), device=device)
            per_frame = False
            for chunk in chunks(data, EVAL_BATCH):
                assert chunk.y is not None and chunk.frame_y is not None
                logits = self.logits(module, chunk.x)
                if logits.dim() == 3:
                    per_frame = True
                    valid = chunk.frame_y != IGNORE
                    count = valid.sum()
                    right = (logits.argmax(-1) == chunk.frame_y) & valid
                    frames_right = frames_right + right.sum()
                    frames_total = frames_total + count
                else:
                    count = torch.tensor(len(chunk), device=device)
                loss = self._loss(logits.float(), chunk, None)
                # cross_entropy averaged over an empty selection is NaN: weigh by the count
                loss_sum = loss_sum + torch.nan_to_num(loss) * count
                loss_count = loss_count + count
                decided = self.decide(logits, chunk.frame_y)
                # weights, not a boolean index: no host sync per chunk
                confusion += torch.bincount(
                    chunk.y * n + decided,
                    weights=self.counted(chunk.frame_y).to(torch.float64),
                    minlength=n * n,
                ).long()
        module.train()
        numbers = torch.stack([loss_sum, loss_count, frames_right, frames_total]).tolist()
        matrix = confusion.view(n, n).tolist()
        total = numbers[1]
        return ClassScores(
            classes=self.classes,
            loss=numbers[0] / total if total else float("nan"),
            confusion=matrix,
            frame_accuracy=numbers[2] / numbers[3] if per_frame and numbers[3] else None,
        )

    def evaluate(self, module: torch.nn.Module, data: Segments) -> dict[str, Any]:
        return self.scores(module, data).metrics()

    def streaming(
        self, module: torch.nn.Module, data: Segments, fractions: Sequence[float]
    ) -> dict[str, Any] | None:
        """Accuracy of the decision after the first k frames, fed one at a time
        through ``module.step`` (state carried, reset per segment), for k at
        each fraction of the segment; None for a model without ``step``."""
        step = getattr(module, "step", None)
        if step is None or data.frame_y is None or data.y is None:
            return None
        frames = data.x.shape[1]
        ks = sorted({max(1, round(f * frames)) for f in fractions})
        right = torch.zeros(len(ks), device=data.x.device)
        scored = torch.zeros((), device=data.x.device)
        module.eval()
        with torch.no_grad():
            for chunk in chunks(data, EVAL_BATCH):
                assert chunk.y is not None and chunk.frame_y is not None
                state = None
                steps = []
                for t in range(frames):
                    logits, state = step(chunk.x[:, t], state)
                    steps.append(logits)
                logits = torch.stack(steps, 1)
                counted = self.counted(chunk.frame_y)  # the segments scores() decides
                scored += counted.sum()
                for i, k in enumerate(ks):
                    decided = self.decide(logits[:, :k], chunk.frame_y[:, :k])
                    right[i] += ((decided == chunk.y) & counted).sum()
        module.train()
        accuracy = (right / scored.clamp(min=1)).tolist()
        return {"frames": ks, "accuracy": accuracy}
