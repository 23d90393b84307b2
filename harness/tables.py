"""Run records -> tidy pandas tables, one pure function per table.

Every fact a table holds comes from the records: what a metric is (its role
and its chance level) and whether a latent space needs a model were declared
by the plugins and written into each record by :mod:`harness.execute`; nothing
is inferred from names. :mod:`harness.results` loads an output folder into
these tables; docs/report.md documents every column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from harness.audio import FILE_REASONS, SKIP_REASONS

#: Statuses a run record can have (docs/architecture.md).
STATUSES = ("reached", "censored", "diverged", "failed")

#: Time measures of convergence, each a column ``<measure>_to_threshold``. The
#: ``total_*`` ones count pretraining too: its steps or segments, plus the
#: target-training ones.
TIME_MEASURES = ("steps", "examples", "epochs", "seconds", "total_steps", "total_examples")
#: the pretraining counter each total adds to its target-training measure
_TOTALS = {"total_steps": ("pretrain_steps", "steps"),
           "total_examples": ("pretrain_examples", "examples")}  # fmt: skip

#: a classifier's held-out measures besides the loss (the curves' extra columns)
CLASSIFY_METRICS = ("accuracy", "balanced_accuracy")

RUN_COLUMNS = [
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
    "run_id", "label", "condition", "condition_label", "is_control", "pretrain_language",
    "pretrain_filter", "pretrain_epochs", "checkpoint", "model", "model_plugin", "seed", "status",
    "event", "diverged_phase", "threshold_mode", "metric", "higher_is_better", "started", "error_type",
    "error_message",
}  # fmt: skip
CURVE_COLUMNS = [
    "run_id",
    "condition",
    "model",
    "seed",
    "status",
    "step",
    "train_loss",
    "heldout_loss",
    "seconds",
    "metric",
    "heldout_metric",
    *(f"heldout_{name}" for name in CLASSIFY_METRICS),
]
PROBE_COLUMNS = [
    "run_id",
    "condition",
    "model",
    "seed",
    "status",
    "extractor",
    "latent_space",
    "probe",
    "metric",
    "value",
    "higher_is_better",
    "is_baseline",
    "role",
    "headline",
    "chance_metric",
    "chance",
    "bound_low",
    "bound_high",
]


def _bounds(value: Any) -> dict[str, float]:
    """The declared range of a metric row (NaN ends: unbounded or not recorded)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return {"bound_low": float(value[0]), "bound_high": float(value[1])}
    return {"bound_low": np.nan, "bound_high": np.nan}


def _get(mapping: Mapping[str, Any] | None, *keys: str, default: Any = None) -> Any:
    value: Any = mapping
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return default if value is None else value


def _identity(record: Mapping[str, Any]) -> dict[str, Any]:
    spec = record.get("spec") or {}
    condition = spec.get("condition") or {}
    model = spec.get("model") or {}
    return {
        "run_id": str(record.get("run_id") or spec.get("run_id")),
        "condition": condition.get("name"),
        "model": model.get("label") or model.get("plugin"),
        "seed": spec.get("seed"),
        "status": record.get("status"),
    }


