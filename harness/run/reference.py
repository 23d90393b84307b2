"""The untrained reference of a run's relative threshold, computed once per
process for every run that shares it.

A worker runs many runs of a suite; the model's untrained held-out loss over
the suite's seeds (:func:`harness.learning.training.untrained_reference`) is the same
for all of them unless a condition changes what it depends on, so it is
cached in this process, keyed by everything it depends on.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from harness.hashing import canonical_json
from harness.learning.training import Reference, TrainingData, untrained_reference
from harness.plugin.contracts import Model
from harness.plugin.registry import Registry
from harness.spec.checkpoints import StartingWeights
from harness.spec.expand import RunSpec
from harness.spec.suite import MODEL_TARGET_KEYS

#: references computed in this process, by what determines them: a worker
#: running many runs of a suite computes each model's reference once
_REFERENCES: dict[str, Reference] = {}
_MAX_REFERENCES = 64


def model_reference(
    spec: RunSpec,
    registry: Registry,
    model: Model,
    n_features: int,
    data: TrainingData,
    length: int | None = None,
) -> Reference:
    """What the run's relative threshold is a fraction of: the model's untrained
    held-out loss averaged over the suite's seeds (``spec.reference_seeds``).

    It depends on the model, those seeds, the held-out segments and the device,
    never on what a condition pretrains on (the held-out speakers and the
    normaliser come from the target language only), so every run of a model
    in a suite gets the same value, except where a condition changes the
    settings (features change the held-out segments, training their length
    and the device, target the task): those runs get their own. The modules
    start from the model's own checkpoint (``[[models]] checkpoint``, the same
    in every condition), never from a condition's. Cached per process, keyed by
    all of these.
    """
    length = spec.training.segment_frames if length is None else length
    key = canonical_json(_depends_on(spec, registry, model, n_features, data, length))
    if key not in _REFERENCES:
        if len(_REFERENCES) >= _MAX_REFERENCES:
            _REFERENCES.pop(next(iter(_REFERENCES)))
        _REFERENCES[key] = untrained_reference(
            model,
            n_features,
            data,
            segment_frames=length,
            seeds=spec.reference_seeds,
            device=spec.training.device,
            name=spec.model.plugin,
            initialise=(
                StartingWeights(spec.reference_checkpoint, model, spec.model.plugin)
                if spec.reference_checkpoint
                else None
            ),
        )
    return _REFERENCES[key]


def _depends_on(
    spec: RunSpec,
    registry: Registry,
    model: Model,
    n_features: int,
    data: TrainingData,
    length: int,
) -> dict[str, Any]:
    """Everything a run's reference depends on: its cache key."""
    heldout = np.ascontiguousarray(data.heldout)
    targets = data.heldout_labels
    # what the untrained loss is a loss of (a condition may change it); not the threshold
    # or the budget, which differ per model but leave that loss as it is
    task = {k: v for k, v in dataclasses.asdict(spec.target).items() if k not in MODEL_TARGET_KEYS}
    return {
        "model": spec.model.to_dict(),
        "checkpoint": spec.reference_checkpoint.sha256 if spec.reference_checkpoint else None,
        "source": registry.get("model", spec.model.plugin).source,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "n_features": n_features,
        "segment_frames": length,
        "device": spec.training.device,
        "target": task,
        "seeds": list(spec.reference_seeds),
        "heldout": [list(heldout.shape), str(heldout.dtype)],
        "heldout_sha256": hashlib.sha256(heldout.tobytes()).hexdigest(),
        "classes": list(data.classes),
        "targets_sha256": None
        if targets is None
        else hashlib.sha256(targets.y.tobytes() + targets.frame_y.tobytes()).hexdigest(),
    }
