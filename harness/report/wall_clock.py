"""What wall seconds ran under: the warning where wall seconds and the
answer's measure point opposite ways against the control (naming the load),
the note under tables in seconds, and the sentence saying how learning speed
is counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.claims import (
    MEASURE_WORDS,
    RUNS,
    Sentence,
    answer_measure,
    ratio,
    significant,
    source,
    vs_rows,
    vs_source,
)
from harness.stats.analysis import Analysis
from harness.tables.results import Results


def load_words(runs: pd.DataFrame) -> str:
    """The 1-minute load averages a set of runs recorded, as words."""
    loads = pd.concat([runs["load_start"], runs["load_end"]]).astype(float).dropna()
    if loads.empty:
        return "no load average recorded"
    cpus = runs["cpu_count"].astype(float).dropna()
    on = f" on {int(cpus.max())} CPUs" if len(cpus) else ""
    low, high = loads.min(), loads.max()
    span = f"{low:.2f}" if low == high else f"{low:.2f} to {high:.2f}"
    return f"1-minute load average {span}{on}"


def wall_clock_sentences(results: Results, analysis: Analysis, model: str) -> list[Sentence]:
    """Where wall seconds and steps point in opposite directions against the
    control (and at least one of them is evidence), a warning naming the load."""
    measure = answer_measure(results)
    counted = "steps" if measure == "seconds" else measure
    steps, seconds = vs_rows(analysis, model, counted), vs_rows(analysis, model, "seconds")
    runs = results.runs
    out = []
    for condition, s in steps.items():
        w = seconds.get(condition)
        if w is None or not (significant(s) or significant(w)):
            continue
        if (float(s["time_ratio"]) < 1) == (float(w["time_ratio"]) < 1):
            continue
        mine = runs[(runs["model"] == model) & (runs["condition"] == condition)]
        ctrl = runs[(runs["model"] == model) & (runs["condition"] == results.control)]

        def way(row: pd.Series) -> str:
            return "sooner" if float(row["time_ratio"]) < 1 else "later"

        out.append(
            Sentence(
                f"Warning: in wall seconds the {results.model_label(model)} with "
                f"“{results.condition_label(condition)}” reached the threshold {way(w)} than the "
                f"control (time ratio {ratio(float(w['time_ratio']))}), in "
                f"{MEASURE_WORDS[counted][0]} {way(s)} ({ratio(float(s['time_ratio']))}). Wall seconds "
                f"carry the machine's load: these runs ran at a {load_words(mine)}, the control's at a "
                f"{load_words(ctrl)}. The answer counts {MEASURE_WORDS[measure][0]}.",
                (
                    vs_source(s),
                    vs_source(w),
                    source(RUNS, model=model, condition=condition),
                    source(RUNS, model=model, condition=results.control),
                ),
                warning=True,
            )
        )
    return out


def cpu_share(runs: pd.DataFrame) -> str:
    """ ", and each run's process used 0.94 CPU seconds per wall second on
    average" (all runs pooled), or "" when the runs recorded no CPU time."""
    cpu = runs["cpu_seconds"].astype(float)
    wall = runs["wall_seconds"].astype(float)
    ok = np.isfinite(cpu) & np.isfinite(wall) & (wall > 0)
    if not ok.any():
        return ""
    return (
        f", and each run's process used {cpu[ok].sum() / wall[ok].sum():.2f} CPU seconds per "
        "wall second on average"
    )


def load_note(runs: pd.DataFrame) -> str:
    """What wall seconds were measured under, for the tables in seconds."""
    return (
        f"Wall seconds were measured at a {load_words(runs)}{cpu_share(runs)} (runs.csv: load_start, "
        "load_end, cpu_seconds): they carry the machine's load, which steps do not."
    )


def measure_sentence(results: Results, analysis: Analysis) -> Sentence | None:
    """How learning speed is counted, and what the wall seconds ran under."""
    runs = results.runs
    if runs.empty:
        return None
    counted = {
        "steps": "optimizer steps of target training, which machine load cannot change",
        "total_steps": "optimizer steps of pretraining and target training together, which "
        "machine load cannot change",
        "seconds": "wall seconds of target training, as the suite chose (answer_measure)",
    }[answer_measure(results)]
    return Sentence(
        f"Learning speed is counted in {counted}. The wall seconds were measured at a "
        f"{load_words(runs)}{cpu_share(runs)}; they compare conditions only as far as the load was "
        "alike.",
        (source(RUNS),),
    )
