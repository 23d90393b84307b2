"""Progress of a suite: a live line on a terminal, one line per run in logs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


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
    ) -> None:
        self.total = total
        self.skipped = skipped
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = enabled
        self.live = self.stream.isatty() if live is None else live
        self._clock = clock
        self.started = self._now()
        self.done = 0
        self.failed = 0
        self._width = 0

    def _now(self) -> float:
        return self._clock()

    @property
    def left(self) -> int:
        return self.total - self.skipped - self.done

    def eta(self) -> float | None:
        """Seconds left at this session's throughput (it counts parallel workers)."""
        if self.done == 0:
            return None
        return (self._now() - self.started) / self.done * self.left

    def status(self) -> str:
        eta = self.eta()
        parts = [
            f"{self.skipped + self.done}/{self.total} runs",
            f"{self.failed} failed",
            f"{self.left} left",
            f"ETA {format_seconds(eta)}" if eta is not None and self.left else "",
        ]
        return "  ".join(p for p in parts if p)

    def start(self, header: str = "") -> None:
        """Show ``header`` (default: how many runs are left), then the live line."""
        if not self.enabled:
            return
        self._print(header or f"running {self.left} of {self.total} runs")
        if self.live:
            self._draw()

    def update(self, label: str, status: str, seconds: float | None = None) -> None:
        """Count one finished run (``status`` "failed" counts as a failure)."""
        self.done += 1
        self.failed += status == "failed"
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
