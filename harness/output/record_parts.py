"""The parts of a run record: convergence, curve, latent spaces, probe rows, data.

Each part is a frozen dataclass whose fields are the keys ``record.json``
writes, in the order it writes them, with the default a reader assumes when
a record of an earlier version lacks the key. :func:`build` reads a part from
its stored form and :func:`dump` writes it back; :mod:`harness.output.record` joins
the parts into a :class:`~harness.output.record.RunRecord`. Sequences are tuples and
plugin-defined values (a probe detail's numbers, a metric's bounds) stay as
they were written; a non-finite number is written as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")


#: what a JSON array of plain values holds: frozen as it is, element by element
_SCALARS = frozenset({int, float, str, bool, type(None)})


def freeze(value: Any) -> Any:
    """Lists as tuples, recursively (the typed parts' sequences); mappings stay."""
    if isinstance(value, list | tuple):
        # a record's long arrays (null distributions, curves) hold plain numbers:
        # one tuple() instead of a call per element
        if _SCALARS.issuperset(map(type, value)):
            return tuple(value)
        return tuple(freeze(v) for v in value)
    if isinstance(value, Mapping):
        return {k: freeze(v) for k, v in value.items()}
    return value


def thaw(value: Any) -> Any:
    """The JSON form of a frozen value: tuples as lists, non-finite floats as None."""
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build(cls: type[T], data: Any) -> T:
    """A part from its stored mapping: known keys only, missing or null ones at their
    defaults."""
    if not isinstance(data, Mapping):
        return cls()
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: freeze(v) for k, v in data.items() if k in names and v is not None})


def dump(part: Any, omit_none: tuple[str, ...] = ()) -> dict[str, Any]:
    """A part's stored mapping, keys in field order; ``omit_none`` keys are left
    out while they are None (keys a record writes only when they apply)."""
    return {
        f.name: thaw(getattr(part, f.name))
        for f in fields(part)
        if not (f.name in omit_none and getattr(part, f.name) is None)
    }


