"""Simulated sequential suites through the real tests: family-wise error,
power and runs saved by the sequential rule (:mod:`harness.stats.sequential`).

Each simulated suite is drawn at its maximum number of seeds by the
learning-speed calibration's own generator
(:func:`harness.stats.convergence_calibration.simulate_runs`: a seed effect
shared by a seed's runs, crossings on an evaluation grid, the budget
censoring part of the control, optional t5 tails and diverged runs); the
sequential rule then sees only the first ``n`` seeds at each look, exactly as
:func:`harness.stats.sequential.log_ratios` gives them to ``harness run``. The
same suite is also decided by the fixed design at the maximum (one look,
Holm at 5%), so the two are compared on the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from harness.stats.convergence_calibration import CONTROL, TimeDesign, simulate_runs
from harness.stats.sequential import (
    DIFFERS,
    EQUIVALENT,
    Comparison,
    Outcome,
    Schedule,
    log_ratios,
    replay,
    runs_used,
)
from harness.stats.survival import analysable

VS_CONTROL, BETWEEN = "vs control", "between"
#: the flagship's between-condition pairs by condition index: c0, c1, c2 hear
#: three languages low-passed alike; c3 is c0 at full band, c4 noise low-passed
FLAGSHIP_PAIRS = ((0, 1), (0, 2), (1, 2), (0, 3), (0, 4))


@dataclass(frozen=True)
class Scenario:
    """One row of the table: a suite shape (its ``seeds`` set by the schedule's
    ``max``), the schedule, the between-condition pairs and the margin."""

    name: str
    design: TimeDesign
    schedule: Schedule
    pairs: Sequence[tuple[int, int]] = FLAGSHIP_PAIRS
    equivalence_ratio: float = 0.1


def comparisons(design: TimeDesign, pairs: Sequence[tuple[int, int]]) -> list[Comparison]:
    """The two families of a simulated suite, as the report has them."""
    out = []
    for m in range(design.models):
        model = f"m{m}"
        out += [Comparison(VS_CONTROL, model, f"c{i}", CONTROL) for i in range(len(design.ratios))]
        out += [Comparison(BETWEEN, model, f"c{a}", f"c{b}") for a, b in pairs]
    return out


def truth(design: TimeDesign, c: Comparison) -> float:
    """The true time ratio of a comparison."""
    ratio = {CONTROL: 1.0, **{f"c{i}": r for i, r in enumerate(design.ratios)}}
    return ratio[c.condition] / ratio[c.other]


def one_suite(scenario: Scenario, rng: np.random.Generator) -> dict[str, float]:
    """The sequential and the fixed decisions on one simulated suite."""
    schedule = scenario.schedule
    design = replace(scenario.design, seeds=schedule.max)
    runs = analysable(simulate_runs(design, rng), "steps")
    chosen = comparisons(design, scenario.pairs)
    seeds = list(range(schedule.max))
    margin = math.log(1 + scenario.equivalence_ratio)
    ratios = log_ratios(runs, chosen, seeds, schedule.looks)
    sequential = replay(ratios, schedule, margin)
    # one look spends all of alpha on the nominal p: Holm at 5%
    fixed_schedule = Schedule(schedule.max, schedule.max, 1, "haybittle-peto")
    fixed = replay({c: {schedule.max: r[schedule.max]} for c, r in ratios.items()},
                   fixed_schedule, margin)  # fmt: skip
    cells = design.models * (len(design.ratios) + 1)
    row: dict[str, float] = {
        "runs": runs_used(sequential, schedule.min),
        "runs_fixed": cells * schedule.max,
        # where the runs go: a cell runs as long as its slowest comparison
        "seeds_mean": float(np.mean(list(sequential.seeds.values()))),
        "seeds_differs": _mean_seeds(sequential, DIFFERS),
        "seeds_equivalent": _mean_seeds(sequential, EQUIVALENT),
    }
    for label, outcome in (("", sequential), ("fixed_", fixed)):
        for family in (VS_CONTROL, BETWEEN):
            members = [c for c in chosen if c.family == family]
            null = [c for c in members if truth(design, c) == 1.0]
            outside = [c for c in members if abs(math.log(truth(design, c))) >= margin - 1e-12]
            key = family.replace(" ", "_")
            row[f"{label}{key}_false_differs"] = float(
                any(outcome.state[c] == DIFFERS for c in null)
            )
            row[f"{label}{key}_false_equivalent"] = float(
                any(outcome.state[c] == EQUIVALENT for c in outside)
            )
        first = [c for c in chosen if c.family == VS_CONTROL and c.condition == "c0"]
        row[f"{label}c0_found"] = float(np.mean([outcome.state[c] == DIFFERS for c in first]))
        row[f"{label}c0_equivalent"] = float(
            np.mean([outcome.state[c] == EQUIVALENT for c in first])
        )
    return row


def _mean_seeds(outcome: Outcome, decision: str) -> float:
    """Mean seeds at which the comparisons stopped with ``decision`` (NaN: none)."""
    seeds = [outcome.seeds[c] for c, s in outcome.state.items() if s == decision]
    return float(np.mean(seeds)) if seeds else math.nan


def simulate(scenario: Scenario, n_suites: int, seed: int = 0) -> pd.DataFrame:
    """:func:`one_suite` of ``n_suites`` suites, one row each."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame([one_suite(scenario, rng) for _ in range(n_suites)])


def summary(rows: pd.DataFrame) -> pd.Series:
    """Rates (with their Monte Carlo SE for the error rates and power), mean
    runs, and the share of runs saved against the fixed design."""
    out = rows.mean()
    n = len(rows)
    rates = [c for c in rows.columns if not c.startswith(("runs", "seeds"))]
    for column in rates:
        out[f"{column}_se"] = math.sqrt(out[column] * (1 - out[column]) / max(n, 1))
    out["saved"] = 1 - rows["runs"].sum() / rows["runs_fixed"].sum()
    return out
