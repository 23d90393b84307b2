"""What every ``harness`` command shares: the exit codes, the two errors that
end a command with exit 2 and a message (:class:`UsageError`,
:class:`RunNotStarted`), and the check that a folder holds finished runs.
"""

from __future__ import annotations

from pathlib import Path

from harness.output.layout import runs_dir

# run exit codes (0 ok, 1 failed or missing runs, 130 interrupted) come from SuiteOutcome
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command-line mistake; exits 2 with the message."""


class RunNotStarted(Exception):
    """The output folder cannot be used or the executor cannot start; exits 2."""


def require_runs(directory: Path) -> None:
    """``directory`` is an output folder of ``harness run``, else a usage error."""
    if not runs_dir(directory).is_dir():
        raise UsageError(
            f"{directory} holds no runs/ folder; is it an output folder of `harness run`?"
        )
