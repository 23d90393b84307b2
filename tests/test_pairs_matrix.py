"""The language-pair matrix and the across-vs-within-groups test
(harness/stats/pair_matrix.py), and their report section."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats

from harness.report.pair_section import pair_section
from harness.stats.analysis import analyse
from harness.stats.pair_matrix import (
    GROUP_COLUMNS,
    PAIR_COLUMNS,
    PairScores,
    group_contrast,
    pair_matrix,
    pair_se,
    pair_tests,
    stack_runs,
)
from harness.stats.pair_scores import loso_shares, relabellings, run_pairs
from harness.stats.speakers import crossed
from harness.tables.results import load_results

from helpers.fake_results import FakeSuite, write_fake_results


def _brute_force(x, clips, labels):
    """Symmetric leave-out nearest centroid, clip by clip and partner by
    partner, as written: a clip of s against each speaker t of the other
    language, s left out of its own centroid and t out of the other."""
    n_speakers = labels.size
    out = np.zeros(n_speakers)
    clips_a = sum((clips == t).sum() for t in range(n_speakers) if labels[t])
    for i in range(len(x)):
        s = clips[i]
        partners = [t for t in range(n_speakers) if labels[t] != labels[s]]
        right = 0
        for t in partners:
            others = (clips != s) & (clips != t)
            centre_a = x[labels[clips] & others].mean(axis=0)
            centre_b = x[~labels[clips] & others].mean(axis=0)
            says_a = np.sum((x[i] - centre_a) ** 2) < np.sum((x[i] - centre_b) ** 2)
            right += says_a == labels[s]
        share = right / len(partners)
        out[s] += share / (2 * (clips_a if labels[s] else len(x) - clips_a))
    return out


def test_speaker_shares_are_the_symmetric_leave_out_balanced_accuracy():
    rng = np.random.default_rng(0)
    clips = np.repeat(np.arange(6), [3, 4, 2, 3, 5, 3])
    x = rng.standard_normal((len(clips), 5))
    x[clips < 3] += 0.8
    labels = relabellings([str(i) for i in range(6)], np.arange(6) < 3)
    fast = loso_shares(x, clips, labels)
    slow = np.array([_brute_force(x, clips, row) for row in labels])
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_uneven_languages_and_chunks_give_the_same_shares(monkeypatch):
    rng = np.random.default_rng(3)
    clips = np.repeat(np.arange(7), [2, 3, 2, 4, 3, 2, 3])
    x = rng.standard_normal((len(clips), 4))
    labels = relabellings([str(i) for i in range(7)], np.arange(7) < 3)
    whole = loso_shares(x, clips, labels)
    np.testing.assert_allclose(whole[0], _brute_force(x, clips, labels[0]), atol=1e-12)
    monkeypatch.setattr("harness.stats.pair_scores._CHUNK", 1)  # one labelling at a time
    np.testing.assert_allclose(loso_shares(x, clips, labels), whole, atol=1e-12)


def _null_score(speakers: int, rng: np.random.Generator) -> float:
    """One pair's score on latents without language: speaker offsets and clip noise."""
    clips = np.repeat(np.arange(2 * speakers), 4)
    x = rng.standard_normal((2 * speakers, 8))[clips] + rng.standard_normal((len(clips), 8))
    labels = (np.arange(2 * speakers) < speakers)[None, :]
    return float(loso_shares(x, clips, labels)[0].sum())


def test_the_score_centres_on_chance_without_language():
    """Leaving one speaker out alone put this at 0.43 (3 speakers a language)
    and 0.47 (6): its language's centroid was one speaker short."""
    rng = np.random.default_rng(4)
    for speakers in (3, 6):
        scores = np.array([_null_score(speakers, rng) for _ in range(300)])
        se = scores.std(ddof=1) / np.sqrt(scores.size)
        assert abs(scores.mean() - 0.5) < 3 * se, (speakers, scores.mean(), se)


