"""A finished run's latent spaces again, from its stored final weights.

A run keeps its latents (``latents.npz``) but not their frames, which a probe
that reads frames needs (``Component.alignments``, ``abx``): they are as large
as the probe clips' features times the model's width, too large to keep for
every run of a flagship suite. The run's final weights are kept
(``weights.pt``, small), so :func:`latents_from_weights` rebuilds what the
final probing had: the run's data and features (from the cache), its model
with the stored weights, and the extraction with frames. ``harness probe``
(:mod:`harness.output.reprobe`) runs a failed frame probe on them.

The rebuilt latents are checked against the stored ones: where they differ
(the data, the features or an extractor changed since the run), the frames
are not those of the run, and :class:`Unrebuildable` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from harness.learning.pretraining import Pretraining
from harness.learning.untrained import build_module
from harness.plugin.alignments import PhoneInterval
from harness.plugin.registry import Registry
from harness.plugin.selection import Selection
from harness.run.data import prepare, read_source
from harness.run.latents import LatentSpace, probe_spaces
from harness.spec.expand import RunSpec

#: how far rebuilt latents may lie from the stored ones (float32 sums in
#: another order, another thread count), relative and absolute
TOLERANCE = (1e-4, 1e-5)


class Unrebuildable(Exception):
    """The run's frames cannot be rebuilt as the run had them; the message says why."""


@dataclass(frozen=True)
class Rebuilt:
    """The latent spaces with their frames, and the probe clips' phone tiers."""

    latents: dict[str, LatentSpace]
    phones: tuple[tuple[PhoneInterval, ...] | None, ...]


def latents_from_weights(
    spec: RunSpec,
    registry: Registry,
    weights: Path | None,
    stored: Mapping[str, np.ndarray],
    probes: Sequence[Selection],
) -> Rebuilt:
    """The spaces of ``stored`` with the frames ``probes`` read, as the run's final
    probing had them.

    :param weights: the run's final weights; None for a run that diverged (its
        final probing had the model-free spaces only).
    :param stored: the run's stored latents, by space.
    :raises Unrebuildable: the probe clips or the rebuilt latents differ from
        the run's (the data or the code changed since).
    """
    plan = Pretraining.of(spec.condition)
    source = read_source(spec, registry, plan)
    inputs = prepare(spec, registry, plan, source)
    module = None
    if weights is not None:
        model = registry.create(spec.model)
        n_classes = inputs.data.n_classes
        module = build_module(
            model,
            inputs.features.n_features,
            inputs.length,
            spec.seed,
            spec.model.plugin,
            n_classes,
        )
        state = torch.load(weights, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
        module.eval()
    with torch.no_grad():
        latents, _ = probe_spaces(spec, registry, module, inputs, "cpu", probes=probes)
    _check_same(latents, stored)
    kept = {name: replace(latents[name], values=stored[name]) for name in stored}
    return Rebuilt(kept, tuple(c.phones for c in source.roles.probe))


def _check_same(latents: Mapping[str, LatentSpace], stored: Mapping[str, np.ndarray]) -> None:
    missing = sorted(set(stored) - set(latents))
    if missing:
        raise Unrebuildable(f"the extraction no longer gives the space(s) {', '.join(missing)}")
    rtol, atol = TOLERANCE
    for name, values in stored.items():
        again = latents[name].values
        if again.shape != values.shape:
            raise Unrebuildable(
                f"latent space {name} rebuilt from the weights has shape {again.shape}, the "
                f"stored one {values.shape}: the probe clips or the extractor changed since the run"
            )
        if not np.allclose(again, values, rtol=rtol, atol=atol, equal_nan=True):
            worst = float(np.nanmax(np.abs(again.astype(np.float64) - values)))
            raise Unrebuildable(
                f"latent space {name} rebuilt from the weights differs from the stored one "
                f"(largest difference {worst:.3g}): the data, the features or the extractor "
                "changed since the run"
            )
