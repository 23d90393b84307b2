"""Progress of a suite: a live line on a terminal, one line per run in logs;
a step line for each phase around the runs (data preparation, the report).

Progress never changes results: it only counts and prints.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

#: finished runs before an ETA is shown (fewer when a tenth of the work is fewer)
ETA_AFTER_RUNS = 3
ETA_AFTER_SHARE = 0.1


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Counts finished runs and shows them.

    On a terminal one line is redrawn in place; elsewhere (CI logs, files)
    each finished run prints its own line, so logs stay readable.

    :param total: runs of the suite.
    :param skipped: runs already finished before this invocation.
    :param stream: where to write (default stdout).
    :param enabled: False shows nothing.
    :param live: force the terminal (True) or log (False) style; default: ``stream.isatty()``.
    :param workers: runs the executor runs at once, when it says (see
        :class:`harness.plugin.contracts.Executor`).

    The time left is estimated only once it means something: after a full
    wave of runs (``workers`` of them) and at least :data:`ETA_AFTER_RUNS`
    (or :data:`ETA_AFTER_SHARE` of the runs to do, when that is fewer). It is
    the finished runs' mean wall time times the runs left, divided by the
    workers (without ``workers``: this session's throughput). Before that the
    line says "ETA after the first runs finish": the first runs of a suite
    also pay for loading, so one early finish says little.
    """

    def __init__(
        self,
        total: int,
        skipped: int = 0,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        workers: int | None = None,
    ) -> None:
        self.total = total
        self.skipped = skipped
        self.workers = workers if workers and workers > 0 else None
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = self.stream.isatty() if live is None else live
        self._clock = clock
        self.started = self._now()
        self.done = 0
        self.failed = 0
        self.run_seconds = 0.0
        self._width = 0

    def _now(self) -> float:
        return self._clock()

    @property
    def left(self) -> int:
        return self.total - self.skipped - self.done

    @property
    def eta_after(self) -> int:
        """Finished runs needed before the time left is estimated."""
        todo = self.total - self.skipped
        share = math.ceil(ETA_AFTER_SHARE * todo)
        return max(1, min(todo, max(self.workers or 1, min(ETA_AFTER_RUNS, share))))

    def eta(self) -> float | None:
        """Seconds left, or None until enough runs finished (:attr:`eta_after`)."""
        if self.done == 0 or self.done < self.eta_after:
            return None
        if self.workers is not None and self.run_seconds > 0:
            per_run = self.run_seconds / self.done
            return per_run * self.left / min(self.workers, max(self.left, 1))
        return (self._now() - self.started) / self.done * self.left

    def status(self) -> str:
        eta = self.eta()
        when = (
            f"ETA {format_seconds(eta)}" if eta is not None else "ETA after the first runs finish"
        )
        parts = [
            f"{self.skipped + self.done}/{self.total} runs",
            f"{self.failed} failed",
            f"{self.left} left",
            when if self.left else "",
        ]
        return "  ".join(p for p in parts if p)

    def start(self, header: str = "") -> None:
        """Show ``header`` (default: how many runs are left), then the live line."""
        if not self.enabled:
            return
        self._print(header or f"running {self.left} of {self.total} runs")
        if self.live:
            self._draw()

    def running(self, workers: int | None) -> None:
        """The runs start now, ``workers`` at a time (None: unknown); the ETA counts from here."""
        self.workers = workers if workers and workers > 0 else None
        self.started = self._now()

    def update(self, label: str, status: str, seconds: float | None = None) -> None:
        """Count one finished run (``status`` "failed" counts as a failure)."""
        self.done += 1
        self.failed += status == "failed"
        self.run_seconds += seconds or 0.0
        if not self.enabled:
            return
        took = f" in {format_seconds(seconds)}" if seconds is not None else ""
        if self.live:
            if status == "failed":
                # failures stay on screen above the live line
                self._clear()
                self._print(f"FAILED {label}{took}")
            self._draw()
        else:
            self._print(f"[{self.status()}] {status} {label}{took}")

    def close(self) -> None:
        if self.enabled and self.live:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _print(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        self.stream.write("\r" + " " * self._width + "\r")

    def _draw(self) -> None:
        filled = 0 if self.total == 0 else (self.skipped + self.done) * 24 // self.total
        line = f"[{'#' * filled}{'.' * (24 - filled)}] {self.status()}"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)


class Step:
    """One phase of work as one line, e.g. ``generating the eSpeak corpus: 120/480 clips``.

    On a terminal the line is redrawn in place as the phase advances and ends
    with its total and time; elsewhere only that last line is printed, so a
    log gets one line per phase. A phase made of a few named steps (the
    report: reading the runs, each statistic, each figure) passes
    ``each=True``: every step (each new ``detail``) is shown as it starts with
    the time the phase has taken so far, redrawn on a terminal and as a line
    of its own in a log, so a long phase is never silent.
    """

    def __init__(
        self,
        name: str,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        each: bool = False,
    ) -> None:
        self.name = name
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = self.stream.isatty() if live is None else live
        self.each = each
        self._clock = clock
        self.started = clock()
        self.done = 0
        self.total: int | None = None
        self.unit = ""
        self.detail = ""
        self.shown = False
        self._width = 0

    def advance(
        self, done: int, total: int | None = None, unit: str = "", detail: str = ""
    ) -> None:
        """``done`` of ``total`` ``unit`` so far; ``detail`` says what is being done now."""
        new = self.each and detail and detail != self.detail
        self.done, self.total, self.unit, self.detail = done, total, unit, detail
        if not self.enabled:
            return
        if self.live:
            self._draw(self._line())
        elif new:
            self.stream.write(self._line() + "\n")
            self.stream.flush()

    def end(self, note: str = "") -> None:
        """The phase is over: its last line, with the time it took."""
        if not self.enabled:
            return
        took = format_seconds(self._clock() - self.started)
        amount = f"{self.total} {self.unit}".strip() if self.total is not None else ""
        line = f"{self.name}: " + ", ".join(p for p in (amount, note) if p) + f" in {took}"
        if self.live:
            self._draw(line)
            self.stream.write("\n")
            self.stream.flush()
        else:
            self.stream.write(line + "\n")
            self.stream.flush()
        self.shown = True

    def _line(self) -> str:
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        name = self.name
        if self.each:  # the time so far: which step is slow shows as it happens
            name += f" [{format_seconds(self._clock() - self.started)}]"
        line = f"{name}: {count} {self.unit}".rstrip()
        return f"{line}  {self.detail}" if self.detail else line

    def _draw(self, line: str) -> None:
        # a line wider than the terminal wraps, and "\r" would no longer redraw it
        line = line[: max(20, shutil.get_terminal_size((100, 24)).columns - 1)]
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)


def cpu_seconds() -> float:
    """CPU seconds of this process and the children it waited for (worker pools,
    corpus generators), user and system."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def total_line(wall: float, cpu: float) -> str:
    """The closing line of a command: wall and CPU time, and how many cores that kept busy."""
    busy = f" ({cpu / wall:.1f} cores busy on average)" if wall >= 1 else ""
    return f"total: {format_seconds(wall)} wall, {format_seconds(cpu)} CPU{busy}"
