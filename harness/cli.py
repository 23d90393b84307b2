"""The ``harness`` command.

Exit codes: 0 success, 1 some runs (or re-run probes) failed, 2 usage or suite
errors, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import __version__
from harness.checkpoints import Checkpoint
from harness.components import KINDS, Component, resolve_params
from harness.layout import runs_dir
from harness.record import RecordVersionError
from harness.registry import (
    DISABLE_ENV,
    PluginError,
    Registry,
    UnknownComponent,
    disabled_plugins,
    entry_point_names,
    load_registry,
)
from harness.suite import EVERY_MODEL, Condition, Selection, Suite, SuiteError, load_suite

# run exit codes (0 ok, 1 failed or missing runs, 130 interrupted) come from SuiteOutcome
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

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

exit codes: 0 success, 1 some runs failed or are missing (the others are kept),
            2 usage or suite errors, 130 interrupted (run the same command again to finish)

a broken plugin: `harness --disable-plugin NAME ...` or HARNESS_DISABLE_PLUGINS=NAME,...
skips the plugin entry points of those names (`harness plugins` lists the broken ones)
"""


class UsageError(Exception):
    """A command-line mistake; exits 2 with the message."""


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

    run = sub.add_parser(
        "run",
        help="run a suite: train every condition x model x seed, then write tables and report",
        description="Run every run of SUITE that is not finished yet, then write the CSV tables "
        "and report.html into the output folder. Finished runs are kept and skipped, so running "
        "the same command again resumes an interrupted suite.",
    )
    run.add_argument("suite", type=Path, help="suite file (TOML)")
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
    run.add_argument("--no-report", action="store_true", help="skip writing tables and report")
    run.add_argument(
        "--force",
        action="store_true",
        help="use an output folder that is not empty although no `harness run` wrote it",
    )

    validate = sub.add_parser(
        "validate",
        help="check a suite file and list its runs, without running anything",
        description="Check every key of SUITE against the schema and the plugins' parameters; "
        "print every problem with its location, or a summary of the runs it would make.",
    )
    validate.add_argument("suite", type=Path, help="suite file (TOML)")

    plugins = sub.add_parser(
        "plugins",
        help="list every component with its parameters and where it comes from",
        description="List the components each plugin family offers, with their parameters, "
        "defaults and documentation, and the package each comes from; '(default)' marks the "
        "one a suite gets when it names none.",
    )
    plugins.add_argument("--kind", choices=KINDS, help="only this family")

    report = sub.add_parser(
        "report",
        help="rebuild tables and report.html from the runs in a results folder",
        description="Rebuild the CSV tables and report.html from the finished runs in DIR, "
        "without training anything. Works on a partial suite and says how many runs are missing.",
    )
    report.add_argument("directory", type=Path, help="results folder written by `harness run`")

    probe = sub.add_parser(
        "probe",
        help="run again the probes that failed in finished runs, from their stored latents",
        description="For every finished run in DIR, run the (probe, latent space) pairs that "
        "have no results (their probe raised; see the report's problems section) on the run's "
        "stored latents, update its record, then rebuild the tables and report. Nothing is "
        "trained again.",
    )
    probe.add_argument("directory", type=Path, help="results folder written by `harness run`")
    probe.add_argument("--no-report", action="store_true", help="skip writing tables and report")

    power = sub.add_parser(
        "power",
        help="how many seeds a planned speed-up needs, from a pilot suite's runs",
        description="From the finished runs in DIR (a pilot), estimate each model's seed-to-seed "
        "spread of log time ratios to the control and print the seeds per condition that the "
        "paired sign-flip test needs to detect each planned speed-up with the requested power, "
        "at Holm's first-step level for the suite's number of comparisons.",
    )
    power.add_argument("directory", type=Path, help="results folder of the pilot suite")
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
    power.add_argument("--measure", choices=("steps", "total_steps", "seconds"), default="steps")

    compare = sub.add_parser(
        "compare",
        help="put the answers of several results folders side by side",
        description="For each results folder (say, the same study on the embedded corpus and "
        "on Common Voice): its suite and dataset, and per model and condition the paired time "
        "ratio to the control with its CI and the difference from the control in the headline "
        "probe score, from the folder's stats/*.csv; rows aligned by model and condition name. "
        "Prints a table; --output also writes it as CSV or self-contained HTML.",
    )
    compare.add_argument("directories", type=Path, nargs="+", metavar="DIR",
                         help="results folders written by `harness run`")  # fmt: skip
    compare.add_argument(
        "--output", "-o", type=Path, help="also write the comparison: a .csv or .html file"
    )
    compare.add_argument(
        "--measure", choices=("steps", "total_steps", "seconds"), default="steps",
        help="time measure of the time ratios (default steps)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    started = (time.perf_counter(), _cpu_seconds())
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        disable_plugins(args.disable_plugin)
        if args.command in ("plugins", "validate", "run", "probe"):
            warn_broken(load_registry())
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
        if args.command == "compare":
            return cmd_compare(args.directories, args.output, args.measure)
        return cmd_run(args, started)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, PluginError, RecordVersionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunNotStarted as exc:
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


# ---------------------------------------------------------------- plugins


def format_component(kind: str, component: Component) -> str:
    # the family's choice when a suite names none (Component.default)
    marker = " (default)" if component.default else ""
    lines = [f"  {component.name}{marker}  [{component.source}]"]
    lines += textwrap.wrap(component.doc, 88, initial_indent="      ", subsequent_indent="      ")
    if kind == "dataset":
        labels = ", ".join(component.provided_labels(component.defaults()))
        settings = (
            " (with its default settings; more with others)" if callable(component.labels) else ""
        )
        lines.append(f"      labels: {labels}{settings}")
    if component.tasks:
        lines.append(f"      tasks: {', '.join(component.tasks)}")
    if component.groups:  # what [training] lr_groups and freeze may name
        lines.append(f"      parameter groups: {', '.join(component.groups)}")
    for p in component.params:
        default = "required" if p.required else f"default {p.default!r}"
        lines.append(f"      {p.name} ({p.describe()}; {default})")
        lines += textwrap.wrap(
            p.doc, 84, initial_indent="          ", subsequent_indent="          "
        )
    for m in component.metrics:
        direction = "higher is better" if m.higher_is_better else "lower is better"
        declared = [m.role.replace("_", "-")]
        declared += [f"chance level: {m.chance}"] if m.chance else []
        declared += ["headline"] if m.headline else []
        declared += [f"range {m.bounds[0]:g} to {m.bounds[1]:g}"] if m.bounds else []
        lines.append(f"      metric {m.name} ({direction}) [{'; '.join(declared)}]: {m.doc}")
    return "\n".join(lines)


def cmd_plugins(kind: str | None) -> int:
    registry = load_registry()
    for family in [kind] if kind else KINDS:
        print(f"{family}:")
        components = registry.all(family)
        if not components:
            print("  (none installed)")
        for _, component in components:
            print(format_component(family, component))
        print()
    if registry.broken:
        print("broken (their components are not available):")
        for broken in registry.broken:
            print(f"  {broken.name}  [{broken.value} from {broken.distribution}]")
            print(f"      {broken.stage} failed: {broken.error}")
            print(f"      {broken.hint()}")
    return EXIT_OK


# ---------------------------------------------------------------- validate


def describe_suite(suite: Suite, n_runs: int) -> str:
    lines = [
        f"{suite.path}: valid suite {suite.name!r}",
        f"  {len(suite.conditions)} conditions x {len(suite.models)} models x "
        f"{len(suite.seeds)} seeds = {n_runs} runs",
        f"  control: {suite.control}",
        "  conditions: " + ", ".join(map(_condition_text, suite.conditions)),
        "  models: " + ", ".join(map(_model_text, suite.models)),
        "  extractors: "
        + (", ".join(e.label for e in suite.extractors) if suite.probes else "none (no probes)"),
        "  probes: " + (", ".join(p.label for p in suite.probes) or "none"),
        f"  dataset: {suite.dataset.plugin}; languages: {', '.join(suite.languages())}",
        f"  output: {suite.output}",
    ]
    return "\n".join(lines)


def _condition_text(condition: Condition) -> str:
    """``16k (features.sample_rate=16000, training.lr=0.001)``: a name and its overrides."""
    settings = [f"{section}.{key}={json.dumps(value)}"
                for section, values in condition.overrides().items()
                for key, value in values.items()]  # fmt: skip
    settings += [
        f"checkpoint{'' if label == EVERY_MODEL else '.' + label}={_checkpoint_text(c)}"
        for label, c in condition.checkpoint.items()
    ]
    return f"{condition.name} ({', '.join(settings)})" if settings else condition.name


def _model_text(model: Selection) -> str:
    """``lstm (checkpoint=...)``: a model's label and the weights it starts from."""
    if model.checkpoint is None:
        return model.label
    return f"{model.label} (checkpoint={_checkpoint_text(model.checkpoint)})"


def _checkpoint_text(checkpoint: Checkpoint) -> str:
    """A checkpoint's path and the start of its SHA-256, which the run ids hold."""
    return f"{checkpoint.path} [sha256 {checkpoint.sha256[:12]}]"


def cmd_validate(path: Path) -> int:
    from harness.expand import expand

    suite = load_suite(path)
    print(describe_suite(suite, len(expand(suite))))
    return EXIT_OK


# ---------------------------------------------------------------- run


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


class RunNotStarted(Exception):
    """The output folder cannot be used or the executor cannot start; exits 2."""


def _cpu_seconds() -> float:
    from harness.progress import cpu_seconds

    return cpu_seconds()


def cmd_run(args: argparse.Namespace, started: tuple[float, float] | None = None) -> int:
    """``started``: (wall, CPU) clock when the command started, for the closing total."""
    from harness.progress import cpu_seconds, total_line
    from harness.runner import ExecutorError, run_suite
    from harness.store import StoreError

    wall, cpu = started or (time.perf_counter(), cpu_seconds())
    registry = load_registry()
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
    from harness.store import Store
    from harness.tables import skipped_files

    skipped = skipped_files(Store(output).records())
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


def write_report(output: Path) -> int:
    """Tables and report.html; Ctrl-C here keeps every run (exit 130)."""
    from harness.progress import Step
    from harness.report import REPORT_STEPS, build_report

    step = Step("report")

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
    if not runs_dir(directory).is_dir():
        raise UsageError(
            f"{directory} holds no runs/ folder; is it an output folder of `harness run`?"
        )
    return write_report(directory)


def cmd_probe(directory: Path, no_report: bool) -> int:
    from harness.reprobe import reprobe_folder
    from harness.store import StoreError

    if not runs_dir(directory).is_dir():
        raise UsageError(
            f"{directory} holds no runs/ folder; is it an output folder of `harness run`?"
        )
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
    return EXIT_FAILED if summary.still_failing else EXIT_OK


def cmd_compare(directories: list[Path], output: Path | None, measure: str) -> int:
    from harness.report.compare import OUTPUT_SUFFIXES, CompareError, compare

    if output is not None and output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(
            f"--output {output}: write a {' or '.join(OUTPUT_SUFFIXES)} file, "
            f"not {output.suffix or 'one without a suffix'}"
        )
    try:
        comparison = compare(directories, measure)
    except CompareError as exc:
        raise UsageError(str(exc)) from exc
    print(comparison.text())
    if output is not None:
        try:
            comparison.write(output)
        except OSError as exc:
            raise UsageError(f"--output {output}: cannot write it: {exc}") from exc
        print(f"comparison: {output}")
    return EXIT_OK


def cmd_power(args: argparse.Namespace) -> int:
    from harness.results import load_results
    from harness.stats.planning import plan

    if not runs_dir(args.directory).is_dir():
        raise UsageError(
            f"{args.directory} holds no runs/ folder; is it an output folder of `harness run`?"
        )
    effects = args.effect or [0.1, 0.2, 0.3]
    bad = [e for e in effects if not 0 < e < 1]
    if bad:
        raise UsageError(
            f"--effect must be a fraction between 0 and 1 (0.2: 20% fewer), not {bad[0]}"
        )
    if not 0 < args.power < 1:
        raise UsageError(f"--power must be between 0 and 1, not {args.power}")
    if args.comparisons is not None and args.comparisons < 1:
        raise UsageError(f"--comparisons must be at least 1, not {args.comparisons}")
    results = load_results(args.directory)
    if results.control is None:
        raise UsageError(f"{args.directory}: no control condition is known, nothing to plan from")
    table = plan(results.runs, results.control, effects, args.power, args.comparisons, args.measure)
    print(format_plan(table, args.power))
    return EXIT_OK


def format_plan(table: Any, power: float) -> str:
    """The plan as text: one block per model."""
    if table.empty or table["log_ratio_sd"].isna().all():
        return "no condition shares its seeds with the control: no paired spread to plan from"
    first = table.iloc[0]
    from harness.report.numbers import plural
    from harness.stats.convergence import ALPHA

    m = round(ALPHA / first["alpha"])
    lines = [
        f"paired sign-flip test, {power:.0%} power, Holm's first-step level {ALPHA:g}/{m} = "
        f"{first['alpha']:.4g} ({first['measure']})"
    ]
    for model, rows in table.groupby("model", sort=False):
        head = rows.iloc[0]
        now = head["detectable_ratio"]
        seen = (
            "no effect of any size" if now == 0 else
            "unknown" if now != now else f"time ratio {now:.2f} ({(1 - now) * 100:.0f}% fewer)"
        )  # fmt: skip
        lines.append(
            f"{model}: SD of per-seed log ratios {head['log_ratio_sd']:.3f} "
            f"({head['df']} df, {plural(int(head['conditions']), 'condition')}); with "
            f"{head['pairs']} seeds it "
            f"could detect {seen}"
        )
        for _, row in rows.iterrows():
            need = row["seeds_needed"]
            needed = (
                f"{int(need)} seeds" if need == need and need is not None else "over 1000 seeds"
            )
            lines.append(f"  {row['effect']:.0%} fewer steps (ratio {row['ratio']:.2f}): {needed}")
    lines.append(
        "Censored runs enter at their budget, which understates the spread when many are "
        "censored; plan with a margin."
    )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
