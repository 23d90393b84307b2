"""The report's section on a classify task's held-out scores at the end of
training: accuracy, balanced accuracy and per-class recall per condition,
the classical baseline on the same split, confusion matrices and streaming
accuracy.

These are descriptions, not claims: every run of a suite is scored on the
same held-out speakers, so the spread over seeds is training randomness only
and says nothing about other speakers. The claims about speed come from the
convergence statistics (time to the threshold on the held-out measure).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report import figures
from harness.report.markup import figure, para, table
from harness.report.numbers import fmt_range, fmt_score
from harness.tables import confusion_table, streaming_table
from harness.tables.results import Results


def _final_scores(results: Results) -> pd.DataFrame:
    """Per model and condition: mean and range over seeds of the final scores,
    and each class's mean recall (from the confusion matrices)."""
    runs = results.runs.dropna(subset=["final_balanced_accuracy"])
    confusion = confusion_table(results.records.values())
    mine = confusion[confusion["source"] == "model"]
    rows = []
    for (model, condition), group in runs.groupby(["model", "condition"], sort=False):
        ids = set(group["run_id"])
        counts = mine[mine["run_id"].isin(ids)]
        right = (
            counts[counts["true"] == counts["predicted"]].groupby(["run_id", "true"])["count"].sum()
        )
        total = counts.groupby(["run_id", "true"])["count"].sum()
        recall = (right.reindex(total.index, fill_value=0) / total).groupby("true").mean()
        rows.append({
            "model": model,
            "condition": results.condition_label(str(condition)),
            "runs": len(group),
            "accuracy": group["final_accuracy"].mean(),
            "balanced_accuracy": group["final_balanced_accuracy"].mean(),
            "balanced_range": fmt_range(group["final_balanced_accuracy"].to_numpy(float)),
            "recall": ", ".join(f"{c} {fmt_score(r)}" for c, r in recall.items()),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _baseline(results: Results) -> pd.DataFrame:
    """The classical baseline's scores, one row per distinct split and features
    (conditions that change the features get their own)."""
    rows, seen = [], set()
    for record in results.records.values():
        base = record.baseline
        if not base or base.get("balanced_accuracy") is None:
            continue
        key = (base.get("balanced_accuracy"), base.get("accuracy"), str(base.get("params")))
        condition = str(record.condition_name)
        if key in seen:
            continue
        seen.add(key)
        rows.append({
            "baseline": str(base.get("name") or "MFCC statistics + SVM"),
            "features of": results.condition_label(condition),
            "accuracy": base.get("accuracy"),
            "balanced_accuracy": base.get("balanced_accuracy"),
            "chosen": ", ".join(f"{k}={v}" for k, v in sorted((base.get("params") or {}).items())),
        })  # fmt: skip
    return pd.DataFrame(rows)


def section(results: Results) -> str:
    """The section, or "" when no run of the suite classified."""
    scores = _final_scores(results)
    if scores.empty:
        return ""
    score = lambda x: fmt_score(x) if np.isfinite(x) else "–"  # noqa: E731
    out = ['<section id="classification"><h2>Held-out classification at the end of training</h2>']
    out.append(para(
        "Each run's last model scored on the held-out speakers' segments. The range is over "
        "seeds: every run is scored on the same held-out speakers, so it shows training "
        "randomness only, not how the scores would vary with other speakers; it is a "
        "description, not a test. The claims about learning speed are in Convergence."
    ))  # fmt: skip
    scores = scores.assign(model=scores["model"].map(results.model_label))
    out.append(table(scores, [
        ("model", "model"), ("condition", "condition"), ("runs", "runs"),
        ("accuracy (mean)", lambda r: score(r["accuracy"])),
        ("balanced accuracy (mean)", lambda r: score(r["balanced_accuracy"])),
        ("balanced accuracy (range over seeds)", "balanced_range"),
        ("recall per class (mean)", "recall"),
    ]))  # fmt: skip
    base = _baseline(results)
    if not base.empty:
        out.append("<h3>Classical baseline on the same split</h3>")
        out.append(table(base, [
            ("baseline", "baseline"), ("features of", "features of"),
            ("accuracy", lambda r: score(r["accuracy"])),
            ("balanced accuracy", lambda r: score(r["balanced_accuracy"])),
            ("chosen by grouped CV", "chosen"),
        ]))  # fmt: skip
        out.append(para(
            "An SVM on each clip's MFCC statistics, its kernel, C and gamma chosen by "
            "speaker-grouped cross-validation on the training speakers, scored on the held-out "
            "speakers' clips: what the model has to beat.", "note"
        ))  # fmt: skip
    for model in results.models:
        out.append(figure(
            figures.confusion_figure(results, model),
            f"Confusion matrices of {results.model_label(model)}",
            f"{results.model_label(model)}: held-out segments by true class (rows) and decided class (columns), "
            "summed over seeds, each row as shares.",
        ))  # fmt: skip
    streaming = streaming_table(results.records.values())
    if not streaming.empty:
        mean = streaming.groupby(["model", "condition", "frames"], sort=False)["accuracy"].mean()
        wide = mean.unstack("frames").reset_index()
        wide["condition"] = wide["condition"].map(lambda c: results.condition_label(str(c)))
        wide["model"] = wide["model"].map(lambda m: results.model_label(str(m)))
        frames = [c for c in wide.columns if c not in ("model", "condition")]
        out.append("<h3>Streaming: accuracy after the first frames</h3>")
        for k in frames:
            wide[f"after {k}"] = wide[k].map(score)
        out.append(table(wide, [("model", "model"), ("condition", "condition")]
                         + [(f"{k} frames", f"after {k}") for k in frames]))  # fmt: skip
        out.append(para(
            "The model fed one frame at a time (state carried within a segment, reset between "
            "segments), deciding after its first k frames; mean over seeds.", "note"
        ))  # fmt: skip
    out.append("</section>")
    return "".join(out)
