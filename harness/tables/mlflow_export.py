"""``harness export DIR --to mlflow``: a results folder's runs in an MLflow
tracking store, where users already compare runs.

One MLflow experiment per suite; one MLflow run per harness run, named by its
label (``es-lp500/lstm/seed3``), tagged with its condition, model and seed (the
tags MLflow's run table groups by), with the run's settings as parameters
(``training.lr``, ``condition.filter.cutoff_hz``...), its learning curve as
metrics over training steps, and its final measures and probe scores as
single metrics. One more run, tagged ``harness.kind = report``, carries the
report and the CSV tables as artifacts. Exporting the same folder again adds
only the runs the store does not hold yet (matched by ``harness.run_id``).

MLflow is an optional extra (``pip install 'speech-pretrain-harness[mlflow]'``); nothing here
imports it before an export starts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.output.layout import REPORT, STATS
from harness.tables.results import Results

#: what MLflow's ``log_batch`` takes per call (its documented limits)
MAX_METRICS, MAX_PARAMS = 1000, 100
MAX_PARAM_LENGTH = 6000
#: the curve columns logged per step, under these metric names
CURVE_METRICS = {
    "train_loss": "curve/train_loss",
    "heldout_loss": "curve/heldout_loss",
    "heldout_metric": "curve/heldout_metric",
    "heldout_accuracy": "curve/heldout_accuracy",
}
#: the runs table's columns logged once per run (final measures)
FINAL_MEASURES = (
    "steps_to_threshold",
    "examples_to_threshold",
    "epochs_to_threshold",
    "seconds_to_threshold",
    "total_steps_to_threshold",
    "final_metric",
    "final_accuracy",
    "final_balanced_accuracy",
    "final_train_loss",
    "final_heldout_loss",
    "initial_heldout_loss",
    "pretrain_steps",
    "pretrain_seconds",
    "train_seconds",
    "wall_seconds",
    "cpu_seconds",
)
#: the parts of a run's spec that become parameters, flattened with dots
SPEC_PARAMS = ("condition", "model", "dataset", "features", "splits", "target", "training")
INSTALL_HINT = "pip install 'speech-pretrain-harness[mlflow]'"


class ExportError(Exception):
    """The export cannot start (MLflow missing, a store it cannot open)."""


@dataclass(frozen=True)
class Exported:
    """What an export did: the store, the experiment, runs written and already there."""

    uri: str
    experiment: str
    written: int
    present: int


def default_uri(output_dir: Path) -> str:
    """A SQLite store inside the results folder: ``DIR/mlflow.db``."""
    return f"sqlite:///{(output_dir / 'mlflow.db').resolve()}"


def export_mlflow(results: Results, uri: str | None = None, experiment: str = "") -> Exported:
    """Write every run of ``results`` into the MLflow store at ``uri``
    (default :func:`default_uri`), in the experiment ``experiment`` (default:
    the suite's name); the report run once."""
    client = _client(uri or default_uri(results.output_dir))
    name = experiment or results.design.name or results.output_dir.name
    experiment_id = _experiment(client, name, results.output_dir)
    present = _exported_ids(client, experiment_id)
    written = 0
    for run in results.runs.to_dict("records"):
        if run["run_id"] in present:
            continue
        _write_run(client, experiment_id, results, run)
        written += 1
    if "report" not in present:
        _write_report_run(client, experiment_id, results)
    runs_present = len(present - {"report"})
    return Exported(client.tracking_uri, name, written, runs_present)


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ExportError(f"MLflow is not installed: {INSTALL_HINT}") from exc
    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as exc:  # MLflow raises its own and SQLAlchemy's errors here
        raise ExportError(f"--uri {uri}: MLflow cannot open this store: {exc}") from exc


def _experiment(client: Any, name: str, output_dir: Path) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    artifacts = (output_dir / "mlflow-artifacts").resolve()
    return str(client.create_experiment(name, artifact_location=artifacts.as_uri()))


def _exported_ids(client: Any, experiment_id: str) -> set[str]:
    """The harness run ids (and "report") the experiment already holds."""
    ids: set[str] = set()
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        for run in page:
            tags = run.data.tags
            ids.add(
                "report" if tags.get("harness.kind") == "report" else tags.get("harness.run_id", "")
            )
        token = page.token
        if not token:
            return ids - {""}


def _write_run(client: Any, experiment_id: str, results: Results, run: Mapping[str, Any]) -> None:
    from mlflow.entities import Metric, Param

    start = _millis(run.get("started"))
    created = client.create_run(experiment_id, start_time=start, tags=run_tags(results, run),
                                run_name=run["label"])  # fmt: skip
    run_id = created.info.run_id
    record = results.records.get(run["run_id"])
    params = [Param(k, v) for k, v in run_params(record.spec if record else {}).items()]
    metrics = [Metric(k, v, start or 0, step) for k, v, step in run_metrics(results, run)]
    for chunk in _chunks(params, MAX_PARAMS):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(metrics, MAX_METRICS):
        client.log_batch(run_id, metrics=chunk)
    wall: Any = run.get("wall_seconds")
    end = start + int(1000 * float(wall)) if start is not None and _number(wall) else None
    status = "FINISHED" if run.get("status") in ("reached", "censored") else "FAILED"
    client.set_terminated(run_id, status=status, end_time=end)


def run_tags(results: Results, run: Mapping[str, Any]) -> dict[str, str]:
    """The tags MLflow's run table groups and filters by."""
    return {
        "harness.run_id": str(run["run_id"]),
        "harness.suite": results.design.name,
        "harness.condition": str(run["condition"]),
        "harness.condition_label": str(run.get("condition_label") or run["condition"]),
        "harness.control": str(bool(run.get("is_control"))).lower(),
        "harness.model": str(run["model"]),
        "harness.seed": str(run["seed"]),
        "harness.status": str(run["status"]),
        "harness.folder": str(results.output_dir.resolve()),
    }


def run_params(spec: Mapping[str, Any]) -> dict[str, str]:
    """A run's settings as MLflow parameters: the spec's sections flattened
    (``training.lr``), lists and long values as JSON, the seed."""
    params: dict[str, str] = {}
    for section in SPEC_PARAMS:
        params.update(_flattened(section, spec.get(section)))
    if "seed" in spec:
        params["seed"] = str(spec["seed"])
    return {k[:250]: v[:MAX_PARAM_LENGTH] for k, v in params.items()}


def _flattened(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from _flattened(f"{prefix}.{key}", inner)
    elif value is not None and value != {}:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        yield prefix, text


def run_metrics(results: Results, run: Mapping[str, Any]) -> list[tuple[str, float, int]]:
    """(name, value, step) of one run: its curve per training step, then its
    final measures and probe scores at step 0."""
    out: list[tuple[str, float, int]] = []
    curve = results.curves[results.curves["run_id"] == run["run_id"]]
    for column, name in CURVE_METRICS.items():
        if column in curve:
            out += [
                (name, float(v), int(s))
                for s, v in zip(curve["step"], curve[column], strict=True)
                if _number(v)
            ]
    out += [(m, float(run[m]), 0) for m in FINAL_MEASURES if _number(run.get(m))]
    probes = results.probes[results.probes["run_id"] == run["run_id"]]
    for row in probes.itertuples(index=False):
        if _number(row.value):
            out.append((f"probe/{row.latent_space}/{row.probe}/{row.metric}", float(row.value), 0))
    return out


def _write_report_run(client: Any, experiment_id: str, results: Results) -> None:
    """The report and the CSV tables, as artifacts of one run of their own."""
    created = client.create_run(experiment_id, run_name="report",
                                tags={"harness.kind": "report", "harness.suite": results.design.name})  # fmt: skip
    run_id = created.info.run_id
    folder = results.output_dir
    for path in [folder / REPORT, *sorted(folder.glob("*.csv"))]:
        if path.is_file():
            client.log_artifact(run_id, str(path))
    if (folder / STATS).is_dir():
        client.log_artifacts(run_id, str(folder / STATS), artifact_path=STATS)
    client.set_terminated(run_id)


def _millis(started: Any) -> int | None:
    if not isinstance(started, str) or not started:
        return None
    try:
        return int(datetime.fromisoformat(started).timestamp() * 1000)
    except ValueError:
        return None


def _number(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
