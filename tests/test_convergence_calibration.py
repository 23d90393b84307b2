"""Calibration of the learning-speed claims, short version: simulated suites
through the real convergence statistics make no more false claims than
nominal under the null and find a planted 20% speed-up at the flagship's 10
seeds. bench/bench_convergence.py runs the long version whose numbers
docs/report.md gives."""

from dataclasses import replace

from harness.stats.convergence_calibration import TimeDesign, rejection_rates

#: the flagship's shape: 4 conditions besides the control, 2 models, 10 seeds
FLAGSHIP = TimeDesign(ratios=(1.0, 1.0, 1.0, 1.0), models=2, seeds=10, sd=0.13, rho=0.8)
SUITES = 40
#: 7 or more rejections of 40 at a true rate of 5% happen 1.4% of the time
MAX_RATE = 7 / 40


def test_no_claims_under_the_null_paired_or_unpaired():
    for design in (FLAGSHIP, replace(FLAGSHIP, paired=False)):
        rates = rejection_rates(design, SUITES, seed=1, n_resamples=499)
        assert rates["any_vs_control"] <= MAX_RATE
        assert rates["any_overall"] <= MAX_RATE
        assert 0.05 < rates["censored"] < 0.35  # the budget censors about 20% of controls


def test_a_planted_speed_up_is_found_and_pairing_is_what_finds_it():
    planted = replace(FLAGSHIP, ratios=(0.8, 1.0, 1.0, 1.0))
    paired = rejection_rates(planted, SUITES, seed=2, n_resamples=499)
    unpaired = rejection_rates(replace(planted, paired=False), SUITES, seed=2, n_resamples=499)
    assert paired["first_condition_found"] >= 0.8
    assert paired["null_vs_control"] <= MAX_RATE  # the null conditions stay unclaimed
    assert unpaired["first_condition_found"] < paired["first_condition_found"]
