"""The report's sections on what went wrong and on the data: failed, diverged
and missing runs with their tracebacks, probe faults, and what the dataset
delivered and skipped (data_quality.csv).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict

import pandas as pd

from harness.output.layout import RECORD
from harness.report.markup import Cell, esc, para, table
from harness.tables import SKIP_COLUMNS, data_quality_table, skipped_files
from harness.tables.results import Results


def _probe_faults(results: Results) -> pd.DataFrame:
    """One row per recorded probe error or NaN metric, from the run records."""
    rows = []
    for record in results.records.values():
        label = record.label or record.run_id
        for error in record.probe_errors:
            rows.append({**asdict(error), "label": label, "fault": error.type or "error"})
        for warning in record.probe_warnings:
            rows.append({**asdict(warning), "label": label, "fault": "NaN"})
    columns = ["label", "probe", "plugin", "latent_space", "fault", "message"]
    return pd.DataFrame(rows, columns=columns)


def problems_section(results: Results) -> str:
    """Failed, diverged and missing runs, unreadable folders and probe faults."""
    runs = results.runs
    bad = runs[runs["status"].isin(["failed", "diverged"])]
    faults = _probe_faults(results)
    out = ['<section id="problems"><h2>Failed, diverged and missing runs</h2>']
    if bad.empty and not results.n_missing and not results.problems and faults.empty:
        out.append(para("Every expected run finished; none failed or diverged."))
    if not bad.empty:
        out.append(para(
            "Failed runs (an error stopped them) are left out of every statistic. Diverged runs "
            "(a loss became non-finite) never reach the threshold: they count as censored at the "
            "longest time any run of the same model recorded, and have no probe results."
        ))  # fmt: skip
        out.append(table(bad, [
            ("run", "label"), ("run id", "run_id"), ("status", "status"),
            ("diverged at step", "diverged_step"), ("phase", "diverged_phase"),
            ("error", "error_type"), ("message", "error_message"),
        ]))  # fmt: skip
        out += _tracebacks(results, bad.loc[bad["status"] == "failed", "run_id"])
    if results.n_missing:
        names = results.missing
        listing = ", ".join(names[:50]) + (
            f" and {len(names) - 50} more" if len(names) > 50 else ""
        )
        out.append(para(f"{results.n_missing} expected run(s) have no record"
                      + (f": {listing}." if names else ".")))  # fmt: skip
    for problem in results.problems:
        out.append(para(problem, "warning"))
    if not faults.empty:
        out.append(para(
            "Probe faults: these probes raised, broke their contract or reported NaN on a latent "
            "space. The runs keep their training and their other probe results; a faulty pair has "
            "no score (NaN), so it is missing from the separability statistics. Once the probe is "
            f"fixed, `harness probe {results.output_dir}` runs exactly the failed pairs again from "
            "the stored latents, without training.",
            "warning",
        ))  # fmt: skip
        out.append(table(faults, [
            ("run", "label"), ("probe", "probe"), ("plugin", "plugin"),
            ("latent space", "latent_space"), ("fault", "fault"), ("message", "message"),
        ]))  # fmt: skip
    out.append("</section>")
    return "".join(out)


def _tracebacks(results: Results, run_ids: Iterable[str]) -> list[str]:
    """A folded traceback per failed run that recorded one."""
    out = []
    for run_id in run_ids:
        record = results.records[run_id]
        error = (record.error or {}).get("traceback")
        if error:
            name = esc(record.label or run_id)
            out.append(
                f"<details><summary>Traceback of {name}</summary><pre>{esc(error)}</pre></details>"
            )
    return out


#: skipped files listed one by one in the report; the rest are in the run records
_SKIPS_SHOWN = 50


def data_section(results: Results) -> str:
    """What the dataset gave: files read and skipped by reason, speakers and clips
    per language and role (data_quality.csv), and the skipped files themselves."""
    records = list(results.records.values())
    quality = data_quality_table(records)
    if quality.empty:
        return ""
    out = ['<section id="data"><h2>Data</h2>']
    skipped = skipped_files(records)
    counts = quality[[f"skipped_{r}" for r in SKIP_COLUMNS]].sum()
    reasons = ", ".join(f"{int(n)} {r.replace('_', ' ')}" for r, n in
                        zip(SKIP_COLUMNS, counts, strict=True) if n)  # fmt: skip
    out.append(para(f"The dataset skipped {len(skipped)} file(s) or speaker(s): {reasons}."
                    if skipped else "The dataset skipped no file.",
                    "warning" if skipped else ""))  # fmt: skip
    columns: list[tuple[str, Cell]] = [("dataset", "dataset"), ("language", "language"), ("files read", "files_read"),
               ("skipped", "files_skipped"),
               *((f"skipped: {r.replace('_', ' ')}", f"skipped_{r}") for r in SKIP_COLUMNS
                 if counts[f"skipped_{r}"]),
               ("speakers", "speakers_loaded"), ("clips", "clips_loaded"),
               *((f"{role}: speakers / clips",
                  lambda row, role=role: f"{row[role + '_speakers']} / {row[role + '_clips']}")
                 for role in ("pretrain", "train", "heldout", "probe"))]  # fmt: skip
    out.append(table(quality, columns))
    if skipped:
        rows = "".join(f"<li><code>{esc(s.get('file', ''))}</code> [{esc(s.get('language', ''))}]"
                       f" {esc(_why(s))}</li>" for s in skipped[:_SKIPS_SHOWN])  # fmt: skip
        more = len(skipped) - _SKIPS_SHOWN
        tail = para(f"and {more} more (every one is in each run's {RECORD}, data.skipped)")
        out.append(f"<details><summary>Skipped files</summary><ul>{rows}</ul>"
                   f"{tail if more > 0 else ''}</details>")  # fmt: skip
    out.append("</section>")
    return "".join(out)


def _why(skip: dict[str, str]) -> str:
    """A skipped file's reason and detail, the reason once where the detail
    already starts with it ("undecodable: ..." from the audio reader)."""
    reason, detail = str(skip.get("reason", "")), str(skip.get("detail", ""))
    return detail if detail.startswith(reason) else f"{reason}: {detail}"
