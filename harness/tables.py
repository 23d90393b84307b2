"""Run records -> tidy pandas tables; the notebook API.

    from harness.tables import load_results
    res = load_results("reports/pretrain")
    res.runs          # one row per run
    res.curves        # one row per run x evaluation
    res.probes        # one row per run x latent space x probe x metric
    res.latents(run_id)["lstm_state/h"]   # (n probe clips, dim), rows in res.probe_clips(run_id)

:func:`write_tables` writes these as CSV next to the runs, with the statistics
under ``stats/``. docs/report.md documents every column.
"""

from __future__ import annotations

import tomllib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.store import RECORD, Store, StoreError

#: Extractor plugins whose latent spaces are computed from features alone: the
#: raw-feature baseline every model latent space is compared with.
BASELINE_EXTRACTORS = ("feature_stats",)

#: Statuses a run record can have (docs/architecture.md).
STATUSES = ("reached", "censored", "diverged", "failed")

#: Time measures of convergence, each a column ``<measure>_to_threshold``.
TIME_MEASURES = ("steps", "examples", "epochs", "seconds")

RUN_COLUMNS = [
    "run_id",
    "label",
    "condition",
    "condition_label",
    "is_control",
    "pretrain_language",
    "pretrain_filter",
    "pretrain_epochs",
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
    "initial_heldout_loss",
    "final_train_loss",
    "final_heldout_loss",
    "pretrain_steps",
    "pretrain_seconds",
    "train_seconds",
    "wall_seconds",
    "started",
    "error_type",
    "error_message",
]
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
    "chance",
]


class ResultsError(Exception):
    """The output folder cannot be read as harness results."""


@dataclass
class Results:
    """Everything one output folder holds, as tables plus access to arrays.

    :ivar output_dir: the folder.
    :ivar suite: ``suite.toml`` parsed (empty if it is missing).
    :ivar suite_text: ``suite.toml`` verbatim.
    :ivar records: run id -> run record (``record.json``).
    :ivar runs, curves, probes: the tidy tables (see docs/report.md).
    :ivar expected: the run ids and labels the suite expands to, from
        ``manifest.json``; ``None`` if there is no manifest.
    :ivar problems: run folders that could not be read, with the reason.
    """

    output_dir: Path
    suite: dict[str, Any]
    suite_text: str
    records: dict[str, dict[str, Any]]
    runs: pd.DataFrame
    curves: pd.DataFrame
    probes: pd.DataFrame
    expected: list[dict[str, str]] | None = None
    problems: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ suite facts

    @cached_property
    def control(self) -> str | None:
        """The condition every other is compared with (recorded in each run's spec)."""
        for record in self.records.values():
            control = (record.get("spec") or {}).get("control")
            if control:
                return str(control)
        control = self.suite.get("control")
        if control:
            return str(control)
        # the suite's default: the only condition without pretraining
        plain = [c.get("name") for c in self._suite_conditions() if not c.get("language")]
        return str(plain[0]) if len(plain) == 1 else None

    @cached_property
    def conditions(self) -> list[str]:
        """Condition names, the control first, then in suite order."""
        names = [str(c["name"]) for c in self._suite_conditions() if "name" in c]
        names += [n for n in self.runs["condition"].dropna().unique() if n not in names]
        if self.control in names:
            names.remove(self.control)
            names.insert(0, self.control)
        return names

    @cached_property
    def models(self) -> list[str]:
        """Model labels in suite order."""
        names = []
        for m in self.suite.get("models", []) or []:
            if isinstance(m, dict) and m.get("plugin"):
                names.append(str(m.get("label", m["plugin"])))
        names += [n for n in self.runs["model"].dropna().unique() if n not in names]
        return names

    def condition_label(self, name: str) -> str:
        """The readable label of a condition (its name when it has none)."""
        rows = self.runs.loc[self.runs["condition"] == name, "condition_label"].dropna()
        if len(rows):
            return str(rows.iloc[0])
        for c in self._suite_conditions():
            if c.get("name") == name:
                return str(c.get("label") or name)
        return name

    def _suite_conditions(self) -> list[dict[str, Any]]:
        conditions = self.suite.get("conditions", []) or []
        return [c for c in conditions if isinstance(c, dict)]

    @cached_property
    def expected_count(self) -> int | None:
        """How many runs the suite expands to: the manifest's count, else
        conditions x models x seeds from suite.toml; None if neither is known."""
        if self.expected is not None:
            return len(self.expected)
        seeds = self.suite.get("seeds", [0, 1, 2])  # the schema's default
        n_seeds = seeds if isinstance(seeds, int) else len(seeds)
        n_conditions = len(self._suite_conditions())
        models = self.suite.get("models", [])
        n_models = len(models) if isinstance(models, list) else 1
        if not n_conditions or not n_models:
            return None
        return n_conditions * n_models * n_seeds

    @cached_property
    def missing(self) -> list[str]:
        """Labels (or ids) of expected runs with no record; empty if unknown."""
        if self.expected is None:
            return []
        return [
            e.get("label") or e["run_id"] for e in self.expected if e["run_id"] not in self.records
        ]

    @property
    def n_missing(self) -> int:
        """Expected runs with no record (0 when the expected count is unknown)."""
        if self.expected is not None:
            return len(self.missing)
        if self.expected_count is None:
            return 0
        return max(self.expected_count - len(self.records), 0)

    # ------------------------------------------------------------ arrays

    def run_dir(self, run_id: str) -> Path:
        return self.output_dir / "runs" / run_id

    def _artifact(self, run_id: str, name: str, default: str) -> Path:
        artifacts = self.records[run_id].get("artifacts") or {}
        return self.run_dir(run_id) / str(artifacts.get(name, default))

    def latents(self, run_id: str) -> dict[str, np.ndarray]:
        """Latent spaces of one run by name; rows follow :meth:`probe_clips`.
        Empty for a failed run; a diverged run has only its model-free spaces."""
        return _load_npz(self._artifact(run_id, "latents", "latents.npz"))

    def probe_artifacts(self, run_id: str) -> dict[str, np.ndarray]:
        """Arrays the probes saved (such as t-SNE coordinates), by name."""
        return _load_npz(self._artifact(run_id, "probe_artifacts", "probe_artifacts.npz"))

    def probe_clips(self, run_id: str) -> pd.DataFrame:
        """The held-out probe clips of a run: clip_id, language, speaker."""
        clips = ((self.records[run_id].get("data") or {}).get("probe_clips")) or {}
        return pd.DataFrame({k: list(v) for k, v in clips.items()})


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# ---------------------------------------------------------------- loading


