"""``harness compare``: the answers of several results folders side by side.

Each folder contributes what its statistics already say (``stats/*.csv``, as
``harness run`` or ``harness report`` wrote them; nothing is recomputed): per
model and condition, the paired time ratio to the control with its confidence
interval (``convergence_vs_control.csv``), and the difference from the control
in the headline probe score of each latent space (``separability_vs_control.csv``,
the score the report leads with). Rows are aligned by model and condition
name, so the same study on two corpora reads as one table with a column per
folder. Each folder's time ratios are in its own suite's ``answer_measure``
(the measure its report's answer states), unless ``--measure`` names one for
every folder; the answer column names the measure, so rows of different
measures never share a line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.output.layout import RECORD, runs_dir
from harness.output.record import read_record
from harness.output.store import MANIFEST, Store, StoreError
from harness.plugin.names import metric_label
from harness.report.claims import SEPARABILITY, SEPARABILITY_SCORES, VS_CONTROL
from harness.report.markup import esc
from harness.report.numbers import ALPHA, MEASURE_NAMES
from harness.report.separation import headline_metrics
from harness.spec.config import ANSWER_MEASURE
from harness.spec.design import Design

#: the columns of the table :func:`compare` returns (and ``--output x.csv`` writes)
COLUMNS = ["folder", "suite", "dataset", "model", "condition", "condition_label", "control",
           "answer", "latent_space", "estimate", "ci_low", "ci_high", "p_holm"]  # fmt: skip
#: what the separability rows' ``answer`` says before the metric
SEPARATION = "difference in"


class CompareError(Exception):
    """A folder cannot be compared (not a results folder, no statistics) or the
    folders share no condition; the message names the folder and what is missing."""


@dataclass
class Answers:
    """One results folder's answers."""

    folder: Path
    suite: str
    dataset: str
    design: Design | None
    rows: pd.DataFrame = field(repr=False)

    def condition_label(self, name: str) -> str:
        info = self.design.condition(name) if self.design is not None else None
        return info.label if info is not None and info.label else name


def read_answers(folder: str | Path, measure: str | None = None) -> Answers:
    """The answers of one results folder, or :class:`CompareError` saying what
    is missing; time ratios in ``measure``, by default the folder's own
    ``answer_measure``."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise CompareError(f"{folder} {what}")
    try:
        manifest = Store(folder).manifest()
    except StoreError as exc:
        raise CompareError(f"{folder} is not a results folder: {exc}") from exc
    if manifest is None:
        raise CompareError(
            f"{folder} is not a results folder of `harness run`: it has no {MANIFEST}"
        )
    missing = [str(p) for p in (VS_CONTROL, SEPARABILITY, SEPARABILITY_SCORES)
               if not (folder / p).is_file()]  # fmt: skip
    if missing:
        raise CompareError(
            f"{folder} has no statistics yet ({', '.join(missing)} missing); "
            f"`harness report {folder}` writes them from its runs"
        )
    try:
        convergence = pd.read_csv(folder / VS_CONTROL)
        separability = pd.read_csv(folder / SEPARABILITY)
        summary = pd.read_csv(folder / SEPARABILITY_SCORES)
    except (OSError, ValueError) as exc:
        raise CompareError(f"{folder}: cannot read its statistics: {exc}") from exc
    design = manifest.design
    answers = Answers(folder, manifest.suite, _dataset(folder), design, pd.DataFrame())
    own = design.answer_measure if design is not None else ANSWER_MEASURE
    rows = _time_rows(answers, convergence, measure or own) + _separation_rows(
        answers, separability, summary
    )
    answers.rows = pd.DataFrame(rows, columns=COLUMNS)
    return answers


def _dataset(folder: Path) -> str:
    """The dataset plugin the folder's runs read (from a run record), with its label."""
    for path in sorted(runs_dir(folder).glob(f"*/{RECORD}")):
        try:
            dataset = read_record(path).spec.get("dataset") or {}
        except (OSError, ValueError):
            continue
        plugin, label = dataset.get("plugin"), dataset.get("label")
        if plugin:
            return str(plugin) if not label or label == plugin else f"{label} ({plugin})"
    return "unknown"


