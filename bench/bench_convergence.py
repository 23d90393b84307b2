"""False-positive rates and power of the learning-speed claims, in simulation.

Simulated suites (`harness.stats.convergence_calibration`: a control and four
conditions, two models, seeds sharing a seed effect across conditions, ~20%
of the control censored by the budget, crossings on the evaluation grid) go
through the real paired and unpaired tests, Holm included. For each scenario,
the fraction of suites in which a claim is made:

* `any_vs_control`: any condition claimed different from the control (the
  family-wise rate when every ratio is 1);
* `any_overall`: any model's all-conditions test significant;
* `first_condition_found`: detection rate of the one planted effect;
* `null_vs_control`: any claim about the conditions without an effect.

The spread of log steps (`sd`) is given twice: 0.13, as measured with the
old per-run relative thresholds, and the flagship's own (see docs/report.md).
The last scenario plants exactly the ratio the report says it could detect,
so its detection rate checks the `detectable_ratio` column (80% expected).

Monte Carlo standard error of a rate p over n suites: sqrt(p (1 - p) / n),
1.3 points at 5% and 300 suites.

    python bench/bench_convergence.py              # the numbers in docs/report.md
    python bench/bench_convergence.py --suites 50  # quicker, noisier

A benchmark, not a test (tests/test_convergence_calibration.py is the short version).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import pandas as pd
from timing import timed_rates

from harness.stats.convergence_calibration import TimeDesign, rejection_rates

NULL = (1.0, 1.0, 1.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=300)
    parser.add_argument("--sd", type=float, default=0.13, help="SD of log steps across seeds")
    parser.add_argument("--rho", type=float, default=0.8, help="within-seed correlation")
    parser.add_argument(
        "--censoring", type=float, default=0.2, help="share of control runs the budget censors"
    )
    args = parser.parse_args()
    base = TimeDesign(
        ratios=NULL, models=2, seeds=10, sd=args.sd, rho=args.rho, censoring=args.censoring
    )
    planted = replace(base, ratios=(0.8, 1.0, 1.0, 1.0))
    # the ratio the paired comparison reports as detectable at this design
    probe = rejection_rates(base, 30, seed=99)
    detectable = float(probe["detectable_ratio"])
    scenarios = [
        ("null, paired", base),
        ("null, unpaired (separate seeds)", replace(base, paired=False)),
        ("null, paired, 5 seeds", replace(base, seeds=5)),
        ("null, paired, 20 seeds", replace(base, seeds=20)),
        ("20% faster, paired", planted),
        ("20% faster, unpaired", replace(planted, paired=False)),
        (f"at the detectable ratio {detectable:.3f}, paired",
         replace(base, ratios=(detectable, 1.0, 1.0, 1.0))),
    ]  # fmt: skip
    rows = {}
    for k, (name, design) in enumerate(scenarios):
        rows[name] = timed_rates(
            name,
            lambda design=design, k=k: rejection_rates(design, args.suites, seed=200 + k),
            args.suites,
        )
    table = pd.DataFrame(rows).T
    with pd.option_context("display.width", 220):
        print(f"sd {args.sd}, rho {args.rho}, censoring {args.censoring}, {args.suites} suites")
        print(table.round(3).to_string())


if __name__ == "__main__":
    main()