def load_results(output_dir: str | Path) -> Results:
    """Read every run record under ``<output_dir>/runs`` into tables.

    Runs still in progress are skipped (the store renames a run's folder into
    place only when its record is complete); an unreadable record is skipped
    with a warning and listed in ``problems``.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise ResultsError(f"{output_dir}: no such results folder")
    suite_path = output_dir / "suite.toml"
    suite_text = suite_path.read_text(encoding="utf-8") if suite_path.is_file() else ""
    records, expected, problems = _read_records(output_dir)
    try:
        suite = tomllib.loads(suite_text)
    except tomllib.TOMLDecodeError as exc:
        # the records carry every resolved setting; only the question and the
        # expected count come from the suite file, so report without them
        problems.append(f"{suite_path}: not valid TOML ({exc}); read the runs without it")
        suite = {}
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    runs = runs_table(records.values())
    return Results(
        output_dir=output_dir,
        suite=suite,
        suite_text=suite_text,
        records=records,
        runs=runs,
        curves=curves_table(records.values()),
        probes=probes_table(records.values()),
        expected=expected,
        problems=problems,
    )


def _read_records(
    output_dir: Path,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]] | None, list[str]]:
    """Records of the suite's runs, the expected runs (from the manifest) and
    problems. Runs of an older version of the suite (not in the manifest) are
    left out, as :meth:`Store.records` does, and counted in the problems."""
    store = Store(output_dir)
    problems: list[str] = []
    try:
        manifest = store.manifest()
    except StoreError as exc:
        problems.append(f"{exc}; counting expected runs from suite.toml")
        manifest = None
    statuses = store.statuses()
    expected = None
    ids = sorted(statuses)
    if manifest is not None:
        expected = [
            {"run_id": r, "label": str(manifest.labels.get(r, ""))} for r in manifest.run_ids
        ]
        ids = [r for r in manifest.run_ids if r in statuses]
        stale = set(statuses) - set(manifest.run_ids)
        if stale:
            problems.append(
                f"{len(stale)} run folder(s) belong to another version of the suite "
                "(not in manifest.json) and are left out"
            )
    records: dict[str, dict[str, Any]] = {}
    for run_id in ids:
        path = store.run_dir(run_id) / RECORD
        try:
            record = store.load_record(run_id)
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: unreadable run record ({exc})")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("spec"), dict):
            problems.append(f"{path}: not a run record (no spec)")
            continue
        if record.get("status") not in STATUSES:
            problems.append(f"{path}: unknown status {record.get('status')!r}")
            continue
        records[run_id] = record
    return records, expected, problems


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
            model_plugin=_get(spec, "model", "plugin"),
            event={"reached": True, "censored": False, "diverged": False}.get(str(status)),
            recorded_steps=conv.get("steps"),
            diverged_step=conv.get("diverged_step"),
            diverged_phase=conv.get("diverged_phase"),
            max_steps=_get(spec, "target", "max_steps"),
            threshold=conv.get("threshold"),
            threshold_mode=_get(spec, "target", "threshold_mode"),
            initial_heldout_loss=conv.get("initial_heldout_loss"),
            final_train_loss=conv.get("final_train_loss"),
            final_heldout_loss=conv.get("final_heldout_loss"),
            pretrain_steps=conv.get("pretrain_steps"),
            pretrain_seconds=conv.get("pretrain_seconds"),
            train_seconds=conv.get("train_seconds"),
            wall_seconds=record.get("wall_seconds"),
            started=record.get("started"),
            error_type=error.get("type"),
            error_message=error.get("message"),
        )
        for measure in TIME_MEASURES:
            row[f"{measure}_to_threshold"] = conv.get(measure) if status != "failed" else None
        rows.append(row)
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    numeric = [f"{m}_to_threshold" for m in TIME_MEASURES] + [
        "recorded_steps",
        "diverged_step",
        "max_steps",
        "threshold",
        "initial_heldout_loss",
        "final_train_loss",
        "final_heldout_loss",
        "pretrain_steps",
        "pretrain_seconds",
        "train_seconds",
        "wall_seconds",
    ]
    for column in numeric:
        runs[column] = pd.to_numeric(runs[column], errors="coerce").astype(float)
    runs["seed"] = pd.to_numeric(runs["seed"], errors="coerce").astype("Int64")
    runs["event"] = runs["event"].astype("boolean")
    runs["is_control"] = runs["is_control"].astype(bool)
    _censor_diverged(runs)
    return runs.sort_values(["model", "condition", "seed"], kind="stable").reset_index(drop=True)


def _censor_diverged(runs: pd.DataFrame) -> None:
    diverged = runs["status"] == "diverged"
    if not diverged.any():
        return
    for measure in TIME_MEASURES:
        column = f"{measure}_to_threshold"
        longest = runs.groupby("model")[column].transform("max")
        if measure == "steps":
            longest = np.fmax(longest, runs["max_steps"])
        runs.loc[diverged, column] = longest[diverged]


def curves_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run x held-out evaluation (non-finite losses become NaN)."""
    frames = []
    for record in records:
        curve = record.get("curve") or {}
        steps = curve.get("step") or []
        if not steps:
            continue
        frame = pd.DataFrame(
            {
                k: _column(curve.get(k), len(steps))
                for k in ("step", "train_loss", "heldout_loss", "seconds")
            }
        )
        for key, value in _identity(record).items():
            frame[key] = value
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    curves = pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]
    for column in ("train_loss", "heldout_loss", "seconds"):
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


