"""Run records -> the data and classification tables: data_quality.csv,
confusion.csv, streaming.csv, and the files a suite's dataset skipped.

docs/report.md documents every column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from harness.data.audio import FILE_REASONS, SKIP_REASONS
from harness.data.splits import ROLES
from harness.output.record import RunRecord, as_records
from harness.tables.runs import IDENTITY_COLUMNS, finite_or_nan, identity

__all__ = [
    "CONFUSION_COLUMNS",
    "DATA_QUALITY_COLUMNS",
    "SKIP_COLUMNS",
    "STREAMING_COLUMNS",
    "confusion_table",
    "data_quality_table",
    "skipped_files",
    "streaming_table",
]

#: per language, the roles whose speakers and clips data_quality.csv counts
#: reasons in the order of data_quality.csv's skipped_* columns
SKIP_COLUMNS = SKIP_REASONS
DATA_QUALITY_COLUMNS = [
    "dataset",
    "language",
    "files_read",
    "files_skipped",
    *(f"skipped_{reason}" for reason in SKIP_COLUMNS),
    "speakers_loaded",
    "clips_loaded",
    *(f"{role}_{unit}" for role in ROLES for unit in ("speakers", "clips")),
]
#: data_quality.csv's columns of what the dataset delivered, by count
_LOADED = {"speakers": "speakers_loaded", "clips": "clips_loaded"}
CONFUSION_COLUMNS = [*IDENTITY_COLUMNS, "source", "true", "predicted", "count"]
STREAMING_COLUMNS = [*IDENTITY_COLUMNS, "frames", "accuracy"]


def skipped_files(records: Iterable[RunRecord | Mapping[str, Any]]) -> list[dict[str, str]]:
    """Every file a suite's dataset skipped, once (runs of a suite read the same data)."""
    return unique_skipped(record.data.skipped for record in as_records(records))


def unique_skipped(per_run: Iterable[Iterable[Mapping[str, str]]]) -> list[dict[str, str]]:
    """The skipped-file rows of every run (``per_run``: each run's rows), each file once."""
    seen: dict[tuple[str, ...], dict[str, str]] = {}
    for rows in per_run:
        for row in rows:
            key = tuple(str(row.get(k, "")) for k in ("dataset", "language", "file", "reason"))
            seen.setdefault(key, dict(row))
    return sorted(seen.values(), key=lambda r: (r.get("language", ""), r.get("file", "")))


def data_quality_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per dataset and language: files read and skipped (by reason), speakers
    and clips the dataset delivered, and the most any run kept in each role."""
    records = as_records(records)
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(dataset: str, language: str) -> dict[str, Any]:
        return rows.setdefault((dataset, language), dict.fromkeys(DATA_QUALITY_COLUMNS[2:], 0))

    for record in records:
        dataset = str(record.section("dataset").get("plugin") or "")
        for language, n in record.data.loaded.items():
            _keep_most(row(dataset, language), n, _LOADED)
        for role, per in record.data.counts.items():
            if role in ROLES:
                for language, n in per.items():
                    _keep_most(row(dataset, language), n, _role_columns(role))
    for skip in skipped_files(records):
        reason = skip.get("reason", "other")
        entry = row(skip.get("dataset", ""), skip.get("language", ""))
        entry[f"skipped_{reason if reason in SKIP_COLUMNS else 'other'}"] += 1
    for entry in rows.values():
        entry["files_skipped"] = sum(entry[f"skipped_{r}"] for r in FILE_REASONS)
        entry["files_read"] = entry["clips_loaded"] + entry["files_skipped"]
    table = [{"dataset": d, "language": lang, **entry} for (d, lang), entry in sorted(rows.items())]
    return pd.DataFrame(table, columns=list(DATA_QUALITY_COLUMNS))


def _role_columns(role: str) -> dict[str, str]:
    return {unit: f"{role}_{unit}" for unit in ("speakers", "clips")}


def _keep_most(
    entry: dict[str, Any], counts: Mapping[str, int], columns: Mapping[str, str]
) -> None:
    """Raise each ``columns[unit]`` of ``entry`` to ``counts[unit]`` where that is more."""
    for unit, column in columns.items():
        entry[column] = max(entry[column], counts.get(unit, 0))


def _confusion_rows(
    identity_: dict[str, Any], scores: Mapping[str, Any] | None, source: str
) -> list[dict[str, Any]]:
    scores = scores or {}
    classes = [str(c) for c in scores.get("classes") or []]
    matrix = scores.get("confusion") or []
    return [
        {**identity_, "source": source, "true": truth, "predicted": decided, "count": int(count)}
        for truth, row in zip(classes, matrix, strict=False)
        for decided, count in zip(classes, row, strict=False)
    ]


def confusion_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per classify run x true class x decided class: held-out segments
    counted at the end of training (``source`` "model"), and the classical
    baseline's held-out clips on the same split (``source`` "baseline")."""
    rows = []
    for record in as_records(records):
        rows += _confusion_rows(identity(record), record.classification, "model")
        rows += _confusion_rows(identity(record), record.baseline, "baseline")
    frame = pd.DataFrame(rows, columns=CONFUSION_COLUMNS)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    return frame


def streaming_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per streaming classify run x prefix length: the held-out
    accuracy of the decision after its first ``frames`` frames, fed one at a time."""
    rows = []
    for record in as_records(records):
        streaming = (record.classification or {}).get("streaming") or {}
        pairs = zip(streaming.get("frames") or [], streaming.get("accuracy") or [], strict=False)
        rows += [
            {**identity(record), "frames": frames, "accuracy": finite_or_nan(accuracy)}
            for frames, accuracy in pairs
        ]
    frame = pd.DataFrame(rows, columns=STREAMING_COLUMNS)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    return frame
