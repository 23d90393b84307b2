"""The names of every file and folder of an output folder, in one place.

``harness run`` writes, and every reader finds, an output folder laid out as::

    <output>/suite.toml             the suite file as last run
    <output>/manifest.json          suite name, fingerprint, the run ids of the suite
    <output>/.lock                  held by the one `harness run` using the folder
    <output>/runs/<run_id>/         record.json, latents.npz, weights.pt, probe_artifacts.npz
    <output>/runs/<run_id>.partial-<token>/   a run in progress (never read)
    <output>/runs.csv, curves.csv, probes.csv, data_quality.csv, confusion.csv, streaming.csv
    <output>/stats/<analysis>.csv   the statistics' tables
    <output>/report.html            the report
    <output>/report.digest          what the report was built from (a digest)

The store, the readers, the exporter and the CLI take these names from here,
so a folder's layout is changed (or looked up) in one module.
"""

from __future__ import annotations

import re
from pathlib import Path

#: the suite file as last run
SUITE_COPY = "suite.toml"
#: suite name, fingerprint, run ids, labels and the resolved design
MANIFEST = "manifest.json"
#: held by the one `harness run` using the folder
LOCK = ".lock"
#: the folder of run folders
RUNS = "runs"
#: a run's record, in its run folder
RECORD = "record.json"
#: a run's arrays, in its run folder (the record's ``artifacts`` names them)
WEIGHTS = "weights.pt"
LATENTS = "latents.npz"
PROBE_ARTIFACTS = "probe_artifacts.npz"
#: the record's ``artifacts``: artifact name -> file name inside the run folder
ARTIFACTS = {"weights": WEIGHTS, "latents": LATENTS, "probe_artifacts": PROBE_ARTIFACTS}
#: the tables ``harness report`` writes at the top of the folder
RUNS_CSV = "runs.csv"
CURVES_CSV = "curves.csv"
PROBES_CSV = "probes.csv"
DATA_QUALITY_CSV = "data_quality.csv"
CONFUSION_CSV = "confusion.csv"
STREAMING_CSV = "streaming.csv"
#: the folder of the statistics' tables, one ``<name>.csv`` per analysis table
STATS = "stats"
#: the report
REPORT = "report.html"
#: the digest of what the report and tables were built from (harness.output.report_inputs)
REPORT_DIGEST = "report.digest"

#: run folder names: a run id, and while a run works or its folder is being
#: replaced, the id with a marker and a token
RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{8,64}$")
TEMP_NAME_PATTERN = re.compile(r"^[0-9a-f]{8,64}\.(partial|replaced)-[0-9a-f]{8}$")


def runs_dir(output: str | Path) -> Path:
    """``<output>/runs``."""
    return Path(output) / RUNS


def run_dir(output: str | Path, run_id: str) -> Path:
    """``<output>/runs/<run_id>``: a finished or failed run's folder."""
    return runs_dir(output) / run_id


def temp_run_dir(output: str | Path, run_id: str, marker: str, token: str) -> Path:
    """``<output>/runs/<run_id>.<marker>-<token>``: a run at work (``partial``) or a
    folder moved aside while it is replaced (``replaced``)."""
    return runs_dir(output) / f"{run_id}.{marker}-{token}"


def stats_csv(name: str) -> str:
    """The path of an analysis table inside the output folder, ``stats/<name>.csv``."""
    return f"{STATS}/{name}.csv"