def runs_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run; the ``*_to_threshold`` columns are survival times.

    ``event`` is True when the held-out loss crossed the threshold. A censored
    run's time is the end of its budget. A diverged run never reaches the
    threshold, so it is censored at the longest time any run of the same model
    recorded: it stays at risk past every observed crossing, as a run that
    never learns should (docs/report.md). Failed runs have no times.
    """
    rows = []
    for record in records:
        spec = record.get("spec") or {}
        conv = record.get("convergence") or {}
        error = record.get("error") or {}
        condition = spec.get("condition") or {}
        status = record.get("status")
        row = _identity(record)
        row.update(
            label=record.get("label") or spec.get("label"),
            condition_label=condition.get("label") or condition.get("name"),
            is_control=condition.get("name") == spec.get("control"),
            pretrain_language=condition.get("language"),
            pretrain_filter=_get(condition, "filter", "plugin"),
            pretrain_epochs=condition.get("epochs"),
            checkpoint=spec.get("checkpoint"),
            model_plugin=_get(spec, "model", "plugin"),
            event={"reached": True, "censored": False, "diverged": False}.get(str(status)),
            recorded_steps=conv.get("steps"),
            diverged_step=conv.get("diverged_step"),
            diverged_phase=conv.get("diverged_phase"),
            max_steps=_get(spec, "target", "max_steps"),
            threshold=conv.get("threshold"),
            threshold_mode=_get(spec, "target", "threshold_mode"),
            metric=conv.get("metric") or "loss",
            higher_is_better=bool(conv.get("higher_is_better")),
            final_metric=conv.get("final_metric", conv.get("final_heldout_loss")),
            final_accuracy=_get(record, "classification", "accuracy"),
            final_balanced_accuracy=_get(record, "classification", "balanced_accuracy"),
            initial_heldout_loss=conv.get("initial_heldout_loss"),
            reference_heldout_loss=conv.get("reference_heldout_loss"),
            final_train_loss=conv.get("final_train_loss"),
            final_heldout_loss=conv.get("final_heldout_loss"),
            pretrain_steps=conv.get("pretrain_steps"),
            pretrain_examples=_pretrain_examples(conv),
            pretrain_seconds=conv.get("pretrain_seconds"),
            train_seconds=conv.get("train_seconds"),
            wall_seconds=record.get("wall_seconds"),
            cpu_seconds=record.get("cpu_seconds"),
            load_start=_load(record, "start"),
            load_end=_load(record, "end"),
            cpu_count=_get(record, "environment", "cpu_count"),
            started=record.get("started"),
            error_type=error.get("type"),
            error_message=error.get("message"),
        )
        for measure in TIME_MEASURES:
            row[f"{measure}_to_threshold"] = _time(conv, measure) if status != "failed" else None
        rows.append(row)
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for column in (c for c in RUN_COLUMNS if c not in _NON_FLOAT_RUN_COLUMNS):
        runs[column] = pd.to_numeric(runs[column], errors="coerce").astype(float)
    runs["seed"] = pd.to_numeric(runs["seed"], errors="coerce").astype("Int64")
    runs["event"] = runs["event"].astype("boolean")
    runs["is_control"] = runs["is_control"].astype(bool)
    runs["higher_is_better"] = runs["higher_is_better"].astype(bool)
    _censor_diverged(runs)
    return runs.sort_values(["model", "condition", "seed"], kind="stable").reset_index(drop=True)


def _load(record: Mapping[str, Any], when: str) -> Any:
    """The 1-minute load average a run recorded at its ``start`` or ``end``."""
    values = _get(record, "load_average", when)
    return values[0] if isinstance(values, list) and values else None


def _pretrain_examples(conv: Mapping[str, Any]) -> Any:
    # records written before pretrain_examples existed: none when nothing was pretrained
    examples = conv.get("pretrain_examples")
    if examples is None and conv.get("pretrain_steps") == 0:
        return 0
    return examples


def _time(conv: Mapping[str, Any], measure: str) -> Any:
    """A time measure of the convergence section; a total adds the pretraining
    counter to the target-training one (None when either is missing)."""
    if measure not in _TOTALS:
        return conv.get(measure)
    pretrain, target = _TOTALS[measure]
    before = conv.get(pretrain) if pretrain == "pretrain_steps" else _pretrain_examples(conv)
    after = conv.get(target)
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


def curves_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run x held-out evaluation (non-finite losses become NaN)."""
    frames = []
    for record in records:
        curve = record.get("curve") or {}
        steps = curve.get("step") or []
        if not steps:
            continue
        columns = ("step", "train_loss", "heldout_loss", "seconds",
                   *(f"heldout_{name}" for name in CLASSIFY_METRICS))  # fmt: skip
        frame = pd.DataFrame({k: _column(curve.get(k), len(steps)) for k in columns})
        metric = _get(record, "convergence", "metric", default="loss")
        frame["metric"] = metric
        # the measure the threshold applies to, whichever it is
        frame["heldout_metric"] = frame[f"heldout_{metric}"]
        for key, value in _identity(record).items():
            frame[key] = value
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    curves = pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]
    numbers = ("train_loss", "heldout_loss", "seconds", "heldout_metric",
               *(f"heldout_{name}" for name in CLASSIFY_METRICS))  # fmt: skip
    for column in numbers:
        values = pd.to_numeric(curves[column], errors="coerce").astype(float)
        curves[column] = values.where(np.isfinite(values))
    curves["seed"] = pd.to_numeric(curves["seed"], errors="coerce").astype("Int64")
    return curves


def _column(values: Any, n: int) -> list[Any]:
    values = list(values or [])
    # a curve column shorter than ``step`` (a broken record) is padded, never misaligned
    return [_finite_or_nan(v) for v in values[:n]] + [np.nan] * (n - len(values))


def _finite_or_nan(value: Any) -> Any:
    return np.nan if value is None else value


