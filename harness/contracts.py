"""What the objects built by each plugin family receive and must return.

The hook specs (:mod:`harness.hookspecs`) say how components are registered;
this module says what a component's object must do once the suite selected it.
The core checks every answer at the boundary with the ``check_*`` functions
below, so a broken plugin fails with a message naming the plugin, the
component and what was expected, not deep inside numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch


class ContractError(Exception):
    """A plugin returned something that breaks its family's contract."""

    def __init__(self, kind: str, component: str, message: str) -> None:
        self.kind = kind
        self.component = component
        super().__init__(f"{kind} plugin {component!r}: {message}")


class DataWarning(UserWarning):
    """A clip or file was skipped; the message names it and says why.

    :class:`harness.audio.SkipLog` also sets ``dataset``, ``language``, ``file``,
    ``reason`` (one of ``harness.audio.SKIP_REASONS``) and ``detail``, which the
    run record keeps; a warning without them is recorded with reason ``other``.
    """

    dataset: str
    language: str
    file: str
    reason: str
    detail: str


class DataError(Exception):
    """The data cannot support the suite (too few clips or speakers, no files)."""


# ---------------------------------------------------------------- datasets


@dataclass(frozen=True)
class Clip:
    """One utterance: mono float32 audio with its labels.

    ``clip_id`` is stable across machines (it names the clip in caches and in
    the per-run records); ``speaker`` is unique across languages. ``labels``
    holds every other label the dataset gives (``{"emotion": "angry",
    "gender": "female"}``): the names a dataset component declares in
    ``Component.labels``, each a string. :meth:`label` reads any of them,
    language and speaker included, so a task or probe names a label the same
    way whichever it is.
    """

    clip_id: str
    language: str
    speaker: str
    audio: np.ndarray = field(repr=False, compare=False)
    sample_rate: int
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)

    def label(self, name: str) -> str:
        """The clip's value of label ``name`` (``language``, ``speaker`` or one of ``labels``).

        :raises KeyError: naming the clip, the label and the labels it has.
        """
        if name == "language":
            return self.language
        if name == "speaker":
            return self.speaker
        try:
            return self.labels[name]
        except KeyError:
            have = ", ".join(["language", "speaker", *sorted(self.labels)])
            raise KeyError(f"clip {self.clip_id!r} has no label {name!r}; it has: {have}") from None


@dataclass(frozen=True)
class DataRequest:
    """What the core asks a dataset for.

    :param languages: every language the suite uses (pretraining, target, probes).
    :param sample_rate: the rate clips must have (resample if needed).
    :param speakers_needed: per language, the fewest speakers the splits need;
        a dataset that generates data may use it to generate enough.
    :param cache_dir: a folder the dataset may keep generated or decoded audio in.
    :param on_progress: where :meth:`progress` reports to; the core sets it
        when it shows progress (``harness run`` before the runs start), else None.
    """

    languages: tuple[str, ...]
    sample_rate: int
    speakers_needed: Mapping[str, int]
    cache_dir: Path
    on_progress: ProgressCallback | None = field(default=None, compare=False, repr=False)

    def progress(self, what: str, done: int, total: int, unit: str) -> None:
        """Report how far a long step got, e.g. ``("generating the eSpeak corpus",
        120, 480, "clips")``; the core shows it (a dataset never prints). Does
        nothing when nobody listens."""
        if self.on_progress is not None:
            self.on_progress(what, done, total, unit)


class ProgressCallback(Protocol):
    def __call__(self, what: str, done: int, total: int, unit: str) -> None: ...


class Dataset(Protocol):
    """What a dataset component builds.

    A dataset that generates or caches data on first use may also define
    ``prepare(request) -> None``: the runner calls it once, in its own process,
    before any run starts, with ``request.on_progress`` set, so the user sees
    the step (:meth:`DataRequest.progress`) instead of runs that seem to hang;
    ``load`` then only reads. Without it, ``load`` does everything in the runs.
    """

    def load(self, request: DataRequest) -> list[Clip]:
        """Return the clips of the requested languages.

        Skip unusable clips with a :class:`DataWarning` naming the file and the
        reason; raise :class:`DataError` when nothing usable is left.
        """
        ...


# ---------------------------------------------------------------- filters


