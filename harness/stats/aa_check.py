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

Machine speed. Wall seconds to threshold are steps times the time per step;
the steps of a seed vary far more than a machine's speed, so the report's
tests on seconds see a drifting load late, and in a paired comparison (which
cancels the seed) a condition run later than its control pays it in full. The
check therefore also compares the halves' wall seconds per target step
(:func:`pace_tests`: an exact permutation test of the mean log time per step,
``scipy.stats.permutation_test``), in one Holm family with the seconds
measure's own tests: a difference there makes the seconds measure unsafe.

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

import numpy as np
import pandas as pd
from scipy import stats

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
PACE_COLUMNS = ["model", "n", "n_control", "seconds_per_step", "seconds_per_step_control",
                "ratio", "p_value", "p_holm", "false_difference"]  # fmt: skip
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


def pace_tests(runs: pd.DataFrame, control: str, halves: Halves) -> pd.DataFrame:
    """Per model, the second half's wall seconds per target step against the
    first's (geometric means; ``ratio`` above 1: the machine got slower)."""
    if not {"seconds_to_threshold", "steps_to_threshold"} <= set(runs.columns):
        return pd.DataFrame(columns=PACE_COLUMNS)
    data = halves_runs(runs, control, halves, paired=False)
    steps, seconds = (data[f"{m}_to_threshold"].astype(float) for m in ("steps", "seconds"))
    data = data.assign(log_pace=np.log(seconds / steps))[(steps > 0) & (seconds > 0)]
    rows = []
    for model, group in data.groupby("model", sort=False):
        first = group.loc[group["condition"] == FIRST, "log_pace"].to_numpy(float)
        second = group.loc[group["condition"] == SECOND, "log_pace"].to_numpy(float)
        if min(first.size, second.size) < 2:
            continue
        test = stats.permutation_test(
            (second, first), lambda a, b: np.mean(a) - np.mean(b), n_resamples=9999,
            permutation_type="independent", random_state=0,
        )  # fmt: skip
        rows.append({"model": model, "n": second.size, "n_control": first.size,
                     "seconds_per_step": math.exp(second.mean()),
                     "seconds_per_step_control": math.exp(first.mean()),
                     "ratio": math.exp(second.mean() - first.mean()),
                     "p_value": float(test.pvalue)})  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=PACE_COLUMNS)
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"])
    table["false_difference"] = table["p_holm"] < ALPHA
    return table[PACE_COLUMNS]


def speed_and_pace(
    runs: pd.DataFrame, control: str, halves: Halves, n_resamples: int = 9999, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`speed_tests` and :func:`pace_tests`, the time per step in the
    seconds measure's family: Holm over the seconds tests and the pace tests
    together, so "seconds unsafe" is held at 5% on a sound folder."""
    speed = speed_tests(runs, control, halves, n_resamples, seed)
    pace = pace_tests(runs, control, halves)
    if pace.empty:
        return speed, pace
    seconds = speed.index[speed["measure"] == "seconds"]
    p = np.r_[speed.loc[seconds, "p_value"].to_numpy(float), pace["p_value"].to_numpy(float)]
    adjusted = holm(p)
    speed.loc[seconds, "p_holm"] = adjusted[: len(seconds)]
    pace = pace.assign(p_holm=adjusted[len(seconds) :])
    for table in (speed, pace):
        table["false_difference"] = table["p_holm"] < ALPHA
    return speed, pace


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
    pace: pd.DataFrame
    separability: pd.DataFrame
    load: dict[str, float]

    @property
    def found(self) -> bool:
        """Whether any test found a (false) difference."""
        tables = (self.speed, self.pace, self.separability)
        return any(bool(t["false_difference"].astype(bool).any()) for t in tables)

    def unsafe_measures(self) -> list[str]:
        """Time measures with a false difference (seconds also when the time per
        step changed between the halves), in report order."""
        hit = set(self.speed.loc[self.speed["false_difference"].astype(bool), "measure"])
        if self.pace["false_difference"].astype(bool).any():
            hit.add("seconds")
        return [m for m in MEASURES if m in hit]


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
    speed, pace = speed_and_pace(results.runs, control, halves, n_resamples, seed)
    sep = separability_tests(results, control, halves)
    load = {
        FIRST: _mean_load(results.runs, control, halves.first),
        SECOND: _mean_load(results.runs, control, halves.second),
    }
    return AACheck(control, halves, speed, pace, sep, load)
