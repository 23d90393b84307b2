"""The ``harness`` command.

Exit codes: 0 success, 1 some runs (or re-run probes) failed, 2 usage or suite
errors, 130 interrupted.

The parser is built in :mod:`harness.cli.parser`; each command's body lives
in its own module (``cli_run``, ``cli_validate``, ``cli_plugins``,
``cli_report``, ``cli_analysis``) and is importable from here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence

from harness.cli.analysis import cmd_check, cmd_compare, cmd_power, format_check, format_plan
from harness.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    RunNotStarted,
    UsageError,
)
from harness.cli.export import cmd_export
from harness.cli.parser import build_parser
from harness.cli.plugins import cmd_plugins, format_component
from harness.cli.report import cmd_probe, cmd_report, write_report
from harness.cli.run import cmd_run, data_note, executor_override, parse_param
from harness.cli.validate import cmd_validate, describe_suite
from harness.output.record import RecordVersionError
from harness.plugin.registry import (
    DISABLE_ENV,
    PluginError,
    Registry,
    disabled_plugins,
    entry_point_names,
    load_registry,
)
from harness.spec.suite import SuiteError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "RunNotStarted",
    "UsageError",
    "build_parser",
    "cmd_check",
    "cmd_compare",
    "cmd_export",
    "cmd_plugins",
    "cmd_power",
    "cmd_probe",
    "cmd_report",
    "cmd_run",
    "cmd_validate",
    "data_note",
    "describe_suite",
    "executor_override",
    "format_check",
    "format_component",
    "format_plan",
    "main",
    "parse_param",
    "write_report",
]

#: the commands that load every plugin first, so a broken one is warned about once
LOADS_PLUGINS = ("plugins", "validate", "run", "probe")


def main(argv: Sequence[str] | None = None) -> int:
    with sigterm_as_interrupt():
        try:
            return _main(argv)
        except BrokenPipeError:
            # the reader went away (`harness plugins | head`): nothing more to say
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a scheduler ending a job) stops a command as Ctrl-C
    does: finished runs kept, the same "interrupted" line, exit 130. Only the
    main thread can take signals; the previous handler is back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    started = (time.perf_counter(), _cpu_seconds())
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        disable_plugins(args.disable_plugin)
        registry = load_registry() if args.command in LOADS_PLUGINS else None
        if registry is not None:
            warn_broken(registry)
        if args.command == "plugins":
            return cmd_plugins(args.kind)
        if args.command == "validate":
            return cmd_validate(args.suite)
        if args.command == "report":
            return cmd_report(args.directory)
        if args.command == "probe":
            return cmd_probe(args.directory, args.no_report)
        if args.command == "power":
            return cmd_power(args)
        if args.command == "check":
            return cmd_check(args.directory)
        if args.command == "export":
            return cmd_export(args.directory, args.to, args.uri, args.experiment)
        if args.command == "compare":
            return cmd_compare(args.directories, args.output, args.measure)
        return cmd_run(args, started, registry)
    except (SuiteError, UsageError, PluginError, RunNotStarted, RecordVersionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def disable_plugins(names: Sequence[str]) -> None:
    """``--disable-plugin``: add ``names`` to ``$HARNESS_DISABLE_PLUGINS``, which
    worker processes inherit, so they skip the same plugins."""
    if not names:
        return
    known = entry_point_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"--disable-plugin {unknown[0]!r}: no plugin entry point has that name; installed: "
            + ", ".join(sorted(known))
        )
    os.environ[DISABLE_ENV] = ",".join(sorted(disabled_plugins() | set(names)))


def warn_broken(registry: Registry) -> None:
    """One warning per broken plugin on stderr; the other plugins keep working."""
    for broken in registry.broken:
        print(f"warning: {broken.describe()}; {broken.hint()}", file=sys.stderr)


def _cpu_seconds() -> float:
    from harness.running.progress import cpu_seconds

    return cpu_seconds()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
