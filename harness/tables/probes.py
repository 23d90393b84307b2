"""Run records -> the probe tables: metrics (probes.csv), details, layers, speakers.

:func:`probes_table` holds the final probing's rows (``step`` empty), which
the statistics and the report read; :func:`along_table` the rows measured along
training (``[probing] probe_at``), each with its ``step``. probes.csv holds both
(:func:`probes_csv`).

Every fact comes from the records: what a metric is (its role and its chance
level) and whether a latent space needs a model were declared by the plugins
and written into each record by :mod:`harness.run.execute`; nothing is inferred
from names. docs/report.md documents every column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from harness.output.record import ProbeRow, RunRecord, as_records
from harness.tables.runs import IDENTITY_COLUMNS, identity

__all__ = [
    "DETAIL_COLUMNS",
    "LAYER_COLUMNS",
    "PROBE_COLUMNS",
    "along_table",
    "details_table",
    "layers_table",
    "probes_csv",
    "probes_table",
    "speakers_table",
]

#: the keys of a probe row's (extractor, latent space, probe)
_PAIR_COLUMNS = ["extractor", "latent_space", "probe"]
PROBE_COLUMNS = [
    *IDENTITY_COLUMNS,
    *_PAIR_COLUMNS,
    "step",
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
#: columns of :func:`layers_table` (not written as CSV: stats/layers.csv holds them per model)
LAYER_COLUMNS = [*IDENTITY_COLUMNS, "latent_space", "stack", "depth"]
DETAIL_COLUMNS = [*IDENTITY_COLUMNS, *_PAIR_COLUMNS, "name", "values"]


def _bounds(value: Any) -> dict[str, float]:
    """The declared range of a metric row (NaN ends: unbounded or not recorded)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return {"bound_low": float(value[0]), "bound_high": float(value[1])}
    return {"bound_low": np.nan, "bound_high": np.nan}


def _probe_row(row: ProbeRow, model_free: set[str]) -> dict[str, Any]:
    space = row.latent_space
    return {
        "extractor": row.extractor or str(space or "").split("/")[0],
        "latent_space": space,
        "probe": row.probe,
        "step": row.step,
        "metric": row.metric,
        "value": row.value,
        "higher_is_better": bool(row.higher_is_better),
        "is_baseline": space in model_free,
        "role": row.role or "score",
        "chance_metric": row.chance,
        "headline": bool(row.headline),
        **_bounds(row.bounds),
    }


def probes_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run x latent space x probe x metric.

    ``role`` and ``chance_metric`` are what the probe declared for the metric
    (:class:`harness.Metric`); ``chance`` is the value of ``chance_metric`` on
    the same run, latent space and probe. ``is_baseline`` marks latent spaces
    whose extractor needs no model (the raw-feature baseline).
    """
    rows = []
    for record in as_records(records):
        model_free = record.model_free_spaces()
        rows += [{**identity(record), **_probe_row(r, model_free)} for r in record.probes]
    return _probe_frame(rows)


def along_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """The rows of :func:`probes_table` measured along training, one per run x
    step x latent space x probe x metric; ``chance`` from the same step."""
    rows = []
    for record in as_records(records):
        if record.along_training is not None:
            rows += [{**identity(record), **_probe_row(r, set())}
                     for r in record.along_training.probes]  # fmt: skip
    return _probe_frame(rows)


def probes_csv(
    records: Iterable[RunRecord | Mapping[str, Any]], final: pd.DataFrame
) -> pd.DataFrame:
    """probes.csv: the ``final`` probing's rows (:func:`probes_table`), then those
    along training, if any."""
    along = along_table(records)
    return final if along.empty else pd.concat([final, along], ignore_index=True)


def _probe_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=PROBE_COLUMNS).astype({"step": "Int64"})
    probes = pd.DataFrame(rows)
    probes["value"] = pd.to_numeric(probes["value"], errors="coerce").astype(float)
    probes["seed"] = pd.to_numeric(probes["seed"], errors="coerce").astype("Int64")
    probes["step"] = pd.to_numeric(probes["step"], errors="coerce").astype("Int64")
    probes["chance"] = _chance_column(probes)
    return probes[PROBE_COLUMNS]


def _chance_column(probes: pd.DataFrame) -> pd.Series:
    """For each score, the value of the reference metric its probe declared as
    its chance level, reported on the same run, step, latent space and probe."""
    where = ["run_id", "step", "latent_space", "probe"]
    steps = probes["step"].astype(object).where(probes["step"].notna(), None)
    frame = probes.assign(step=steps)
    keys = frame[[*where, "metric"]].itertuples(index=False, name=None)
    lookup = dict(zip(keys, frame["value"], strict=True))
    out = []
    for *at, chance in frame[[*where, "chance_metric"]].itertuples(index=False, name=None):
        value = lookup.get((*at, chance)) if isinstance(chance, str) else None
        out.append(np.nan if value is None else value)
    return pd.Series(out, index=probes.index, dtype=float)


def layers_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run and latent space its extractor declared part of an
    ordered stack of layers (``stack``, ``depth`` under the record's
    ``latent_spaces``); spaces outside any stack have no row."""
    rows = []
    for record in as_records(records):
        for name, info in record.latent_spaces.items():
            stack, depth = info.stack, info.depth
            if isinstance(stack, str) and isinstance(depth, int) and not isinstance(depth, bool):
                rows.append(
                    {**identity(record), "latent_space": name, "stack": stack, "depth": depth}
                )
    frame = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["depth"] = pd.to_numeric(frame["depth"], errors="coerce").astype("Int64")
    return frame


def details_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run x latent space x probe x detail; ``values`` holds the
    detail's numbers as a float array (non-finite as NaN). Not written as CSV."""
    rows = []
    for record in as_records(records):
        for row in record.probe_details:
            rows.append(
                {
                    **identity(record),
                    "extractor": row.extractor,
                    "latent_space": row.latent_space,
                    "probe": row.probe,
                    "name": row.name,
                    "values": np.array([np.nan if v is None else v for v in row.values], float),
                }
            )
    frame = pd.DataFrame(rows, columns=DETAIL_COLUMNS)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    return frame


def speakers_table(record: RunRecord | Mapping[str, Any]) -> pd.DataFrame:
    """The probe speakers of one run, sorted by id, with their language: the
    order of per-speaker probe details."""
    clips = as_records([record])[0].data.probe_clips
    speakers = [str(s) for s in clips.speaker]
    languages = [str(x) for x in clips.language]
    frame = pd.DataFrame({"speaker": speakers, "language": languages})
    return frame.drop_duplicates("speaker").sort_values("speaker").reset_index(drop=True)
