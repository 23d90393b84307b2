"""What the training loop trains on: each role's segments (or a waveform
model's crops) as :class:`TrainingData`, with a classify task's targets
(:class:`Labels`), class names and class weights, and the objective they
imply (the classes' cross-entropy, or the model's own loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.data.batches import Segments
from harness.learning.objectives import Classification, Objective, OwnLoss
from harness.plugin.contracts import Model


@dataclass(frozen=True)
class Labels:
    """Targets of a classify task's segments (see :class:`harness.data.batches.Segments`)."""

    y: np.ndarray
    frame_y: np.ndarray


@dataclass(frozen=True)
class StageSegments:
    """A curriculum's later stage: its segments (or crops) and a classify task's targets."""

    x: np.ndarray
    labels: Labels | None = None


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
    #: a curriculum's stages after the first, in order (the first's are ``pretrain``)
    later_stages: tuple[StageSegments, ...] = ()

    @property
    def n_classes(self) -> int | None:
        """Classes of a classify task; None for a model's own objective."""
        return len(self.classes) or None

    def segments(self, role: str, device: torch.device) -> Segments:
        """The segments of ``role`` (train, heldout, pretrain) with their targets, on ``device``.

        A classify task pretrains on the same task: the pretraining clips
        (filtered) with their own labels.
        """
        return _segments(getattr(self, role), getattr(self, f"{role}_labels"), device)

    def stage_size(self, stage: int) -> int:
        """Segments of pretraining stage ``stage`` (0: the first); 0 where it has none."""
        if stage > len(self.later_stages):
            return 0
        x = self.pretrain if stage == 0 else self.later_stages[stage - 1].x
        return 0 if x is None else len(x)

    def stage_segments(self, stage: int, device: torch.device) -> Segments:
        """The segments of pretraining stage ``stage`` (0: the first, ``pretrain``)."""
        if stage == 0:
            return self.segments("pretrain", device)
        later = self.later_stages[stage - 1]
        return _segments(later.x, later.labels, device)

    def objective(self, model: Model, name: str) -> Objective:
        """What training optimises: the classes' cross-entropy, or the model's own loss."""
        if self.classes:
            return Classification(model, self.classes, self.class_weights, name)
        return OwnLoss(model, name)


def _segments(x_array: np.ndarray, labels: Labels | None, device: torch.device) -> Segments:
    x = torch.from_numpy(x_array)
    if labels is None:
        return Segments(x.to(device))
    y, frame_y = torch.from_numpy(labels.y), torch.from_numpy(labels.frame_y)
    return Segments(x, y, frame_y).to(device)
