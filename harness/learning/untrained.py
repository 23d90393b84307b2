"""The untrained model: seeded builds, and the reference loss a relative
threshold is a fraction of.

:func:`build_module` seeds everything before it builds, so the same seed gives
the same initial weights in every condition; :func:`untrained_reference` is
the held-out loss of the untrained model built from each of the suite's seeds
(docs/training.md, Thresholds).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from typing import cast

import numpy as np
import torch
from torch import nn

from harness.learning.devices import resolve_device
from harness.learning.training_data import TrainingData
from harness.learning.training_outcome import Reference
from harness.plugin.contracts import Classifier, ContractError, Model


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
