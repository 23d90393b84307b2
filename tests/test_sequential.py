"""Sequential seeds (harness.stats.sequential): the spending, the looks' tests
agree with the report's, the decisions, the suite key, and `harness power`'s
sequential column."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from harness.plugin.registry import load_registry
from harness.spec.design import Design
from harness.spec.suite import SuiteError, load_suite
from harness.spec.suite_types import SeedSchedule
from harness.stats import planning
from harness.stats import sequential as seq
from harness.stats import sequential_joint as joint
from harness.stats.convergence import compare
from harness.stats.convergence_calibration import TimeDesign, simulate_runs
from harness.stats.sequential_calibration import Scenario, simulate, summary
from harness.stats.signed_rank import doubled_ranks, upper_tails
from harness.stats.survival import analysable
from harness.testing import write_tiny_suite


@pytest.mark.parametrize("kind", [k for k in seq.SPENDING if k != seq.JOINT])
def test_each_spending_spends_exactly_alpha_over_its_looks(kind):
    looks = SeedSchedule(6, 40, 2, kind).looks
    assert looks[0] == 6 and looks[-1] == 40 and len(looks) == 18
    levels = seq.spending(looks, 0.05, kind)
    assert levels.sum() == pytest.approx(0.05) and (levels >= 0).all()
    if kind == "haybittle-peto":  # the last look keeps most of it
        assert levels[-1] >= 0.8 * 0.05


def test_a_step_that_misses_max_still_looks_at_max():
    assert SeedSchedule(6, 11, 4).looks == (6, 10, 11)


def test_the_counted_null_is_the_characteristic_functions():
    rng = np.random.default_rng(3)
    for n in (1, 6, 17, 40):
        a = np.sort(rng.integers(0, 2 * n, n))  # ties and zeros included
        np.testing.assert_allclose(seq.exact_upper_tail(a), upper_tails(a[None, :])[0][0],
                                   atol=1e-12)  # fmt: skip


def test_the_looks_test_as_the_report_does():
    design = TimeDesign(ratios=(0.8, 1.0), models=1, seeds=12, tails="t5", diverged=0.1)
    runs = analysable(simulate_runs(design, np.random.default_rng(4)), "steps")
    chosen = [seq.Comparison("f", "m0", c, "control") for c in ("c0", "c1")]
    ratios = seq.log_ratios(runs, chosen, list(range(12)), [8, 12])
    margin = math.log(1.1)
    for n in (8, 12):
        p, p_eq = seq.look_pvalues([ratios[c][n] for c in chosen], margin)
        subset = runs[runs["seed"] < n]
        for i, c in enumerate(chosen):
            row = compare("steps", "m0", c.condition, "control",
                          subset[subset["condition"] == c.condition],
                          subset[subset["condition"] == "control"], 99, 0, 0)  # fmt: skip
            assert p[i] == pytest.approx(row["p_value"], abs=1e-12)
            assert p_eq[i] == pytest.approx(row["p_equivalence"], abs=1e-12)


def test_holm_at_a_looks_level_counts_the_decided_comparisons():
    undecided = [seq.UNDECIDED] * 3
    # Holm at 0.01 over 3: the smallest p must be <= 0.0033
    assert seq.decide(np.array([0.003, 0.5, 0.5]), np.ones(3), undecided, 0.01)[0] == seq.DIFFERS
    assert seq.decide(np.array([0.004, 0.5, 0.5]), np.ones(3), undecided, 0.01)[0] == seq.UNDECIDED
    # one already shown to differ enters at p = 0: the next needs only 0.01 / 2
    state = [seq.DIFFERS, seq.UNDECIDED, seq.UNDECIDED]
    assert seq.decide(np.array([np.nan, 0.004, 0.5]), np.ones(3), state, 0.01)[1] == seq.DIFFERS
    # one stopped as equivalent enters the difference family at p = 1: no help
    state = [seq.EQUIVALENT, seq.UNDECIDED, seq.UNDECIDED]
    assert seq.decide(np.array([np.nan, 0.004, 0.5]), np.ones(3), state, 0.01)[1] == seq.UNDECIDED
    # equivalence has its own family; a comparison shown both ways states the difference
    both = seq.decide(np.array([0.001, 0.5]), np.array([0.001, 0.001]), [seq.UNDECIDED] * 2, 0.01)
    assert both == [seq.DIFFERS, seq.EQUIVALENT]


def test_the_fast_ranks_are_the_reports():
    rng = np.random.default_rng(8)
    for n in (0, 1, 6, 23, 40):
        d = np.round(rng.normal(0, 1, n) * 3) / 3  # ties and zeros
        statistic, pattern = seq.signed_doubled_ranks(d)
        doubled = doubled_ranks(d)[0] if n else np.zeros(0)
        assert statistic == doubled.sum()
        assert pattern.tolist() == sorted(abs(doubled[doubled != 0]).astype(int).tolist())


def test_the_repeated_p_keeps_its_level_over_all_the_looks():
    """Nominal p at 18 looks would say p <= 0.05 somewhere in about a fifth of
    null streams; the repeated p-value says so in 5% (drawn here independently
    of the boundary's own draws, normal and t3 data, on the report's tests)."""
    looks = SeedSchedule(6, 40, 2).looks
    rng = np.random.default_rng(12)
    streams = np.vstack([rng.normal(0, 1, (300, 40)), rng.standard_t(3, (300, 40))])
    nominal = np.array([seq.look_pvalues(list(streams[:, :n]), 0.0)[0] for n in looks])
    q = joint.repeated_p(nominal, looks, joint.TWO_SIDED)
    assert (q >= nominal).all()
    assert (nominal.min(axis=0) <= 0.05).mean() > 0.12  # looking without a rule
    assert (q.min(axis=0) <= 0.05).mean() <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 600)
    for sided in (joint.TWO_SIDED, joint.ONE_SIDED):
        level = joint.nominal_level(0.005, looks, sided)
        # sharper than the union bound over the 18 looks, and exactly the boundary
        assert 0.005 / len(looks) < level < 0.005
        assert joint.repeated_p(np.array([level]), looks, sided)[0] <= 0.005
        assert joint.repeated_p(np.array([level * 1.05]), looks, sided)[0] > 0.005


def test_the_joint_rule_stops_a_clear_answer_before_spending_does():
    rng = np.random.default_rng(2)
    effect = [seq.Comparison("f", "m", f"c{i}", "ctl") for i in range(5)]
    null = [seq.Comparison("f", "m", f"n{i}", "ctl") for i in range(5)]
    data = {c: rng.normal(-0.35 if c in effect else 0.0, 0.1, 40) for c in effect + null}
    stops = {}
    for kind in ("joint-pocock", "haybittle-peto"):
        schedule = SeedSchedule(6, 40, 2, kind)
        outcome = seq.replay({c: {n: d[:n] for n in schedule.looks} for c, d in data.items()},
                             schedule, math.log(1.1))  # fmt: skip
        assert all(outcome.state[c] == seq.DIFFERS for c in effect)
        assert all(outcome.state[c] != seq.DIFFERS for c in null)
        stops[kind] = sum(outcome.seeds.values())
    assert stops["joint-pocock"] < 0.8 * stops["haybittle-peto"]


def test_a_replay_waits_for_a_looks_runs_and_never_reopens_a_decision():
    schedule = SeedSchedule(6, 10, 2)
    strong = seq.Comparison("f", "m", "a", "ctl")
    weak = seq.Comparison("f", "m", "b", "ctl")
    d = np.full(10, -0.7) + np.linspace(-0.01, 0.01, 10)
    noise = np.random.default_rng(0).normal(0, 0.5, 10)
    ratios = {strong: {n: d[:n] for n in (6, 8, 10)}, weak: {6: noise[:6], 8: noise[:8]}}
    outcome = seq.replay(ratios, schedule, math.log(1.1))
    assert outcome.next_look == 10  # weak's seed 9 has no record yet
    assert outcome.state[weak] == seq.UNDECIDED
    assert [look["seeds"] for look in outcome.looks] == [6, 8]


def test_simulated_sequential_suites_keep_their_level_and_save_runs():
    """A short run of bench/bench_sequential.py (docs/report.md has the long one)."""
    null = Scenario("null", TimeDesign.for_ratio_sd(0.1, 0.57, ratios=(1.0,) * 5, censoring=0.01),
                    SeedSchedule(6, 40, 2))  # fmt: skip
    rows = simulate(null, 12, seed=11)
    rates = summary(rows)
    assert rates["vs_control_false_differs"] <= 0.1 and rates["between_false_differs"] <= 0.1
    assert rates["saved"] > 0.1  # equivalence within 10% is often shown before 40 seeds
    assert (rows["runs"] < rows["runs_fixed"]).all()
    effect = dataclasses.replace(
        null, design=dataclasses.replace(null.design, ratios=(0.6, 1.0, 1.0, 1.0, 1.0))
    )
    rates = summary(simulate(effect, 8, seed=6))
    assert rates["c0_found"] == 1 and rates["vs_control_false_equivalent"] == 0


def test_censored_pairs_cannot_make_a_condition_at_the_margin_equivalent():
    """A fifth of the control's runs censored, c0 1.1x slower (at the margin):
    pairs censored on both sides once read as equal and let the rule stop on a
    false "equivalent" in about half the suites; each end of a censored pair's
    interval now counts against equivalence."""
    design = TimeDesign.for_ratio_sd(0.1, 0.57, ratios=(1.1, 1.0, 1.0, 1.0, 1.0), censoring=0.2)
    rates = summary(simulate(Scenario("margin", design, SeedSchedule(6, 40, 2)), 12, seed=5))
    assert rates["vs_control_false_equivalent"] == 0 and rates["between_false_equivalent"] == 0


def _seeds_problems(tmp_path, seeds) -> dict[str, str]:
    path = write_tiny_suite(tmp_path, seeds=seeds)
    with pytest.raises(SuiteError) as info:
        load_suite(path, load_registry(autoload=False))
    return {k: v for k, v in info.value.problems if k.startswith("seeds")}


def test_a_sequential_seeds_table_loads_as_its_schedule(tmp_path):
    path = write_tiny_suite(tmp_path, seeds={"min": 6, "max": 12, "step": 3})
    suite = load_suite(path, load_registry(autoload=False))
    assert suite.sequential == SeedSchedule(6, 12, 3, "joint-pocock")
    assert suite.seeds == tuple(range(12)) and suite.sequential.looks == (6, 9, 12)
    design = Design.from_suite(suite, load_registry(autoload=False))
    assert Design.from_dict(design.to_dict()).sequential == design.sequential
    assert design.sequential == {"schedule": suite.sequential.to_dict()}


def test_a_wrong_sequential_seeds_table_is_located(tmp_path):
    found = _seeds_problems(tmp_path, {"min": 4, "max": 40, "step": 2})
    assert "expected at least 6, got 4" in found["seeds.min"]
    found = _seeds_problems(tmp_path, {"min": 10, "max": 8, "step": 0})
    assert found["seeds.max"] == "expected at least seeds.min (10), got 8"
    assert found["seeds.step"] == "expected at least 1, got 0"
    found = _seeds_problems(tmp_path, {"min": 6, "max": 80})
    assert "expected at most 60, got 80" in found["seeds.max"]
    found = _seeds_problems(tmp_path, {"min": 6, "maxi": 8, "spending": "bonferroni"})
    assert "did you mean 'max'" in found["seeds.maxi"]
    assert found["seeds.max"].startswith("missing")
    assert "expected one of joint-pocock, haybittle-peto" in found["seeds.spending"]
    found = _seeds_problems(tmp_path, {"min": 6.5, "max": 8})
    assert found["seeds.min"] == "expected a whole number, got 6.5"


def _pilot(d: np.ndarray) -> pd.DataFrame:
    """Runs of a control and condition ``ja`` whose per-seed log ratios are ``d``."""
    base = 100 * np.exp(np.random.default_rng(0).normal(0, 0.5, d.size))
    rows = [
        {"model": "m", "condition": name, "seed": seed, "status": "reached", "event": True,
         "steps_to_threshold": float(t), "max_steps": 1e6}
        for name, times in (("none", base), ("ja", base * np.exp(d)))
        for seed, t in enumerate(times)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_power_sets_the_sequential_design_beside_the_fixed_one():
    rng = np.random.default_rng(6)
    runs = _pilot(math.log(0.8) + rng.normal(0, 0.15, 10))
    table = planning.plan(runs, "none", effects=(0.05, 0.3), comparisons=1)
    small, large = table.to_dict("records")
    assert 6 <= large["sequential_seeds"] < small["sequential_seeds"] <= 40
    assert large["sequential_power"] >= 0.9 > small["sequential_power"]


def test_the_suites_doc_snippet_validates(tmp_path):
    import re
    import tomllib
    from pathlib import Path

    doc = Path(__file__).parent.parent / "docs" / "suites.md"
    part = doc.read_text().split("## Sequential seeds", 1)[1]
    snippet = re.search(r"```toml\n(.*?)```", part, re.S).group(1)
    path = write_tiny_suite(tmp_path, **tomllib.loads(snippet))
    suite = load_suite(path, load_registry(autoload=False))
    assert suite.sequential == SeedSchedule(6, 40, 2) and len(suite.seeds) == 40


def test_harness_power_prints_the_sequential_design_beside_the_fixed_one():
    from harness.cli.analysis import format_plan

    rng = np.random.default_rng(6)
    runs = _pilot(math.log(0.8) + rng.normal(0, 0.15, 10))
    table = planning.plan(runs, "none", effects=(0.3,), comparisons=1)
    text = format_plan(table, 0.8, planning.DEFAULT_SCHEDULE)
    row = table.iloc[0]
    assert (
        f"sequential (6 to 40 by 2): {row['sequential_seeds']:.1f} seeds expected, "
        f"{row['sequential_power']:.0%} power" in text
    )


def test_validate_describes_a_sequential_suite_by_its_range_of_seeds(tmp_path):
    from harness.cli.validate import describe_suite

    path = write_tiny_suite(tmp_path, seeds={"min": 6, "max": 10})
    suite = load_suite(path, load_registry(autoload=False))
    runs = len(suite.conditions) * len(suite.models)
    text = describe_suite(suite, runs * 10)
    assert f"x 6 to 10 seeds, sequential = {runs * 6} to {runs * 10} runs" in text
