"""The ``slurm`` executor: each run (or batch of ``runs_per_job`` runs) is a
Slurm job with the resources the executor's keys declare, submitted with
submitit (``pip install 'speech-pretrain-harness[slurm]'``).

The submitting process (``harness run``, which alone holds the output
folder's lock) submits at most ``jobs`` jobs at a time as job arrays, then
watches two things: the files each job leaves per run
(:mod:`harness_plugins.executors.slurm_jobs`) and the jobs' states in
``squeue`` (:mod:`harness_plugins.executors.slurm_queue`). A job that ends
without a run's result is settled by how it ended:

- preempted, its node failed or it vanished: the run is submitted again,
  up to ``retries`` times (a job Slurm requeues itself just runs again);
- cancelled, out of time or memory, or its process died: the run is
  reported as failed, with the job's log; ``--rerun-failed`` retries it.

Runs of the batch that never started go back to the queue either way.
Each worker writes its run's folder through the store's atomic rename, so a
killed job leaves only a partial folder, never a finished-looking one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness_plugins.executors.slurm_jobs import (
    Payload,
    SlurmJobEnded,
    done_indices,
    read_done,
    run_batch,
    started_path,
)
from harness_plugins.executors.slurm_options import SlurmOptions
from harness_plugins.executors.slurm_queue import (
    ENDED,
    RETRIED,
    VANISHED,
    accounted_states,
    cancel,
    check_resources,
    job_states,
    require_commands,
)

#: seconds between looks at the run files, and at the queue
POLL_S, QUEUE_EVERY_S = 0.5, 3.0
#: jobs per job array (Slurm's MaxArraySize is 1001 by default)
ARRAY_MAX = 500
#: seconds a job's end must last before its runs are settled: a finished
#: job's files may reach this host late over NFS; a PREEMPTED job may be requeued
GRACE_S = {"COMPLETED": 60.0}
GRACE_OTHER_S = 5.0
#: seconds after submission a job may still be missing from squeue
UNSEEN_S = 60.0


@dataclass
class _Job:
    job_id: str
    payload: list[Payload]
    seen: bool = False
    ended: str = ""
    ended_at: float = 0.0
    submitted: float = field(default_factory=time.monotonic)


@dataclass
class _Map:
    """One ``map`` call's items and what has become of them."""

    items: list[Any]
    waiting: deque[list[int]]
    attempts: dict[int, int] = field(default_factory=dict)
    retried: dict[int, int] = field(default_factory=dict)
    settled: set[int] = field(default_factory=set)

    def payload(self, batch: list[int]) -> list[Payload]:
        return [(i, self.attempts.get(i, 0), self.items[i]) for i in batch]

    def again(self, indices: list[int], per_job: int) -> None:
        for i in indices:
            self.attempts[i] = self.attempts.get(i, 0) + 1
        for start in reversed(range(0, len(indices), per_job)):
            self.waiting.appendleft(indices[start : start + per_job])


def jobs_root(folder: str) -> Path:
    """Where job scripts, logs and run files go: ``folder``, else the harness
    cache's ``slurm/`` (``$HARNESS_CACHE``, default ~/.cache/harness)."""
    base = folder or os.path.join(os.environ.get("HARNESS_CACHE") or "~/.cache/harness", "slurm")
    return Path(base).expanduser().absolute()