class PretrainFilter(Protocol):
    def __call__(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """Return the filtered waveform: same length, float32, finite."""
        ...


# ---------------------------------------------------------------- models


class Model(Protocol):
    def build(self, n_features: int, segment_frames: int) -> torch.nn.Module:
        """Return a fresh module; the core has seeded torch already."""
        ...

    def loss(self, module: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """Scalar training loss for ``batch`` of shape (batch, frames, n_features)."""
        ...


class Classifier(Protocol):
    """A model of the ``classify`` task (its component declares ``tasks=("classify",)``).

    The core computes the cross-entropy, the class weights, masked frames and
    every held-out measure; the model only scores the classes.
    """

    def build(self, n_features: int, segment_frames: int, n_classes: int) -> torch.nn.Module:
        """Return a fresh module for ``n_classes`` classes; the core has seeded torch."""
        ...

    def logits(self, module: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores for ``batch`` (batch, frames, n_features): per
        segment (batch, n_classes) or per frame (batch, frames, n_classes).

        A per-frame module may also offer streaming, ``module.step(frame, state)
        -> (logits (batch, n_classes), state)`` with ``state=None`` starting a
        sequence; the core then records its accuracy after the first k frames.
        """
        ...


class LoadsCheckpoint(Protocol):
    """A model (:class:`Model` or :class:`Classifier`) that loads a checkpoint
    itself, such as one whose tensor names differ from its module's (a Hugging
    Face checkpoint under another prefix). Optional: without it the core loads
    the tensors whose names and shapes match (harness.checkpoints.load_matching).
    """

    def load_checkpoint(
        self, module: torch.nn.Module, state: dict[str, torch.Tensor]
    ) -> Mapping[str, Sequence[str]]:
        """Load ``state`` (tensor name -> CPU tensor, read without running code)
        into ``module``, just built and seeded, before any training; return the
        tensor names ``loaded``, ``missing`` (the module's, left at their
        initial values) and ``unexpected`` (the checkpoint's, unused). Raise
        ``ValueError`` naming the tensors when it does not fit.
        """
        ...


class GroupedModel(Protocol):
    """A model whose parameters fall into named groups, which ``[training]``
    may give their own learning rates (``lr_groups``) or freeze (``freeze``).

    Its component declares the names in ``Component.groups``, so a suite is
    checked before any run; ``parameter_groups`` returns exactly those names.
    """

    def parameter_groups(
        self, module: torch.nn.Module
    ) -> Mapping[str, Iterable[torch.nn.Parameter]]:
        """The parameters of ``module`` (as :meth:`build` returned it) in each group,
        such as ``{"backbone": module.rnn.parameters(), "head": module.head.parameters()}``;
        no parameter in two groups. Parameters in no group train at ``[training] lr``."""
        ...


# ---------------------------------------------------------------- extractors


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


# ---------------------------------------------------------------- probes


@dataclass
class ProbeResult:
    """What a probe found on one latent space.

    :param metrics: name -> value; every name must be declared in the
        component's ``metrics``.
    :param artifacts: name -> array saved with the run (such as 2-D coordinates).
    :param details: name -> list of numbers kept in the run record (per-fold scores).
    """

    metrics: dict[str, float]
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    details: dict[str, list[float]] = field(default_factory=dict)


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


# ---------------------------------------------------------------- executors

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Runs a suite's runs. An executor that knows how many runs it runs at
    once may say so in an int attribute ``workers``; the runner's estimate of
    the time left divides the finished runs' mean wall time by it."""

    def map(
        self, fn: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Run ``fn`` on every item; yield ``(item, result)`` as each finishes.

        A worker that dies yields ``(item, exception)`` instead of hanging.
        """
        ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- boundary checks


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
            f"run() must return harness.contracts.ProbeResult, got {type(value).__name__}",
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


def check_clip(component: str, clip: Any, sample_rate: int) -> Clip:
    """A dataset's clip: a Clip of mono, finite, non-empty float32 audio at the requested rate."""
    if not isinstance(clip, Clip):
        raise ContractError(
            "dataset", component, f"load() must return Clips, got {type(clip).__name__}"
        )
    audio = clip.audio
    where = f"clip {clip.clip_id!r}"
    if not isinstance(audio, np.ndarray) or audio.ndim != 1:
        shape = getattr(audio, "shape", type(audio).__name__)
        raise ContractError("dataset", component, f"{where} must be mono (1-D audio), got {shape}")
    if audio.dtype != np.float32:
        raise ContractError(
            "dataset", component, f"{where} must be float32 audio, got {audio.dtype}"
        )
    if audio.size == 0 or not np.isfinite(audio).all():
        raise ContractError("dataset", component, f"{where} has empty or non-finite audio")
    if clip.sample_rate != sample_rate:
        raise ContractError(
            "dataset",
            component,
            f"{where} has sample rate {clip.sample_rate}, requested {sample_rate}",
        )
    bad = {k: v for k, v in clip.labels.items() if not (isinstance(k, str) and isinstance(v, str))}
    if bad:
        raise ContractError(
            "dataset", component, f"{where} has labels that are not strings: {bad!r}"
        )
    clashes = sorted({"language", "speaker"} & set(clip.labels))
    if clashes:
        raise ContractError(
            "dataset",
            component,
            f"{where} repeats {clashes} in labels; language and speaker are Clip fields",
        )
    return clip


def check_filtered(component: str, before: np.ndarray, after: Any) -> np.ndarray:
    """A filter returns a finite waveform of the same length."""
    array = np.asarray(after)
    if array.shape != before.shape:
        raise ContractError(
            "pretrain_filter",
            component,
            f"must keep the waveform shape {before.shape}, got {array.shape}",
        )
    if not np.isfinite(array).all():
        raise ContractError("pretrain_filter", component, "returned non-finite samples")
    return array.astype(np.float32, copy=False)


#: the keys of a model's ``load_checkpoint`` answer
CHECKPOINT_REPORT_KEYS = ("loaded", "missing", "unexpected")


def check_checkpoint_report(component: str, value: Any) -> dict[str, list[str]]:
    """A model's ``load_checkpoint`` answer: ``loaded``, ``missing`` and
    ``unexpected``, each a list of tensor names, at least one loaded."""
    if not isinstance(value, Mapping) or set(value) != set(CHECKPOINT_REPORT_KEYS):
        got = sorted(value) if isinstance(value, Mapping) else type(value).__name__
        raise ContractError("model", component, "load_checkpoint() must return a mapping with "
                            f"the keys {list(CHECKPOINT_REPORT_KEYS)}, got {got}")  # fmt: skip
    out = {}
    for key in CHECKPOINT_REPORT_KEYS:
        names = value[key]
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ContractError("model", component, f"load_checkpoint()[{key!r}] must be a list "
                                f"of tensor names, got {names!r}")  # fmt: skip
        out[key] = sorted(names)
    if not out["loaded"]:
        raise ContractError("model", component, "load_checkpoint() loaded no tensor; raise "
                            "ValueError naming what does not fit instead")  # fmt: skip
    return out


def check_loss(component: str, value: Any) -> torch.Tensor:
    """A model's loss is a scalar tensor."""
    import torch

    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ContractError("model", component, f"loss() must return a scalar tensor, got {shape}")
    return value


def check_parameter_groups(
    component: str, value: Any, module: torch.nn.Module, declared: Sequence[str]
) -> dict[str, list[torch.nn.Parameter]]:
    """A model's parameter groups: the declared names (``Component.groups``) exactly,
    each a collection of the module's own parameters, no parameter in two groups."""
    if not isinstance(value, Mapping):
        raise ContractError("model", component, "parameter_groups() must return a mapping of "
                            f"group name to parameters, got {type(value).__name__}")  # fmt: skip
    if set(value) != set(declared):
        raise ContractError("model", component, f"parameter_groups() returned the groups "
                            f"{sorted(value)}; the component declares {sorted(declared)}")  # fmt: skip
    own = {id(p) for p in module.parameters()}
    seen: dict[int, str] = {}
    groups: dict[str, list[torch.nn.Parameter]] = {}
    for name, params in value.items():
        groups[name] = []
        for p in params:
            if id(p) not in own:
                raise ContractError("model", component, f"parameter group {name!r} holds a "
                                    "tensor that is not a parameter of the built module")  # fmt: skip
            if id(p) in seen and seen[id(p)] != name:
                raise ContractError("model", component, f"a parameter is in both groups "
                                    f"{seen[id(p)]!r} and {name!r}")  # fmt: skip
            if id(p) not in seen:
                groups[name].append(p)
                seen[id(p)] = name
    return groups
