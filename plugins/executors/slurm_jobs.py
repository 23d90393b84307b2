"""Inside a Slurm job: run a batch of items, leaving one file per item.

A job runs its items one after another. Before an item it writes
``<index>-<attempt>.started``, after it ``<index>.done`` (a pickle of
``("ok", result)`` or ``("error", exception)``, written under a temporary name
and renamed, so a reader never sees half of one). The submitting process
reads these files; it needs nothing back from the job itself, so a job that
Slurm kills loses only the item it was running, and a job that Slurm
requeues skips the items it already finished.

Slurm warns a job ``SIGNAL_DELAY_S`` seconds before its time limit with
SIGUSR2 (``sbatch --signal``). Near the limit the item in flight stops at
once and is reported as out of time; any other SIGUSR2 (a preemption
notice) goes to submitit's own handler, which requeues the job.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness_plugins.executors.local import limit_threads
from harness_plugins.executors.slurm_options import SIGNAL_DELAY_S

#: (index, attempt, item): an item of a batch, by its place in the map
Payload = tuple[int, int, Any]


class SlurmJobEnded(RuntimeError):
    """The Slurm job running an item ended without its result (cancelled,
    preempted, out of time or memory, its node or its process died)."""

    def __init__(self, message: str, state: str = "") -> None:
        super().__init__(message)
        self.state = state

    def __reduce__(self) -> tuple[Any, ...]:
        return (SlurmJobEnded, (str(self), self.state))


class _OutOfTime(BaseException):
    """Raised in the job's main thread by the time-limit warning; a
    BaseException, so the item's own ``except Exception`` lets it through."""


def done_path(folder: Path, index: int) -> Path:
    return folder / f"{index}.done"


def started_path(folder: Path, index: int, attempt: int) -> Path:
    return folder / f"{index}-{attempt}.started"


def done_indices(folder: Path) -> set[int]:
    """Indices whose result file is there."""
    with contextlib.suppress(OSError):
        # a changed mode makes an NFS client drop its cached listing of the folder
        folder.chmod(folder.stat().st_mode)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return set()
    return {int(name[:-5]) for name in names if name.endswith(".done") and name[:-5].isdigit()}


def read_done(folder: Path, index: int) -> Any:
    """The result of an item (an exception for a failed one)."""
    _, value = pickle.loads(done_path(folder, index).read_bytes())
    return value


def _write_done(folder: Path, index: int, outcome: str, value: Any) -> None:
    try:
        data = pickle.dumps((outcome, value))
    except Exception as exc:  # an exception or result that does not pickle
        data = pickle.dumps(("error", RuntimeError(f"{type(value).__name__}: {value} ({exc})")))
    tmp = folder / f".{index}.done.{os.getpid()}"
    tmp.write_bytes(data)
    os.replace(tmp, done_path(folder, index))


@contextlib.contextmanager
def _stop_near_time_limit(limit_s: float) -> Iterator[None]:
    started = time.monotonic()
    previous = signal.getsignal(signal.SIGUSR2)

    def warned(signum: int, frame: Any) -> None:
        # the warning comes SIGNAL_DELAY_S before the limit; a margin for a
        # slow start (the job waited for its pickle) keeps it recognised
        if time.monotonic() - started >= limit_s - SIGNAL_DELAY_S - 120:
            raise _OutOfTime()
        if callable(previous):  # a preemption notice: submitit requeues the job
            previous(signum, frame)

    signal.signal(signal.SIGUSR2, warned)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR2, previous)


def run_batch(
    fn: Callable[[Any], Any],
    folder: str,
    items: Sequence[Payload],
    threads: int,
    limit_s: float,
    limit_text: str,
) -> int:
    """Run ``fn`` on each item not done yet (in the job); return how many ran.

    :param folder: where the item files go (a folder every node sees).
    :param threads: math threads for each item (the job's CPUs).
    :param limit_s: the job's time limit in seconds, ``limit_text`` as the user wrote it.
    """
    where = Path(folder)
    limit_threads(threads)
    ran = 0
    with _stop_near_time_limit(limit_s):
        for index, attempt, item in items:
            if done_path(where, index).exists():  # a requeued job: finished before
                continue
            started_path(where, index, attempt).touch()
            try:
                _write_done(where, index, "ok", fn(item))
            except _OutOfTime:
                ended = SlurmJobEnded(
                    f"the Slurm job running this run reached its time limit ({limit_text}); "
                    "give runs more time with -E time=...",
                    "TIMEOUT",
                )
                _write_done(where, index, "error", ended)
                break
            except Exception as exc:
                _write_done(where, index, "error", exc)
            ran += 1
    return ran
