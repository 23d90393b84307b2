"""What `harness check` (harness.stats.aa_check) finds, in simulation with the
harness's own code: how often it flags a folder with nothing wrong, and how
often it flags wall seconds that drift with the machine's load.

Each simulated suite is a control of `--seeds` seeds and two models, steps to
threshold drawn as in harness.stats.convergence_calibration (log-normal, SD
0.3, 20% censored, a 5-step evaluation grid); the runs start in seed order.
Wall seconds are steps times a per-step time with 5% noise; under drift the
per-step time rises linearly over the suite, by `drift` from the first run to
the last (the load average rising as other jobs start). Steps and steps
including pretraining (the same here: a control pretrains on nothing) never
drift. The numbers: the share of suites in which the check flags anything
(exit 1), and in which it flags the seconds measure (its own tests or the
time per step).

    python bench/bench_aa_check.py [--suites 200] [--seeds 10]
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import timed

from harness.stats.aa_check import control_halves, speed_and_pace
from harness.stats.convergence_calibration import CONTROL, TimeDesign, simulate_runs


def suite(seeds: int, drift: float, rng: np.random.Generator):
    runs = simulate_runs(TimeDesign(ratios=(), seeds=seeds), rng)
    position = runs["seed"] / max(seeds - 1, 1)
    per_step = 0.01 * (1 + drift * position) * np.exp(rng.normal(0, 0.05, len(runs)))
    return runs.assign(
        total_steps_to_threshold=runs["steps_to_threshold"],
        seconds_to_threshold=runs["steps_to_threshold"] * per_step,
        started=[f"2025-01-01T00:{s:02d}:00Z" for s in runs["seed"]],
    )


def rates(seeds: int, drift: float, suites: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    flagged, seconds, ratio = [], [], []
    for _ in range(suites):
        runs = suite(seeds, drift, rng)
        halves = control_halves(runs, CONTROL)
        table, pace = speed_and_pace(runs, CONTROL, halves, n_resamples=999)
        flagged.append(bool(table["false_difference"].any() or pace["false_difference"].any()))
        sec = table[table["measure"] == "seconds"]
        seconds.append(bool(sec["false_difference"].any() or pace["false_difference"].any()))
        ratio.append(float(np.exp(np.log(sec["time_ratio"]).mean())))
    return {
        "flags anything": float(np.mean(flagged)),
        "flags seconds": float(np.mean(seconds)),
        "seconds ratio (median)": float(np.median(ratio)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    for drift in (0.0, 0.3, 0.6, 1.0):
        found, spent, _ = timed(lambda d=drift: rates(args.seeds, d, args.suites, seed=1))
        print(f"drift {drift:.1f}, {args.seeds} seeds: "
              + "  ".join(f"{k}: {v:.3f}" for k, v in found.items())
              + f"  ({args.suites} suites, {spent:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
