"""Separability statistics across seeds: intervals, tests, effect sizes, CKA."""

import itertools
import json
import shutil

import numpy as np
import pytest

from harness.stats import separability as sep
from harness.stats.cka import linear_cka
from harness.tables import load_results


def test_bootstrap_ci_covers_a_known_mean():
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 1.0, 30)
    mean, low, high = sep.mean_ci(x, n_resamples=1999)
    assert mean == pytest.approx(x.mean())
    assert low < 5.0 < high
    assert low < mean < high


def test_bootstrap_ci_has_roughly_nominal_coverage():
    rng = np.random.default_rng(2)
    hits = 0
    trials = 120
    for k in range(trials):
        _, low, high = sep.mean_ci(rng.normal(0.0, 1.0, 20), n_resamples=499, seed=k)
        hits += low <= 0.0 <= high
    # 95% nominal; BCa with 20 values covers a little less
    assert 0.86 <= hits / trials <= 0.99


def test_degenerate_samples():
    mean, low, high = sep.mean_ci([0.7, 0.7, 0.7])
    assert mean == pytest.approx(0.7) and low == high == mean
    mean, low, high = sep.mean_ci([0.7])
    assert mean == 0.7 and np.isnan(low) and np.isnan(high)
    assert np.isnan(sep.mean_ci([])[0])
    assert sep.paired_test([0.0, 0.0, 0.0]) == 1.0


def test_permutation_tests_exact_values():
    # five positive paired differences: only "all +" and "all -" of the 32 sign
    # patterns are as extreme, so the two-sided exact p is 2 / 32
    assert sep.paired_test([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2 / 32)
    # three against three with complete separation: 2 of the 20 splits are as extreme
    assert sep.two_sample_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(2 / 20)


def test_effect_sizes():
    assert sep.rank_biserial([4, 5, 6], [1, 2, 3]) == 1.0
    assert sep.rank_biserial([1, 2, 3], [4, 5, 6]) == -1.0
    assert sep.rank_biserial([1, 2, 3], [1, 2, 3]) == 0.0
    rng = np.random.default_rng(3)
    x, y = rng.normal(1.0, 0.5, 25), rng.normal(0.0, 0.5, 25)
    diff, low, high = sep.difference_ci(x, y, n_resamples=1999)
    assert diff == pytest.approx(x.mean() - y.mean())
    assert low < 1.0 < high and low > 0


def test_summary_against_chance_and_baseline(results):
    summary = sep.separability_summary(results.probes, n_resamples=499)
    key = ["model", "condition", "latent_space", "metric"]
    rows = summary[summary["probe"] == "linear_svc"].set_index(key)
    lowpass = rows.loc[("lstm", "ja_lowpass", "lstm_state/h", "balanced_accuracy_multiclass")]
    assert lowpass["chance"] == pytest.approx(1 / 3)
    assert lowpass["ci_low"] <= lowpass["mean"] <= lowpass["ci_high"]
    assert lowpass["diff_vs_chance_ci_low"] > 0 and lowpass["diff_vs_baseline_ci_low"] > 0
    assert lowpass["n"] == 8
    baseline = rows.loc[("lstm", "none", "feature_stats/mean_std", "balanced_accuracy_multiclass")]
    assert baseline["is_baseline"] and np.isnan(baseline["diff_vs_baseline"])
    # reference metrics (chance levels) and per-run p-values are never averaged
    assert not summary["metric"].str.startswith(("chance_", "majority_rate_", "p_value_")).any()
    assert (summary["p_vs_chance_holm"].dropna() >= summary["p_vs_chance"].dropna()).all()


def test_conditions_against_the_control(results):
    vs = sep.separability_vs_control(results.probes, results.control, n_resamples=999)
    assert not (vs["condition"] == "none").any()
    assert not vs["latent_space"].eq("feature_stats/mean_std").any()
    rows = vs[vs["metric"] == "balanced_accuracy_multiclass"].set_index(
        ["model", "condition", "latent_space"]
    )
    for space in [
        ("lstm", "lstm_state/h"),
        ("lstm", "lstm_state/c"),
        ("conv_ae", "bottleneck/code"),
    ]:
        better = rows.loc[(space[0], "ja_lowpass", space[1])]
        assert better["difference"] > 0 and better["p_holm"] < 0.05
        assert better["rank_biserial"] > 0.5
        assert better["difference_ci_low"] > 0
        same = rows.loc[(space[0], "ja_full", space[1])]
        assert same["p_holm"] > 0.05
    # the failed lstm run of ja_full is missing, not counted
    assert rows.loc[("lstm", "ja_full", "lstm_state/h"), "n"] == 7


def test_cka_averages_linear_cka_over_seed_pairs(results):
    table = sep.cka_table(results)
    lstm_h = table[(table["model"] == "lstm") & (table["latent_space"] == "lstm_state/h")]
    matrix = lstm_h.pivot_table(index="condition_a", columns="condition_b", values="mean_cka")
    assert np.allclose(matrix, matrix.T)
    assert ((table["mean_cka"] >= 0) & (table["mean_cka"] <= 1 + 1e-9)).all()
    assert "feature_stats/mean_std" not in set(table["latent_space"])
    runs = results.runs[
        (results.runs["model"] == "lstm") & results.runs["status"].isin(["reached", "censored"])
    ]
    ids = {c: list(runs.loc[runs["condition"] == c, "run_id"]) for c in ("none", "ja_lowpass")}
    direct = [
        linear_cka(results.latents(a)["lstm_state/h"], results.latents(b)["lstm_state/h"])
        for a, b in itertools.product(ids["none"], ids["ja_lowpass"])
    ]
    row = lstm_h[(lstm_h["condition_a"] == "none") & (lstm_h["condition_b"] == "ja_lowpass")].iloc[
        0
    ]
    assert row["n_pairs"] == len(direct) == 64
    assert row["mean_cka"] == pytest.approx(np.mean(direct))
    within = lstm_h[(lstm_h["condition_a"] == "none") & (lstm_h["condition_b"] == "none")].iloc[0]
    assert within["n_pairs"] == 8 * 7 // 2  # distinct seeds only, never a run with itself


def test_cka_aligns_clips_by_id(tmp_path, folder):
    out = tmp_path / "shuffled"
    shutil.copytree(folder, out)
    before = load_results(out)
    a = sep.cka_table(before).set_index(["model", "latent_space", "condition_a", "condition_b"])
    run_id = before.runs.loc[
        (before.runs["model"] == "conv_ae") & (before.runs["status"] == "reached"), "run_id"
    ].iloc[0]
    # the same clips in another order: CKA must not change
    order = np.random.default_rng(0).permutation(len(before.probe_clips(run_id)))
    latents = {k: v[order] for k, v in before.latents(run_id).items()}
    np.savez(out / "runs" / run_id / "latents.npz", **latents)
    path = out / "runs" / run_id / "record.json"
    record = json.loads(path.read_text())
    clips = record["data"]["probe_clips"]
    record["data"]["probe_clips"] = {k: [v[i] for i in order] for k, v in clips.items()}
    path.write_text(json.dumps(record))
    after = load_results(out)
    b = sep.cka_table(after).set_index(["model", "latent_space", "condition_a", "condition_b"])
    np.testing.assert_allclose(a["mean_cka"], b.loc[a.index, "mean_cka"])
