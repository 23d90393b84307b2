"""Calibration, short version: simulated suites through the real `ridge` probe
and the separability statistics make claims at about their nominal rate under
the null and find a planted effect. bench/bench_calibration.py runs the long
version whose numbers docs/report.md gives."""

import numpy as np
import pytest

from harness.plugin.registry import load_registry
from harness.stats.calibration import SimDesign, claim_rows, claims, equivalent_at, rejection_rates

SMALL = SimDesign(
    languages=3,
    speakers=6,
    clips=3,
    dim=12,
    seeds=5,
    probe_params={"task": "multiclass", "n_permutations": 99},
)
SUITES = 40
#: 7 or more rejections of 40 at a true rate of 5% happen 1.4% of the time
MAX_RATE = 7 / 40


@pytest.fixture(scope="module")
def registry():
    return load_registry(autoload=False)


def test_no_claims_without_language(registry):
    rates = rejection_rates(SMALL, SUITES, seed=1, registry=registry)
    assert rates["model_vs_chance"] <= MAX_RATE
    assert rates["baseline_vs_chance"] <= MAX_RATE
    assert rates["condition_vs_control"] <= MAX_RATE
    # the report compares with the baseline only where the baseline shows language
    assert rates["model_vs_baseline_stated"] <= rates["baseline_vs_chance"]


def test_no_condition_effect_claimed_when_there_is_none(registry):
    design = SimDesign(**{**SMALL.__dict__, "language": 0.8, "baseline": 0.8})
    rates = rejection_rates(design, SUITES, seed=2, registry=registry)
    assert rates["model_vs_chance"] >= 0.8  # the language is there, and found
    assert rates["condition_vs_control"] <= MAX_RATE
    assert rates["model_vs_baseline"] <= MAX_RATE


def test_a_planted_condition_effect_is_found(registry):
    design = SimDesign(
        **{**SMALL.__dict__, "language": 0.4, "baseline": 0.4, "condition_gain": 1.0}
    )
    rng = np.random.default_rng(3)
    found = [claims(design, rng, registry) for _ in range(10)]
    assert np.mean([f["condition_vs_control"] < 0.05 for f in found]) >= 0.8
    assert all(f["difference"] > 0 for f in found)


def test_equivalence_is_rarely_shown_when_the_true_difference_is_the_margin(registry):
    # a planted condition effect; its true difference is taken as the mean
    # realised one, and the equivalence test read at that margin is a wrong
    # "equivalent" (bench/bench_equivalence.py runs the flagship-sized version)
    design = SimDesign(
        **{**SMALL.__dict__, "language": 0.6, "baseline": 0.6, "condition_gain": 0.5}
    )
    rows = claim_rows(design, 20, seed=4, registry=registry)
    true = float(rows["difference"].mean())
    assert true > 0.02
    # 4 or more of 20 at a true rate of 5% happen 1.6% of the time
    assert equivalent_at(rows, true).mean() <= 4 / 20
    # the same suites would be called equivalent within a margin well beyond it
    assert equivalent_at(rows, 4 * true + 0.2).mean() >= 0.8
    # equivalent_at is the table's own test (at the design's margin, one test per family)
    assert (equivalent_at(rows, design.margin) == rows["equivalent"].astype(bool)).all()