def probes_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run x latent space x probe x metric.

    ``role`` and ``chance_metric`` are what the probe declared for the metric
    (:class:`harness.Metric`); ``chance`` is the value of ``chance_metric`` on
    the same run, latent space and probe. ``is_baseline`` marks latent spaces
    whose extractor needs no model (the raw-feature baseline).
    """
    rows = []
    for record in records:
        identity = _identity(record)
        model_free = _model_free_spaces(record)
        for row in record.get("probes") or []:
            space = row.get("latent_space")
            rows.append(
                {
                    **identity,
                    "extractor": row.get("extractor") or str(space or "").split("/")[0],
                    "latent_space": space,
                    "probe": row.get("probe"),
                    "metric": row.get("metric"),
                    "value": row.get("value"),
                    "higher_is_better": bool(row.get("higher_is_better", True)),
                    "is_baseline": space in model_free,
                    "role": row.get("role") or "score",
                    "chance_metric": row.get("chance"),
                    "headline": bool(row.get("headline", False)),
                    **_bounds(row.get("bounds")),
                }
            )
    if not rows:
        return pd.DataFrame(columns=PROBE_COLUMNS)
    probes = pd.DataFrame(rows)
    probes["value"] = pd.to_numeric(probes["value"], errors="coerce").astype(float)
    probes["seed"] = pd.to_numeric(probes["seed"], errors="coerce").astype("Int64")
    probes["chance"] = _chance_column(probes)
    return probes[PROBE_COLUMNS]


def _model_free_spaces(record: Mapping[str, Any]) -> set[str]:
    """Latent spaces of this run computed without the model (``needs_model`` false
    as the extractor declared it): the raw-feature baseline."""
    spaces = record.get("latent_spaces") or {}
    return {
        str(name)
        for name, info in spaces.items()
        if isinstance(info, Mapping) and info.get("needs_model") is False
    }


#: columns of :func:`layers_table` (not written as CSV: stats/layers.csv holds them per model)
LAYER_COLUMNS = ["run_id", "condition", "model", "seed", "status", "latent_space", "stack", "depth"]


def layers_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run and latent space its extractor declared part of an
    ordered stack of layers (``stack``, ``depth`` under the record's
    ``latent_spaces``); spaces outside any stack have no row."""
    rows = []
    for record in records:
        identity = _identity(record)
        for name, info in (record.get("latent_spaces") or {}).items():
            if not isinstance(info, Mapping):
                continue
            stack, depth = info.get("stack"), info.get("depth")
            if isinstance(stack, str) and isinstance(depth, int) and not isinstance(depth, bool):
                rows.append({**identity, "latent_space": str(name), "stack": stack, "depth": depth})
    frame = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["depth"] = pd.to_numeric(frame["depth"], errors="coerce").astype("Int64")
    return frame


def _chance_column(probes: pd.DataFrame) -> pd.Series:
    """For each score, the value of the reference metric its probe declared as
    its chance level, reported on the same run, latent space and probe."""
    lookup = {
        key: value
        for key, value in zip(
            probes[["run_id", "latent_space", "probe", "metric"]].itertuples(
                index=False, name=None
            ),
            probes["value"],
            strict=True,
        )
    }
    out = []
    for run_id, space, probe, chance in probes[
        ["run_id", "latent_space", "probe", "chance_metric"]
    ].itertuples(index=False, name=None):
        value = lookup.get((run_id, space, probe, chance)) if isinstance(chance, str) else None
        out.append(np.nan if value is None else value)
    return pd.Series(out, index=probes.index, dtype=float)


DETAIL_COLUMNS = ["run_id", "condition", "model", "seed", "status", "extractor", "latent_space",
                  "probe", "name", "values"]  # fmt: skip


def details_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run x latent space x probe x detail; ``values`` holds the
    detail's numbers as a float array (non-finite as NaN). Not written as CSV."""
    rows = []
    for record in records:
        identity = _identity(record)
        for row in record.get("probe_details") or []:
            values = np.array([np.nan if v is None else v for v in row.get("values") or []], float)
            rows.append(
                {
                    **identity,
                    "extractor": row.get("extractor"),
                    "latent_space": row.get("latent_space"),
                    "probe": row.get("probe"),
                    "name": row.get("name"),
                    "values": values,
                }
            )
    frame = pd.DataFrame(rows, columns=DETAIL_COLUMNS)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    return frame


def speakers_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """The probe speakers of one run, sorted by id, with their language: the
    order of per-speaker probe details."""
    clips = (record.get("data") or {}).get("probe_clips") or {}
    speakers = [str(s) for s in clips.get("speaker", [])]
    languages = [str(x) for x in clips.get("language", [])]
    frame = pd.DataFrame({"speaker": speakers, "language": languages})
    return frame.drop_duplicates("speaker").sort_values("speaker").reset_index(drop=True)


