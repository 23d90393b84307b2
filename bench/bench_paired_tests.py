"""Which paired test for the time ratio: level, power and equivalence in simulation.

Simulated suites shaped like the flagship (a control and five conditions, two
models, 10 seeds paired across conditions, crossings on an evaluation grid of
5 steps at a median of 100, the budget censoring about 6% of the control;
`harness.stats.convergence_calibration.TimeDesign`) go through the project's
own `harness.stats.convergence.vs_control` (hence `compare`) once per paired
test, on the same suites, with Holm over the family of 10 comparisons:

* `signed-rank`: exact signed-rank test, Hodges-Lehmann ratio (the harness's);
* `sign-flip`: exact sign-flip test on the mean log ratio (the earlier one);
* `trimmed`: exact sign-flip test on the 20% trimmed mean.

Per-seed log-ratio SD 0.2; within-seed correlation 0.7 or 0.9; normal noise,
or Student t with 5 df and 2% of runs diverged ("heavy"). For each scenario:
`null_claim`, the family-wise rate of a claim about a condition without an
effect (every ratio 1); `c0_found`, the power to find one condition at 0.8x
the control; and for the harness's test `c0_equivalent`, the rate at which a
condition at exactly the margin (1.1x) is wrongly called equivalent, and at
which one with no effect at the flagship's spread (log-ratio SD 0.1) is shown
equivalent. Each rate comes with its Monte Carlo SE.

    python bench/bench_paired_tests.py              # quick: 40 suites per scenario
    python bench/bench_paired_tests.py --suites 80  # the table in docs/report.md
"""

from __future__ import annotations

import argparse

import pandas as pd
from timing import timed

from harness.stats.convergence_calibration import TimeDesign, test_rates
from harness.stats.paired import TESTS

NULL = (1.0,) * 5
EFFECT = (0.8, 1.0, 1.0, 1.0, 1.0)


def design(
    rho: float, heavy: bool, ratios: tuple[float, ...], sd: float = 0.2, seeds: int = 10
) -> TimeDesign:
    return TimeDesign.for_ratio_sd(
        sd,
        rho,
        ratios=ratios,
        seeds=seeds,
        censoring=0.06,
        tails="t5" if heavy else "normal",
        diverged=0.02 if heavy else 0.0,
    )


def scenarios() -> list[tuple[str, TimeDesign, tuple[str, ...]]]:
    every = tuple(TESTS)
    out = []
    for rho in (0.7, 0.9):
        for heavy in (False, True):
            tails = "t5, 2% diverged" if heavy else "normal"
            out.append((f"no effect, {tails}, rho {rho}", design(rho, heavy, NULL), every))
            out.append((f"0.8x, {tails}, rho {rho}", design(rho, heavy, EFFECT), every))
    # at 10 seeds and Holm's 0.05/10 only a unanimous sign can reject: the tests
    # part ways with more seeds
    for heavy in (False, True):
        tails = "t5, 2% diverged" if heavy else "normal"
        twenty = design(0.7, heavy, EFFECT, seeds=20)
        out.append((f"0.8x, {tails}, rho 0.7, 20 seeds", twenty, every))
    out.append(("no effect, t5, 2% diverged, rho 0.7, 20 seeds",
                design(0.7, True, NULL, seeds=20), every))  # fmt: skip
    margin = (1.1, 1.0, 1.0, 1.0, 1.0)
    out.append(("1.1x (the margin), normal, rho 0.7", design(0.7, False, margin), ("signed-rank",)))
    out.append(("1.1x (the margin), t5, rho 0.7", design(0.7, True, margin), ("signed-rank",)))
    flagship = design(0.57, False, NULL, sd=0.1)
    out.append(("no effect, flagship spread 0.1, rho 0.57", flagship, ("signed-rank",)))
    out.append(("no effect, spread 0.05, rho 0.57", design(0.57, False, NULL, sd=0.05),
                ("signed-rank",)))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=40)
    parser.add_argument("--only", help="run only the scenarios whose name contains this")
    args = parser.parse_args()
    frames = []
    for k, (name, time_design, tests) in enumerate(scenarios()):
        if args.only and args.only not in name:
            continue
        rates, _wall, cpu = timed(
            lambda d=time_design, t=tests, k=k: test_rates(d, args.suites, t, seed=300 + k)
        )
        frames.append(rates.reset_index().assign(scenario=name, cpu_s=round(cpu)))
        print(f"{name}: {args.suites} suites, {cpu:.0f} s CPU", flush=True)
    table = pd.concat(frames).set_index(["scenario", "test"])
    with pd.option_context("display.width", 220, "display.max_rows", 100):
        print(table.round(3).to_string())


if __name__ == "__main__":
    main()
