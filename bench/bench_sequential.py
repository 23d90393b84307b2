"""Calibration of the sequential seeds rule (harness.stats.sequential), in
simulation through the harness's own tests.

Suites shaped like the flagship (a control and five conditions, two models;
the between-condition pairs of the flagship: three languages low-passed
alike, full band against low-passed, noise against speech) are drawn at
`max` seeds by harness.stats.convergence_calibration.simulate_runs, and
decided twice on the same draws: by the sequential rule (looks at 6, 8, ...,
40 seeds; Holm at each look over each whole family, on the repeated p-values
of the looks' joint null by default, or at the level a spending function
gives the look) and by the fixed design at 40 seeds (Holm at 5%). It prints,
per scenario: the family-wise rate of a false "differs" and of a false
"equivalent" (a comparison whose true ratio lies at or beyond the margin),
the power for condition c0, the mean runs, the share of runs saved, and
where the runs went (mean seeds at which comparisons stopped, by decision).
Scenarios run in ``--jobs`` processes (each its own seeded stream, so the
numbers do not depend on the number of jobs).

    nice python bench/bench_sequential.py [--suites 1000] [--jobs 2]
        [--spending joint-pocock haybittle-peto obrien-fleming pocock] [--only NAME]
"""

from __future__ import annotations

import argparse
from multiprocessing import Pool

from timing import timed

from harness.stats.convergence_calibration import TimeDesign
from harness.stats.sequential import DEFAULT_SPENDING, SPENDING, Schedule
from harness.stats.sequential_calibration import Scenario, simulate, summary

NULL = (1.0, 1.0, 1.0, 1.0, 1.0)
#: the flagship's spread; its budget censored none of its 120 runs (1% here)
FLAGSHIP = {"ratio_sd": 0.1, "rho": 0.57, "censoring": 0.01}
#: the same with a budget that censors a fifth of the control's runs
CENSORED = {**FLAGSHIP, "censoring": 0.2}
HEAVY = {"ratio_sd": 0.2, "rho": 0.7, "censoring": 0.06, "tails": "t5", "diverged": 0.02}


def scenarios(spending: str) -> list[Scenario]:
    schedule = Schedule(6, 40, 2, spending)
    shapes = [
        ("no effect, flagship spread (SD 0.1)", NULL, FLAGSHIP),
        ("no effect, SD 0.2, t5, 2% diverged", NULL, HEAVY),
        ("no effect, SD 0.1, 20% censored", NULL, CENSORED),
        ("c0 0.8x, SD 0.2, t5, 2% diverged", (0.8, 1.0, 1.0, 1.0, 1.0), HEAVY),
        ("small: c0 0.9x (SD 0.1)", (0.9, 1.0, 1.0, 1.0, 1.0), FLAGSHIP),
        ("large: c0-c2 0.7x, c3 0.6x, c4 1x (SD 0.1)", (0.7, 0.7, 0.7, 0.6, 1.0), FLAGSHIP),
        ("c0 at the margin, 1.1x, SD 0.1, 20% censored", (1.1, 1.0, 1.0, 1.0, 1.0), CENSORED),
    ]
    out = []
    for name, ratios, shape in shapes:
        design = TimeDesign.for_ratio_sd(ratios=ratios, **shape)  # type: ignore[arg-type]
        out.append(Scenario(name, design, schedule))
    return out


COLUMNS = {
    "vs_control_false_differs": "false differs (vs control)",
    "between_false_differs": "false differs (between)",
    "vs_control_false_equivalent": "false equivalent (vs control)",
    "between_false_equivalent": "false equivalent (between)",
    "c0_found": "c0 differs",
    "fixed_c0_found": "c0 differs, fixed 40",
    "c0_equivalent": "c0 equivalent",
    "fixed_c0_equivalent": "c0 equivalent, fixed 40",
    "runs": "runs",
    "saved": "saved",
}


def row(scenario: Scenario, suites: int, seed: int) -> str:
    """One scenario's line of the table."""
    rows, spent, _ = timed(lambda: simulate(scenario, suites, seed))
    result = summary(rows)
    cells = []
    for column, label in COLUMNS.items():
        value = result[column]
        if column == "runs":
            cells.append(f"{label} {value:.0f}/{result['runs_fixed']:.0f}")
        else:
            se = result.get(f"{column}_se")
            cells.append(f"{label} {100 * value:.1f}%"
                         + (f" (SE {100 * se:.1f})" if se is not None else ""))  # fmt: skip
    went = ", ".join(f"{what} {result[f'seeds_{what}']:.1f}"
                     for what in ("mean", "differs", "equivalent"))  # fmt: skip
    return f"{scenario.name}: " + "; ".join(cells) + f"; seeds at the stop: {went} [{spent:.0f} s]"


def _row(job: tuple[Scenario, int, int]) -> str:
    return row(*job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=1000)
    parser.add_argument("--spending", nargs="+", default=[DEFAULT_SPENDING], choices=SPENDING)
    parser.add_argument("--only", default="")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    for spending in args.spending:
        print(f"## spending: {spending}, {args.suites} suites per scenario", flush=True)
        jobs = [(s, args.suites, args.seed) for s in scenarios(spending)
                if not args.only or args.only in s.name]  # fmt: skip
        if args.jobs > 1:
            with Pool(args.jobs) as pool:
                for line in pool.imap(_row, jobs):
                    print(line, flush=True)
        else:
            for job in jobs:
                print(_row(job), flush=True)


if __name__ == "__main__":
    main()