#: per language, the roles whose speakers and clips data_quality.csv counts
_ROLES = ("pretrain", "train", "heldout", "probe")
#: reasons in the order of data_quality.csv's skipped_* columns
SKIP_COLUMNS = SKIP_REASONS
DATA_QUALITY_COLUMNS = [
    "dataset", "language", "files_read", "files_skipped",
    *(f"skipped_{reason}" for reason in SKIP_COLUMNS),
    "speakers_loaded", "clips_loaded",
    *(f"{role}_{unit}" for role in _ROLES for unit in ("speakers", "clips")),
]  # fmt: skip


def skipped_files(records: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Every file a suite's dataset skipped, once (runs of a suite read the same data)."""
    seen: dict[tuple[str, ...], dict[str, str]] = {}
    for record in records:
        for row in _get(record, "data", "skipped", default=None) or []:
            key = tuple(str(row.get(k, "")) for k in ("dataset", "language", "file", "reason"))
            seen.setdefault(key, dict(row))
    return sorted(seen.values(), key=lambda r: (r.get("language", ""), r.get("file", "")))


def data_quality_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per dataset and language: files read and skipped (by reason), speakers
    and clips the dataset delivered, and the most any run kept in each role."""
    records = list(records)
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(dataset: str, language: str) -> dict[str, Any]:
        return rows.setdefault((dataset, language), dict.fromkeys(DATA_QUALITY_COLUMNS[2:], 0))

    for record in records:
        dataset = str(_get(record, "spec", "dataset", "plugin", default="") or "")
        for language, n in (_get(record, "data", "loaded", default=None) or {}).items():
            entry = row(dataset, language)
            entry["speakers_loaded"] = max(entry["speakers_loaded"], n.get("speakers", 0))
            entry["clips_loaded"] = max(entry["clips_loaded"], n.get("clips", 0))
        for role, per in (_get(record, "data", "counts", default=None) or {}).items():
            for language, n in per.items():
                if role in _ROLES:
                    entry = row(dataset, language)
                    for unit in ("speakers", "clips"):
                        column = f"{role}_{unit}"
                        entry[column] = max(entry[column], n.get(unit, 0))
    for skip in skipped_files(records):
        reason = skip.get("reason", "other")
        entry = row(skip.get("dataset", ""), skip.get("language", ""))
        entry[f"skipped_{reason if reason in SKIP_COLUMNS else 'other'}"] += 1
    for entry in rows.values():
        entry["files_skipped"] = sum(entry[f"skipped_{r}"] for r in FILE_REASONS)
        entry["files_read"] = entry["clips_loaded"] + entry["files_skipped"]
    table = [{"dataset": d, "language": lang, **entry} for (d, lang), entry in sorted(rows.items())]
    return pd.DataFrame(table, columns=list(DATA_QUALITY_COLUMNS))


CONFUSION_COLUMNS = ["run_id", "condition", "model", "seed", "status", "source", "true",
                     "predicted", "count"]  # fmt: skip
STREAMING_COLUMNS = ["run_id", "condition", "model", "seed", "status", "frames", "accuracy"]


def _confusion_rows(
    identity: dict[str, Any], scores: Mapping[str, Any], source: str
) -> list[dict[str, Any]]:
    classes = [str(c) for c in scores.get("classes") or []]
    matrix = scores.get("confusion") or []
    return [
        {**identity, "source": source, "true": truth, "predicted": decided, "count": int(count)}
        for truth, row in zip(classes, matrix, strict=False)
        for decided, count in zip(classes, row, strict=False)
    ]


def confusion_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per classify run x true class x decided class: held-out segments
    counted at the end of training (``source`` "model"), and the classical
    baseline's held-out clips on the same split (``source`` "baseline")."""
    rows = []
    for record in records:
        identity = _identity(record)
        rows += _confusion_rows(identity, record.get("classification") or {}, "model")
        rows += _confusion_rows(identity, record.get("baseline") or {}, "baseline")
    frame = pd.DataFrame(rows, columns=CONFUSION_COLUMNS)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    return frame


def streaming_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per streaming classify run x prefix length: the held-out
    accuracy of the decision after its first ``frames`` frames, fed one at a time."""
    rows = []
    for record in records:
        streaming = _get(record, "classification", "streaming", default=None) or {}
        identity = _identity(record)
        for frames, accuracy in zip(streaming.get("frames") or [], streaming.get("accuracy") or [],
                                    strict=False):  # fmt: skip
            rows.append({**identity, "frames": frames, "accuracy": _finite_or_nan(accuracy)})
    frame = pd.DataFrame(rows, columns=STREAMING_COLUMNS)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    return frame
