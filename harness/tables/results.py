"""An output folder, loaded: the notebook API.

    from harness.tables.results import load_results
    res = load_results("reports/pretrain")
    res.runs          # one row per run
    res.curves        # one row per run x evaluation
    res.probes        # one row per run x latent space x probe x metric
    res.latents(run_id)["lstm_state/h"]   # (n probe clips, dim), rows in res.probe_clips(run_id)

What the suite was (control, order and labels of conditions and models,
seeds) comes from the manifest's resolved :class:`~harness.spec.design.Design`,
never from parsing the suite file again. :mod:`harness.tables.export` writes the
tables as CSV; docs/report.md documents every column.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.output.layout import LATENTS, PROBE_ARTIFACTS, RECORD, SUITE_COPY, run_dir
from harness.output.record import STATUSES, RecordVersionError, RunRecord, as_records
from harness.output.store import Store, StoreError
from harness.plugin.names import component_title, metric_label
from harness.spec.design import Design
from harness.tables import (
    curves_table,
    details_table,
    probes_table,
    runs_table,
    speakers_table,
)


class ResultsError(Exception):
    """The output folder cannot be read as harness results."""


@dataclass
class Results:
    """Everything one output folder holds, as tables plus access to arrays.

    :ivar output_dir: the folder.
    :ivar design: the suite as resolved when it ran (from ``manifest.json``;
        pieced together from the records in folders without one).
    :ivar suite_text: ``suite.toml`` verbatim, shown in the report's methods.
    :ivar records: run id -> run record (``record.json``, as :class:`RunRecord`).
    :ivar runs, curves, probes: the tidy tables (see docs/report.md).
    :ivar details: the probes' detail arrays (per-fold scores, per-speaker
        contributions, permutation nulls), one row per run, space, probe and name.
    :ivar expected: the run ids and labels the suite expands to, from
        ``manifest.json``; ``None`` if there is no manifest.
    :ivar problems: run folders that could not be read, with the reason.
    """

    output_dir: Path
    design: Design
    suite_text: str
    records: dict[str, RunRecord]
    runs: pd.DataFrame
    curves: pd.DataFrame
    probes: pd.DataFrame
    details: pd.DataFrame
    expected: list[dict[str, str]] | None = None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_records(
        cls,
        records: Iterable[RunRecord | Mapping[str, Any]],
        design: Design | None = None,
        output_dir: Path = Path("."),
        suite_text: str = "",
        expected: list[dict[str, str]] | None = None,
        problems: list[str] | None = None,
    ) -> Results:
        """Results of run records: the tables built from them, the design pieced
        together from them when none is given. Records held in memory
        (simulations, notebooks) have no output folder, so no arrays on disk;
        :func:`load_results` passes what it read beside the records. A record
        given as a dict (its stored form) is read through :meth:`RunRecord.from_dict`."""
        by_id = {r.run_id: r for r in as_records(records)}
        return cls(
            output_dir=output_dir,
            design=design or Design.from_specs(r.spec for r in by_id.values()),
            suite_text=suite_text,
            records=by_id,
            runs=runs_table(by_id.values()),
            curves=curves_table(by_id.values()),
            probes=probes_table(by_id.values()),
            details=details_table(by_id.values()),
            expected=expected,
            problems=problems or [],
        )

    # ------------------------------------------------------------ suite facts

    @property
    def control(self) -> str | None:
        """The condition every other is compared with."""
        return self.design.control

    @property
    def conditions(self) -> list[str]:
        """Condition names, the control first, then in suite order; conditions
        only the runs name (an older suite version) come last."""
        names = self.design.condition_names
        return names + [n for n in self.runs["condition"].dropna().unique() if n not in names]

    @property
    def models(self) -> list[str]:
        """Model labels in suite order."""
        names = self.design.model_labels
        return names + [n for n in self.runs["model"].dropna().unique() if n not in names]

    def condition_label(self, name: str) -> str:
        """The readable label of a condition; raises ``KeyError`` for a name the
        suite does not have (so a typo is not silently shown as a label)."""
        condition = self.design.condition(name)
        if condition is not None:
            return condition.label
        rows = self.runs.loc[self.runs["condition"] == name, "condition_label"].dropna()
        if len(rows):
            return str(rows.iloc[0])
        raise KeyError(f"no condition named {name!r}; conditions: {', '.join(self.conditions)}")

    def model_plugin(self, label: str) -> str | None:
        """The plugin behind the model ``label``, as the design or the runs give it."""
        for model in self.design.models:
            if model.label == label:
                return model.plugin
        rows = self.runs.loc[self.runs["model"] == label, "model_plugin"].dropna()
        return str(rows.iloc[0]) if len(rows) else None

    def model_label(self, label: str) -> str:
        """The name readers see for a model: the suite's own label where it gave
        one, else (the label is the plugin's name) the plugin's declared title."""
        plugin = self.model_plugin(label)
        facts = self.design.facts
        return component_title("model", plugin, facts) if plugin == label else str(label)

    def metric_label(self, name: str) -> str:
        """The name readers see for a probe metric (its label as declared when
        the suite ran, from the design; else ``name`` humanised)."""
        return metric_label(name, self.design.facts)

    @property
    def expected_count(self) -> int | None:
        """How many runs the suite expands to: the manifest's count, else
        conditions x models x seeds of the design; None if neither is known."""
        if self.expected is not None:
            return len(self.expected)
        return self.design.n_runs or None

    @property
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
        return run_dir(self.output_dir, run_id)

    def _artifact(self, run_id: str, name: str, default: str) -> Path:
        return self.run_dir(run_id) / self.records[run_id].artifact(name, default)

    def latents(self, run_id: str) -> dict[str, np.ndarray]:
        """Latent spaces of one run by name; rows follow :meth:`probe_clips`.
        Empty for a failed run; a diverged run has only its model-free spaces."""
        return _load_npz(self._artifact(run_id, "latents", LATENTS))

    def probe_artifacts(self, run_id: str) -> dict[str, np.ndarray]:
        """Arrays the probes saved (such as t-SNE coordinates), by name."""
        return _load_npz(self._artifact(run_id, "probe_artifacts", PROBE_ARTIFACTS))

    def speakers(self, run_id: str) -> pd.DataFrame:
        """The probe speakers of a run, sorted by id, with their language: the
        order of per-speaker probe details."""
        return speakers_table(self.records[run_id])

    def probe_clips(self, run_id: str) -> pd.DataFrame:
        """The held-out probe clips of a run: clip_id, language, speaker."""
        clips = self.records[run_id].data.probe_clips
        return pd.DataFrame(
            # fields, not asdict: asdict deep-copies every id string (0.01 s a call,
            # and the report asks for each run's clips several times)
            {f.name: list(getattr(clips, f.name)) for f in fields(clips)}
        )


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def load_results(output_dir: str | Path) -> Results:
    """Read every run record under ``<output_dir>/runs`` into tables.

    Runs still in progress are skipped (the store renames a run's folder into
    place only when its record is complete); an unreadable record is skipped
    with a warning and listed in ``problems`` as damaged.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise ResultsError(f"{output_dir}: no such results folder")
    suite_path = output_dir / SUITE_COPY
    suite_text = suite_path.read_text(encoding="utf-8") if suite_path.is_file() else ""
    records, expected, design, problems = _read_records(output_dir)
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    return Results.from_records(
        records.values(),
        design,
        output_dir,
        suite_text=suite_text,
        expected=expected,
        problems=problems,
    )


def _read_records(
    output_dir: Path,
) -> tuple[dict[str, RunRecord], list[dict[str, str]] | None, Design | None, list[str]]:
    """Records of the suite's runs, the expected runs and the design (from the
    manifest), and problems. Runs of an older version of the suite (not in the
    manifest) are left out, as :meth:`Store.records` does, and counted in the
    problems."""
    store = Store(output_dir)
    problems: list[str] = []
    try:
        manifest = store.manifest()
    except StoreError as exc:
        problems.append(f"{exc}; reading the design from the run records")
        manifest = None
    present = set(store.run_ids())
    expected = None
    ids = sorted(present)
    if manifest is not None:
        expected = [
            {"run_id": r, "label": str(manifest.labels.get(r, ""))} for r in manifest.run_ids
        ]
        ids = [r for r in manifest.run_ids if r in present]
        stale = present - set(manifest.run_ids)
        if stale:
            problems.append(
                f"{len(stale)} run folder(s) belong to another version of the suite "
                "(not in manifest.json) and are left out"
            )
    records: dict[str, RunRecord] = {}
    for run_id in ids:
        path = store.run_dir(run_id) / RECORD
        try:
            record = store.load_record(run_id)
        except RecordVersionError:
            raise  # written by a newer harness: not damaged, and never to be run again
        except (OSError, ValueError) as exc:
            problems.append(
                f"{path}: damaged run record ({type(exc).__name__}: {exc}); "
                "`harness run` runs it again"
            )
            continue
        if not record.spec:
            problems.append(f"{path}: not a run record (no spec)")
            continue
        if record.status not in STATUSES:
            problems.append(f"{path}: unknown status {record.status!r}")
            continue
        records[run_id] = record
    return records, expected, manifest.design if manifest else None, problems