def test_relabellings_are_every_assignment_or_seeded_by_the_speakers():
    exact = relabellings(list("abcdef"), np.array([1, 1, 1, 0, 0, 0], bool))
    assert exact.shape == (20, 6) and len({tuple(r) for r in exact}) == 20
    assert exact[0].tolist() == [True] * 3 + [False] * 3 and (exact.sum(axis=1) == 3).all()
    ids = [f"s{i}" for i in range(30)]
    first = relabellings(ids, np.arange(30) < 15, 50)
    np.testing.assert_array_equal(first, relabellings(ids, np.arange(30) < 15, 50))
    assert first.shape == (51, 30) and (first.sum(axis=1) == 15).all()
    other = relabellings([f"t{i}" for i in range(30)], np.arange(30) < 15, 50)
    assert not np.array_equal(first[1:], other[1:])


def _suite(centres: np.ndarray, speakers: int, seeds: int, rng: np.random.Generator):
    """Five languages' clips (speaker offsets, clip noise), seen by ``seeds`` models."""
    languages = list("abcde")
    langs, spk, rows = [], [], []
    for i, lang in enumerate(languages):
        for s in range(speakers):
            offset = centres[i] + rng.standard_normal(centres.shape[1])
            for _ in range(4):
                rows.append(offset + 0.7 * rng.standard_normal(centres.shape[1]))
                langs.append(lang)
                spk.append(f"{lang}{s}")
    base = np.vstack(rows)
    pairs = list(itertools.combinations(languages, 2))
    found = {p: [] for p in pairs}
    for _ in range(seeds):
        latents = base + 0.3 * rng.standard_normal(base.shape)
        for pair, value in run_pairs(latents, np.array(langs), np.array(spk), pairs, 99).items():
            found[pair].append(value)
    return {p: stack_runs(v) for p, v in found.items()}


GROUPS = {"a": "g1", "b": "g1", "c": "g2", "d": "g2", "e": "g3"}


def test_pairs_across_groups_separate_better_where_the_groups_are_real():
    rng = np.random.default_rng(1)
    centre = {g: 2.0 * rng.standard_normal(6) for g in ("g1", "g2", "g3")}
    centres = np.vstack([centre[GROUPS[lang]] for lang in "abcde"])
    scores = _suite(centres, speakers=5, seeds=3, rng=rng)
    result = group_contrast(scores, GROUPS)
    assert result["mean_across"] > 0.8 and result["mean_within"] < 0.6
    assert result["difference"] > 0.2 and result["p_value"] < 0.01
    assert result["ci_low"] > 0 and result["n_speakers"] == 25
    assert (result["n_pairs_within"], result["n_pairs_across"]) == (2, 8)
    ae = pair_tests(scores[("a", "e")])
    assert ae["mean"] > 0.8 and ae["p_vs_chance"] < 0.05 and ae["n_relabellings"] == 99


def test_the_group_test_rarely_fires_without_language():
    """A short version of bench/bench_pair_groups.py: no language in the latents."""
    rng = np.random.default_rng(2)
    fired = [
        group_contrast(_suite(np.zeros((5, 6)), 3, 3, rng), GROUPS)["p_value"] < 0.05
        for _ in range(40)
    ]
    assert np.mean(fired) <= 0.15  # 5% nominal; 0.15 is 3 SE above it at 40 suites