@dataclass(frozen=True)
class Convergence:
    """When (and whether) the held-out measure crossed the threshold
    (docs/architecture.md, "The run record")."""

    reached: bool | None = None
    threshold: float | None = None
    initial_heldout_loss: float | None = None
    reference_heldout_loss: float | None = None
    reference_losses: tuple[float | None, ...] | None = None
    #: the held-out measure the threshold applies to; records before it: the loss
    metric: str = "loss"
    higher_is_better: bool = False
    final_metric: float | None = None
    steps: int | None = None
    examples: int | None = None
    epochs: float | None = None
    seconds: float | None = None
    pretrain_steps: int | None = None
    pretrain_examples: int | None = None
    pretrain_seconds: float | None = None
    train_seconds: float | None = None
    final_train_loss: float | None = None
    final_heldout_loss: float | None = None
    diverged_step: int | None = None
    diverged_phase: str | None = None
    #: after self-supervised pretraining only: the model's own held-out measures
    pretrain_heldout: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Convergence:
        data = dict(data) if isinstance(data, Mapping) else {}
        # what readers assumed of records written before these keys existed
        data["metric"] = data.get("metric") or "loss"
        data["higher_is_better"] = bool(data.get("higher_is_better"))
        data.setdefault("final_metric", data.get("final_heldout_loss"))
        if data.get("pretrain_examples") is None and data.get("pretrain_steps") == 0:
            data["pretrain_examples"] = 0  # nothing was pretrained
        return build(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dump(self, omit_none=("pretrain_heldout",))


#: curve columns every record has; the others (``heldout_<measure>``,
#: ``grad_norm``, ``grad_norm_max``) are in :attr:`Curve.columns`
_CURVE_BASE = ("step", "train_loss", "heldout_loss", "seconds")


@dataclass(frozen=True)
class Curve:
    """Columns of equal length, one entry per held-out evaluation."""

    step: tuple[int, ...] = ()
    train_loss: tuple[float | None, ...] = ()
    heldout_loss: tuple[float | None, ...] = ()
    seconds: tuple[float | None, ...] = ()
    #: the other columns in the order written: a model's other held-out measures
    #: (``heldout_accuracy``, ``heldout_<measure>``) and gradient norms
    columns: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> Curve:
        data = data if isinstance(data, Mapping) else {}
        base = {k: freeze(data[k]) for k in _CURVE_BASE if data.get(k) is not None}
        other = {str(k): freeze(v) or () for k, v in data.items() if k not in _CURVE_BASE}
        return cls(**base, columns=other)

    def to_dict(self) -> dict[str, Any]:
        return {**{k: thaw(getattr(self, k)) for k in _CURVE_BASE}, **thaw(self.columns)}

    def column(self, name: str) -> tuple[Any, ...] | None:
        """A column by its stored name (``heldout_accuracy``), None if not recorded."""
        if name in _CURVE_BASE:
            return tuple(getattr(self, name))
        return self.columns.get(name)


@dataclass(frozen=True)
class LatentSpaceInfo:
    """What the extractor declared of a latent space ``<extractor>/<space>``."""

    extractor: str | None = None
    #: False marks the raw-feature baseline (computed without the model)
    needs_model: bool | None = None
    #: ``<extractor>/<stack>`` and the depth in it; None outside any stack of layers
    stack: str | None = None
    depth: int | None = None


@dataclass(frozen=True)
class ProbePair:
    """Where a probe row belongs: the extractor, the latent space and the probe;
    every kind of probe row starts with these keys."""

    extractor: str | None = None
    latent_space: str | None = None
    probe: str | None = None
    #: the target-training step of a row measured along training
    #: (:class:`AlongTraining`); None for the final probing's rows, whose stored
    #: form has no ``step`` key
    step: int | None = None


@dataclass(frozen=True)
class ProbeRow(ProbePair):
    """One metric of a probe on a latent space, as the probe declared it (harness.Metric)."""

    metric: str | None = None
    value: float | None = None
    higher_is_better: bool = True
    role: str | None = None
    chance: str | None = None
    headline: bool = False
    #: the metric's declared range ``(low, high)``, None when unbounded or not recorded
    bounds: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class ProbeDetail(ProbePair):
    """An array a probe reported beside its metrics (per-fold scores, nulls)."""

    name: str | None = None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ProbeError(ProbePair):
    """A (probe, latent space) pair whose probe raised or broke its contract."""

    plugin: str | None = None
    type: str | None = None
    message: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class ProbeSkip(ProbePair):
    """A (probe, latent space) pair the probe chose not to measure, and why."""

    plugin: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class ProbeWarning(ProbePair):
    """A metric a probe reported as NaN."""

    plugin: str | None = None
    metric: str | None = None
    message: str | None = None


def dump_row(row: ProbePair) -> dict[str, Any]:
    """A probe row's stored form: ``step`` written only where it is set, so the
    final probing's rows read and write as they always did."""
    return dump(row, omit_none=("step",))


@dataclass(frozen=True)
class AlongTraining:
    """The probes along training (``[probing] probe_at``): the steps asked for,
    those measured (the run stopped before the others), the rows of each kind
    with their ``step``, and the wall seconds they took."""

    steps: tuple[int, ...] = ()
    measured: tuple[int, ...] = ()
    probes: tuple[ProbeRow, ...] = ()
    probe_details: tuple[ProbeDetail, ...] = ()
    probe_errors: tuple[ProbeError, ...] = ()
    probe_warnings: tuple[ProbeWarning, ...] = ()
    probes_skipped: tuple[ProbeSkip, ...] = ()
    seconds: float | None = None

    @classmethod
    def from_dict(cls, data: Any) -> AlongTraining | None:
        """The part as stored; None for a record without one."""
        if not isinstance(data, Mapping):
            return None
        rows: dict[str, Any] = {
            key: tuple(build(kind, r) for r in data.get(key) or () if isinstance(r, Mapping))
            for key, kind in _ALONG_ROWS.items()
        }
        return cls(
            steps=tuple(data.get("steps") or ()),
            measured=tuple(data.get("measured") or ()),
            seconds=data.get("seconds"),
            **rows,
        )

    def to_dict(self) -> dict[str, Any]:
        out = dump(self)
        for key in _ALONG_ROWS:
            out[key] = [dump_row(r) for r in getattr(self, key)]
        return out


#: the row lists of :class:`AlongTraining` and the kind of each row
_ALONG_ROWS: dict[str, type[ProbePair]] = {
    "probes": ProbeRow,
    "probe_details": ProbeDetail,
    "probe_errors": ProbeError,
    "probe_warnings": ProbeWarning,
    "probes_skipped": ProbeSkip,
}


@dataclass(frozen=True)
class SkippedExtractor:
    """An extractor that did not apply to the model or could not run."""

    extractor: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ProbeClips:
    """The held-out probe clips in the order latents are stored."""

    clip_id: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    speaker: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataSummary:
    """The run's account of its data: speakers and clips per role, the probe clips,
    what the dataset delivered and every file it skipped."""

    #: role -> language -> {"speakers": n, "clips": n}
    counts: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    probe_clips: ProbeClips = field(default_factory=ProbeClips)
    #: language -> {"speakers": n, "clips": n} as the dataset delivered
    loaded: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: one {dataset, language, file, reason, detail} per skipped file
    skipped: tuple[Mapping[str, str], ...] = ()
    #: language -> reason -> n
    skipped_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> DataSummary:
        data = data if isinstance(data, Mapping) else {}
        return cls(
            counts=thaw(data.get("counts") or {}),
            probe_clips=build(ProbeClips, data.get("probe_clips")),
            loaded=thaw(data.get("loaded") or {}),
            skipped=tuple(thaw(data.get("skipped") or ())),
            skipped_counts=thaw(data.get("skipped_counts") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**dump(self), "probe_clips": dump(self.probe_clips)}
