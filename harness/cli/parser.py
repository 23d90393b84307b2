"""The ``harness`` command line: one small function per command adds its
arguments; the arguments several commands share (a results folder,
``--no-report``, ``--measure``) are each written once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness import __version__
from harness.plugin.components import KINDS
from harness.plugin.registry import DISABLE_ENV
from harness.spec.config import ANSWER_MEASURE, TIME_MEASURES

DESCRIPTION = """\
Does pretraining a model on condition X (say, one epoch of Japanese low-passed
below 500 Hz) make it learn language Y from audio faster, and does it change how
languages separate in its latent space? A suite file (TOML) declares the
conditions, models and seeds; `harness run` trains every combination and writes
tidy CSV tables and a self-contained HTML report with the statistics.
"""

EPILOG = """\
first steps:
  harness plugins                      what datasets, filters, models, extractors, probes exist
  harness validate suites/quick.toml   check a suite file without running anything
  harness run suites/quick.toml        run it (a few minutes); open reports/quick/report.html
  harness report reports/quick         rebuild tables and report from finished runs
  harness probe reports/quick          run again the probes that failed, from stored latents
  harness compare reports/a reports/b  the answers of several results folders side by side
  harness check reports/quick          A/A check: do the tests find differences where none is?
  harness export reports/quick         its runs in an MLflow store (mlflow ui to browse them)

exit codes: 0 success, 1 some runs failed or are missing (the others are kept),
            2 usage or suite errors, 130 interrupted (run the same command again to finish)

