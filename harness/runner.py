"""Run a suite: every missing run, on an executor, into the output folder.

The runner owns what happens around a run (which runs are missing, failures,
progress, Ctrl-C); :func:`harness.execute.execute` owns the run itself. Each
run is written by the worker that ran it (see :mod:`harness.store`), so a
killed runner loses only the runs in flight, and running the suite again
finishes exactly what is missing.

Nothing here imports torch: workers import it when they execute a run.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from harness.expand import RunSpec, expand
from harness.progress import Progress, format_seconds
from harness.store import (
    DONE_STATUSES,
    FAILED,
    Store,
    check_record,
    error_info,
    failure_record,
    fresh_output,
    now_iso,
)

if TYPE_CHECKING:
    from harness.contracts import Executor
    from harness.registry import Registry
    from harness.suite import Selection, Suite

ExecuteFn = Callable[[RunSpec, Path], Mapping[str, Any]]


@dataclass(frozen=True)
class RunSummary:
    """What a worker sends back: small, since the record is already on disk."""

    run_id: str
    label: str
    status: str
    wall_seconds: float
    error: Mapping[str, str] | None = None


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    label: str
    type: str
    message: str
    traceback: str
    record: Path
    #: failed in an earlier invocation and was not retried (see ``rerun_failed``)
    earlier: bool = False


@dataclass
class SuiteOutcome:
    """How a suite stands after :func:`run_suite`.

    The status counts cover every run of the suite, including the ones
    finished before this invocation (``skipped``); ``missing`` runs have no
    record yet (the run was interrupted).
    """

    suite: str
    output: Path
    total: int
    skipped: int
    executed: int
    reached: int
    censored: int
    diverged: int
    failed: int
    missing: int
    failures: list[RunFailure] = field(default_factory=list)
    #: run folders of another version of the suite: kept, but not in the tables
    stale: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    moved_to: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing and not self.interrupted

    @property
    def exit_code(self) -> int:
        """0 when every run has a result, 130 after Ctrl-C, 1 otherwise."""
        if self.interrupted:
            return 130
        return 0 if self.ok else 1

    def summary(self, tracebacks: int = 1) -> str:
        """Readable summary; the first ``tracebacks`` new failures show their traceback."""
        lines = []
        if self.moved_to is not None:
            lines.append(f"--fresh: the earlier results were moved to {self.moved_to}")
        if self.stale:
            lines.append(stale_notice(self.output, len(self.stale)))
        counts = (
            f"{self.reached} reached, {self.censored} censored, "
            f"{self.diverged} diverged, {self.failed} failed"
        )
        if self.missing:
            counts += f", {self.missing} not run"
        lines.append(
            f"suite {self.suite}: {self.total} runs: {counts} "
            f"({self.skipped} already finished, {self.executed} ran now in "
            f"{format_seconds(self.seconds)}); results in {self.output}"
        )
        if self.interrupted:
            lines.append("interrupted: finished runs are kept; run again to finish the rest")
        shown = 0
        for failure in self.failures:
            when = " (earlier; --rerun-failed retries it)" if failure.earlier else ""
            lines.append(f"FAILED {failure.label} [{failure.run_id}]{when}: "
                         f"{failure.type}: {failure.message}")  # fmt: skip
            lines.append(f"  record: {failure.record}")
            if not failure.earlier and shown < tracebacks and failure.traceback:
                lines.append("  " + failure.traceback.rstrip().replace("\n", "\n  "))
                shown += 1
        return "\n".join(lines)


def stale_notice(output: Path, count: int) -> str:
    return (
        f"note: {output} holds {count} run(s) of another version of this suite; they are "
        "kept but left out of tables. Use --fresh to start a new folder."
    )


def _default_execute() -> ExecuteFn:
    # imported on the worker, when a run starts: harness.execute imports torch
    from harness.execute import execute

    return execute


def run_one(spec: RunSpec, *, output: str, execute: ExecuteFn | None = None) -> RunSummary:
    """Execute one run in a private folder and commit its record (in the worker).

    An exception in ``execute`` becomes a failed record with its traceback,
    written next to whatever the run left in its folder.
    """
    store = Store(output)
    started = now_iso()
    clock = time.perf_counter()
    folder = store.begin(spec.run_id)
    try:
        record = check_record(spec, (execute or _default_execute())(spec, folder))
        record.setdefault("started", started)
        record.setdefault("wall_seconds", time.perf_counter() - clock)
    except Exception as exc:
        record = failure_record(spec, error_info(exc), started, time.perf_counter() - clock)
    try:
        store.commit(spec.run_id, folder, record)
    except (TypeError, ValueError) as exc:  # the record does not serialise to JSON
        record = failure_record(spec, error_info(exc), started, time.perf_counter() - clock)
        store.commit(spec.run_id, folder, record)
    seconds = float(record.get("wall_seconds") or 0.0)
    return RunSummary(spec.run_id, spec.label, record["status"], seconds, record.get("error"))


def make_executor(selection: Selection, registry: Registry | None = None) -> Executor:
    from harness.registry import load_registry

    return (registry or load_registry()).create(selection)


def run_suite(
    suite: Suite,
    *,
    execute: ExecuteFn | None = None,
    executor: Selection | None = None,
    rerun_failed: bool = False,
    fresh: bool = False,
    progress: bool = True,
    registry: Registry | None = None,
    stream: TextIO | None = None,
    started: Executor | None = None,
) -> SuiteOutcome:
    """Run every run of ``suite`` that has no result yet; return how the suite stands.

    :param execute: the per-run function ``(spec, run_dir) -> record``; default
        :func:`harness.execute.execute`. It must be importable by the workers
        (a module-level function), since it travels to them by reference.
    :param executor: overrides the suite's ``[executor]``.
    :param rerun_failed: also retry runs whose record says "failed".
    :param fresh: move an existing output folder to ``<output>.old-<timestamp>``
        and start over.
    :param progress: show progress, notices and the final summary on ``stream``
        (default stdout). With False nothing is printed; use
        :meth:`SuiteOutcome.summary`.
    :param registry: where the executor plugin is looked up (default: all plugins).
    :param started: an executor already built, used instead of ``executor`` and
        closed at the end (the CLI builds it before the output folder exists,
        so one that cannot start leaves no folder behind).
    """
    out = stream if stream is not None else sys.stdout
    clock = time.perf_counter()
    output = suite.output.resolve()
    moved_to = None
    if fresh and output.exists():
        with Store(output).lock():
            moved_to = fresh_output(output)
    store = Store(output)
    specs = expand(suite)
    by_id = {s.run_id: s for s in specs}
    with store.lock():
        store.clean_partial()
        store.write_suite(suite, specs)
        before = store.statuses()
        stale = sorted(set(before) - set(by_id))
        finished = {rid for rid, status in before.items() if status != FAILED and rid in by_id}
        failed_before = {rid for rid, status in before.items() if status == FAILED and rid in by_id}
        todo = [s for s in specs
                if s.run_id not in finished and (rerun_failed or s.run_id not in failed_before)]  # fmt: skip
        bar = Progress(len(specs), len(specs) - len(todo), stream=out, enabled=progress)
        if progress:
            if moved_to is not None:
                print(f"--fresh: the earlier results were moved to {moved_to}", file=out)
            if stale:
                print(stale_notice(output, len(stale)), file=out)
        ran: set[str] = set()
        interrupted = False
        runner: Executor | None = started
        bar.start(_header(len(specs), len(todo), len(finished), len(failed_before), rerun_failed))
        try:
            if todo:
                # inside the try: starting a cluster can take long enough to be interrupted
                runner = runner or make_executor(executor or suite.executor, registry)
                fn = functools.partial(run_one, output=str(output), execute=execute)
                for spec, result in runner.map(fn, todo):
                    summary = _settle(store, spec, result)
                    ran.add(spec.run_id)
                    bar.update(summary.label, summary.status, summary.wall_seconds)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if runner is not None:
                runner.close()
            if not interrupted:
                # every run has ended, so partial folders are those of dead
                # workers; after Ctrl-C a remote cluster may still be running
                # some, and the next start cleans up instead
                store.clean_partial()
            bar.close()
        outcome = _outcome(suite.name, store, specs, finished, ran, stale)
    outcome.interrupted = interrupted
    outcome.seconds = time.perf_counter() - clock
    outcome.moved_to = moved_to
    if progress:
        print(outcome.summary(), file=out)
    return outcome


def _header(total: int, todo: int, finished: int, failed: int, rerun_failed: bool) -> str:
    notes = [f"{finished} already finished"] if finished else []
    if failed and not rerun_failed:
        notes.append(f"{failed} failed earlier, not retried without --rerun-failed")
    return f"running {todo} of {total} runs" + (f" ({'; '.join(notes)})" if notes else "")


def _settle(store: Store, spec: RunSpec, result: Any) -> RunSummary:
    """A worker's answer, or the executor's exception (the worker died): record it."""
    if isinstance(result, RunSummary):
        return result
    if isinstance(result, KeyboardInterrupt):
        raise result
    if isinstance(result, BaseException):
        error = error_info(result)
    else:
        error = {"type": "TypeError", "message": f"the executor returned {result!r}",
                 "traceback": ""}  # fmt: skip
    store.commit(spec.run_id, store.begin(spec.run_id),
                 failure_record(spec, error, now_iso(), None))  # fmt: skip
    return RunSummary(spec.run_id, spec.label, FAILED, 0.0, error)


def _outcome(
    name: str,
    store: Store,
    specs: list[RunSpec],
    finished: set[str],
    ran: set[str],
    stale: list[str],
) -> SuiteOutcome:
    statuses = store.statuses()
    counts = dict.fromkeys((*DONE_STATUSES, FAILED), 0)
    failures = []
    missing = 0
    for spec in specs:
        status = statuses.get(spec.run_id)
        if status is None:
            missing += 1
            continue
        counts[status if status in counts else FAILED] += 1
        if status == FAILED:
            error = store.load_record(spec.run_id).get("error") or {}
            failures.append(
                RunFailure(
                    spec.run_id,
                    spec.label,
                    str(error.get("type", "?")),
                    str(error.get("message", "")),
                    str(error.get("traceback", "")),
                    store.run_dir(spec.run_id) / "record.json",
                    earlier=spec.run_id not in ran,
                )
            )
    return SuiteOutcome(
        suite=name,
        output=store.output,
        total=len(specs),
        skipped=len(finished),
        executed=len(ran),
        reached=counts["reached"],
        censored=counts["censored"],
        diverged=counts["diverged"],
        failed=counts[FAILED],
        missing=missing,
        failures=failures,
        stale=stale,
    )
