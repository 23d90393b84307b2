"""Calibration of the between-condition comparisons (harness.stats.between),
in simulation with the harness's own code.

Three pretraining conditions that differ only in the language heard, each
10 seeds paired with a control, steps to threshold drawn as in
harness.stats.convergence_calibration (log-normal, within-seed correlation
0.8, total SD 0.3, 20% of the control censored). Under the null every
pretraining condition has the same time ratio (0.78 against the control);
under the alternative one of them is a further `effect` times faster. The
report says two conditions "differ" when the pair's Holm-corrected p < 0.05
(Holm over the pairs of one measure, across models), so the numbers are:
the family-wise false-positive rate of "differ" under the null, and the
power to find the planted pair.

    python bench/bench_between.py [--suites 200]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from timing import timed

from harness.spec.design import ConditionInfo, Design
from harness.stats.between import between_conditions
from harness.stats.convergence_calibration import CONTROL, TimeDesign, simulate_runs


def design() -> Design:
    conditions = (
        ConditionInfo(CONTROL, "control"),
        *(
            ConditionInfo(f"c{i}", f"language {i}", language=f"l{i}", filter="lowpass",
                          epochs=1, pretrains=True)
            for i in range(3)
        ),
    )  # fmt: skip
    return Design(name="sim", control=CONTROL, conditions=conditions, seeds=tuple(range(10)))


def rates(time_design: TimeDesign, suites: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    layout = design()
    any_differ, planted = [], []
    for _ in range(suites):
        runs = simulate_runs(time_design, rng)
        table = between_conditions(runs, layout, measures=["steps"], n_resamples=999)
        any_differ.append(bool((table["p_holm"] < 0.05).any()))
        pair = table[(table["condition_a"] == "c0") & (table["condition_b"] == "c1")]
        planted.append(float((pair["p_holm"] < 0.05).mean()))
    return {"any pair differs": float(np.mean(any_differ)), "c0-c1 found": float(np.mean(planted))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=200)
    args = parser.parse_args()
    base = TimeDesign(ratios=(0.78, 0.78, 0.78), seeds=10)
    for name, ratios in [("null", (0.78, 0.78, 0.78)),
                         ("c0 1.25x faster", (0.78 / 1.25, 0.78, 0.78)),
                         ("c0 1.5x faster", (0.78 / 1.5, 0.78, 0.78))]:  # fmt: skip
        design = dataclasses.replace(base, ratios=ratios)
        found, spent, _ = timed(lambda design=design: rates(design, args.suites, seed=1))
        print(f"{name:16s} " + "  ".join(f"{k}: {v:.3f}" for k, v in found.items())
              + f"  ({args.suites} suites, {spent:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