a broken plugin: `harness --disable-plugin NAME ...` or HARNESS_DISABLE_PLUGINS=NAME,...
skips the plugin entry points of those names (`harness plugins` lists the broken ones)
"""

#: each command's help line (in the command list) and description (in its --help)
COMMANDS = {
    "run": (
        "run a suite: train every condition x model x seed, then write tables and report",
        "Run every run of SUITE that is not finished yet, then write the CSV tables "
        "and report.html into the output folder. Finished runs are kept and skipped, so running "
        "the same command again resumes an interrupted suite.",
    ),
    "validate": (
        "check a suite file and list its runs, without running anything",
        "Check every key of SUITE against the schema and the plugins' parameters; "
        "print every problem with its location, or a summary of the runs it would make.",
    ),
    "plugins": (
        "list every component with its parameters and where it comes from",
        "List the components each plugin family offers, with their parameters, "
        "defaults and documentation, and the package each comes from; '(default)' marks the "
        "one a suite gets when it names none.",
    ),
    "report": (
        "rebuild tables and report.html from the runs in a results folder",
        "Rebuild the CSV tables and report.html from the finished runs in DIR, "
        "without training anything. Works on a partial suite and says how many runs are missing.",
    ),
    "probe": (
        "run again the probes that failed in finished runs, from their stored latents",
        "For every finished run in DIR, run the (probe, latent space) pairs that "
        "have no results (their probe raised; see the report's problems section) on the run's "
        "stored latents, update its record, then rebuild the tables and report. Nothing is "
        "trained again.",
    ),
    "power": (
        "how many seeds a planned speed-up needs, from a pilot suite's runs",
        "From the finished runs in DIR (a pilot), resample each model's seed pairs (log "
        "time ratios to the control, each condition's own effect removed) and print the seeds "
        "per condition that the paired signed-rank test needs to detect each planned speed-up "
        "with the requested power, at Holm's first-step level for the suite's number of "
        "comparisons. A pilot whose pairs show no spread exits 2.",
    ),
    "check": (
        "A/A check: the report's tests on two halves of the control's seeds",
        "Split the control condition's seeds in DIR in two halves by run order (the "
        "first half run against the last) and run every test the report runs on a condition "
        "against the control (each time measure, paired and unpaired; separability where the "
        "probes report per-speaker results), and the wall seconds per step, on the second "
        "half against the first. Both halves "
        "are one condition, so any difference found is false: a measure that shows one (wall "
        "seconds under a changing machine load) is unsafe to trust. Exit 0: nothing false "
        "found; 1: a false difference found; 2: the folder cannot be checked.",
    ),
    "export": (
        "write a results folder's runs into a tracking store (MLflow)",
        "Write every run in DIR into an MLflow tracking store: one MLflow run per "
        "harness run (its settings as parameters, its learning curve and final measures as "
        "metrics, condition, model and seed as tags) and one run holding the report and "
        "tables as artifacts. Runs already in the store are not written again. Needs the "
        "mlflow extra: pip install 'speech-pretrain-harness[mlflow]'.",
    ),
    "compare": (
        "put the answers of several results folders side by side",
        "For each results folder (say, the same study on the embedded corpus and "
        "on Common Voice): its suite and dataset, and per model and condition the paired time "
        "ratio to the control with its CI and the difference from the control in the headline "
        "probe score, from the folder's stats/*.csv; rows aligned by model and condition name. "
        "Prints a table; --output also writes it as CSV or self-contained HTML.",
    ),
}

RUNS_FOLDER = "results folder written by `harness run`"
RUNS_FOLDERS = "results folders written by `harness run`"

Subparsers = Any  # argparse's _SubParsersAction is private


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument(
        "--disable-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help=f"do not load the plugin entry point NAME (repeatable; adds to ${DISABLE_ENV})",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_run, _validate, _plugins, _report, _probe, _power, _compare, _check, _export):
        add(sub)
    return parser


def _command(sub: Subparsers, name: str) -> argparse.ArgumentParser:
    """The subcommand ``name`` with its help line and description."""
    help, description = COMMANDS[name]
    return sub.add_parser(name, help=help, description=description)


def _folder_command(
    sub: Subparsers, name: str, folder: str = RUNS_FOLDER
) -> argparse.ArgumentParser:
    """A command that reads one results folder, DIR."""
    command = _command(sub, name)
    command.add_argument("directory", type=Path, help=folder)
    return command


def _suite_command(sub: Subparsers, name: str) -> argparse.ArgumentParser:
    """A command that reads one suite file, SUITE."""
    command = _command(sub, name)
    command.add_argument("suite", type=Path, help="suite file (TOML)")
    return command


def _no_report(command: argparse.ArgumentParser) -> None:
    command.add_argument("--no-report", action="store_true", help="skip writing tables and report")


def _measure(
    command: argparse.ArgumentParser, help: str | None = None, default: str | None = ANSWER_MEASURE
) -> None:
    command.add_argument("--measure", choices=TIME_MEASURES, default=default, help=help)


def _run(sub: Subparsers) -> None:
    run = _suite_command(sub, "run")
    run.add_argument("--output", "-o", type=Path, help="results folder (overrides the suite's)")
    run.add_argument("--executor", help="executor plugin to use instead of the suite's")
    run.add_argument(
        "--executor-param",
        "-E",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="executor parameter, e.g. -E workers=2 or -E address=tcp://host:8786 (repeatable)",
    )
    run.add_argument("--rerun-failed", action="store_true", help="retry runs that failed before")
    run.add_argument(
        "--fresh", action="store_true", help="start over: keep nothing from earlier runs"
    )
    _no_report(run)
    run.add_argument(
        "--force",
        action="store_true",
        help="use an output folder that is not empty although no `harness run` wrote it",
    )


def _validate(sub: Subparsers) -> None:
    _suite_command(sub, "validate")


def _plugins(sub: Subparsers) -> None:
    _command(sub, "plugins").add_argument("--kind", choices=KINDS, help="only this family")


def _report(sub: Subparsers) -> None:
    _folder_command(sub, "report")


def _probe(sub: Subparsers) -> None:
    _no_report(_folder_command(sub, "probe"))


def _power(sub: Subparsers) -> None:
    power = _folder_command(sub, "power", folder="results folder of the pilot suite")
    power.add_argument(
        "--effect",
        type=float,
        action="append",
        metavar="FRACTION",
        help="planned speed-up as a fraction, e.g. 0.2 for 20%% fewer steps (repeatable; "
        "default 0.1, 0.2 and 0.3)",
    )
    power.add_argument("--power", type=float, default=0.8, help="power wanted (default 0.8)")
    power.add_argument(
        "--comparisons",
        type=int,
        help="comparisons with the control in the planned suite (Holm family size); "
        "default the pilot's",
    )
    _measure(power)


def _compare(sub: Subparsers) -> None:
    compare = _command(sub, "compare")
    compare.add_argument("directories", type=Path, nargs="+", metavar="DIR", help=RUNS_FOLDERS)
    compare.add_argument(
        "--output", "-o", type=Path, help="also write the comparison: a .csv or .html file"
    )
    _measure(
        compare,
        help="time measure of the time ratios (default: each folder's own answer_measure)",
        default=None,
    )


def _check(sub: Subparsers) -> None:
    _folder_command(sub, "check")


def _export(sub: Subparsers) -> None:
    export = _folder_command(sub, "export")
    export.add_argument("--to", choices=("mlflow",), default="mlflow", help="the store (mlflow)")
    export.add_argument(
        "--uri",
        help="tracking URI (default: sqlite:///DIR/mlflow.db, artifacts in DIR/mlflow-artifacts)",
    )
    export.add_argument("--experiment", help="experiment name (default: the suite's name)")
