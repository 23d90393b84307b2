"""``harness compare`` and ``harness power``: read finished results folders
without running anything: several folders' answers side by side, and the
seeds a planned speed-up needs from a pilot's spread.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import EXIT_OK, UsageError, require_runs


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
    try:
        table = plan(
            results.runs, results.control, effects, args.power, args.comparisons, args.measure
        )
    except PlanningError as exc:
        raise UsageError(f"{args.directory}: {exc}") from exc
    print(format_plan(table, args.power))
    return EXIT_OK


def format_plan(table: Any, power: float) -> str:
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
            lines.append(f"  {row['effect']:.0%} fewer steps (ratio {row['ratio']:.2f}): {needed}")
    lines.append(
        "The pilot's pairs are resampled as they are (censored runs at their budget, diverged "
        "ones as censored), widened to the 60% upper confidence limit of their spread; a pilot "
        "with few seeds or many censored runs still plans only roughly."
    )
    return "\n".join(lines)
