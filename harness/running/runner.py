"""Run a suite: every missing run, on an executor, into the output folder.

The runner owns what happens around a run (which runs are missing, failures,
progress, Ctrl-C); :func:`harness.run.execute.execute` owns the run itself. Each
run is written by the worker that ran it (see :mod:`harness.output.store`), so a
killed runner loses only the runs in flight, and running the suite again
finishes exactly what is missing.

Nothing here imports torch: workers import it when they execute a run.
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from harness.output.run_results import check_record, error_info, failure_record, now_iso
from harness.output.store import FAILED, FULL, StorageFull, Store
from harness.running.outcome import RunFailure, SuiteOutcome, read_outcome
from harness.running.plan import (
    Plan,
    announce,
    code_changes,
    notices,
    open_output,
    plan_runs,
    prepare,
    stale_notice,
)
from harness.running.progress import Progress
from harness.spec.design import Design
from harness.spec.expand import RunSpec, expand

if TYPE_CHECKING:
    from harness.plugin.contracts import Executor
    from harness.plugin.registry import Registry
    from harness.spec.suite import Selection, Suite

__all__ = [
    "ExecuteFn",
    "ExecutorError",
    "RunFailure",
    "RunSummary",
    "SuiteOutcome",
    "code_changes",
    "make_executor",
    "notices",
    "prepare",
    "run_one",
    "run_suite",
    "stale_notice",
]

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


def _default_execute() -> ExecuteFn:
    # imported on the worker, when a run starts: harness.run.execute imports torch
    from harness.run.execute import execute

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
    except OSError as exc:
        if exc.errno in FULL:  # not this run's fault: it runs again once there is space
            raise StorageFull(output, exc.strerror or str(exc)) from exc
        record = failure_record(spec, error_info(exc), started, time.perf_counter() - clock)
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
    from harness.plugin.registry import load_registry

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
        :func:`harness.run.execute.execute`. It must be importable by the workers
        (a module-level function), since it travels to them by reference.
        With the default, datasets that can prepare their data do so first
        (:mod:`harness.data.preparation`); another function may not read them.
    :param executor: overrides the suite's ``[executor]``.
    :param rerun_failed: also retry runs whose record says "failed".
    :param fresh: move an existing output folder to ``<output>.old-<timestamp>``
        and start over.
    :param progress: show notices and the final summary on ``stream`` (default
        stdout), and the progress of the runs and of the data preparation
        before them on ``progress_stream`` (default ``stream`` when given,
        else stderr). With False nothing is printed; use :meth:`SuiteOutcome.summary`.
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
    moved_to = open_output(output, fresh, force)
    store = Store(output)
    specs = expand(suite, registry)
    created = not output.exists()
    chosen = executor or suite.executor
    with store.lock():
        run = _run_all if suite.sequential is None else _run_looks
        specs, plan, ran, interrupted, full = run(store, suite, specs, rerun_failed, chosen,
                                                  execute, registry, created, progress, shown,
                                                  out, moved_to)  # fmt: skip
        outcome = read_outcome(suite.name, store, specs, plan, ran, interrupted, moved_to)
        outcome.storage_full = full
    outcome.seconds = time.perf_counter() - clock
    if progress:
        print(outcome.summary(), file=out)
    return outcome


def _run_all(
    store: Store,
    suite: Suite,
    specs: list[RunSpec],
    rerun_failed: bool,
    chosen: Selection,
    execute: ExecuteFn | None,
    registry: Registry | None,
    created: bool,
    progress: bool,
    shown: TextIO,
    out: TextIO,
    moved_to: Path | None,
) -> tuple[list[RunSpec], Plan, set[str], bool, str]:
    """A fixed suite: every missing run, with a bar over all of them (the same
    signature as :func:`_run_looks`)."""
    plan = plan_runs(store, suite, specs, rerun_failed)
    if progress:
        announce(plan, store.output, moved_to, out)
    bar = Progress(len(specs), len(specs) - len(plan.todo), stream=shown, enabled=progress)
    ran, interrupted, full = _run_missing(store, plan, bar, chosen, execute, registry, created)
    return specs, plan, ran, interrupted, full


def _run_looks(
    store: Store,
    suite: Suite,
    specs: list[RunSpec],
    rerun_failed: bool,
    chosen: Selection,
    execute: ExecuteFn | None,
    registry: Registry | None,
    created: bool,
    progress: bool,
    shown: TextIO,
    out: TextIO,
    moved_to: Path | None,
) -> tuple[list[RunSpec], Plan, set[str], bool, str]:
    """A sequential suite: replay its looks from the records, run the seeds
    they ask for, and again, until no look asks for a run without a record
    (:mod:`harness.running.sequential`); the design's ``sequential`` section
    in the manifest says after each look what was decided and asked."""
    from harness.running import sequential as looks

    ran: set[str] = set()
    first: Plan | None = None
    design = Design.from_suite(suite, registry)
    while True:
        outcome = looks.looks_from_records(suite, store, design)
        need = looks.asked(outcome, suite)
        asked = looks.asked_specs(specs, need, suite.seeds)
        plan = plan_runs(store, suite, specs, rerun_failed and first is None, asked)
        looks.write_section(store, looks.section(suite, outcome, need))
        if progress and first is None:
            announce(plan, output=store.output, moved_to=moved_to, stream=out)
        first = first or plan
        if progress and outcome.looks:
            print(looks.look_line(outcome), file=out)
        if not plan.todo:
            return asked, first, ran, False, ""
        bar = Progress(len(asked), len(asked) - len(plan.todo), stream=shown, enabled=progress)
        done, interrupted, full = _run_missing(store, plan, bar, chosen, execute, registry,
                                               created)  # fmt: skip
        ran |= done
        if interrupted or full:
            return asked, first, ran, interrupted, full


def _run_missing(
    store: Store,
    plan: Plan,
    bar: Progress,
    chosen: Selection,
    execute: ExecuteFn | None,
    registry: Registry | None,
    created: bool,
) -> tuple[set[str], bool, str]:
    """Run ``plan.todo`` on the executor ``chosen``, each result settled as it
    comes; return the ids that ran, whether Ctrl-C stopped the loop, and why a
    full disk stopped it ("" if none did)."""
    ran: set[str] = set()
    interrupted, full = False, ""
    runner: Executor | None = None
    try:
        if plan.todo and execute is None:  # another run function may not read the dataset
            prepare(plan.todo, registry, bar.stream, bar.enabled)
        bar.start(plan.header(bar.total))
        if plan.todo:
            # inside the try: starting a cluster can take long enough to be interrupted
            runner = _start_executor(chosen, registry, store.output, created)
            workers = getattr(runner, "workers", None)
            bar.running(workers if isinstance(workers, int) else None)
            fn = functools.partial(run_one, output=str(store.output), execute=execute)
            for spec, result in runner.map(fn, plan.todo):
                summary = _settle(store, spec, result)
                ran.add(spec.run_id)
                bar.update(summary.label, summary.status, summary.wall_seconds)
    except KeyboardInterrupt:
        interrupted = True
    except StorageFull as exc:
        full = str(exc)
    finally:
        if runner is not None:
            runner.close()
        if not interrupted:
            # every run has ended, so partial folders are those of dead
            # workers; after Ctrl-C a remote cluster may still be running
            # some, and the next start cleans up instead
            store.clean_partial()
        bar.close()
    return ran, interrupted, full


def _start_executor(
    chosen: Selection, registry: Registry | None, output: Path, created: bool
) -> Executor:
    """The executor plugin, started; if it cannot start, a folder this call
    created is removed again (nothing ran) and :class:`ExecutorError` says why."""
    try:
        return make_executor(chosen, registry)
    except Exception as exc:
        if created:  # nothing ran: leave no folder behind
            shutil.rmtree(output, ignore_errors=True)
        raise ExecutorError(
            f"executor plugin {chosen.plugin!r} could not start: "
            f"{type(exc).__name__}: {exc}; no run started"
            + (f" and {output} was not created" if created else "")
        ) from exc


def _settle(store: Store, spec: RunSpec, result: Any) -> RunSummary:
    """A worker's answer, or the executor's exception (the worker died): record it."""
    if isinstance(result, RunSummary):
        return result
    if isinstance(result, KeyboardInterrupt | StorageFull):
        raise result
    if isinstance(result, BaseException):
        error = error_info(result)
    else:
        error = {"type": "TypeError", "message": f"the executor returned {result!r}",
                 "traceback": ""}  # fmt: skip
    store.commit(spec.run_id, store.begin(spec.run_id),
                 failure_record(spec, error, now_iso(), None))  # fmt: skip
    return RunSummary(spec.run_id, spec.label, FAILED, 0.0, error)
