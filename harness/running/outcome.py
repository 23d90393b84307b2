"""How a suite stands after a run of it: :class:`SuiteOutcome` (the status
counts over every run, the failures, what a user should know about the
folder) with its readable summary, read off the output folder once the
runner's loop has ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.output.store import DAMAGED, DONE_STATUSES, FAILED, RECORD, Store
from harness.running.plan import Plan, notices
from harness.running.progress import format_seconds
from harness.spec.expand import RunSpec


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
    #: why the suite stopped early because its disk is full ("" if it did not)
    storage_full: str = ""

    @property
    def ok(self) -> bool:
        return not (self.failed or self.missing or self.interrupted or self.storage_full)

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
        if self.storage_full:
            lines.append(f"stopped: {self.storage_full}")
        shown = 0
        for failure in self.failures:
            when = " (earlier; --rerun-failed retries it)" if failure.earlier else ""
            lines.append(
                f"FAILED {failure.label} [{failure.run_id}]{when}: "
                f"{failure.type}: {failure.message}"
            )
            lines.append(f"  record: {failure.record}")
            if not failure.earlier and shown < tracebacks and failure.traceback:
                lines.append("  " + failure.traceback.rstrip().replace("\n", "\n  "))
                shown += 1
        return "\n".join(lines)


def read_outcome(
    name: str,
    store: Store,
    specs: list[RunSpec],
    plan: Plan,
    ran: set[str],
    interrupted: bool,
    moved_to: Path | None,
) -> SuiteOutcome:
    """The outcome of ``specs`` as the store holds them once the runs in ``ran``
    ran (``plan`` said what the folder held before)."""
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
        skipped=len(plan.finished),
        executed=len(ran),
        reached=counts["reached"],
        censored=counts["censored"],
        diverged=counts["diverged"],
        failed=counts[FAILED],
        missing=missing,
        failures=failures,
        stale=plan.stale,
        interrupted=interrupted,
        moved_to=moved_to,
        code_changes=plan.changed,
        damaged=plan.damaged,
    )
