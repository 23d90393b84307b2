"""Where a run's time goes: when it started, its wall and CPU seconds, the
machine's load, and the wall seconds of each phase (data, features, training,
baseline, latents, probes), as the run record's timing fields.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

from harness.run.environment import load_average


class RunClock:
    """Started when made; :meth:`phase` times one phase, :meth:`record` reads it all."""

    def __init__(self) -> None:
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.wall, self.cpu, self.load = time.perf_counter(), time.process_time(), load_average()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Wall seconds of the ``with`` block, kept as the phase ``name``'s."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start

    def record(self) -> dict[str, Any]:
        """The record's timing fields, up to now."""
        return {
            "wall_seconds": time.perf_counter() - self.wall,
            # what the wall seconds were measured under: this process's CPU time
            # (every thread) and the machine's load average at the start and end
            "cpu_seconds": time.process_time() - self.cpu,
            "load_average": {"start": self.load, "end": load_average()},
            "phase_seconds": self.seconds,
        }
