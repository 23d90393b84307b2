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
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from harness.expand import RunSpec, expand
from harness.hashing import content_hash
from harness.progress import Progress, Step, format_seconds
from harness.provenance import changes
from harness.store import (
    DAMAGED,
    DONE_STATUSES,
    FAILED,
    RECORD,
    Store,
    StoreError,
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


class ExecutorError(Exception):
    """The executor plugin could not start, so no run started."""


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
    #: why runs of an earlier version run again: "<what changed>" -> runs
    #: (see :func:`code_changes`)
    code_changes: Mapping[str, int] = field(default_factory=dict)
    #: labels of runs whose record was damaged (unreadable); they run again
    damaged: list[str] = field(default_factory=list)

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
        lines += notices(self.output, self.stale, self.code_changes, self.damaged)
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


def notices(
    output: Path, stale: list[str], code: Mapping[str, int], damaged: list[str]
) -> list[str]:
    """What a user should know about the folder before the counts."""
    lines = [f"{n} run(s) run again: {why}" for why, n in code.items()]
    if damaged:
        shown = ", ".join(damaged[:10]) + (
            f" and {len(damaged) - 10} more" if len(damaged) > 10 else ""
        )
        lines.append(
            f"{len(damaged)} damaged run record(s) (record.json missing or unreadable) "
            f"run again: {shown}"
        )
    if stale:
        lines.append(stale_notice(output, len(stale)))
    return lines


def code_changes(store: Store, specs: Iterable[RunSpec], stale: Iterable[str]) -> dict[str, int]:
    """Why runs of ``specs`` have no result although the folder holds runs of the
    same settings: the code that would run them changed (a plugin's version or
    source, the harness's). Returns ``{"plugin harness-extra 0.1.0 -> 0.2.0": 3}``.

    A stale run matches a current one when everything its id hashes except the
    provenance is equal (:meth:`RunSpec.identity`)."""
    specs = list(specs)
    if not specs:
        return {}
    keys = list(specs[0].identity())
    current = {content_hash(s.identity()): s for s in specs}
    counts: Counter[str] = Counter()
    for run_id in stale:
        try:
            record = store.load_record(run_id)
        except (OSError, ValueError):
            continue
        old = record.spec
        spec = current.pop(content_hash({k: old.get(k) for k in keys}), None)
        if spec is None:
            continue
        why = changes(old.get("provenance") or {}, spec.provenance)
        counts["; ".join(why) or "the code changed"] += 1
    return dict(counts)


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
        returned = (execute or _default_execute())(spec, folder)
        record = check_record(spec, returned, started, time.perf_counter() - clock)
    except Exception as exc:
        record = failure_record(spec, error_info(exc), started, time.perf_counter() - clock)
    try:
        store.commit(spec.run_id, folder, record)
    except (TypeError, ValueError) as exc:  # the record does not serialise to JSON
        record = failure_record(spec, error_info(exc), started, time.perf_counter() - clock)
        store.commit(spec.run_id, folder, record)
    seconds = float(record.wall_seconds or 0.0)
    return RunSummary(spec.run_id, spec.label, record.status, seconds, record.error)


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
    force: bool = False,
    progress_stream: TextIO | None = None,
) -> SuiteOutcome:
    """Run every run of ``suite`` that has no result yet; return how the suite stands.

    :param execute: the per-run function ``(spec, run_dir) -> record``; default
        :func:`harness.execute.execute`. It must be importable by the workers
        (a module-level function), since it travels to them by reference.
        With the default, datasets that can prepare their data do so first
        (:mod:`harness.preparation`); another function may not read them.
    :param executor: overrides the suite's ``[executor]``.
    :param rerun_failed: also retry runs whose record says "failed".
    :param fresh: move an existing output folder to ``<output>.old-<timestamp>``
        and start over.
    :param progress: show notices and the final summary on ``stream`` (default
        stdout), and the progress of the runs and of the data preparation
        before them on ``progress_stream`` (default ``stream`` when given,
        else stderr). With False nothing
        is printed; use :meth:`SuiteOutcome.summary`.
    :param registry: where the suite's components and the executor plugin are
        looked up (default: all plugins).
    :param force: use an output folder that is not empty although no `harness
        run` wrote it (it has no manifest.json).
    :raises StoreError: the output folder cannot be used (not a folder, not
        writable, in use by another run, not a harness folder without ``force``).
    :raises ExecutorError: the executor could not start; an output folder this
        call created is removed again, so nothing is left behind.
    """
    out = stream if stream is not None else sys.stdout
    shown = progress_stream or stream or sys.stderr
    clock = time.perf_counter()
    output = suite.output.resolve()
    moved_to = None
    Store(output).check_output(force)
    if fresh and output.exists():
        with Store(output).lock():
            moved_to = fresh_output(output)
    store = Store(output)
    specs = expand(suite, registry)
    by_id = {s.run_id: s for s in specs}
    created = not output.exists()
    with store.lock():
        try:
            store.clean_partial()
            store.write_suite(suite, specs)
        except OSError as exc:
            raise StoreError(f"cannot write to output folder {output}: {exc}") from exc
        before = store.statuses()
        stale = sorted(set(before) - set(by_id))
        finished = {
            rid for rid, status in before.items() if status in DONE_STATUSES and rid in by_id
        }
        failed_before = {rid for rid, status in before.items() if status == FAILED and rid in by_id}
        damaged = [
            by_id[rid].label for rid, status in before.items() if status == DAMAGED and rid in by_id
        ]
        todo = [s for s in specs
                if s.run_id not in finished and (rerun_failed or s.run_id not in failed_before)]  # fmt: skip
        # seed by seed (conditions and models in suite order within a seed): the
        # runs a paired comparison pairs run close together, under the same load,
        # so their wall seconds compare as fairly as the machine allows
        todo.sort(key=lambda s: s.seed)
        changed = code_changes(store, todo, stale) if stale else {}
        if progress:
            if moved_to is not None:
                print(f"--fresh: the earlier results were moved to {moved_to}", file=out)
            for line in notices(output, stale, changed, sorted(damaged)):
                print(line, file=out)
        ran: set[str] = set()
        interrupted = False
        runner: Executor | None = None
        bar = Progress(len(specs), len(specs) - len(todo), stream=shown, enabled=progress)
        try:
            if todo and execute is None:  # another run function may not read the dataset
                prepare(todo, registry, shown, progress)
            bar.start(
                _header(len(specs), len(todo), len(finished), len(failed_before), rerun_failed)
            )
            if todo:
                # inside the try: starting a cluster can take long enough to be interrupted
                chosen = executor or suite.executor
                try:
                    runner = make_executor(chosen, registry)
                except Exception as exc:
                    if created:  # nothing ran: leave no folder behind
                        shutil.rmtree(output, ignore_errors=True)
                    raise ExecutorError(
                        f"executor plugin {chosen.plugin!r} could not start: "
                        f"{type(exc).__name__}: {exc}; no run started"
                        + (f" and {output} was not created" if created else "")
                    ) from exc
                workers = getattr(runner, "workers", None)
                bar.running(workers if isinstance(workers, int) else None)
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
    outcome.code_changes = changed
    outcome.damaged = sorted(damaged)
    if progress:
        print(outcome.summary(), file=out)
    return outcome