#: Reference metrics a probe reports beside its scores, and the score each is the
#: chance level of: ``chance_<task>`` for ``balanced_accuracy_<task>``,
#: ``majority_rate_<task>`` for ``accuracy_<task>`` (the linear_svc probe).
REFERENCE_PREFIXES = {"chance": "balanced_accuracy", "majority_rate": "accuracy"}


def metric_role(metric: str) -> str:
    """``reference`` (a chance level), ``p_value`` (a per-run test result) or
    ``score`` (what seeds are averaged and compared on); docs/report.md."""
    for prefix in REFERENCE_PREFIXES:
        if metric == prefix or metric.startswith(prefix + "_"):
            return "reference"
    if metric.endswith("_chance"):
        return "reference"
    if (
        metric in ("p", "pvalue")
        or metric.startswith(("p_value", "pvalue"))
        or metric.endswith(("_p", "_pvalue", "_p_value"))
    ):
        return "p_value"
    return "score"


def chance_names(metric: str) -> list[str]:
    """Names the chance level of ``metric`` may be reported under, most specific
    first: ``<metric>_chance`` or ``chance_<metric>``; ``<prefix>_chance`` for a
    shorter ``_``-prefix (``agreement_chance`` serves ``agreement_latent``);
    then the :data:`REFERENCE_PREFIXES` pairs."""
    names = [f"{metric}_chance", f"chance_{metric}"]
    words = metric.split("_")
    names += ["_".join(words[:k]) + "_chance" for k in range(len(words) - 1, 0, -1)]
    for reference, score in REFERENCE_PREFIXES.items():
        if metric == score or metric.startswith(score + "_"):
            names.append(reference + metric[len(score) :])
    return names


