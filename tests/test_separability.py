"""Separability statistics with speakers as the unit: intervals, tests, CKA."""

import itertools
import json
import shutil

import numpy as np
import pytest

from harness.stats import separability as sep
from harness.stats import speakers as spk
from harness.stats.cka import cka_table, linear_cka
from harness.tables.results import load_results


def test_shared_permutation_p_averages_each_relabelling_over_seeds():
    nulls = np.array([[0.2, 0.5, 0.3], [0.4, 0.5, 0.1]])  # seeds x relabellings
    # seed-averaged null: 0.3, 0.5, 0.2; observed 0.45 beats two of three
    assert spk.shared_permutation_p(0.45, nulls) == pytest.approx((1 + 1) / 4)
    assert spk.shared_permutation_p(0.6, nulls) == pytest.approx(1 / 4)
    # a tie counts against the claim
    assert spk.shared_permutation_p(0.5, nulls) == pytest.approx(2 / 4)
    assert spk.shared_permutation_p(0.25, nulls, higher_is_better=False) == pytest.approx(2 / 4)


STRATA = np.repeat(["es", "it", "ja", "en"], 10)


def _crossed_null(rng, n_seeds, sd_seed, sd_speaker, sd_noise=0.01):
    """Paired differences (seeds, speakers) with no effect: seed, speaker and residual noise."""
    a = rng.normal(0.0, sd_seed, (n_seeds, 1))
    b = rng.normal(0.0, sd_speaker, (1, STRATA.size))
    return a + b + rng.normal(0.0, sd_noise, (n_seeds, STRATA.size))


@pytest.mark.parametrize(("sd_seed", "sd_speaker"), [(0.02, 0.002), (0.002, 0.02), (0.01, 0.01)])
def test_crossed_test_holds_its_level_whichever_factor_varies(sd_seed, sd_speaker):
    rng = np.random.default_rng(11)
    p = np.array(
        [
            spk.crossed(_crossed_null(rng, 10, sd_seed, sd_speaker), STRATA).p_value()
            for _ in range(400)
        ]
    )
    # 5% nominal; 400 replications give a Monte Carlo SD of about 1.1%
    assert 0.01 <= (p < 0.05).mean() <= 0.08


def test_a_test_over_speakers_alone_mistakes_seed_luck_for_an_effect():
    # the reason seeds count too: with seed-level noise, averaging seeds and
    # testing across speakers only rejects a true null far too often
    rng = np.random.default_rng(12)
    speakers_only = []
    for _ in range(200):
        x = _crossed_null(rng, 10, 0.02, 0.002)
        speakers_only.append(spk.crossed(x.mean(axis=0, keepdims=True), STRATA).p_value())
    assert (np.array(speakers_only) < 0.05).mean() > 0.5


def test_crossed_ci_and_detectable_difference():
    rng = np.random.default_rng(13)
    x = _crossed_null(rng, 10, 0.01, 0.01) + 0.004  # a true sum of 0.16 over 40 speakers
    test = spk.crossed(x, STRATA)
    low, high = test.ci()
    assert low < test.estimate < high and test.estimate == pytest.approx(x.mean(axis=0).sum())
    assert test.detectable() > 2 * test.se
    # differences between languages are fixed by design (strata), not noise
    shifted = x + np.where(STRATA == "es", 0.05, 0.0)
    assert spk.crossed(shifted, STRATA).se == pytest.approx(test.se)
    # one seed: only speakers vary
    one = spk.crossed(x[:1], STRATA)
    assert one.df == STRATA.size - 4
    assert np.isnan(spk.crossed(x[:, ::10], STRATA[::10]).se)  # one speaker per language


def test_intervals_and_detectable_differences_stay_inside_the_declared_range():
    # a tiny design: the t-interval runs past a balanced accuracy's [0, 1]
    wide = spk.Crossed(estimate=0.7, se=0.15, df=2)
    assert wide.ci()[1] > 1 and wide.ci()[0] > 0
    blind = spk.Crossed(estimate=0.0, se=0.3, df=2)
    assert blind.detectable() > 1
    bounded = sep._Range(0.0, 1.0)
    assert bounded.score_ci(wide) == (pytest.approx(wide.ci()[0]), 1.0)
    low, high = bounded.difference_ci(spk.Crossed(estimate=0.1, se=0.6, df=2))
    assert (low, high) == (-1.0, 1.0)
    assert bounded.detectable(blind) == np.inf  # no difference inside [0, 1] was detectable
    narrow = spk.Crossed(estimate=0.05, se=0.01, df=30)
    assert bounded.detectable(narrow) == pytest.approx(narrow.detectable())
    assert bounded.score_ci(narrow) == pytest.approx(narrow.ci())
    # an undeclared range leaves the interval as the test gives it
    assert sep._Range().score_ci(wide) == pytest.approx(wide.ci())


