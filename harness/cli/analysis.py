"""``harness compare``, ``harness power`` and ``harness check``: read finished
results folders without running anything: several folders' answers side by
side, the seeds a planned speed-up needs from a pilot's spread, and an A/A
check of the report's tests on two halves of the control's seeds.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

from harness.cli.common import EXIT_FAILED, EXIT_OK, UsageError, require_runs


def cmd_compare(directories: list[Path], output: Path | None, measure: str | None) -> int:
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
    from harness.stats.planning import PlanningError, plan
    from harness.tables.results import load_results

    require_runs(args.directory)
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
    schedule = planning_schedule(results.design)
    try:
        table = plan(
            results.runs, results.control, effects, args.power, args.comparisons, args.measure,
            schedule, results.design.equivalence_ratio,
        )  # fmt: skip
    except PlanningError as exc:
        raise UsageError(f"{args.directory}: {exc}") from exc
    print(format_plan(table, args.power, schedule))
    return EXIT_OK


def planning_schedule(design: Any) -> Any:
    """The sequential design a plan is set beside: the pilot's own, else
    ``seeds = { min = 6, max = 40, step = 2 }``."""
    from harness.spec.suite_types import SeedSchedule
    from harness.stats.planning import DEFAULT_SCHEDULE

    own = (design.sequential or {}).get("schedule") if design is not None else None
    return SeedSchedule.from_dict(own) if own else DEFAULT_SCHEDULE


def format_plan(table: Any, power: float, schedule: Any = None) -> str:
    """The plan as text: one block per model."""
    if table.empty or table["log_ratio_sd"].isna().all():
        return "no condition shares its seeds with the control: no paired spread to plan from"
    first = table.iloc[0]
    from harness.report.numbers import plural
    from harness.stats.convergence import ALPHA
    from harness.stats.planning import LIMIT

    m = round(ALPHA / first["alpha"])
    lines = [
        f"paired signed-rank test simulated on the pilot's own seed pairs (resampled), "
        f"{power:.0%} power, Holm's first-step level {ALPHA:g}/{m} = "
        f"{first['alpha']:.4g} ({first['measure']})"
    ]
    for model, rows in table.groupby("model", sort=False):
        head = rows.iloc[0]
        now = head["detectable_ratio"]
        if now == 0:
            seen = "no effect of any size"
        elif now != now:  # NaN
            seen = "unknown"
        else:
            seen = f"time ratio {now:.2f} ({(1 - now) * 100:.0f}% fewer)"
        lines.append(
            f"{model}: SD of per-seed log ratios {head['log_ratio_sd']:.3f} "
            f"({head['df']} df, {plural(int(head['conditions']), 'condition')}); with "
            f"{head['pairs']} seeds it "
            f"could detect {seen}"
        )
        for _, row in rows.iterrows():
            need = row["seeds_needed"]
            needed = (
                f"{int(need)} seeds" if need == need and need is not None else f"over {LIMIT} seeds"
            )
            sequential = ""
            if schedule is not None and row.get("sequential_seeds") == row.get("sequential_seeds"):
                sequential = (
                    f"; sequential ({schedule.min} to {schedule.max} by {schedule.step}): "
                    f"{row['sequential_seeds']:.1f} seeds expected, "
                    f"{row['sequential_power']:.0%} power"
                )
            lines.append(f"  {row['effect']:.0%} fewer steps (ratio {row['ratio']:.2f}): "
                         f"{needed}{sequential}")  # fmt: skip
    lines.append(
        "The pilot's pairs are resampled as they are (censored runs at their budget, diverged "
        "ones as censored), widened to the 60% upper confidence limit of their spread; a pilot "
        "with few seeds or many censored runs still plans only roughly."
        + (
            " The sequential column simulates the looks of a sequential suite on the same "
            "resampled pairs (stopping when a difference or equivalence is shown; docs/report.md)."
            if schedule is not None
            else ""
        )
    )
    return "\n".join(lines)


def cmd_check(directory: Path) -> int:
    """``harness check DIR``: the A/A check (:mod:`harness.stats.aa_check`);
    exit 1 when a test found a difference between two halves of the control."""
    from harness.stats.aa_check import CheckError, aa_check
    from harness.tables.results import ResultsError, load_results

    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        raise UsageError(f"harness check {directory}: {directory} {what}; name a results folder")
    require_runs(directory)
    try:
        results = load_results(directory)
        check = aa_check(results)
    except (CheckError, ResultsError) as exc:
        raise UsageError(f"harness check {directory}: {exc}") from exc
    print(format_check(check, directory))
    return EXIT_FAILED if check.found else EXIT_OK


def format_check(check: Any, directory: Path) -> str:
    """The A/A check as text (100 columns): the halves, each test, a verdict."""
    from harness.report.numbers import plural
    from harness.stats.convergence import ALPHA

    halves = check.halves
    order = "run order" if halves.by_time else "seed order (the runs record no start time)"
    lines = [
        f"A/A check of {directory}",
        f"  the control {check.control!r} split in two halves by {order}",
        f"  first half:  seeds {_seeds(halves.first)}{_load(check, 'first half')}",
        f"  second half: seeds {_seeds(halves.second)}{_load(check, 'second half')}",
    ]
    if halves.left_out is not None:
        lines.append(f"  left out (the middle of an odd number): seed {halves.left_out}")
    lines += [
        "  Both halves are one condition: every difference the report's tests find between "
        "them is false.",
        f"  * a false difference: Holm p < {ALPHA} (Holm as in the report)",
        "",
        "learning speed: time of the second half / the first (Holm over each measure's tests)",
        *_speed_lines(check.speed),
        "",
        "machine speed: wall seconds per target step of each half (Holm with the seconds tests)",
        *_pace_lines(check.pace),
        "",
        "separability: second half - first half (Holm within model, probe and score)",
        *_separability_lines(check.separability),
        "",
    ]
    pairs = int(check.speed["n"].min()) if len(check.speed) else 0
    if pairs > 0 and 2 / 2**pairs > ALPHA:
        lines += textwrap.wrap(
            f"note: with {plural(pairs, 'pair')} the exact paired test cannot reach p < {ALPHA} "
            f"(its smallest p is {2 / 2**pairs:.3f}); the unpaired test carries the check.",
            100,
        )
    return "\n".join(lines + _verdict(check))


def _seeds(seeds: tuple[int, ...]) -> str:
    return ", ".join(map(str, seeds))


def _load(check: Any, half: str) -> str:
    value = check.load.get(half)
    return f" (1-minute load average at their start: {value:.2f})" if value == value else ""


def _name(text: object, width: int) -> str:
    text = str(text)
    return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)


def _p(p: float) -> str:
    if p != p:
        return "–"
    return "<0.001" if p < 0.001 else (f"{p:.3f}" if p < 0.01 else f"{p:.2f}")


def _flag(row: Any) -> str:
    return " *" if row["false_difference"] else ""


def _speed_lines(table: Any) -> list[str]:
    from harness.report.compare import ratio_ci

    if table.empty:
        return ["  no time measure has runs in both halves"]
    rows = [f"  {'measure':<12} {'model':<20} {'design':<9} {'ratio [95% CI]':<22} {'p':<7} Holm p"]
    for _, r in table.iterrows():
        ratio = f"{r['time_ratio']:.2f} {ratio_ci(r['time_ratio_ci_low'], r['time_ratio_ci_high'])}"
        rows.append(
            f"  {r['measure']:<12} {_name(r['model'], 20)} {r['design']:<9} {ratio:<22} "
            f"{_p(r['p_value']):<7} {_p(r['p_holm'])}{_flag(r)}"
        )
    return rows


def _separability_lines(table: Any) -> list[str]:
    if table.empty:
        return ["  not tested: no probe reports per-speaker results for both halves"]
    rows = [
        f"  {'model':<18} {'latent space':<16} {'score':<28} {'difference [95% CI]':<24} Holm p"
    ]
    for _, r in table.iterrows():
        diff = (
            f"{r['difference']:+.3f} [{r['difference_ci_low']:+.3f}, "
            f"{r['difference_ci_high']:+.3f}]"
        )
        rows.append(
            f"  {_name(r['model'], 18)} {_name(r['latent_space'], 16)} {_name(r['metric'], 28)} "
            f"{diff:<24} {_p(r['p_holm'])}{_flag(r)}"
        )
    return rows


def _pace_lines(table: Any) -> list[str]:
    if table.empty:
        return ["  not measured: no run records both wall seconds and steps"]
    head = f"  {'model':<20} {'first half':<12} {'second half':<12} {'ratio':<7} {'p':<7} Holm p"
    rows = [head]
    for _, r in table.iterrows():
        first, second = (
            f"{1000 * r[c]:.3g} ms" for c in ("seconds_per_step_control", "seconds_per_step")
        )
        rows.append(
            f"  {_name(r['model'], 20)} {first:<12} {second:<12} {r['ratio']:<7.2f} "
            f"{_p(r['p_value']):<7} {_p(r['p_holm'])}{_flag(r)}"
        )
    return rows


def _measure_line(check: Any, measure: str, rows: Any) -> str:
    """What the check says of one time measure."""
    from harness.report.numbers import MEASURE_NAMES, fmt_p, plural
    from harness.stats.aa_check import FIRST, SECOND

    name = MEASURE_NAMES.get(measure, measure)
    hit = rows[rows["false_difference"].astype(bool)]
    pace = check.pace[check.pace["false_difference"].astype(bool)] if measure == "seconds" else None
    found = [
        f"{r['model']} {r['time_ratio']:.2f}x ({r['design']}, Holm {fmt_p(r['p_holm'])})"
        for _, r in hit.iterrows()
    ]
    if pace is not None:
        found += [
            f"{r['model']}'s time per step {r['ratio']:.2f}x (Holm {fmt_p(r['p_holm'])})"
            for _, r in pace.iterrows()
        ]
    if not found:
        p = [*rows["p_holm"], *(check.pace["p_holm"] if measure == "seconds" else [])]
        return (
            f"{measure} ({name}): no false difference in {plural(len(p), 'test')} "
            f"(smallest Holm p {min(p):.2f})"
        )
    line = f"{measure} ({name}): UNSAFE to trust: two halves of one condition differed: "
    line += "; ".join(found)
    if measure == "seconds" and all(v == v for v in check.load.values()):
        line += (
            f"; the machine's load was {check.load[FIRST]:.2f} in the first half and "
            f"{check.load[SECOND]:.2f} in the second: wall time follows the load"
        )
    return line


def _verdict(check: Any) -> list[str]:
    """One line per time measure and one for separability, then the verdict."""
    from harness.report.numbers import plural

    lines = [
        _measure_line(check, str(measure), rows)
        for measure, rows in check.speed.groupby("measure", sort=False)
    ]
    sep = check.separability
    if not sep.empty:
        n_false = int(sep["false_difference"].sum())
        lines.append(
            f"separability: {plural(n_false, 'false difference')} in {plural(len(sep), 'test')}"
            + ("; UNSAFE to trust" if n_false else "")
        )
    unsafe = check.unsafe_measures()
    if check.found:
        what = ", ".join(unsafe + (["separability"] if sep["false_difference"].any() else []))
        lines.append(f"verdict: false differences found ({what}); do not read those answers "
                     "as effects of a condition (exit 1)")  # fmt: skip
    else:
        n = len(check.speed) + len(check.pace) + len(sep)
        lines.append(f"verdict: no false difference in {plural(n, 'test')} (exit 0)")
    return [textwrap.fill(line, 100, subsequent_indent="  ") for line in lines]