def _time_rows(answers: Answers, table: pd.DataFrame, measure: str) -> list[dict[str, object]]:
    rows = []
    answer = f"time ratio, {MEASURE_NAMES.get(measure, measure)}"
    for _, r in table[table["measure"] == measure].iterrows():
        low, high = r["time_ratio_ci_low"], r["time_ratio_ci_high"]
        rows.append(_row(answers, r, answer, "", r["time_ratio"], low, high, r["p_holm"]))
    return rows


def _separation_rows(
    answers: Answers, table: pd.DataFrame, summary: pd.DataFrame
) -> list[dict[str, object]]:
    metrics = headline_metrics(summary)
    if not metrics or table.empty:
        return []
    probe, metric = metrics[0]
    mine = table[(table["probe"] == probe) & (table["metric"] == metric)]
    facts = answers.design.facts if answers.design is not None else None
    answer = f"{SEPARATION} {metric_label(metric, facts)}"
    rows = []
    for _, r in mine.iterrows():
        low, high = r["difference_ci_low"], r["difference_ci_high"]
        space = str(r["latent_space"])
        rows.append(_row(answers, r, answer, space, r["difference"], low, high, r["p_holm"]))
    return rows


def _row(
    answers: Answers,
    r: pd.Series,
    answer: str,
    space: str,
    estimate: float,
    low: float,
    high: float,
    p: float,
) -> dict[str, object]:
    condition = str(r["condition"])
    return {
        "folder": str(answers.folder),
        "suite": answers.suite,
        "dataset": answers.dataset,
        "model": str(r["model"]),
        "condition": condition,
        "condition_label": answers.condition_label(condition),
        "control": str(r["control"]),
        "answer": answer,
        "latent_space": space,
        "estimate": float(estimate),
        "ci_low": float(low),
        "ci_high": float(high),
        "p_holm": float(p),
    }


@dataclass
class Comparison:
    """Answers of several folders, aligned: :attr:`table` has one row per
    folder and answer (long), :meth:`wide` one row per answer and a column per folder."""

    answers: list[Answers]
    #: the measure every folder was read in; None: each folder's own
    measure: str | None
    table: pd.DataFrame = field(repr=False)

    @property
    def names(self) -> list[str]:
        """Each folder's column header: its name, or its path where names repeat."""
        short = [a.folder.name or str(a.folder) for a in self.answers]
        return short if len(set(short)) == len(short) else [str(a.folder) for a in self.answers]

    def wide(self) -> pd.DataFrame:
        """model, condition, answer, latent space, then one formatted cell per folder
        ("–" where that folder has no such answer); rows in the first folder's order."""
        key = ["model", "condition", "answer", "latent_space"]
        frame = self.table.assign(
            cell=[_cell(r) for _, r in self.table.iterrows()],
            column=[self.names[self._index(f)] for f in self.table["folder"]],
        )
        labels = frame.drop_duplicates(key).set_index(key)["condition_label"]
        wide = frame.pivot_table(
            index=key, columns="column", values="cell", aggfunc="first", sort=False
        )
        wide = wide.reindex(columns=self.names).fillna("–").reset_index()
        wide.insert(2, "condition_label", [labels[tuple(r)] for r in wide[key].to_numpy()])
        wide.columns.name = None
        return wide

    def _index(self, folder: str) -> int:
        return [str(a.folder) for a in self.answers].index(folder)

    def text(self) -> str:
        """The comparison as text of at most 100 columns: the folders, then one
        table per model (:mod:`harness.report.compare_text`)."""
        from harness.report.compare_text import render

        described = [f"suite {a.suite!r}, dataset {a.dataset} ({a.folder})" for a in self.answers]
        return render(self.wide(), self.names, described)

    def html(self) -> str:
        """A self-contained HTML page of the comparison (no script, nothing fetched)."""
        wide = self.wide()
        legend = "".join(
            f"<li><b>{esc(name)}</b>: suite {esc(a.suite)}, dataset {esc(a.dataset)}, "
            f"<code>{esc(a.folder)}</code></li>"
            for name, a in zip(self.names, self.answers, strict=True)
        )
        head = "".join(f"<th>{esc(h)}</th>" for h in ["model", "condition", "answer", *self.names])
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{esc(v)}</td>"
                for v in [r["model"], r["condition_label"], _answer_text(r), *r[self.names]]
            )
            + "</tr>"
            for _, r in wide.iterrows()
        )
        return HTML.format(legend=legend, head=head, body=body, note=esc(FOOTNOTE))

    def write(self, path: Path) -> None:
        """``.csv``: the long table; ``.html``: the page."""
        from harness.atomic import write_text

        if path.suffix.lower() == ".csv":
            write_text(path, self.table.to_csv(index=False))
        else:
            write_text(path, self.html())