class SlurmExecutor:
    """Runs items as Slurm jobs; see the module docstring."""

    def __init__(
        self,
        partition: str = "",
        jobs: int = 0,
        runs_per_job: int = 1,
        cpus_per_job: int = 1,
        gpus_per_job: int = 0,
        mem: str = "",
        time: str = "01:00:00",
        retries: int = 2,
        account: str = "",
        qos: str = "",
        setup: str = "",
        options: str = "",
        folder: str = "",
    ) -> None:
        given = dict(locals())
        del given["self"]
        self.options = SlurmOptions.parse(given)
        try:
            import submitit
        except ImportError as exc:
            raise RuntimeError(
                "the slurm executor needs submitit: pip install 'speech-pretrain-harness[slurm]'"
            ) from exc
        self._submitit = submitit
        require_commands()
        check_resources(self.options.test_only_args())
        #: runs at once (a job runs its runs one by one), when the executor
        #: limits its jobs; the runner's ETA divides by it
        self.workers: int | None = self.options.jobs or None
        self.name = f"harness-{secrets.token_hex(3)}"
        self.folder: Path | None = None
        self._live: list[_Job] = []
        self._kept = False  # a job failed: its log stays

    # ------------------------------------------------------------ the map

    def map(
        self, fn: Callable[[Any], Any], items: Iterable[Any]
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        items = list(items)
        if not items:
            return
        per = self.options.runs_per_job
        run = _Map(items, deque(list(range(i, min(i + per, len(items))))
                                for i in range(0, len(items), per)))  # fmt: skip
        submitter = self._submitter()
        last_look = float("-inf")
        while run.waiting or self._live:
            yield from self._submit(submitter, fn, run)
            yield from self._collect(run)
            if time.monotonic() - last_look >= QUEUE_EVERY_S:
                last_look = time.monotonic()
                yield from self._watch(run)
            if run.waiting or self._live:
                time.sleep(POLL_S)

    def _submitter(self) -> Any:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.folder = jobs_root(self.options.folder) / f"{stamp}-{self.name}"
        (self.folder / "runs").mkdir(parents=True, exist_ok=True)
        submitter = self._submitit.SlurmExecutor(folder=self.folder, max_num_timeout=0)
        submitter.update_parameters(**self.options.sbatch(self.name))
        return submitter

    @property
    def _runs(self) -> Path:
        assert self.folder is not None
        return self.folder / "runs"

    def _submit(
        self, submitter: Any, fn: Callable[[Any], Any], run: _Map
    ) -> Iterator[tuple[Any, BaseException]]:
        """Submit waiting batches while there is room; a refused submission
        fails its runs (``--rerun-failed`` submits them again)."""
        room = self.options.jobs - len(self._live) if self.options.jobs else len(run.waiting)
        batches = [run.waiting.popleft() for _ in range(min(room, len(run.waiting)))]
        for start in range(0, len(batches), ARRAY_MAX):
            payloads = [run.payload(batch) for batch in batches[start : start + ARRAY_MAX]]
            try:
                job_ids = self._sbatch(submitter, fn, payloads)
            except Exception as exc:
                self._kept = True
                error = SlurmJobEnded(
                    f"sbatch could not submit the job: {exc}; if the cluster limits queued "
                    "jobs, queue fewer at once with -E jobs=N",
                    "SUBMIT",
                )
                for payload in payloads:
                    for index, _, item in payload:
                        run.settled.add(index)
                        yield item, error
                continue
            self._live += [
                _Job(job_id, payload) for job_id, payload in zip(job_ids, payloads, strict=True)
            ]

    def _sbatch(
        self, submitter: Any, fn: Callable[[Any], Any], payloads: list[list[Payload]]
    ) -> list[str]:
        limit = (self.options.minutes * 60, self.options.time)
        common = (fn, str(self._runs))
        threads = self.options.cpus_per_job
        if len(payloads) == 1:
            return [submitter.submit(run_batch, *common, payloads[0], threads, *limit).job_id]
        with submitter.batch():
            jobs = [submitter.submit(run_batch, *common, p, threads, *limit) for p in payloads]
        return [job.job_id for job in jobs]

    def _collect(self, run: _Map) -> Iterator[tuple[Any, Any]]:
        """Each run whose result file appeared, once; jobs with nothing left go."""
        done = done_indices(self._runs)
        for job in list(self._live):
            for index, _, item in job.payload:
                if index in done and index not in run.settled:
                    run.settled.add(index)
                    yield item, read_done(self._runs, index)
            if all(index in run.settled for index, _, _ in job.payload):
                self._live.remove(job)

    # ------------------------------------------------------------ the queue

    def _watch(self, run: _Map) -> Iterator[tuple[Any, Any]]:
        """Note each job's state; settle the runs of jobs that ended."""
        states = job_states(self.name)
        if states is None:  # squeue failed this time (a busy controller): look again later
            return
        now = time.monotonic()
        unseen = []
        for job in self._live:
            state = states.get(job.job_id, "")
            job.seen = job.seen or bool(state)
            if not state and (job.seen or now - job.submitted > UNSEEN_S):
                unseen.append(job)
            elif state in ENDED and job.ended != state:
                job.ended, job.ended_at = state, now
            elif state and state not in ENDED:
                job.ended = ""  # running again: Slurm requeued it
        accounted = accounted_states([job.job_id for job in unseen if not job.ended])
        for job in unseen:
            if not job.ended:
                job.ended, job.ended_at = accounted.get(job.job_id, VANISHED), now
        for job in list(self._live):
            if job.ended and now - job.ended_at >= GRACE_S.get(job.ended, GRACE_OTHER_S):
                yield from self._settle(job, run)

    def _settle(self, job: _Job, run: _Map) -> Iterator[tuple[Any, Any]]:
        """The runs of a job that ended: results that came late, then each
        missing run submitted again or failed (see the module docstring)."""
        yield from self._collect(run)
        if job not in self._live:
            return
        self._live.remove(job)
        missing = [p for p in job.payload if p[0] not in run.settled]
        started = {i for i, attempt, _ in missing if started_path(self._runs, i, attempt).exists()}
        # a job that started none of its runs spent an attempt of each
        charged = started or {i for i, _, _ in missing}
        again = []
        for index, _, item in missing:
            used = run.retried.get(index, 0)
            if index not in charged and job.ended != "CANCELLED":
                again.append(index)  # never started: not its fault
            elif index in charged and job.ended in RETRIED and used < self.options.retries:
                run.retried[index] = used + 1
                again.append(index)
            else:
                self._kept = True
                run.settled.add(index)
                yield item, self._ended(job, used)
        if again:
            run.again(again, self.options.runs_per_job)

    def _ended(self, job: _Job, retried: int) -> SlurmJobEnded:
        assert self.folder is not None
        log = self.folder / f"{job.job_id}_0_log.out"
        state, options = job.ended, self.options
        why = {
            "CANCELLED": "was cancelled (scancel, or an administrator); "
            "`harness run ... --rerun-failed` runs it again",
            "TIMEOUT": f"reached its time limit ({options.time}); "
            "give runs more time with -E time=...",
            "OUT_OF_MEMORY": f"ran out of memory ({options.mem or 'the partition default'}); "
            "ask for more with -E mem=...",
        }.get(state)
        if why is None and state in RETRIED:
            why = (f"ended without finishing it ({state}) {retried + 1} time(s), the last "
                   "with no retries left (-E retries); `--rerun-failed` runs it again")  # fmt: skip
        if why is None:
            why = (f"ended ({state}) without finishing it: its process crashed, was killed or "
                   "could not start")  # fmt: skip
            with contextlib.suppress(OSError):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                why += "; the end of its log:\n" + "\n".join(tail)
        return SlurmJobEnded(f"the Slurm job {job.job_id} running this run {why} (log: {log})",
                             state)  # fmt: skip

    # ------------------------------------------------------------ the end

    def close(self) -> None:
        """Cancel the jobs still queued or running, and wait (a minute at most)
        until none runs, so nothing writes into the output folder afterwards."""
        ids = [job.job_id for job in self._live]
        self._live = []
        if ids:
            cancel(ids)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = job_states(self.name)
                if states is not None and not any(
                    states.get(i, "COMPLETED") not in ENDED for i in ids
                ):
                    break
                time.sleep(1)
        if self.folder is not None and not self._kept:
            shutil.rmtree(self.folder, ignore_errors=True)
