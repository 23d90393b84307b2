"""A run's latent spaces: what each latent-extractor plugin makes of the
probe clips, checked against the contract, and the ``.npz`` they are kept in.

A diverged run has no usable model: only the model-free extractors (the
raw-feature baseline) run, and the others are recorded as skipped.

When a probe of the run reads frames (``Component.alignments``, the ``abx``
probe), extractors that can also give a space frame by frame (an optional
``frames`` method) attach those frames to it (:attr:`LatentSpace.frames`); they
are held in memory for the probes only, never saved.

Along training (``[probing] probe_at``) the same extraction runs on the model
of each step, its model-free spaces left out (:func:`probe_spaces` with
``model_only``): they do not change with the step, and the final probing
measures them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.plugin.contracts import ContractError, check_latents, check_layers
from harness.plugin.probe_contracts import FrameClock, FrameLatents, check_frames
from harness.plugin.registry import Registry
from harness.plugin.selection import Selection
from harness.run.data import Prepared
from harness.spec.expand import RunSpec


@dataclass(frozen=True)
class LatentSpace:
    """One latent space of the probe clips and the extractor (suite label) it came from."""

    extractor: str
    values: np.ndarray
    #: False for model-free spaces (the raw-feature baseline), whose probe results are reused
    needs_model: bool = True
    #: the ordered stack of layers the extractor declared this space part of
    #: (``<extractor label>/<stack>``) and its depth there; None outside any stack
    stack: str | None = None
    depth: int | None = None
    #: the space frame by frame, where its extractor gives frames and a probe reads them
    frames: FrameLatents | None = None

    def describe(self) -> dict[str, Any]:
        """The record's entry of this space (``latent_spaces``): all but the values."""
        return {
            "extractor": self.extractor,
            "needs_model": self.needs_model,
            "stack": self.stack,
            "depth": self.depth,
        }


def run_latents(
    spec: RunSpec,
    registry: Registry,
    module: torch.nn.Module | None,
    inputs: Prepared,
    device: str,
    path: Path,
) -> tuple[dict[str, LatentSpace], list[dict[str, str]]]:
    """The latents phase: the probe clips' latent spaces and the skipped extractors
    (:func:`extract_latents`), the spaces saved to ``path``. A suite without
    probes (``probes = []``) or probe clips needs none."""
    latents, skipped = probe_spaces(spec, registry, module, inputs, device)
    save_arrays(path, {name: space.values for name, space in latents.items()})
    return latents, skipped


def probe_spaces(
    spec: RunSpec,
    registry: Registry,
    module: torch.nn.Module | None,
    inputs: Prepared,
    device: str,
    model_only: bool = False,
    probes: Sequence[Selection] | None = None,
) -> tuple[dict[str, LatentSpace], list[dict[str, str]]]:
    """The probe clips' latent spaces (with their frames where a probe reads them)
    and the skipped extractors (:func:`extract_latents`); none for a suite
    without probes or probe clips. ``model_only``: the spaces that need the model;
    ``probes``: the probes the spaces are for (default the run's)."""
    probes = spec.probes if probes is None else probes
    if not (probes and inputs.features.probe):
        return {}, []
    return extract_latents(
        spec,
        registry,
        module,
        inputs.probe_features,
        device,
        model_inputs=inputs.probe_model_inputs,
        clock=frame_clock(spec) if reads_frames(probes, registry) else None,
        model_only=model_only,
    )


def extract_latents(
    spec: RunSpec,
    registry: Registry,
    module: torch.nn.Module | None,
    probe_features: Sequence[np.ndarray],
    device: str,
    model_inputs: Sequence[np.ndarray] | None = None,
    clock: FrameClock | None = None,
    model_only: bool = False,
) -> tuple[dict[str, LatentSpace], list[dict[str, str]]]:
    """Latent spaces ``<extractor label>/<space>`` of the probe clips, and the skipped extractors.

    ``module`` is None when the run diverged: only model-free extractors run
    (``model_only``: none of them). Extractors that read the model get
    ``model_inputs`` (a waveform model's probe waveforms), default
    ``probe_features``, which model-free ones always get. With a ``clock`` (a
    probe reads frames), extractors with a ``frames`` method attach them."""
    latents: dict[str, LatentSpace] = {}
    skipped: list[dict[str, str]] = []
    for selection in spec.extractors:
        extractor = registry.create(selection)
        needs_model = bool(getattr(extractor, "needs_model", True))
        if model_only and not needs_model:
            continue
        if needs_model and module is None:
            skipped.append({"extractor": selection.label, "reason": "the run diverged"})
            continue
        target = module if needs_model else None
        if not extractor.supports(target):
            name = type(module).__name__ if module is not None else "no model"
            skipped.append({"extractor": selection.label, "reason": f"does not support {name}"})
            continue
        given = model_inputs if needs_model and model_inputs is not None else probe_features
        spaces = extractor.extract(target, list(given), device)
        if not isinstance(spaces, Mapping) or not spaces:
            raise ContractError(
                "latent_extractor",
                selection.plugin,
                "extract() must return a non-empty dict of latent spaces",
            )
        declare = getattr(extractor, "layers", None)
        stacks = (
            check_layers(selection.plugin, declare(list(spaces)), spaces)
            if callable(declare)
            else {}
        )
        where = {
            space: (f"{selection.label}/{stack}", depth)
            for stack, members in stacks.items()
            for space, depth in members.items()
        }
        framed = _frames(selection.plugin, extractor, target, given, device, clock, spaces)
        for space, value in spaces.items():
            name = f"{selection.label}/{space}"
            checked = check_latents(selection.plugin, space, value, len(probe_features))
            stack, depth = where.get(space, (None, None))
            latents[name] = LatentSpace(
                selection.label, checked, needs_model, stack, depth, framed.get(space)
            )
    return latents, skipped


def reads_frames(probes: Sequence[Selection], registry: Registry) -> bool:
    """Whether one of ``probes`` reads frames and phone tiers (``Component.alignments``)."""
    return any(registry.get("probe", p.plugin).alignments for p in probes)


def frame_clock(spec: RunSpec) -> FrameClock:
    """When the run's feature frames are: exact unless frames were dropped."""
    f = spec.features
    exact = f.silence != "remove" and f.trim_db is None
    return FrameClock(f.sample_rate, f.hop_length, exact)


def _frames(
    plugin: str,
    extractor: Any,
    module: torch.nn.Module | None,
    given: Sequence[np.ndarray],
    device: str,
    clock: FrameClock | None,
    spaces: Mapping[str, Any],
) -> dict[str, FrameLatents]:
    """The checked frames an extractor gives of its ``spaces`` (none without a clock)."""
    method = getattr(extractor, "frames", None)
    if clock is None or not callable(method):
        return {}
    try:
        found = method(module, list(given), device, clock)
    except ValueError as exc:  # the clock's refusal: the times of dropped frames are unknown
        raise ContractError("latent_extractor", plugin, f"frames(): {exc}") from exc
    if not isinstance(found, Mapping):
        raise ContractError("latent_extractor", plugin, "frames() must return a dict")
    unknown = set(found) - set(spaces)
    if unknown:
        raise ContractError(
            "latent_extractor",
            plugin,
            f"frames() names spaces extract() did not return: {sorted(unknown)}",
        )
    return {name: check_frames(plugin, name, value, len(given)) for name, value in found.items()}


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """An .npz of named arrays (names may contain '/'); loads with allow_pickle=False."""
    # numpy's stubs type savez's **kwds as its bool options, not as arrays
    np.savez(path, **arrays)  # type: ignore[arg-type]