def prepare(todo: list[RunSpec], registry: Registry | None, stream: TextIO, show: bool) -> None:
    """Let the datasets of ``todo`` prepare their data (:mod:`harness.preparation`)
    before the runs start, showing each step. A failure is reported and the
    runs go ahead: each then meets the error itself and records it."""
    from harness.preparation import prepare_data
    from harness.registry import load_registry

    steps: dict[str, Step] = {}

    def report(what: str, done: int, total: int, unit: str) -> None:
        step = steps.get(what)
        if step is None:
            step = steps[what] = Step(what, stream=stream, enabled=show)
        step.advance(done, total, unit)

    try:
        prepare_data(todo, registry or load_registry(), report)
    except Exception as exc:
        for step in steps.values():
            step.end("stopped")
        if show:
            print(
                f"preparing the data failed: {type(exc).__name__}: {exc}; the runs try "
                "again and record the error",
                file=stream,
            )
        return
    for step in steps.values():
        step.end()


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
        if status is None or status == DAMAGED:
            missing += 1
            continue
        counts[status if status in counts else FAILED] += 1
        if status == FAILED:
            error = store.load_record(spec.run_id).error or {}
            failures.append(
                RunFailure(
                    spec.run_id,
                    spec.label,
                    str(error.get("type", "?")),
                    str(error.get("message", "")),
                    str(error.get("traceback", "")),
                    store.run_dir(spec.run_id) / RECORD,
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
