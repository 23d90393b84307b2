"""``harness check``: an A/A check of a finished results folder.

Seeds are suite-wide, so a suite cannot declare two copies of one condition.
The check makes that A/A design from the runs a user already has: the control
condition's seeds are split in two halves *by run order* (the seeds whose
control runs started first, and those that started last; the middle seed is
left out when their number is odd), and every test the report runs on a
condition against the control is run on the second half against the first,
with the project's own functions (:func:`harness.stats.convergence.vs_control`,
:func:`harness.stats.separability.separability_vs_control`). Both halves are
the same condition, so every difference found is false. Run order is the
split that matters: the conditions of a suite run at different times too, so
what drifts with time (machine load, for wall seconds) is what a
between-condition comparison can mistake for an effect.

Pairing. The report's tests are paired over seeds (seed i of a condition with
seed i of the control share initial weights). Two halves share no seed, so the
check pairs the k-th seed of the first half with the k-th of the second in run
order (each pair is half the suite apart in time: a steady drift shifts every
pair alike) and runs the paired tests on those pairs. Their pairs share no
weights, so their spread is that of two unrelated seeds. The halves are also
compared unpaired (the permutation log-rank test the report uses for
conditions without shared seeds), which at 5 pairs is the only one of the two
able to reach p < 0.05 (the exact sign-flip test's smallest p is 2/2**5).

Families. As in the report, Holm's correction runs over each time measure's
tests (every model, both designs) and, for separability, within each model,
probe and metric; a test is a false difference when its Holm p is below
:data:`~harness.stats.convergence.ALPHA`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from harness.stats import convergence, separability
from harness.stats.convergence import ALPHA
from harness.stats.multiple import holm
from harness.stats.survival import MEASURES

if TYPE_CHECKING:
    from harness.tables.results import Results

#: the fewest control seeds the check splits: two per half
MIN_SEEDS = 4
#: the two halves as the tests name them (the "condition" and its "control")
FIRST, SECOND = "first half", "second half"

SPEED_COLUMNS = ["measure", "model", "design", "test", "n", "n_control", "time_ratio",
                 "time_ratio_ci_low", "time_ratio_ci_high", "p_value", "p_holm",
                 "false_difference"]  # fmt: skip
SEPARABILITY_COLUMNS = ["model", "latent_space", "probe", "metric", "n_pairs", "difference",
                        "difference_ci_low", "difference_ci_high", "p_value", "p_holm",
                        "false_difference"]  # fmt: skip


class CheckError(Exception):
    """The folder cannot be checked (no control, too few control seeds)."""


@dataclass(frozen=True)
class Halves:
    """The control's seeds in run order, split in two; ``first[k]`` is paired
    with ``second[k]``. ``by_time`` is False when the runs record no start time
    (the seeds' order stands in for it)."""

    first: tuple[int, ...]
    second: tuple[int, ...]
    left_out: int | None
    by_time: bool


def control_halves(runs: pd.DataFrame, control: str) -> Halves:
    """Split the control's seeds by when their first control run started."""
    ctrl = runs[(runs["condition"] == control) & (runs["status"] != "failed")]
    seeds = sorted({int(s) for s in ctrl["seed"].dropna()})
    if len(seeds) < MIN_SEEDS:
        raise CheckError(
            f"the control {control!r} has {len(seeds)} seeds with finished runs; the check "
            f"splits them in two halves and needs at least {MIN_SEEDS} (set seeds = "
            f"{MIN_SEEDS} or more in the suite)"
        )
    started = pd.to_datetime(ctrl.get("started"), errors="coerce", utc=True)
    by_time = started is not None and bool(started.notna().all())
    if by_time:
        first_start = ctrl.assign(_t=started).groupby("seed")["_t"].min()
        seeds = [int(s) for s in first_start.sort_values(kind="stable").index]
    half = len(seeds) // 2
    middle = seeds[half] if len(seeds) % 2 else None
    return Halves(tuple(seeds[:half]), tuple(seeds[-half:]), middle, by_time)


def halves_runs(rows: pd.DataFrame, control: str, halves: Halves, paired: bool) -> pd.DataFrame:
    """The control's rows (of the runs or probes table) as two conditions,
    :data:`FIRST` and :data:`SECOND`; ``paired`` gives each second-half seed its
    first-half partner's number, so the tests pair them."""
    ctrl = rows[rows["condition"] == control]
    first = ctrl[ctrl["seed"].isin(halves.first)].assign(condition=FIRST)
    second = ctrl[ctrl["seed"].isin(halves.second)].assign(condition=SECOND)
    if paired:
        partner = dict(zip(halves.second, halves.first, strict=True))
        second = second.assign(seed=second["seed"].map(partner))
    return pd.concat([first, second])


def speed_tests(
    runs: pd.DataFrame, control: str, halves: Halves, n_resamples: int = 9999, seed: int = 0
) -> pd.DataFrame:
    """The second half against the first for each time measure and model,
    paired and unpaired; Holm over each measure's tests."""
    frames = []
    for paired in (True, False):
        data = halves_runs(runs, control, halves, paired)
        # no RMST bootstrap: the check reads the ratio and its test only
        frames.append(convergence.vs_control(data, FIRST, MEASURES, n_resamples, 0, seed))
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        return pd.DataFrame(columns=SPEED_COLUMNS)
    table["p_holm"] = table.groupby("measure")["p_value"].transform(
        lambda p: pd.Series(holm(p), index=p.index)
    )
    table["false_difference"] = table["p_holm"] < ALPHA
    order = {m: i for i, m in enumerate(MEASURES)}
    table = table.sort_values("measure", key=lambda m: m.map(order), kind="stable")
    return table.reset_index(drop=True)[SPEED_COLUMNS]


def separability_tests(results: Results, control: str, halves: Halves) -> pd.DataFrame:
    """The second half against the first in every model latent space whose
    probe reports per-speaker results (the report's speaker-level test)."""
    probes = halves_runs(results.probes, control, halves, paired=True)
    table = separability.separability_vs_control(dataclasses.replace(results, probes=probes), FIRST)
    table = table[table["p_value"].notna()].copy()
    table["false_difference"] = table["p_holm"] < ALPHA
    return table.reset_index(drop=True).reindex(columns=SEPARABILITY_COLUMNS)


@dataclass(frozen=True)
class AACheck:
    """The check's tables and what they say."""

    control: str
    halves: Halves
    speed: pd.DataFrame
    separability: pd.DataFrame
    load: dict[str, float]

    @property
    def found(self) -> bool:
        """Whether any test found a (false) difference."""
        return bool(
            self.speed["false_difference"].any() or self.separability["false_difference"].any()
        )

    def unsafe_measures(self) -> list[str]:
        """Time measures with a false difference, in report order."""
        hit = self.speed[self.speed["false_difference"].astype(bool)]
        return [m for m in MEASURES if m in set(hit["measure"])]


def _mean_load(runs: pd.DataFrame, control: str, seeds: tuple[int, ...]) -> float:
    if "load_start" not in runs.columns:
        return math.nan
    rows = runs[(runs["condition"] == control) & runs["seed"].isin(seeds)]
    values = pd.to_numeric(rows["load_start"], errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def aa_check(results: Results, n_resamples: int = 9999, seed: int = 0) -> AACheck:
    """The A/A check of ``results`` (module docstring); raises
    :class:`CheckError` when the folder has no control or too few of its seeds."""
    control = results.control
    if control is None or control not in set(results.runs["condition"]):
        raise CheckError(
            "no control condition with runs: the check splits the control's seeds"
            + (f" (the suite names {control!r}, which has no runs)" if control else "")
        )
    halves = control_halves(results.runs, control)
    speed = speed_tests(results.runs, control, halves, n_resamples, seed)
    sep = separability_tests(results, control, halves)
    load = {
        FIRST: _mean_load(results.runs, control, halves.first),
        SECOND: _mean_load(results.runs, control, halves.second),
    }
    return AACheck(control, halves, speed, sep, load)