@pytest.fixture(scope="module")
def grouped_folder(tmp_path_factory):
    out = write_fake_results(tmp_path_factory.mktemp("pairs") / "out", FakeSuite(seeds=(0, 1, 2)))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["design"]["probing"] = {"pairs": True, "groups": {"ib": ["es", "en"], "ja": ["ja"]}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_a_suite_that_asks_gets_a_matrix_per_condition_and_space(grouped_folder):
    results = load_results(grouped_folder)
    pairs, groups = pair_matrix(results, n_relabellings=49)
    assert list(pairs.columns) == PAIR_COLUMNS and list(groups.columns) == GROUP_COLUMNS
    cells = pairs.groupby(["model", "condition", "latent_space"]).size()
    assert (cells == 3).all() and len(cells) >= 6
    es_en = pairs[(pairs["language_a"] == "es") & (pairs["language_b"] == "en")]
    assert es_en["within_group"].all()
    assert pairs["ci_low"].le(pairs["mean"]).all() and pairs["mean"].le(pairs["ci_high"]).all()
    assert pairs["ci_low_simultaneous"].le(pairs["ci_low"]).all()
    assert pairs["ci_high_simultaneous"].ge(pairs["ci_high"]).all()
    assert pairs["p_vs_chance_holm"].ge(pairs["p_vs_chance"]).all()
    assert len(groups) == len(cells) and groups["p_holm"].ge(groups["p_value"]).all()
    analysis = analyse(results, n_resamples=99, km_resamples=9)
    html = pair_section(results, analysis)
    assert '<section id="pairs">' in html and "Pairs across groups" in html
    assert "ib: es, en; ja: ja" in html


def test_a_suite_that_does_not_ask_gets_empty_tables(tmp_path):
    out = write_fake_results(tmp_path / "out", FakeSuite(seeds=(0, 1)))
    pairs, groups = pair_matrix(load_results(out))
    assert pairs.empty and groups.empty and list(pairs.columns) == PAIR_COLUMNS


def test_the_pair_ci_is_never_narrower_than_the_relabellings_spread():
    """Speaker shares that look independent (a tiny crossed SE) while the
    score moves a lot under relabelling: the CI takes the relabellings' SD
    of the seed-averaged score; where the crossed SE is larger it stays."""
    rng = np.random.default_rng(7)
    strata = np.array(["a"] * 4 + ["b"] * 4)
    contributions = 0.0625 + 1e-4 * rng.standard_normal((5, 8))
    nulls = 0.5 + 0.05 * rng.standard_normal((5, 50))
    scores = PairScores(np.arange(8).astype(str), strata, contributions, nulls, contributions)
    spread = float(nulls.mean(axis=0).std(ddof=1))
    crossed_test = crossed(contributions, strata)
    assert crossed_test.se < spread / 10
    assert pair_se(crossed_test.se, nulls) == spread
    found = pair_tests(scores)
    half = stats.t.ppf(0.975, crossed_test.df) * spread
    assert found["ci_high"] - found["ci_low"] == pytest.approx(2 * half)
    assert pair_se(1.0, nulls) == 1.0
    assert pair_se(0.01, nulls[:, :1]) == 0.01  # one relabelling: no spread to take


def test_the_simultaneous_interval_is_bonferroni_over_the_matrix_pairs():
    """One pair alone: the simultaneous interval is the per-pair one; one of
    ten: the same SE and df at the 1 - 0.05 / 10 level, around the same mean."""
    rng = np.random.default_rng(3)
    strata = np.array(["a"] * 5 + ["b"] * 5)
    contributions = 0.05 + 0.01 * rng.standard_normal((4, 10))
    nulls = 0.5 + 0.04 * rng.standard_normal((4, 60))
    scores = PairScores(np.arange(10).astype(str), strata, contributions, nulls, contributions)
    alone, of_ten = pair_tests(scores), pair_tests(scores, family=10)
    assert alone["ci_low_simultaneous"] == alone["ci_low"]
    assert alone["ci_high_simultaneous"] == alone["ci_high"]
    assert of_ten["ci_low"] == alone["ci_low"] and of_ten["ci_high"] == alone["ci_high"]
    df = crossed(contributions, strata).df
    ratio = stats.t.ppf(1 - 0.025 / 10, df) / stats.t.ppf(0.975, df)
    width = of_ten["ci_high_simultaneous"] - of_ten["ci_low_simultaneous"]
    assert width == pytest.approx(ratio * (alone["ci_high"] - alone["ci_low"]))
    middle = (of_ten["ci_high_simultaneous"] + of_ten["ci_low_simultaneous"]) / 2
    assert middle == pytest.approx(of_ten["mean"])