def probes_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run x latent space x probe x metric.

    ``chance`` is the chance level the same probe reported for this metric on
    the same run and latent space (see :func:`chance_names`).
    """
    rows = []
    for record in records:
        identity = _identity(record)
        baseline_labels = _baseline_extractors(record)
        for row in record.get("probes") or []:
            extractor = row.get("extractor") or str(row.get("latent_space", "")).split("/")[0]
            rows.append(
                {
                    **identity,
                    "extractor": extractor,
                    "latent_space": row.get("latent_space"),
                    "probe": row.get("probe"),
                    "metric": row.get("metric"),
                    "value": row.get("value"),
                    "higher_is_better": bool(row.get("higher_is_better", True)),
                    "is_baseline": extractor in baseline_labels,
                }
            )
    if not rows:
        return pd.DataFrame(columns=PROBE_COLUMNS)
    probes = pd.DataFrame(rows)
    probes["value"] = pd.to_numeric(probes["value"], errors="coerce").astype(float)
    probes["seed"] = pd.to_numeric(probes["seed"], errors="coerce").astype("Int64")
    probes["role"] = probes["metric"].map(metric_role)
    probes["chance"] = _chance_column(probes)
    return probes[PROBE_COLUMNS]


def _baseline_extractors(record: Mapping[str, Any]) -> set[str]:
    """Labels of this run's model-free extractors (a suite may relabel them)."""
    labels = set(BASELINE_EXTRACTORS)
    for sel in _get(record, "spec", "extractors", default=[]) or []:
        if isinstance(sel, Mapping) and sel.get("plugin") in BASELINE_EXTRACTORS:
            labels.add(str(sel.get("label") or sel["plugin"]))
    return labels


def _chance_column(probes: pd.DataFrame) -> pd.Series:
    references = probes[probes["role"] == "reference"]
    lookup = dict(
        zip(
            references[["run_id", "latent_space", "probe", "metric"]].itertuples(
                index=False, name=None
            ),
            references["value"],
            strict=True,
        )
    )
    out = []
    for run_id, space, probe, metric, role in probes[
        ["run_id", "latent_space", "probe", "metric", "role"]
    ].itertuples(index=False, name=None):
        names = chance_names(metric) if role == "score" else []
        found = [lookup[k] for n in names if (k := (run_id, space, probe, n)) in lookup]
        out.append(found[0] if found else np.nan)
    return pd.Series(out, index=probes.index, dtype=float)


# ---------------------------------------------------------------- writing


def write_tables(
    output_dir: str | Path,
    results: Results | None = None,
    *,
    n_resamples: int = 9999,
    km_resamples: int = 999,
    seed: int = 0,
) -> list[Path]:
    """Write runs.csv, curves.csv, probes.csv and stats/*.csv; return the paths.
    The keyword arguments go to :func:`harness.stats.analysis.analyse`."""
    from harness.stats.analysis import analyse  # the statistics read these tables

    results = results or load_results(output_dir)
    analysis = analyse(results, n_resamples=n_resamples, km_resamples=km_resamples, seed=seed)
    return write_analysis(results, analysis)


def write_analysis(results: Results, analysis: Any) -> list[Path]:
    """Write the tables of ``results`` and the statistics of ``analysis``."""
    out = results.output_dir
    written = []
    for name, frame in (
        ("runs", results.runs),
        ("curves", results.curves),
        ("probes", results.probes),
    ):
        path = out / f"{name}.csv"
        _write_csv(frame, path)
        written.append(path)
    (out / "stats").mkdir(exist_ok=True)
    for name, frame in analysis.tables().items():
        path = out / "stats" / f"{name}.csv"
        _write_csv(frame, path)
        written.append(path)
    return written


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    # write then rename, so a reader never sees half a table
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
