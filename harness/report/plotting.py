"""What every report figure shares: the style, the colours of conditions and languages,
condition labels short enough for crowded axes, the grid of panels, one legend
above them, and PNG bytes (drawn in forked processes while the page is built,
:class:`PngJobs`). Drawn on :class:`matplotlib.figure.Figure`, never pyplot.
"""

from __future__ import annotations

import base64
import io
import multiprocessing
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from harness.tables.results import Results

DPI = 100
#: the conditions' colours, in order. Every one has a contrast of at least 3:1
#: against the white page (WCAG 2.1's ratio for graphics; the pale sand of Paul
#: Tol's "muted" scheme had 1.6:1), and every pair, the control's grey included,
#: stays at least 15 CIELAB units apart for normal vision and as simulated for
#: protanopia, deuteranopia and tritanopia (Machado et al. 2009, severity 1):
#: chosen by a greedy max-min search over hues at those lightnesses, ordered so
#: the first few differ most. tests/test_report_figures.py measures both.
#: A suite of up to ten conditions (the control and nine others) gets ten
#: distinct colours; more cycle, with the legend and panel titles to tell them apart.
PALETTE = (
    "#DC6718",  # orange
    "#189BDC",  # sky blue
    "#7E431B",  # brown
    "#4D18DC",  # violet
    "#610F8A",  # purple
    "#B83D9F",  # magenta
    "#1867DC",  # blue
    "#0F8A51",  # green
    "#7E1B35",  # wine
)
#: the control is always this neutral grey, in every figure
CONTROL_COLOUR = "#5F5F5F"
#: languages in the 2-D probe plots (a different thing from conditions, in other
#: figures): the same measured colours in another order, so the first two
#: languages are blue and orange
LANGUAGE_PALETTE = ("#189BDC", "#DC6718", "#0F8A51", "#B83D9F", "#7E431B", "#4D18DC", "#7E1B35")


@contextmanager
def style() -> Iterator[None]:
    with mpl.rc_context(
        {
            "text.parse_math": False,
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.fontsize": 8,
            "legend.frameon": False,
        }
    ):
        yield


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    with style():
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _draw_into(fig: Figure, conn: Any) -> None:
    """A forked child's whole work: one figure's PNG down the pipe ("" if it failed)."""
    try:
        data = png(fig)
    except Exception:  # the parent draws it again and sees the error itself
        data = b""
    conn.send_bytes(data)
    conn.close()


class PngJobs:
    """PNGs drawn in forked processes while the caller goes on building the page.

    Saving a figure (layout, then drawing) is most of the report's figure cost and
    needs nothing back from the page, so each figure submitted is drawn by a
    child forked at that moment (it shares the parent's memory: nothing is
    pickled but the PNG bytes coming back), at most ``workers`` at a time. The
    bytes are those :func:`png` gives in the parent; a child that fails is
    redrawn in the parent. ``workers`` < 2, or a platform without a safe
    ``fork`` (only Linux is trusted here), draws each figure as it is submitted.
    """

    def __init__(self, workers: int | None = None) -> None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        self.workers = cores if workers is None else workers
        self.parallel = self.workers >= 2 and sys.platform.startswith("linux")
        self._done: list[bytes | None] = []
        self._figures: list[Figure | None] = []
        self._running: list[tuple[int, Any, Any]] = []  # (index, process, pipe end)

    def submit(self, fig: Figure | bytes) -> int:
        """Start drawing ``fig`` (PNG bytes are kept as they are); its index."""
        index = len(self._done)
        if isinstance(fig, bytes) or not self.parallel:
            self._done.append(fig if isinstance(fig, bytes) else png(fig))
            self._figures.append(None)
            return index
        while len(self._running) >= self.workers:
            self._collect(self._running.pop(0))
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_draw_into, args=(fig, send), daemon=True)
        process.start()
        send.close()
        self._done.append(None)
        self._figures.append(fig)
        self._running.append((index, process, receive))
        return index

    def _collect(self, job: tuple[int, Any, Any]) -> None:
        index, process, receive = job
        try:
            data = receive.recv_bytes()
        except EOFError:
            data = b""
        receive.close()
        process.join()
        figure = self._figures[index]
        if not data and figure is not None:
            data = png(figure)
        self._done[index] = data
        self._figures[index] = None

    def results(self) -> list[bytes]:
        """Every submitted figure's PNG, in submission order (waits for the children)."""
        while self._running:
            self._collect(self._running.pop(0))
        return [data for data in self._done if data is not None]


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def condition_colours(conditions: Sequence[str], control: str | None) -> dict[str, str]:
    """condition -> colour, from the design's condition order: the control grey,
    the others through :data:`PALETTE` in order. Every figure colours a
    condition through this one mapping, so a condition looks the same everywhere."""
    out, k = {}, 0
    for condition in conditions:
        if condition == control:
            out[condition] = CONTROL_COLOUR
        else:
            out[condition] = PALETTE[k % len(PALETTE)]
            k += 1
    return out


def colours(results: Results) -> dict[str, str]:
    """:func:`condition_colours` of this suite's conditions."""
    return condition_colours(results.conditions, results.control)


#: a condition label longer than this is abbreviated on crowded axes (heatmaps)
SHORT_LABEL = 18


def short_labels(results: Results) -> dict[str, str]:
    """condition -> a label short enough for a heatmap's axis: the label itself
    when short, else the suite's condition name when that is shorter (the
    figure's caption gives the key, see :func:`label_key`)."""
    out = {}
    for condition in results.conditions:
        label = results.condition_label(condition)
        short = label if len(label) <= SHORT_LABEL or len(condition) >= len(label) else condition
        out[condition] = short
    return out


def label_key(results: Results) -> str:
    """ "name = label" for every abbreviated condition, for a caption; empty if none."""
    pairs = [(short, results.condition_label(c)) for c, short in short_labels(results).items()
             if short != results.condition_label(c)]  # fmt: skip
    return "; ".join(f"{short} = {label}" for short, label in pairs)


def wrap(text: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def legend(
    fig: Figure, axes: Sequence[Any], title: str | None = None, first: Sequence[str] = ()
) -> None:
    """One legend above all panels: panels share their conditions, and a legend
    inside a panel hides data. Labels in ``first`` (the control's) lead it."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    seen = {label: seen[label] for label in first if label in seen} | seen
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside upper center",
                   ncol=min(len(seen), 4), title=title)  # fmt: skip


def grid(
    n: int, per_row: int = 2, width: float = 10.0, height: float = 3.6
) -> tuple[Figure, list[Any]]:
    cols = min(n, per_row)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(width, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]
