"""The run record: every fact of one run in one typed, versioned shape.

:class:`RunRecord` is the schema of ``record.json`` (docs/architecture.md,
"The run record"); its parts are in :mod:`harness.output.record_parts`. The store
writes records and every reader reads them through :meth:`RunRecord.to_dict`
and :meth:`RunRecord.from_dict` only. ``from_dict`` reads every record written
by earlier versions (a missing key gets the default readers assumed) and
refuses one written by a newer harness; ``to_dict`` writes the keys earlier
versions wrote, in their order, plus ``record_version``. The parts that
plugins or the suite define (the run's spec, classification, baseline,
checkpoint, environment, provenance) stay mappings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.atomic import write_json
from harness.output.record_parts import (
    AlongTraining,
    Convergence,
    Curve,
    DataSummary,
    LatentSpaceInfo,
    ProbeDetail,
    ProbeError,
    ProbeRow,
    ProbeSkip,
    ProbeWarning,
    SkippedExtractor,
    build,
    dump,
    dump_row,
    freeze,
    thaw,
)

__all__ = [
    "DONE_STATUSES",
    "FAILED",
    "RECORD_VERSION",
    "AlongTraining",
    "Convergence",
    "Curve",
    "DataSummary",
    "LatentSpaceInfo",
    "ProbeDetail",
    "ProbeError",
    "ProbeRow",
    "ProbeSkip",
    "ProbeWarning",
    "RecordVersionError",
    "RunRecord",
    "SkippedExtractor",
    "as_records",
    "read_record",
    "write_record",
]

#: the version :meth:`RunRecord.to_dict` writes; records without one are version 0
RECORD_VERSION = 1
VERSION_KEY = "record_version"
#: statuses a record can have
STATUSES = ("reached", "censored", "diverged", "failed")
FAILED = "failed"
#: statuses a successful execute may return; "failed" is written by the harness only
DONE_STATUSES = tuple(s for s in STATUSES if s != FAILED)

#: keys of a finished run's record, in the order they are written
_FINISHED_KEYS = (
    "run_id",
    "label",
    "status",
    "spec",
    "convergence",
    "classification",
    "baseline",
    "checkpoint",
    "curve",
    "n_features",
    "latent_spaces",
    "probes",
    "probe_details",
    "probe_errors",
    "probe_warnings",
    "extractors_skipped",
    "data",
    "artifacts",
    "environment",
    "started",
    "wall_seconds",
    "cpu_seconds",
    "load_average",
    "phase_seconds",
    "error",
    "provenance",
)
#: keys of a failed run's record (harness.output.run_results.failure_record), in their order
_FAILED_KEYS = (
    "run_id",
    "label",
    "status",
    "spec",
    "provenance",
    "error",
    "started",
    "wall_seconds",
    "environment",
)
#: keys written after the others only when set (by `harness probe`)
_LATER_KEYS = ("reprobed",)
#: written after ``probe_warnings`` only where a probe skipped a pair, so the
#: records of runs without one read and write as they always did
_SKIPS = "probes_skipped"
#: written after those (or ``probe_warnings``) only in runs of a suite with
#: ``[probing] probe_at``: a record of version 1 without it has no such rows
_ALONG = "along_training"
_KNOWN = {VERSION_KEY, *_FINISHED_KEYS, *_LATER_KEYS, _SKIPS, _ALONG}


class RecordVersionError(ValueError):
    """A record written by a newer harness than this one (or with a broken version)."""


@dataclass(frozen=True)
class RunRecord:
    """One run: what it was (``spec``), how training went, what the probes found."""

    run_id: str
    status: str
    label: str = ""
    #: RunSpec.to_dict(): the suite's settings of this run
    spec: Mapping[str, Any] = field(default_factory=dict)
    convergence: Convergence = field(default_factory=Convergence)
    #: classify task only: the last model's held-out scores
    classification: Mapping[str, Any] | None = None
    #: classify task only: the MFCC + SVM baseline, or {name, skipped}
    baseline: Mapping[str, Any] | None = None
    #: the weights the model started from, or None
    checkpoint: Mapping[str, Any] | None = None
    curve: Curve = field(default_factory=Curve)
    n_features: int | None = None
    latent_spaces: Mapping[str, LatentSpaceInfo] = field(default_factory=dict)
    probes: tuple[ProbeRow, ...] = ()
    probe_details: tuple[ProbeDetail, ...] = ()
    probe_errors: tuple[ProbeError, ...] = ()
    probe_warnings: tuple[ProbeWarning, ...] = ()
    #: pairs a probe chose not to measure (ProbeResult.skipped), with the reason
    probes_skipped: tuple[ProbeSkip, ...] = ()
    #: the probes along training ([probing] probe_at); None in runs without it
    along_training: AlongTraining | None = None
    extractors_skipped: tuple[SkippedExtractor, ...] = ()
    data: DataSummary = field(default_factory=DataSummary)
    #: artifact name -> file name inside the run folder
    artifacts: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    started: str | None = None
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    #: {start, end}: the machine's 1-, 5- and 15-minute load averages
    load_average: Mapping[str, Any] | None = None
    phase_seconds: Mapping[str, float] = field(default_factory=dict)
    #: {type, message, traceback} of a failed run
    error: Mapping[str, str] | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    #: "<probe> on <space>" pairs `harness probe` computed after the run
    reprobed: tuple[str, ...] | None = None
    #: top-level keys this version does not know, written back as they were
    extra: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ stored form

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "run record") -> RunRecord:
        """A record from its stored form (any version up to :data:`RECORD_VERSION`).

        :param where: names the record in errors (its file).
        :raises RecordVersionError: written by a newer harness.
        """
        _check_version(data.get(VERSION_KEY, 0), where)
        given = data.get("spec")
        spec: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        return cls(
            run_id=str(data.get("run_id") or spec.get("run_id")),
            status=str(data.get("status", FAILED)),
            label=str(data.get("label") or spec.get("label") or ""),
            spec=thaw(spec),
            convergence=Convergence.from_dict(data.get("convergence")),
            classification=thaw(data.get("classification")),
            baseline=thaw(data.get("baseline")),
            checkpoint=thaw(data.get("checkpoint")),
            curve=Curve.from_dict(data.get("curve")),
            n_features=data.get("n_features"),
            latent_spaces={
                str(name): build(LatentSpaceInfo, info)
                for name, info in (data.get("latent_spaces") or {}).items()
                if isinstance(info, Mapping)
            },
            probes=_rows(ProbeRow, data.get("probes")),
            probe_details=_rows(ProbeDetail, data.get("probe_details")),
            probe_errors=_rows(ProbeError, data.get("probe_errors")),
            probe_warnings=_rows(ProbeWarning, data.get("probe_warnings")),
            probes_skipped=_rows(ProbeSkip, data.get(_SKIPS)),
            along_training=AlongTraining.from_dict(data.get(_ALONG)),
            extractors_skipped=_rows(SkippedExtractor, data.get("extractors_skipped")),
            data=DataSummary.from_dict(data.get("data")),
            artifacts=thaw(data.get("artifacts") or {}),
            environment=thaw(data.get("environment") or {}),
            started=data.get("started"),
            wall_seconds=data.get("wall_seconds"),
            cpu_seconds=data.get("cpu_seconds"),
            load_average=thaw(data.get("load_average")),
            phase_seconds=thaw(data.get("phase_seconds") or {}),
            error=thaw(data.get("error")),
            provenance=thaw(data.get("provenance") or {}),
            reprobed=freeze(data.get("reprobed")),
            extra={k: thaw(v) for k, v in data.items() if k not in _KNOWN},
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form: JSON-ready, non-finite numbers as None."""
        every = {
            "run_id": self.run_id,
            "label": self.label,
            "status": self.status,
            "spec": thaw(self.spec),
            "convergence": self.convergence.to_dict(),
            "classification": thaw(self.classification),
            "baseline": thaw(self.baseline),
            "checkpoint": thaw(self.checkpoint),
            "curve": self.curve.to_dict(),
            "n_features": self.n_features,
            "latent_spaces": {k: dump(v) for k, v in self.latent_spaces.items()},
            "probes": [dump_row(r) for r in self.probes],
            "probe_details": [dump_row(r) for r in self.probe_details],
            "probe_errors": [dump_row(r) for r in self.probe_errors],
            "probe_warnings": [dump_row(r) for r in self.probe_warnings],
            _SKIPS: [dump_row(r) for r in self.probes_skipped],
            _ALONG: self.along_training.to_dict() if self.along_training else None,
            "extractors_skipped": [dump(r) for r in self.extractors_skipped],
            "data": self.data.to_dict(),
            "artifacts": dict(self.artifacts),
            "environment": thaw(self.environment),
            "started": self.started,
            "wall_seconds": thaw(self.wall_seconds),
            "cpu_seconds": thaw(self.cpu_seconds),
            "load_average": thaw(self.load_average),
            "phase_seconds": thaw(self.phase_seconds),
            "error": thaw(self.error),
            "provenance": thaw(self.provenance),
        }
        keys = list(_FAILED_KEYS if self.status == FAILED else _FINISHED_KEYS)
        if self.probes_skipped and "probe_warnings" in keys:
            keys.insert(keys.index("probe_warnings") + 1, _SKIPS)
        if self.along_training is not None and "probe_warnings" in keys:
            keys.insert(keys.index("probe_warnings") + 1 + bool(self.probes_skipped), _ALONG)
        out = {VERSION_KEY: RECORD_VERSION, **{k: every[k] for k in keys}}
        if self.reprobed is not None:
            out["reprobed"] = list(self.reprobed)
        return {**out, **thaw(self.extra)}

    def __getitem__(self, key: str) -> Any:
        """The stored form of one top-level key (``record["spec"]``), for code
        written against records as dicts (notebooks, plugins); a copy, so changing
        it changes nothing. The harness itself reads the typed fields."""
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """``record[key]``, or ``default`` where the stored form has no such key."""
        return self.to_dict().get(key, default)

    # ------------------------------------------------------------ the spec's facts

    def section(self, name: str) -> Mapping[str, Any]:
        """A table of the run's spec (``condition``, ``model``, ``target``, ``dataset``),
        empty when the record has none."""
        value = self.spec.get(name)
        return value if isinstance(value, Mapping) else {}

    @property
    def condition_name(self) -> str | None:
        return self.section("condition").get("name")

    @property
    def model_label(self) -> str | None:
        """The model's suite label, else its plugin."""
        model = self.section("model")
        return model.get("label") or model.get("plugin")

    @property
    def model_plugin(self) -> str | None:
        return self.section("model").get("plugin")

    @property
    def seed(self) -> int | None:
        return self.spec.get("seed")

    @property
    def control(self) -> str | None:
        """The suite's control condition."""
        return self.spec.get("control")

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def artifact(self, name: str, default: str) -> str:
        """The file name of an artifact (``latents``) inside the run folder."""
        return str(self.artifacts.get(name, default))

    def model_free_spaces(self) -> set[str]:
        """Latent spaces computed without the model (``needs_model`` false as the
        extractor declared it): the raw-feature baseline."""
        return {name for name, info in self.latent_spaces.items() if info.needs_model is False}


