"""The ``local`` executor: runs in a pool of worker processes on this machine.

Workers are started with ``spawn``: torch keeps threads and locks that a
forked child inherits in a broken state. Each worker gets ``cores // workers``
torch threads, so parallel runs do not oversubscribe the cores.

A worker that dies (segfault, out of memory, ``os._exit``) takes the whole
``ProcessPoolExecutor`` down with every run in flight, and the pool cannot say
which run killed it. The runs in flight become *suspects*: a new pool runs
them one at a time, so the run that kills a worker alone is the culprit
(reported as :class:`WorkerDied`) and the others finish normally.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from harness import Component, Param, hookimpl

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class WorkerDied(RuntimeError):
    """The worker process running an item exited without returning."""


def cpu_cores() -> int:
    """Cores this process may use (respects taskset and Slurm's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def limit_threads(threads: int) -> None:
    """Give this process ``threads`` math threads, for torch imported now or later."""
    for name in THREAD_ENV:
        # torch, numpy's BLAS and OpenMP read these when they are first imported
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def _watch_parent(parent: int) -> None:
    # A killed runner (kill -9) cannot stop its workers; without this they would
    # finish their run and then wait for work forever.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _init_worker(threads: int) -> None:
    # Ctrl-C reaches every process of the terminal's group; the runner alone
    # decides what stops, and terminates the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


class LocalExecutor:
    """Runs items in ``workers`` processes; see the module docstring."""

    def __init__(self, workers: int = 0, threads: int = 0, in_process: bool = False) -> None:
        self.threads = threads or max(1, cpu_cores() // (workers or cpu_cores()))
        #: runs at once (the runner's ETA divides by it)
        self.workers = 1 if in_process else workers or cpu_cores()
        self.in_process = in_process
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self, size: int) -> ProcessPoolExecutor:
        self._shutdown()
        self._pool = ProcessPoolExecutor(
            max_workers=size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )
        return self._pool

    def map(
        self, fn: Callable[[Any], Any], items: Iterable[Any]
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        items = list(items)
        if self.in_process:
            yield from self._map_here(fn, items)
            return
        size = max(1, min(self.workers, len(items)))
        pool = self._new_pool(size)
        pending = deque(items)
        suspects: deque[Any] = deque()
        running: dict[Future[Any], Any] = {}
        while pending or suspects or running:
            if suspects:
                if not running:
                    item = suspects.popleft()
                    running[pool.submit(fn, item)] = item
            else:
                # one item per worker: a broken pool fails every submitted
                # item, so queueing more would only widen the suspects
                while pending and len(running) < size:
                    item = pending.popleft()
                    running[pool.submit(fn, item)] = item
            solo = len(running) == 1
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            lost: list[Any] = []
            yield from _settle(done, running, lost)
            if not lost:
                continue
            # every other run in flight is failing with the pool; collect them
            rest, _ = wait(running)
            yield from _settle(rest, running, lost)
            if solo and len(lost) == 1:
                yield (
                    lost[0],
                    WorkerDied(
                        "the worker process running this run died (crash, out of memory, "
                        "os._exit or a kill signal); its output above may say why"
                    ),
                )
            else:
                suspects.extend(lost)
            pool = self._new_pool(size)

    def _map_here(
        self, fn: Callable[[Any], Any], items: list[Any]
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        for item in items:
            try:
                result = fn(item)
            except Exception as exc:
                yield item, exc
            else:
                yield item, result

    def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        if terminate is not None:
            with contextlib.suppress(Exception):
                terminate()
        for process in processes:
            # running items cannot be cancelled; stop them so a Ctrl-C is quick
            # and no worker writes into the output after the runner cleaned it
            with contextlib.suppress(Exception):
                process.terminate()
        for process in processes:
            process.join(timeout=10)

    def close(self) -> None:
        self._shutdown()


def _settle(
    futures: Iterable[Future[Any]], running: dict[Future[Any], Any], lost: list[Any]
) -> Iterator[tuple[Any, Any | BaseException]]:
    """(item, result or error) of each finished future, taken out of ``running``;
    items whose worker died with the pool go to ``lost`` instead."""
    for future in futures:
        item = running.pop(future)
        error = future.exception()
        if isinstance(error, BrokenProcessPool):
            lost.append(item)
        else:
            yield item, error if error is not None else future.result()


@hookimpl
def harness_executors() -> list[Component]:
    return [
        Component(
            name="local",
            factory=LocalExecutor,
            doc="worker processes on this machine",
            default=True,
            params=[
                Param("workers", int, 0, "runs at a time; 0: one per CPU core", min=0),
                Param(
                    "threads",
                    int,
                    0,
                    "torch threads per worker; 0: cores // workers, so cores are not oversubscribed",
                    min=0,
                ),
                Param(
                    "in_process",
                    bool,
                    False,
                    "run one at a time in the runner's own process (for pdb); a crash stops the suite",
                ),
            ],
        )
    ]
