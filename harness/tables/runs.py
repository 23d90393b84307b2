"""Run records -> the runs and curves tables (runs.csv, curves.csv).

One row per run with its survival times to the threshold, and one row per
run and held-out evaluation. Every fact comes from the typed
:class:`~harness.output.record.RunRecord`; docs/report.md documents every column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from harness.output.record import STATUSES, Convergence, RunRecord, as_records

__all__ = [
    "CLASSIFY_METRICS",
    "CURVE_COLUMNS",
    "IDENTITY_COLUMNS",
    "RUN_COLUMNS",
    "STATUSES",
    "TIME_MEASURES",
    "curves_table",
    "identity",
    "runs_table",
]

#: Time measures of convergence, each a column ``<measure>_to_threshold``. The
#: ``total_*`` ones count pretraining too: its steps or segments, plus the
#: target-training ones.
TIME_MEASURES = ("steps", "examples", "epochs", "seconds", "total_steps", "total_examples")
#: the pretraining counter each total adds to its target-training measure
_TOTALS = {
    "total_steps": ("pretrain_steps", "steps"),
    "total_examples": ("pretrain_examples", "examples"),
}

#: a classifier's held-out measures besides the loss (the curves' extra columns)
CLASSIFY_METRICS = ("accuracy", "balanced_accuracy")

#: runs.csv's first columns: what the run was (none of them a float number)
_RUN_FACTS = [
    "run_id",
    "label",
    "condition",
    "condition_label",
    "is_control",
    "pretrain_language",
    "pretrain_filter",
    "pretrain_epochs",
    "checkpoint",
    "model",
    "model_plugin",
    "seed",
    "status",
    "event",
]
RUN_COLUMNS = [
    *_RUN_FACTS,
    *[f"{m}_to_threshold" for m in TIME_MEASURES],
    "recorded_steps",
    "diverged_step",
    "diverged_phase",
    "max_steps",
    "threshold",
    "threshold_mode",
    "metric",
    "higher_is_better",
    "final_metric",
    "final_accuracy",
    "final_balanced_accuracy",
    "initial_heldout_loss",
    "reference_heldout_loss",
    "final_train_loss",
    "final_heldout_loss",
    "pretrain_steps",
    "pretrain_examples",
    "pretrain_seconds",
    "train_seconds",
    "wall_seconds",
    "cpu_seconds",
    "load_start",
    "load_end",
    "cpu_count",
    "started",
    "error_type",
    "error_message",
]
#: runs.csv columns that are not float numbers (the rest are)
_NON_FLOAT_RUN_COLUMNS = {
    *_RUN_FACTS,
    "diverged_phase",
    "threshold_mode",
    "metric",
    "higher_is_better",
    "started",
    "error_type",
    "error_message",
}
_CURVE_NUMBERS = (
    "train_loss",
    "heldout_loss",
    "seconds",
    *(f"heldout_{name}" for name in CLASSIFY_METRICS),
)
#: the columns every per-run table but runs.csv starts with (see :func:`identity`)
IDENTITY_COLUMNS = ["run_id", "condition", "model", "seed", "status"]
CURVE_COLUMNS = [
    *IDENTITY_COLUMNS,
    "step",
    *_CURVE_NUMBERS[:3],
    "metric",
    "heldout_metric",
    *_CURVE_NUMBERS[3:],
]


def identity(record: RunRecord) -> dict[str, Any]:
    """The columns every per-run table starts with."""
    return {
        "run_id": record.run_id,
        "condition": record.condition_name,
        "model": record.model_label,
        "seed": record.seed,
        "status": record.status,
    }


def runs_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run; the ``*_to_threshold`` columns are survival times.

    ``event`` is True when the held-out loss crossed the threshold. A censored
    run's time is the end of its budget. A diverged run never reaches the
    threshold, so it is censored at the longest time any run of the same model
    recorded: it stays at risk past every observed crossing, as a run that
    never learns should (docs/report.md). Failed runs have no times.
    """
    runs = pd.DataFrame([_run_row(r) for r in as_records(records)], columns=RUN_COLUMNS)
    for column in (c for c in RUN_COLUMNS if c not in _NON_FLOAT_RUN_COLUMNS):
        runs[column] = pd.to_numeric(runs[column], errors="coerce").astype(float)
    runs["seed"] = pd.to_numeric(runs["seed"], errors="coerce").astype("Int64")
    runs["event"] = runs["event"].astype("boolean")
    runs["is_control"] = runs["is_control"].astype(bool)
    runs["higher_is_better"] = runs["higher_is_better"].astype(bool)
    _censor_diverged(runs)
    return runs.sort_values(["model", "condition", "seed"], kind="stable").reset_index(drop=True)


def _pretraining_columns(condition: Mapping[str, Any]) -> dict[str, Any]:
    """What a condition hears first; a curriculum's stages joined by "then"."""
    stages = condition.get("stages")
    if not stages:
        return {
            "pretrain_language": condition.get("language"),
            "pretrain_filter": _plugin(condition.get("filter")),
            "pretrain_epochs": condition.get("epochs"),
        }
    return {
        "pretrain_language": " then ".join(str(s.get("language")) for s in stages),
        "pretrain_filter": " then ".join(str(_plugin(s.get("filter"))) for s in stages),
        "pretrain_epochs": " then ".join(str(s.get("epochs")) for s in stages),
    }


