"""Writing an output folder's tables: runs.csv, curves.csv, probes.csv,
data_quality.csv, a classify task's confusion.csv and streaming.csv, and the
statistics under stats/, each file written atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.atomic import atomic_path
from harness.output.layout import (
    CONFUSION_CSV,
    CURVES_CSV,
    DATA_QUALITY_CSV,
    PROBES_CSV,
    RUNS_CSV,
    STREAMING_CSV,
    stats_csv,
)
from harness.stats.analysis import Analysis, analyse
from harness.tables import confusion_table, data_quality_table, streaming_table
from harness.tables.probes import probes_csv
from harness.tables.results import Results, load_results


def write_tables(
    output_dir: str | Path,
    results: Results | None = None,
    *,
    n_resamples: int = 9999,
    km_resamples: int = 999,
    seed: int = 0,
) -> list[Path]:
    """Compute the statistics and write every table; return the paths.
    The keyword arguments go to :func:`harness.stats.analysis.analyse`."""
    results = results or load_results(output_dir)
    analysis = analyse(results, n_resamples=n_resamples, km_resamples=km_resamples, seed=seed)
    return write_analysis(results, analysis)


def write_analysis(results: Results, analysis: Analysis) -> list[Path]:
    """Write the tables of ``results`` and the statistics of ``analysis``."""
    out = results.output_dir
    records = list(results.records.values())
    frames = {
        out / RUNS_CSV: results.runs,
        out / CURVES_CSV: results.curves,
        out / PROBES_CSV: probes_csv(records, results.probes),
        out / DATA_QUALITY_CSV: data_quality_table(records),
        out / CONFUSION_CSV: confusion_table(records),
        out / STREAMING_CSV: streaming_table(records),
    }
    frames.update({out / stats_csv(name): f for name, f in analysis.tables().items()})
    for path, frame in frames.items():
        write_csv(frame, path)
    return list(frames)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """One table as CSV, so that a reader never sees half of it."""
    with atomic_path(path, fsync=False) as tmp:
        frame.to_csv(tmp, index=False)
