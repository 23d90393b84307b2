"""Writing an output folder's tables: runs.csv, curves.csv, probes.csv,
data_quality.csv, a classify task's confusion.csv and streaming.csv, and the
statistics under stats/, each file written atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.atomic import atomic_path
from harness.results import Results, load_results
from harness.stats.analysis import Analysis, analyse
from harness.tables import confusion_table, data_quality_table, streaming_table


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
    frames = {
        out / "runs.csv": results.runs,
        out / "curves.csv": results.curves,
        out / "probes.csv": results.probes,
        out / "data_quality.csv": data_quality_table(results.records.values()),
        out / "confusion.csv": confusion_table(results.records.values()),
        out / "streaming.csv": streaming_table(results.records.values()),
    }
    frames.update({out / "stats" / f"{name}.csv": f for name, f in analysis.tables().items()})
    for path, frame in frames.items():
        write_csv(frame, path)
    return list(frames)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """One table as CSV, so that a reader never sees half of it."""
    with atomic_path(path, fsync=False) as tmp:
        frame.to_csv(tmp, index=False)
