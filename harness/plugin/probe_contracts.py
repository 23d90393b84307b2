"""What latent extractors and probes receive and return: the
:class:`LatentExtractor` and :class:`Probe` protocols, :class:`ProbeResult`,
and the boundary checks of latents, declared layer stacks and probe results.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

from harness.plugin.contract_errors import ContractError


class LatentExtractor(Protocol):
    #: False for extractors that read features only (the raw-feature baseline).
    needs_model: bool

    def supports(self, module: torch.nn.Module | None) -> bool:
        """Whether this extractor can read latents out of ``module``."""
        ...

    def extract(
        self, module: torch.nn.Module | None, features: Sequence[np.ndarray], device: str
    ) -> dict[str, np.ndarray]:
        """Latent spaces by name, each of shape (len(features), dim).

        ``features`` holds one (frames, n_features) array per probe clip.
        """
        ...

    # Optional: ``layers(spaces) -> {stack: {space: depth}}``, given the names
    # extract() returned, declares which of them form an ordered stack of layers
    # (the report plots a probe score against depth); see :func:`check_layers`.


@dataclass
class ProbeResult:
    """What a probe found on one latent space.

    :param metrics: name -> value; every name must be declared in the
        component's ``metrics``.
    :param artifacts: name -> array saved with the run (such as 2-D coordinates).
    :param details: name -> list of numbers kept in the run record (per-fold scores).
    :param skipped: why the probe chose not to measure this latent space at all
        (t-SNE drawn for some seeds only); a reason, not a fault: the pair is
        recorded as skipped, with no metrics, and nothing is re-run. A metric
        reported as NaN, by contrast, is a fault the report lists.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    details: dict[str, list[float]] = field(default_factory=dict)
    skipped: str = ""


class Probe(Protocol):
    def run(
        self,
        latents: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray,
        target: str,
        seed: int,
    ) -> ProbeResult:
        """Measure ``latents`` (n, dim) against language ``labels`` (n,), with
        speaker ``groups`` (n,) for grouped cross-validation; ``target`` is the
        suite's target language."""
        ...


def check_latents(component: str, space: str, value: Any, n_rows: int) -> np.ndarray:
    """A latent space must be a finite 2-D float array with one row per clip."""
    array = np.asarray(value)
    if array.ndim != 2:
        raise ContractError(
            "latent_extractor",
            component,
            f"space {space!r} must be 2-D (clips, dim), got shape {array.shape}",
        )
    if array.shape[0] != n_rows:
        raise ContractError(
            "latent_extractor",
            component,
            f"space {space!r} must have one row per clip ({n_rows}), got {array.shape[0]}",
        )
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise ContractError(
            "latent_extractor", component, f"space {space!r} has non-finite or non-numeric values"
        )
    return array.astype(np.float32, copy=False)


def check_layers(component: str, value: Any, spaces: Collection[str]) -> dict[str, dict[str, int]]:
    """An extractor's ``layers(spaces)`` declaration: ``{stack: {space: depth}}``,
    each stack a non-empty name, each space one the extractor returned and in
    at most one stack, depths distinct non-negative integers within a stack."""

    def broken(message: str) -> ContractError:
        return ContractError("latent_extractor", component, f"layers(): {message}")

    if not isinstance(value, Mapping):
        raise broken(f"must return a dict {{stack: {{space: depth}}}}, got {type(value).__name__}")
    out: dict[str, dict[str, int]] = {}
    placed: dict[str, str] = {}
    for stack, members in value.items():
        if not isinstance(stack, str) or not stack or "/" in stack:
            raise broken(f"stack names must be non-empty strings without '/', got {stack!r}")
        if not isinstance(members, Mapping) or not members:
            raise broken(f"stack {stack!r} must map its spaces to depths, got {members!r}")
        depths: dict[str, int] = {}
        for space, depth in members.items():
            if space not in spaces:
                raise broken(
                    f"stack {stack!r} names space {space!r}, which extract() did not return "
                    f"(it returned {', '.join(sorted(map(str, spaces)))})"
                )
            if space in placed:
                raise broken(f"space {space!r} is in two stacks, {placed[space]!r} and {stack!r}")
            if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
                raise broken(f"depth of {space!r} in {stack!r} must be an int >= 0, got {depth!r}")
            depths[str(space)] = int(depth)
            placed[space] = stack
        if len(set(depths.values())) != len(depths):
            raise broken(f"stack {stack!r} gives two spaces the same depth: {depths}")
        out[stack] = depths
    return out


def check_probe_result(component: str, declared: Iterable[str], value: Any) -> ProbeResult:
    """A probe must return a ProbeResult whose metrics are declared, named and finite or NaN."""
    if not isinstance(value, ProbeResult):
        raise ContractError(
            "probe",
            component,
            f"run() must return harness.plugin.contracts.ProbeResult, got {type(value).__name__}",
        )
    if not isinstance(value.skipped, str):
        raise ContractError(
            "probe", component, f"skipped must be a reason (str), got {value.skipped!r}"
        )
    if value.skipped and (value.metrics or value.artifacts or value.details):
        raise ContractError(
            "probe",
            component,
            f"a result skipped ({value.skipped!r}) carries no metrics, artifacts or details",
        )
    names = set(declared)
    for name, number in value.metrics.items():
        if not isinstance(name, str) or not name:
            raise ContractError("probe", component, f"metric without a name: {name!r}")
        if name not in names:
            raise ContractError(
                "probe",
                component,
                f"metric {name!r} is not declared in Component.metrics (declared: {sorted(names)})",
            )
        if not isinstance(number, (int, float, np.floating, np.integer)) or math.isinf(
            float(number)
        ):
            raise ContractError(
                "probe", component, f"metric {name!r} must be a finite number, got {number!r}"
            )
    for name, values in value.details.items():
        if not isinstance(name, str) or not name:
            raise ContractError("probe", component, f"detail without a name: {name!r}")
        try:
            [float(v) for v in values]
        except (TypeError, ValueError):
            raise ContractError(
                "probe", component, f"detail {name!r} must be a list of numbers, got {values!r}"
            ) from None
    return value