#: what ``--output`` writes, by suffix
OUTPUT_SUFFIXES = (".csv", ".html", ".htm")

FOOTNOTE = (
    f"time ratio: the condition's time to threshold relative to the control's, paired by "
    f"seed (below 1: faster), with its 95% CI (an end the data do not bound is open: ∞); "
    f"difference: the condition's score minus the "
    f"control's, "
    f"with its 95% CI; * marks Holm-corrected p < {ALPHA}; – : that folder has no such answer"
)

HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>harness compare</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 80em; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
td:nth-child(n+4) {{ font-variant-numeric: tabular-nums; white-space: nowrap; }}
.note {{ color: #555; }}
</style></head><body>
<h1>Results side by side</h1>
<ul>{legend}</ul>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p class="note">{note}</p>
</body></html>
"""


def _answer_text(r: pd.Series) -> str:
    space = str(r["latent_space"])
    return f"{r['answer']}, {space}" if space else str(r["answer"])


def _cell(r: pd.Series) -> str:
    """``0.62 [0.55, 0.70] *``, ``1.00 (0, ∞): no bound`` or ``+0.120 [+0.101, +0.140]``."""
    estimate, low, high, p = r["estimate"], r["ci_low"], r["ci_high"], r["p_holm"]
    separation = str(r["answer"]).startswith(SEPARATION)
    fmt = "{:+.3f}" if separation else "{:.2f}"

    def one(x: float) -> str:
        return "–" if x is None or math.isnan(x) else fmt.format(x)

    star = " *" if p == p and p < ALPHA else ""
    if separation:
        ci = f" [{one(low)}, {one(high)}]" if low == low or high == high else ""
    else:  # a ratio's CI can be unbounded: say so rather than print inf
        ci = f" {ratio_ci(low, high)}" if low == low or high == high else ""
    return f"{one(estimate)}{ci}{star}"


def ratio_ci(low: float, high: float) -> str:
    """A time ratio's 95% CI as text: ``[0.55, 0.70]``; an end the data do not
    bound is open, ``[0.55, ∞)`` or ``(0, 1.20]``, and an interval bounded at
    neither end says so; empty when there is no CI (NaN)."""
    if _missing(low) and _missing(high):
        return ""
    if (_missing(low) or low <= 0) and (_missing(high) or math.isinf(high)):
        return "(0, ∞): no bound"
    left = "(0" if _missing(low) or low <= 0 else f"[{low:.2f}"
    right = "∞)" if _missing(high) or math.isinf(high) else f"{high:.2f}]"
    return f"{left}, {right}"


def _missing(x: float | None) -> bool:
    return x is None or x != x


def compare(folders: Sequence[str | Path], measure: str | None = None) -> Comparison:
    """The answers of ``folders`` aligned by model and condition; time ratios
    in ``measure``, by default each folder's own ``answer_measure``.

    :raises CompareError: a folder is not a results folder or has no
        statistics, or the folders have no (non-control) condition in common.
    """
    seen: dict[Path, str] = {}
    for f in folders:
        key = Path(f).resolve()
        if key in seen:
            raise CompareError(f"{f} is given twice (as {seen[key]}); name each folder once")
        seen[key] = str(f)
    answers = [read_answers(f, measure) for f in folders]
    conditions = [set(a.rows["condition"]) for a in answers]
    common = set.intersection(*conditions) if conditions else set()
    if not common:
        listed = "; ".join(
            f"{a.folder}: {', '.join(sorted(c)) or 'none compared with a control'}"
            for a, c in zip(answers, conditions, strict=True)
        )
        raise CompareError(f"the folders have no condition in common (compared by name): {listed}")
    table = pd.concat([a.rows for a in answers], ignore_index=True)[COLUMNS]
    return Comparison(answers, measure, table)


__all__ = ["COLUMNS", "CompareError", "Comparison", "compare", "ratio_ci", "read_answers"]
