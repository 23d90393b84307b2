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

from harness.plugin.alignments import PhoneInterval
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

    # Optional: ``frames(module, features, device, clock) -> {space: FrameLatents}``:
    # the frame-level states behind some of the spaces extract() returned (same
    # names), one (T_i, dim) array per probe clip with each frame's time
    # (``clock``, a :class:`FrameClock`, gives the feature frames' times).
    # Called only when a probe of the run reads frames (``Component.alignments``);
    # see :func:`check_frames`.


@dataclass(frozen=True)
class FrameClock:
    """When each feature frame of a probe clip is: frame j's centre is at
    ``j * hop_length / sample_rate`` seconds (``center=True`` framing), as long
    as no frame was dropped (``exact``: no trimming, no ``silence = "remove"``)."""

    sample_rate: int
    hop_length: int
    exact: bool = True

    def feature_times(self, n_frames: int) -> np.ndarray:
        """The times (s) of a clip's ``n_frames`` feature frames."""
        if not self.exact:
            raise ValueError(
                "the features dropped frames ([features] silence = 'remove' or trim_db), "
                "so a frame's time in its clip is unknown"
            )
        return np.arange(n_frames, dtype=np.float64) * (self.hop_length / self.sample_rate)

    def strided_times(self, n_frames: int, stride: int, window: int) -> np.ndarray:
        """The centres (s) of ``n_frames`` windows of ``window`` samples, ``stride`` apart
        (a waveform model's frames)."""
        starts = np.arange(n_frames, dtype=np.float64) * stride
        return (starts + window / 2) / self.sample_rate


@dataclass(frozen=True)
class FrameLatents:
    """A latent space frame by frame: per probe clip, its frames (T_i, dim) and
    each frame's time in the clip in seconds (T_i,), increasing."""

    frames: tuple[np.ndarray, ...]
    times: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class FrameInput:
    """What a probe that reads frames (``Component.alignments``) is given per
    latent space: the probe clips' frames and times, phone tiers (None where a
    clip has none), speakers and languages, and the run's seed."""

    latents: FrameLatents
    phones: tuple[tuple[PhoneInterval, ...] | None, ...]
    speakers: np.ndarray
    languages: np.ndarray
    seed: int


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


class FrameProbe(Protocol):
    """A probe declared with ``Component.alignments = True``: it reads frames and
    phone tiers instead of one pooled row per clip."""

    def run_frames(self, given: FrameInput) -> ProbeResult:
        """Measure the frames of one latent space (see :class:`FrameInput`)."""
        ...


def check_frames(component: str, space: str, value: Any, n_clips: int) -> FrameLatents:
    """Frame latents must give every clip a finite float (T_i, dim) array, one
    dim for all clips, and T_i increasing finite times."""

    def broken(message: str) -> ContractError:
        return ContractError("latent_extractor", component, f"frames of {space!r}: {message}")

    if not isinstance(value, FrameLatents):
        raise broken(f"must be a FrameLatents, got {type(value).__name__}")
    if len(value.frames) != n_clips or len(value.times) != n_clips:
        raise broken(
            f"one array of frames and of times per clip ({n_clips}), got "
            f"{len(value.frames)} and {len(value.times)}"
        )
    frames, times, dims = [], [], set()
    for i, (f, t) in enumerate(zip(value.frames, value.times, strict=True)):
        f, t = np.asarray(f), np.asarray(t, dtype=np.float64)
        if f.ndim != 2 or t.shape != (f.shape[0],) or f.shape[0] == 0:
            raise broken(f"clip {i}: frames {f.shape} and times {t.shape} must be (T, dim), (T,)")
        if not np.isfinite(f).all() or not np.isfinite(t).all() or (np.diff(t) <= 0).any():
            raise broken(f"clip {i}: non-finite values or times not increasing")
        dims.add(f.shape[1])
        frames.append(f.astype(np.float32, copy=False))
        times.append(t)
    if len(dims) > 1:
        raise broken(f"clips have different dims {sorted(dims)}")
    return FrameLatents(tuple(frames), tuple(times))


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
