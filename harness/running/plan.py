"""What the runner does before the first run starts: open the output folder
(moved aside with ``fresh``), write the suite into it, work out which runs
are missing and why (:class:`Plan`; runs of an earlier version that run again
because the code changed: :func:`code_changes`), tell the user what they
should know about the folder (:func:`notices`), and let the datasets prepare
their data (:func:`prepare`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness.hashing import content_hash
from harness.output.store import DAMAGED, DONE_STATUSES, FAILED, Store, StoreError, fresh_output
from harness.plugin.provenance import changes
from harness.running.progress import Step
from harness.spec.expand import RunSpec

if TYPE_CHECKING:
    from harness.plugin.registry import Registry
    from harness.spec.suite import Suite


@dataclass(frozen=True)
class Plan:
    """Which runs of a suite run now, and what the folder held before."""

    #: the runs to execute, seed by seed
    todo: list[RunSpec]
    #: ids of the suite's runs that have a result already
    finished: set[str]
    #: ids of the suite's runs that failed earlier
    failed_before: set[str]
    #: run folders of another version of the suite
    stale: list[str]
    #: labels of the suite's runs whose record is damaged, sorted
    damaged: list[str]
    #: why runs of an earlier version run again (:func:`code_changes`)
    changed: dict[str, int]
    #: runs that failed earlier run again
    rerun_failed: bool

    def header(self, total: int) -> str:
        """The progress bar's first line: how many runs run, and why not the others."""
        notes = [f"{len(self.finished)} already finished"] if self.finished else []
        failed = len(self.failed_before)
        if failed and not self.rerun_failed:
            notes.append(f"{failed} failed earlier, not retried without --rerun-failed")
        running = f"running {len(self.todo)} of {total} runs"
        return running + (f" ({'; '.join(notes)})" if notes else "")


def open_output(output: Path, fresh: bool, force: bool) -> Path | None:
    """Check that ``output`` can be used; with ``fresh`` move an existing one
    aside and return where it went."""
    Store(output).check_output(force)
    if fresh and output.exists():
        with Store(output).lock():
            return fresh_output(output)
    return None


def plan_runs(
    store: Store,
    suite: Suite,
    specs: list[RunSpec],
    rerun_failed: bool,
    asked: list[RunSpec] | None = None,
) -> Plan:
    """Write the suite into its locked folder and work out the runs to execute.

    :param asked: a sequential suite's runs its looks ask for so far (the
        manifest lists them, and only they run); ``specs`` are all its runs up
        to its maximum seeds, so a run of a later look is never stale.
    """
    try:
        store.clean_partial()
        store.write_suite(suite, specs if asked is None else asked)
    except OSError as exc:
        raise StoreError(f"cannot write to output folder {store.output}: {exc}") from exc
    by_id = {s.run_id: s for s in specs}
    before = store.statuses()
    stale = sorted(set(before) - set(by_id))
    finished = {rid for rid, status in before.items() if status in DONE_STATUSES and rid in by_id}
    failed_before = {rid for rid, status in before.items() if status == FAILED and rid in by_id}
    damaged = [
        by_id[rid].label for rid, status in before.items() if status == DAMAGED and rid in by_id
    ]
    todo = [
        s
        for s in (specs if asked is None else asked)
        if s.run_id not in finished and (rerun_failed or s.run_id not in failed_before)
    ]
    # seed by seed (conditions and models in suite order within a seed): the
    # runs a paired comparison pairs run close together, under the same load,
    # so their wall seconds compare as fairly as the machine allows
    todo.sort(key=lambda s: s.seed)
    changed = code_changes(store, todo, stale) if stale else {}
    return Plan(todo, finished, failed_before, stale, sorted(damaged), changed, rerun_failed)


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


def announce(plan: Plan, output: Path, moved_to: Path | None, stream: TextIO) -> None:
    """What a user should know about the folder before the runs start."""
    if moved_to is not None:
        print(f"--fresh: the earlier results were moved to {moved_to}", file=stream)
    for line in notices(output, plan.stale, plan.changed, plan.damaged):
        print(line, file=stream)


def prepare(todo: list[RunSpec], registry: Registry | None, stream: TextIO, show: bool) -> None:
    """Let the datasets of ``todo`` prepare their data (:mod:`harness.data.preparation`)
    before the runs start, showing each step. A failure is reported and the
    runs go ahead: each then meets the error itself and records it."""
    from harness.data.preparation import prepare_data
    from harness.plugin.registry import load_registry

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
