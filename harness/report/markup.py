"""HTML building blocks of the report: escaping, paragraphs, figures, tables.

Every string reaches the page through :func:`esc`; tables format numbers here,
so all sections show them alike.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.report import figures
from harness.report.numbers import fmt_num, fmt_p, fmt_time


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def para(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


def figure(data: bytes | None, alt: str, caption: str) -> str:
    if data is None:
        return para(f"No data for this figure yet ({alt}).", "muted")
    return (
        f'<figure><img src="{figures.data_uri(data)}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


Cell = str | Callable[[pd.Series], str]


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
            if callable(cell):
                shown, numeric = cell(row), True
            else:
                value = row.get(cell, np.nan)
                numeric = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                shown = fmt_num(value) if numeric else plain(value)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{esc(shown)}</td>")
        cls = ' class="sig"' if highlight is not None and bool(highlight.iloc[i]) else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


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