def test_summary_reads_the_declared_range_from_the_records(results):
    assert (
        results.probes.query("metric == 'balanced_accuracy_multiclass'")["bound_high"] == 1
    ).all()
    summary = sep.separability_summary(results)
    scored = summary[summary["inference"] != "none"]
    assert scored["ci_low"].ge(0).all() and scored["ci_high"].le(1).all()


def test_summary_against_chance_and_baseline(results):
    summary = sep.separability_summary(results)
    key = ["model", "condition", "latent_space", "metric"]
    rows = summary[summary["probe"] == "linear_svc"].set_index(key)
    lowpass = rows.loc[("lstm", "ja_lowpass", "lstm_state/h", "balanced_accuracy_multiclass")]
    assert lowpass["chance"] == pytest.approx(1 / 3)
    assert lowpass["ci_low"] <= lowpass["mean"] <= lowpass["ci_high"]
    assert lowpass["diff_vs_chance_ci_low"] > 0 and lowpass["diff_vs_baseline_ci_low"] > 0
    assert lowpass["p_vs_chance_holm"] < 0.05 and lowpass["p_vs_baseline_holm"] < 0.05
    assert lowpass["inference"] == "seeds x speakers" and lowpass["n_speakers"] == 18
    assert lowpass["n"] == 8 and lowpass["seed_sd"] > 0
    # the smallest p a shared null of 499 relabellings can give
    assert lowpass["p_vs_chance"] == pytest.approx(1 / 500)
    baseline = rows.loc[("lstm", "none", "feature_stats/mean_std", "balanced_accuracy_multiclass")]
    assert baseline["is_baseline"] and np.isnan(baseline["diff_vs_baseline"])
    # reference metrics (chance levels) and per-run p-values are never averaged
    assert not summary["metric"].str.startswith(("chance_", "majority_rate_", "p_value_")).any()
    assert (summary["p_vs_chance_holm"].dropna() >= summary["p_vs_chance"].dropna()).all()
    # t-SNE reports no per-speaker details: seed mean and spread, no claim
    tsne = summary[summary["probe"] == "tsne"]
    assert (tsne["inference"] == "none").all()
    assert tsne[["ci_low", "p_vs_chance", "p_vs_baseline"]].isna().all().all()


def test_conditions_against_the_control(results):
    vs = sep.separability_vs_control(results, results.control)
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
        assert better["inference"] == "seeds x speakers"
        assert better["difference_ci_low"] > 0
        assert 0 < better["detectable_difference"] < better["difference"]
        same = rows.loc[(space[0], "ja_full", space[1])]
        assert same["p_holm"] > 0.05
    # the failed lstm run of ja_full is missing, not counted
    assert rows.loc[("lstm", "ja_full", "lstm_state/h"), "n"] == 7


def test_cka_averages_linear_cka_over_seed_pairs(results):
    table = cka_table(results)
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
    a = cka_table(before).set_index(["model", "latent_space", "condition_a", "condition_b"])
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
    b = cka_table(after).set_index(["model", "latent_space", "condition_a", "condition_b"])
    np.testing.assert_allclose(a["mean_cka"], b.loc[a.index, "mean_cka"])


def test_the_report_compares_with_a_baseline_only_where_it_shows_language(results):
    from harness.report.separation import _chance_baseline_sentence

    summary = sep.separability_summary(results)
    rows = summary[(summary["model"] == "lstm") & (summary["probe"] == "linear_svc")
                   & (summary["metric"] == "balanced_accuracy_multiclass")].copy()  # fmt: skip
    model = ~rows["is_baseline"].astype(bool)
    assert rows.loc[model, "baseline_above_chance"].all()
    said = _chance_baseline_sentence(rows, "LSTM", "linear SVC", "accuracy", "none", "none")
    assert "beat the raw-feature baseline" in said
    rows["baseline_above_chance"] = False  # a baseline at chance: no comparison is stated
    said = _chance_baseline_sentence(rows, "LSTM", "linear SVC", "accuracy", "none", "none")
    assert "beat the raw-feature baseline" not in said
    assert "is not compared with the raw-feature baseline" in said
