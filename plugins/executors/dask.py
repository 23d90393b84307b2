"""The ``dask`` executor: runs on a dask.distributed cluster.

With ``address`` it connects to a running scheduler (one started by hand, or
by dask-jobqueue on Slurm); without, it starts a ``LocalCluster`` of worker
processes on this machine. Workers must import the harness (same environment)
and see the output folder at the same path (a shared file system), since
each run writes its own folder.

A worker that dies is dask's business first: the scheduler reruns its tasks
elsewhere and gives up after ``distributed.scheduler.allowed-failures``
deaths (default 3) with ``KilledWorker``, which the runner records as the
run's failure.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import CancelledError
from typing import Any

from harness import Component, Param, hookimpl
from harness_plugins.executors.local import cpu_cores, limit_threads


def _run_on_worker(
    fn: Callable[[Any], Any], torch_threads: int, threads_by_host: Mapping[str, int], item: Any
) -> Any:
    """Limit math threads to this worker's share of its host, then run ``fn``."""
    if not torch_threads:
        from distributed import get_worker
        from distributed.comm import get_address_host

        worker = get_worker()
        # all dask threads on this host share its cores; a worker that joined
        # after the map started only knows its own threads
        sharing = threads_by_host.get(get_address_host(worker.address), worker.state.nthreads)
        torch_threads = max(1, cpu_cores() // max(1, sharing))
    limit_threads(torch_threads)
    return fn(item)


class DaskExecutor:
    def __init__(
        self,
        address: str = "",
        workers: int = 0,
        threads_per_worker: int = 1,
        torch_threads: int = 0,
        dashboard: str = "",
        timeout: float = 60.0,
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise RuntimeError(
                "the dask executor needs dask.distributed: "
                "pip install 'speech-pretrain-harness[dask]'"
            ) from exc
        self.torch_threads = torch_threads
        self.cluster = None
        if not address:
            n = workers or max(1, cpu_cores() // threads_per_worker)
            self.cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=dashboard or None,
                # without a dashboard the scheduler still serves /health; keep it
                # off the fixed port 8787 so several clusters can share a machine
                scheduler_kwargs=None if dashboard else {"dashboard_address": "127.0.0.1:0"},
            )
            address = self.cluster.scheduler_address
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except BaseException:
            if self.cluster is not None:
                self.cluster.close()
            raise
        self._futures: list[Any] = []
        #: runs at once: the cluster's threads when it started (the runner's ETA divides by it)
        self.workers: int | None = None
        with contextlib.suppress(Exception):
            self.workers = sum(self._threads_by_host().values()) or None

    def _threads_by_host(self) -> dict[str, int]:
        hosts: dict[str, int] = {}
        for info in self.client.scheduler_info(n_workers=-1)["workers"].values():
            hosts[info["host"]] = hosts.get(info["host"], 0) + int(info["nthreads"])
        return hosts

    def map(
        self, fn: Callable[[Any], Any], items: Iterable[Any]
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        from distributed import as_completed

        call = functools.partial(_run_on_worker, fn, self.torch_threads, self._threads_by_host())
        token = secrets.token_hex(4)
        futures = {}
        for i, item in enumerate(items):
            # named keys show up readably on the dashboard; pure=False since a
            # run's side effect (its folder) is the point
            label = getattr(item, "label", str(i)).replace("/", "-")
            future = self.client.submit(call, item, key=f"run-{label}-{token}-{i}", pure=False)
            futures[future] = item
        self._futures = list(futures)
        for future in as_completed(list(futures), loop=self.client.loop):
            item = futures.pop(future)
            if future.status == "finished":
                yield item, future.result()
            elif future.status == "cancelled":
                yield item, CancelledError("the dask scheduler cancelled this run")
            else:
                yield item, future.exception()
            future.release()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel(self._futures)
        self._futures = []
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


@hookimpl
def harness_executors() -> list[Component]:
    return [
        Component(
            name="dask",
            factory=DaskExecutor,
            doc="a dask.distributed cluster: a scheduler address, or a LocalCluster on this machine",
            params=[
                Param(
                    "address",
                    str,
                    "",
                    "scheduler address such as tcp://10.0.0.5:8786; empty starts a LocalCluster",
                ),
                Param(
                    "workers",
                    int,
                    0,
                    "LocalCluster worker processes; 0: cores // threads_per_worker",
                    min=0,
                ),
                Param(
                    "threads_per_worker", int, 1, "LocalCluster runs at a time per worker", min=1
                ),
                Param(
                    "torch_threads",
                    int,
                    0,
                    "torch threads per run; 0: the host's cores // dask threads on that host",
                    min=0,
                ),
                Param(
                    "dashboard",
                    str,
                    "",
                    "LocalCluster dashboard address such as ':8787'; empty: none",
                ),
                Param("timeout", float, 60.0, "seconds to wait for the scheduler", min=1.0),
            ],
        )
    ]
