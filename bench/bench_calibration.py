"""False-positive rates and power of the separability claims, in simulation.

Simulated suites (`harness.stats.calibration`: speaker-clustered latents,
seeds paired across a control and a condition, a model-free baseline) go
through the real `ridge` probe and the real statistics; for each claim the
report can make, the fraction of suites in which it is made at p < 0.05:

* no language anywhere: model space above chance, baseline above chance,
  condition against control (all should be at most 5%);
* language in every space, no condition effect: condition against control and
  model against baseline (at most 5%), above chance (power); the same with the
  language barely there (the edge of the gate below);
* model against baseline, as stated (`model_vs_baseline_stated`): the report
  states it only where the baseline is clearly above chance;
* a planted condition effect at the flagship's design (20 speakers per
  language, 8 clips, 10 seeds, 1000 relabellings): detection rate.

Monte Carlo standard error of a rate p over n suites: sqrt(p (1 - p) / n),
about 1.8 points at 5% and 150 suites.

    python bench/bench_calibration.py                 # the numbers in docs/report.md
    python bench/bench_calibration.py --suites 40     # quicker, noisier

A benchmark, not a test (tests/test_calibration.py is the short version).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from timing import timed_rates

from harness.plugin.registry import load_registry
from harness.stats.calibration import SimDesign, rejection_rates

NULL_DESIGN = SimDesign(
    languages=4, speakers=10, clips=4, dim=32, seeds=10,
    probe_params={"task": "multiclass", "n_permutations": 200},
)  # fmt: skip
FLAGSHIP = SimDesign(
    languages=4, speakers=20, clips=8, dim=64, seeds=10,
    probe_params={"task": "multiclass", "n_permutations": 1000},
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=150, help="suites per null scenario")
    parser.add_argument("--power-suites", type=int, default=50)
    parser.add_argument("--only", choices=("null", "power"), default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    registry = load_registry(autoload=False)
    scenarios = []
    if args.only in (None, "null"):
        scenarios += [
            ("no language anywhere", replace(NULL_DESIGN), args.suites),
            ("language, no condition effect",
             replace(NULL_DESIGN, language=0.4, baseline=0.4), args.suites),
            # the edge of the baseline gate: language barely there, equal in both
            ("weak language, no condition effect",
             replace(NULL_DESIGN, language=0.1, baseline=0.1), args.suites),
        ]  # fmt: skip
    if args.only in (None, "power"):
        scenarios += [
            # +8% language strength is about +0.03 balanced accuracy: the smallest
            # difference the flagship suite's report says it could detect
            ("flagship design, condition +8% language",
             replace(FLAGSHIP, language=0.3, baseline=0.3, condition_gain=0.08),
             args.power_suites),
        ]  # fmt: skip
    rows = {}
    for k, (name, design, n) in enumerate(scenarios):
        rows[name] = timed_rates(
            name,
            lambda design=design, n=n, k=k: rejection_rates(
                design, n, seed=100 + k, registry=registry
            ),
            n,
        )
    table = pd.DataFrame(rows).T
    with pd.option_context("display.width", 200):
        print(table.round(3).to_string())
    print(f"\nMonte Carlo SE at 5% over {args.suites} suites: "
          f"{np.sqrt(0.05 * 0.95 / args.suites):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
