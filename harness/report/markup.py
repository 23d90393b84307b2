"""HTML building blocks of the report: escaping, paragraphs, figures, tables.

Every string reaches the page through :func:`esc`; tables format numbers here,
so all sections show them alike.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report import figures
from harness.report.numbers import fmt_num, fmt_p, fmt_time


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def para(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


#: who hears each figure placed on the page (its alt text), to show progress;
#: :func:`harness.report.html.build_report` sets it while it renders
FIGURE_DONE: ContextVar[Callable[[str], None] | None] = ContextVar("figure_done", default=None)


#: while set (by :func:`harness.report.html.build_report`), figures are drawn by
#: these jobs while the page is built, and :func:`figure` leaves a placeholder
#: (:func:`figure_placeholder`) where each image's data goes
PNG_JOBS: ContextVar[figures.PngJobs | None] = ContextVar("png_jobs", default=None)


def figure_placeholder(index: int) -> str:
    """What stands for the ``index``-th submitted figure's data URI until it is drawn:
    text from a suite or a record reaches the page through :func:`esc`, so it
    cannot hold a ``<``."""
    return f"<harness-figure {index}>"


def figure(data: Figure | bytes | None, alt: str, caption: str) -> str:
    """A figure (drawn here into PNG, or PNG bytes) with its caption."""
    if data is None:
        return para(f"No data for this figure yet ({alt}).", "muted")
    jobs = PNG_JOBS.get()
    if jobs is not None:
        src = figure_placeholder(jobs.submit(data))
    else:
        src = figures.data_uri(data if isinstance(data, bytes) else figures.png(data))
    done = FIGURE_DONE.get()
    if done is not None:
        done(alt)
    return (
        f'<figure><img src="{src}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


Cell = str | Callable[[pd.Series], str]


def _shown(row: pd.Series, cell: Cell) -> tuple[str, bool]:
    """A cell's text and whether it is a number."""
    if callable(cell):
        return cell(row), True
    value = row.get(cell, np.nan)
    numeric = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    return (fmt_num(value) if numeric else plain(value)), numeric


#: columns whose cells are names (models, conditions, latent spaces): they get a
#: minimum width so a long label wraps to a few lines, not to one word a line
LABEL_COLUMNS = {"model", "condition", "latent_space", "label"}


#: rows a table's box shows before it scrolls (report.css: .table-wrap's max-height)
SCROLLS_AFTER = 8


def table(frame: pd.DataFrame, columns: Sequence[tuple[str, Cell]],
           highlight: pd.Series | None = None) -> str:  # fmt: skip
    """An HTML table of ``frame``: (header, column name or row -> text) per column.
    Numbers are right-aligned; every cell is escaped."""
    if frame is None or frame.empty:
        return para("No rows.", "muted")
    head = "".join(f"<th>{esc(h)}</th>" for h, _ in columns)
    body = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = []
        for _, cell in columns:
            shown, numeric = _shown(row, cell)
            cls = ' class="num"' if numeric else (' class="label"' if cell in LABEL_COLUMNS else "")
            cells.append(f"<td{cls}>{esc(shown)}</td>")
        cls = ' class="sig"' if highlight is not None and bool(highlight.iloc[i]) else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    # a long table scrolls in its box (report.css): say so, since a box that
    # shows its first rows looks like a whole table
    more = (
        f'<p class="rows">{len(body)} rows: scroll the table to see them all.</p>'
        if len(body) > SCROLLS_AFTER
        else ""
    )
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{more}"
    )


def merge_repeats(
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, Cell]],
    over: Sequence[tuple[str, str]],
    where: pd.Series,
) -> pd.DataFrame:
    """``frame`` with the rows selected by ``where`` that would show the same
    cells except in the ``over`` columns merged into one row (the first), whose
    ``over`` cells name what they cover: "every <noun>" when every value of that
    column in ``frame`` is covered, else the values joined. ``over`` pairs a
    column with its noun, such as ``("condition", "condition")``. For rows
    repeated once per condition or model, such as a model-free baseline."""
    if frame.empty:
        return frame
    names = {column for column, _ in over}
    shown = [cell for _, cell in columns if not (isinstance(cell, str) and cell in names)]
    keys = [
        tuple(_shown(row, cell)[0] for cell in shown) if bool(where.iloc[i]) else ("row", i)
        for i, (_, row) in enumerate(frame.iterrows())
    ]
    out = frame.reset_index(drop=True).astype({column: object for column, _ in over})
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    # what "every" means is read before any merge rewrites a cell: a second
    # merged group must still see the first group's values, not its summary
    everything = {column: {str(v) for v in frame[column]} for column, _ in over}
    keep = []
    for members in groups.values():
        first = members[0]
        keep.append(first)
        if len(members) == 1:
            continue
        for column, noun in over:
            values = list(dict.fromkeys(str(v) for v in out.loc[members, column]))
            every = len(values) > 1 and set(values) == everything[column]
            out.at[first, column] = f"every {noun}" if every else ", ".join(values)
    return out.loc[sorted(keep)].reset_index(drop=True)


def plain(value: Any) -> str:
    """A non-numeric cell: missing values as a dash."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(value)


def p_cell(column: str) -> Callable[[pd.Series], str]:
    def cell(row: pd.Series) -> str:
        p = row.get(column, np.nan)
        return (
            "–"
            if p is None or not np.isfinite(p)
            else fmt_p(float(p)).removeprefix("p ").removeprefix("= ")
        )

    return cell


def ci_cell(
    value: str, low: str, high: str, fmt: Callable[[float], str]
) -> Callable[[pd.Series], str]:
    """``value [low, high]`` in one cell, so wide tables stay readable."""

    def cell(row: pd.Series) -> str:
        v = row.get(value, np.nan)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        lo, hi = row.get(low, np.nan), row.get(high, np.nan)
        if not (np.isfinite(lo) or np.isfinite(hi)) and not (np.isinf(lo) or np.isinf(hi)):
            return fmt(v)
        return f"{fmt(v)} [{fmt(lo)}, {fmt(hi)}]"

    return cell


def time_fmt(measure: str) -> Callable[[float], str]:
    return lambda x: fmt_time(float(x), measure)


def signed(x: Any, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    # no "-0.000": a difference that rounds to zero is shown as +0
    return f"{x:+.{digits}f}" if round(abs(x), digits) > 0 else f"+{0:.{digits}f}"


def num_cell(column: str, fmt: Callable[[float], str]) -> Callable[[pd.Series], str]:
    return lambda row: fmt(float(row.get(column, np.nan)))