def _run_row(record: RunRecord) -> dict[str, Any]:
    conv = record.convergence
    condition = record.section("condition")
    target = record.section("target")
    error = record.error or {}
    classification = record.classification or {}
    return {
        **identity(record),
        "label": record.label or None,
        "condition_label": condition.get("label") or condition.get("name"),
        "is_control": record.condition_name == record.control,
        **_pretraining_columns(condition),
        "checkpoint": record.spec.get("checkpoint"),
        "model_plugin": record.model_plugin,
        "event": {"reached": True, "censored": False, "diverged": False}.get(record.status),
        **{f"{m}_to_threshold": None if record.failed else _time(conv, m) for m in TIME_MEASURES},
        "recorded_steps": conv.steps,
        "diverged_step": conv.diverged_step,
        "diverged_phase": conv.diverged_phase,
        "max_steps": target.get("max_steps"),
        "threshold": conv.threshold,
        "threshold_mode": target.get("threshold_mode"),
        "metric": conv.metric,
        "higher_is_better": conv.higher_is_better,
        "final_metric": conv.final_metric,
        "final_accuracy": classification.get("accuracy"),
        "final_balanced_accuracy": classification.get("balanced_accuracy"),
        "initial_heldout_loss": conv.initial_heldout_loss,
        "reference_heldout_loss": conv.reference_heldout_loss,
        "final_train_loss": conv.final_train_loss,
        "final_heldout_loss": conv.final_heldout_loss,
        "pretrain_steps": conv.pretrain_steps,
        "pretrain_examples": conv.pretrain_examples,
        "pretrain_seconds": conv.pretrain_seconds,
        "train_seconds": conv.train_seconds,
        "wall_seconds": record.wall_seconds,
        "cpu_seconds": record.cpu_seconds,
        "load_start": _load(record, "start"),
        "load_end": _load(record, "end"),
        "cpu_count": record.environment.get("cpu_count"),
        "started": record.started,
        "error_type": error.get("type"),
        "error_message": error.get("message"),
    }


def _plugin(selection: Any) -> Any:
    return selection.get("plugin") if isinstance(selection, Mapping) else None


def _load(record: RunRecord, when: str) -> Any:
    """The 1-minute load average a run recorded at its ``start`` or ``end``."""
    values = (record.load_average or {}).get(when)
    return values[0] if isinstance(values, list) and values else None


def _time(conv: Convergence, measure: str) -> Any:
    """A time measure of the convergence section; a total adds the pretraining
    counter to the target-training one (None when either is missing)."""
    if measure not in _TOTALS:
        return getattr(conv, measure)
    before, after = (getattr(conv, name) for name in _TOTALS[measure])
    return None if before is None or after is None else before + after


def _censor_diverged(runs: pd.DataFrame) -> None:
    """A diverged run is censored at the longest time of its model; its total
    is its own pretraining plus its censored target time, or the model's
    longest total if that is longer."""
    diverged = runs["status"] == "diverged"
    if not diverged.any():
        return
    for measure in TIME_MEASURES:
        column = f"{measure}_to_threshold"
        longest = runs.groupby("model")[column].transform("max")
        if measure == "steps":
            longest = np.fmax(longest, runs["max_steps"])
        if measure in _TOTALS:
            pretrain, target = _TOTALS[measure]
            # the target column is censored already: TIME_MEASURES lists it first
            own = runs[pretrain] + runs[f"{target}_to_threshold"]
            longest = np.fmax(longest, own)
        runs.loc[diverged, column] = longest[diverged]


def curves_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run x held-out evaluation (non-finite losses become NaN)."""
    frames = []
    for record in as_records(records):
        steps = record.curve.step
        if not steps:
            continue
        columns = ("step", *_CURVE_NUMBERS)
        frame = pd.DataFrame({k: _column(record.curve.column(k), len(steps)) for k in columns})
        metric = record.convergence.metric
        frame["metric"] = metric
        # the measure the threshold applies to, whichever it is
        frame["heldout_metric"] = frame[f"heldout_{metric}"]
        for key, value in identity(record).items():
            frame[key] = value
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    curves = pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]
    for column in (*_CURVE_NUMBERS, "heldout_metric"):
        values = pd.to_numeric(curves[column], errors="coerce").astype(float)
        curves[column] = values.where(np.isfinite(values))
    curves["seed"] = pd.to_numeric(curves["seed"], errors="coerce").astype("Int64")
    return curves


def _column(values: Any, n: int) -> list[Any]:
    values = list(values or [])
    # a curve column shorter than ``step`` (a broken record) is padded, never misaligned
    return [finite_or_nan(v) for v in values[:n]] + [np.nan] * (n - len(values))


def finite_or_nan(value: Any) -> Any:
    """A recorded number, NaN for null."""
    return np.nan if value is None else value
