"""Does `harness power` keep its promise? Advised seeds against delivered power.

For each scenario, simulated 10-seed pilots shaped like the flagship (a
control and five conditions, two models; `TimeDesign`: crossings on a 5-step
grid, ~6% of the control censored; per-seed log-ratio SD 0.2) go through
`harness.stats.planning.plan` for a planned 0.8x time at Holm's first-step
level over 10 comparisons (0.005). Each model's advice `n` is then checked
against the truth: 400 fresh suites of `n` seeds from the same generator, one
condition at 0.8x, tested with the harness's signed-rank test on
`paired_log_ratios` at that level. `delivered` is the mean over pilots of the
power at the advised `n` (goal 80% +- 5), with the spread of the advice.

    python bench/bench_planning.py              # quick: 10 pilots per scenario
    python bench/bench_planning.py --pilots 30  # the numbers in docs/report.md
"""

from __future__ import annotations

import argparse
import functools
import math
from dataclasses import replace

import numpy as np
from timing import timed

from harness.stats.convergence import ALPHA, paired_log_ratios
from harness.stats.convergence_calibration import CONTROL, TimeDesign, simulate_runs
from harness.stats.planning import plan
from harness.stats.signed_rank import signed_rank_p
from harness.stats.survival import analysable

COMPARISONS = 10
LEVEL = ALPHA / COMPARISONS
TRUTH_SUITES = 400


def pilot_design(rho: float, heavy: bool) -> TimeDesign:
    return TimeDesign.for_ratio_sd(
        0.2,
        rho,
        ratios=(0.8, 0.9, 1.0, 1.0, 1.0),
        censoring=0.06,
        tails="t5" if heavy else "normal",
        diverged=0.02 if heavy else 0.0,
    )


@functools.lru_cache(maxsize=128)
def true_power(design: TimeDesign, n: int) -> float:
    """Power at ``n`` seeds of one condition at 0.8x, by simulation."""
    rng = np.random.default_rng(n)
    truth = replace(design, ratios=(0.8,), models=1, seeds=n)
    draws = []
    for _ in range(TRUTH_SUITES):
        runs = analysable(simulate_runs(truth, rng), "steps")
        group, control = runs[runs["condition"] == "c0"], runs[runs["condition"] == CONTROL]
        draws.append(paired_log_ratios(group, control)["d"].to_numpy())
    p = signed_rank_p(np.array(draws))
    return float(np.mean(p <= LEVEL + 1e-12))


def scenario(design: TimeDesign, pilots: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    advised, delivered = [], []
    for _ in range(pilots):
        table = plan(simulate_runs(design, rng), CONTROL, effects=(0.2,), comparisons=COMPARISONS)
        for need in table["seeds_needed"]:
            if need is None or (isinstance(need, float) and math.isnan(need)):
                continue
            advised.append(int(need))
            delivered.append(true_power(design, int(need)))
    power = np.array(delivered)
    return {
        "plans": float(power.size),
        "advised_median": float(np.median(advised)),
        "advised_p10": float(np.percentile(advised, 10)),
        "advised_p90": float(np.percentile(advised, 90)),
        "delivered": float(power.mean()),
        "delivered_se": float(power.std(ddof=1) / math.sqrt(power.size)),
        "within_5_points": float(np.mean(np.abs(power - 0.8) <= 0.05)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", type=int, default=10)
    args = parser.parse_args()
    cases = [
        ("normal, rho 0.7", pilot_design(0.7, False)),
        ("t5, 2% diverged, rho 0.7", pilot_design(0.7, True)),
        ("t5, 2% diverged, rho 0.9", pilot_design(0.9, True)),
    ]
    for k, (name, design) in enumerate(cases):
        rates, _wall, cpu = timed(lambda d=design, k=k: scenario(d, args.pilots, 500 + k))
        shown = "  ".join(f"{key} {value:.3g}" for key, value in rates.items())
        print(f"{name}: {shown}  ({args.pilots} pilots, {cpu:.0f} s CPU)", flush=True)


if __name__ == "__main__":
    main()