def as_records(records: Iterable[RunRecord | Mapping[str, Any]]) -> list[RunRecord]:
    """Records as :class:`RunRecord`: a dict (the stored form, as simulations, tests
    and notebooks build records) is read through :meth:`RunRecord.from_dict`."""
    return [r if isinstance(r, RunRecord) else RunRecord.from_dict(r) for r in records]


def _rows(cls: type[Any], rows: Any) -> tuple[Any, ...]:
    return tuple(build(cls, row) for row in rows or () if isinstance(row, Mapping))


def _check_version(version: Any, where: str) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise RecordVersionError(f"{where}: record_version {version!r} is not a version number")
    if version > RECORD_VERSION:
        raise RecordVersionError(
            f"{where}: written by a newer harness (record version {version}; this one reads "
            f"up to {RECORD_VERSION}); upgrade the harness to read it"
        )


def read_record(path: str | Path) -> RunRecord:
    """The record stored at ``path`` (a ``record.json``).

    :raises OSError, ValueError: missing, unreadable or not JSON (``ValueError``
        also when it is not a JSON object); :class:`RecordVersionError` (a
        ``ValueError``) when a newer harness wrote it.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a run record (a JSON {type(data).__name__})")
    try:
        return RunRecord.from_dict(data, where=str(path))
    except (AttributeError, TypeError) as exc:  # a part of the wrong shape
        raise ValueError(f"{path}: not a run record ({exc})") from exc


def write_record(path: str | Path, record: RunRecord) -> None:
    """Write ``record`` to ``path`` atomically as strict JSON."""
    write_json(path, record.to_dict())
