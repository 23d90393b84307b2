"""``harness report`` and ``harness probe``: rebuild the tables and report of
a results folder, after running again the probes that failed for ``probe``;
:func:`write_report` also closes ``harness run``.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from harness.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, require_runs
from harness.plugin.registry import UnknownComponent


def write_report(output: Path) -> int:
    """Tables and report.html; Ctrl-C here keeps every run (exit 130). A
    report built from the same runs by the same code is kept as it is
    (:mod:`harness.output.report_inputs`)."""
    from harness.output import report_inputs
    from harness.output.layout import REPORT

    digest = report_inputs.inputs_digest(output)
    if report_inputs.unchanged(output, digest):
        print(f"report: {output / REPORT} (unchanged: built from these runs by this code)")
        return EXIT_OK
    report_inputs.forget(output)
    reported = _build(output)
    if reported == EXIT_OK:
        report_inputs.remember(output, digest)
    return reported


def _build(output: Path) -> int:
    from harness.report import REPORT_STEPS, build_report
    from harness.running.progress import Step

    # each step and figure as it starts, with the time so far, in a log too
    step = Step("report", each=True)

    def show(name: str) -> None:
        # a figure placed (not one of REPORT_STEPS) is a detail of the last step
        done = REPORT_STEPS.index(name) if name in REPORT_STEPS else len(REPORT_STEPS) - 1
        step.advance(done, len(REPORT_STEPS), "steps", name)

    try:
        path = build_report(output, on_step=show)
        step.advance(len(REPORT_STEPS), len(REPORT_STEPS), "steps")
        step.end()
    except KeyboardInterrupt:
        print(
            f"interrupted while writing the report: the runs in {output} are kept; "
            f"`harness report {output}` rebuilds the tables and report",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(f"report: {path}")
    return EXIT_OK


def cmd_report(directory: Path) -> int:
    """Tables and report.html of a results folder.

    The report reads what it says about components (titles, metric labels,
    whether a filter keeps speech) from the facts ``harness run`` recorded in
    the manifest's design, never from the installed plugins, so switching a
    plugin off or upgrading it leaves the answer unchanged. A folder written
    before the design held facts gets them here, once: from the installed
    plugins, written into its manifest (said on stderr), because
    ``keeps_speech`` changes a conclusion; a folder with no manifest design
    reads with humanised names.
    """
    from harness.output.manifest_facts import fill_missing_facts
    from harness.output.store import Store, StoreError

    require_runs(directory)
    with contextlib.ExitStack() as held:
        try:
            # a report of a folder a `harness run` is still filling would be of a part of it
            held.enter_context(Store(directory).lock())
        except StoreError as exc:
            raise UsageError(
                f"{exc}; it writes the report itself when its runs finish, or run "
                f"`harness report {directory}` once it has stopped"
            ) from exc
        # a folder from before the manifest held the plugins' facts: once, from the installed ones
        filled = fill_missing_facts(directory)
        if filled:
            print(filled, file=sys.stderr)
        return write_report(directory)


def cmd_probe(directory: Path, no_report: bool) -> int:
    from harness.output.reprobe import reprobe_folder
    from harness.output.store import StoreError

    require_runs(directory)
    try:
        summary = reprobe_folder(directory)
    except UnknownComponent as exc:
        raise UsageError(f"{directory}: a run's probe cannot be built: {exc.message}") from exc
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    print(summary.describe(directory))
    if summary.runs and not no_report:
        reported = write_report(directory)
        if reported != EXIT_OK:
            return reported
    return EXIT_FAILED if summary.still_failing or summary.cannot else EXIT_OK
