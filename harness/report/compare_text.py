"""``harness compare`` as text a terminal shows: one table per model, 100 columns.

Each answer's long name ("difference in balanced accuracy (all languages),
lstm_state/h") is written once, in the model's heading and the footnote; the
table names it by a short key (``time: steps``, or the latent space). Long
condition labels wrap inside their column, and folders that do not fit beside
each other go to a second block of the same tables.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import pandas as pd

from harness.report.numbers import ALPHA, MEASURE_NAMES

WIDTH = 100
#: the widest a condition label runs before it wraps
CONDITION_WIDTH = 26
#: a time row's key: "time: <short measure>"
SHORT_MEASURES = {
    MEASURE_NAMES["steps"]: "steps",
    MEASURE_NAMES["total_steps"]: "total steps",
    MEASURE_NAMES["seconds"]: "seconds",
}
TIME, SEPARATION = "time ratio, ", "difference in "

FOOTNOTE = (
    "time: the condition's time to threshold in that measure relative to the control's, "
    "paired by seed (below 1: faster), with its 95% CI; an end the data do not bound is open "
    "(∞); a latent space: the condition's headline score there minus the control's, with its "
    f"95% CI; * Holm-corrected p < {ALPHA}; –: that folder has no such answer"
)


def answer_key(answer: str, space: str) -> str:
    """The short name of an answer in the table."""
    if answer.startswith(TIME):
        measure = answer[len(TIME) :]
        return f"time: {SHORT_MEASURES.get(measure, measure)}"
    return space or answer


def _chunks(widths: Sequence[int], room: int) -> list[list[int]]:
    """Folder indices in groups whose columns (two spaces apart) fit in
    ``room`` characters; a folder wider than ``room`` gets a group of its own."""
    groups: list[list[int]] = [[]]
    used = 0
    for i, width in enumerate(widths):
        if groups[-1] and used + 2 + width > room:
            groups.append([])
            used = 0
        used += width + (2 if groups[-1] else 0)
        groups[-1].append(i)
    return groups


def headers(wide: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Each folder's column header: its name, or where a name is wider than the
    folder's numbers, a letter (A, B, ...) for every folder, named in the legend."""
    cells = [max(len(str(c)) for c in wide[n]) if len(wide) else 0 for n in names]
    if all(len(n) <= c for n, c in zip(names, cells, strict=True)) or len(names) > 26:
        return list(names)
    return [chr(ord("A") + i) for i in range(len(names))]


def render(wide: pd.DataFrame, names: Sequence[str], described: Sequence[str]) -> str:
    """The text of :meth:`harness.report.compare.Comparison.text`: the legend of
    the folders (``described``: each one's suite, dataset and path), then per
    model a heading and a table of conditions x answers."""
    keys = [answer_key(a, s) for a, s in zip(wide["answer"], wide["latent_space"], strict=True)]
    frame = wide.assign(key=keys)
    key_width = max([len("answer"), *map(len, frame["key"])])
    labels = [str(c) for c in frame["condition_label"]]
    cond_width = min(CONDITION_WIDTH, max([len("condition"), *map(len, labels)]))
    shown = headers(wide, names)
    widths = [max([len(h), *(len(str(c)) for c in frame[n])]) for h, n in zip(shown, names, strict=True)]  # fmt: skip
    room = WIDTH - 2 - (cond_width + 2) - (key_width + 2)
    lines = [f"comparing {len(names)} results folders:"]
    for header, name, text in zip(shown, names, described, strict=True):
        who = name if header == name else f"{header} = {name}"
        lines += textwrap.wrap(
            f"{who}: {text}", WIDTH, initial_indent="  ", subsequent_indent="    "
        )
    for group in _chunks(widths, room):
        columns = [names[i] for i in group]
        for model, rows in frame.groupby("model", sort=False):
            lines += ["", *_heading(str(model), rows)]
            head = ["condition".ljust(cond_width), "answer".ljust(key_width)]
            head += [shown[i].ljust(widths[i]) for i in group]
            lines.append(("  " + "  ".join(head)).rstrip())
            sizes = [cond_width, key_width, *(widths[i] for i in group)]
            for _, by_condition in rows.groupby("condition", sort=False):
                label = textwrap.wrap(str(by_condition["condition_label"].iloc[0]), cond_width)
                for k, (_, r) in enumerate(by_condition.iterrows()):
                    cells = [label[k] if k < len(label) else "", r["key"]]
                    cells += [str(r[c]) for c in columns]
                    padded = [c.ljust(w) for c, w in zip(cells, sizes, strict=True)]
                    lines.append(("  " + "  ".join(padded)).rstrip())
                lines += [f"  {rest}" for rest in label[len(by_condition) :]]
    lines.append("")
    lines += textwrap.wrap(FOOTNOTE, WIDTH)
    return "\n".join(lines)


def _heading(model: str, rows: pd.DataFrame) -> list[str]:
    """The model's name and, once, what its latent-space rows measure."""
    scores = sorted({a[len(SEPARATION) :] for a in rows["answer"] if a.startswith(SEPARATION)})
    if not scores:
        return [model]
    text = f"{model} (latent spaces: difference in {' / '.join(scores)})"
    return textwrap.wrap(text, WIDTH, subsequent_indent="  ")
