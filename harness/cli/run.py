"""``harness run``: run a suite (with an executor chosen on the command line),
then note the skipped data files and write the tables and report.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from harness.cli.common import EXIT_OK, RunNotStarted, UsageError
from harness.cli.report import write_report
from harness.plugin.components import resolve_params
from harness.plugin.registry import Registry, UnknownComponent, load_registry
from harness.spec.suite import Selection, Suite, load_suite


def parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--executor-param expects KEY=VALUE, got {text!r}")
    try:  # numbers, booleans and quoted strings as in TOML; anything else is a string
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def executor_override(
    registry: Registry, suite: Suite, name: str | None, params: list[str]
) -> Selection | None:
    if name is None and not params:
        return None
    plugin = name or suite.executor.plugin
    try:
        component = registry.get("executor", plugin)
    except UnknownComponent as exc:
        raise UsageError(f"--executor: {exc.message}") from exc
    given = dict(parse_param(p) for p in params)
    if plugin == suite.executor.plugin:
        given = {**suite.executor.params, **given}
    resolved, problems = resolve_params(component.params, given, "--executor-param")
    if problems:
        raise UsageError("; ".join(f"{where}: {msg}" for where, msg in problems))
    return Selection("executor", plugin, resolved, plugin)


def cmd_run(
    args: argparse.Namespace,
    started: tuple[float, float] | None = None,
    registry: Registry | None = None,
) -> int:
    """``started``: (wall, CPU) clock when the command started, for the closing total;
    ``registry``: the plugins the command loaded (default all)."""
    from harness.output.store import StoreError
    from harness.running.progress import cpu_seconds, total_line
    from harness.running.runner import ExecutorError, run_suite

    wall, cpu = started or (time.perf_counter(), cpu_seconds())
    registry = registry or load_registry()
    suite = load_suite(args.suite, registry, output=args.output)
    executor = executor_override(registry, suite, args.executor, args.executor_param)
    try:
        outcome = run_suite(
            suite,
            executor=executor,
            rerun_failed=args.rerun_failed,
            fresh=args.fresh,
            registry=registry,
            force=args.force,
        )
    except (StoreError, ExecutorError) as exc:
        raise RunNotStarted(str(exc)) from exc
    if outcome.interrupted:
        return int(outcome.exit_code)  # 130: finished runs are kept; run again to finish
    if outcome.storage_full:  # said in the summary; no report: there is no room to write it
        return int(outcome.exit_code)
    note = data_note(outcome.output)
    if note:
        print(note, file=sys.stderr)
    if not args.no_report:
        reported = write_report(outcome.output)
        if reported != EXIT_OK:
            return reported
    print(total_line(time.perf_counter() - wall, cpu_seconds() - cpu), file=sys.stderr)
    return int(outcome.exit_code)


def data_note(output: Path) -> str | None:
    """Once per suite: the files its dataset skipped, by reason (every run of a
    suite reads the same data, so each file is counted once)."""
    from harness.output.store import Store
    from harness.tables.data import unique_skipped

    skipped = unique_skipped(Store(output).skipped())
    if not skipped:
        return None
    reasons: dict[str, int] = {}
    for row in skipped:
        reason = str(row.get("reason") or "other")
        reasons[reason] = reasons.get(reason, 0) + 1
    counts = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    return (
        f"data: {len(skipped)} file(s) skipped ({counts}); each is listed with its reason in "
        f"{output / 'data_quality.csv'} and the report's Data section"
    )
