"""False-positive rate and power of the pair matrix and its group test, in simulation.

Simulated suites of five probe languages in three declared groups
({a, b}, {c, d}, {e}): each speaker a random offset around its language's
centroid, each clip noise around its speaker, each seed the same clips through
its own random near-identity map plus fresh noise (seeds see the same
speakers, as in a suite). They go through the real statistics of
`harness.stats.pair_matrix` (the leave-one-speaker-out pair scores, the
shared speaker relabellings, the crossed standard error); per scenario, the
fraction of suites in which

* `groups`: the group test says pairs across groups separate better (one
  test, one-sided p < 0.05);
* `any_pair`: at least one of the ten pairs is above chance after Holm;
* `mean score`: the pair scores' mean over pairs, seeds and suites (0.5 is
  chance; without language it measures the score's bias);
* `pair CI wholly below / above 0.5`: the share of pair cells whose 95% CI
  excludes 0.5 on each side (each at most 2.5% without language), with the
  matrix's CI and with the crossed SE alone (the CI before ``pair_se``);
* `any pair CI / simultaneous`: the share of matrices in which at least one
  of the ten pairs' CIs excludes 0.5, per-pair 95% and simultaneous over the
  ten (Bonferroni, what the report shows; at most 5% without language).

Scenarios: `no language` (centroids all 0: every claim is false), `no
language, t3` (the same with speaker offsets and clip noise drawn from
Student's t with 3 degrees of freedom, scaled to unit variance: heavy tails),
`equidistant` (every pair of centroids equally far: the group claim is
false, the pair claims true) and `grouped` (languages of a group share most
of their centroid: the group claim is true).

    python bench/bench_pair_groups.py                 # the numbers in docs/report.md
    python bench/bench_pair_groups.py --suites 50     # quicker, noisier
    python bench/bench_pair_groups.py --scenario "no language, t3"
    python bench/bench_pair_groups.py --scenario "no language" --design 20 4 6

Monte Carlo standard error of a rate p over n suites: sqrt(p (1 - p) / n).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from harness.stats.multiple import holm
from harness.stats.pair_matrix import (
    CHANCE,
    PairScores,
    group_contrast,
    pair_tests,
    stack_runs,
)
from harness.stats.pair_scores import run_pairs
from harness.stats.speakers import crossed

SCENARIOS = ("no language", "no language, t3", "equidistant", "grouped")
LANGUAGES = ("a", "b", "c", "d", "e")
GROUPS = {"a": "g1", "b": "g1", "c": "g2", "d": "g2", "e": "g3"}
DIMS = 8
#: relabellings per pair (all of them where fewer): Holm over ten pairs needs
#: more than 200 for a pair to reach 0.05
RELABELLINGS = 299


def centroids(scenario: str, separation: float, rng: np.random.Generator) -> np.ndarray:
    if scenario.startswith("no language"):
        return np.zeros((len(LANGUAGES), DIMS))
    if scenario == "equidistant":
        return separation * np.eye(len(LANGUAGES), DIMS) / np.sqrt(2)
    group_centre = {g: rng.standard_normal(DIMS) for g in set(GROUPS.values())}
    own = rng.standard_normal((len(LANGUAGES), DIMS))
    return (
        separation
        * np.vstack([group_centre[GROUPS[lang]] + 0.3 * own[i] for i, lang in enumerate(LANGUAGES)])
        / np.sqrt(2)
    )


def one_suite(scenario: str, speakers: int, clips: int, seeds: int, rng: np.random.Generator):
    mu = centroids(scenario, 1.5, rng)

    def noise() -> np.ndarray:
        if scenario.endswith("t3"):
            return rng.standard_t(3, DIMS) / np.sqrt(3.0)  # unit variance, heavy tails
        return rng.standard_normal(DIMS)

    langs, spk, rows = [], [], []
    for i, lang in enumerate(LANGUAGES):
        for s in range(speakers):
            offset = mu[i] + noise()
            for _ in range(clips):
                rows.append(offset + 0.7 * noise())
                langs.append(lang)
                spk.append(f"{lang}{s}")
    base = np.vstack(rows)
    pairs = list(itertools.combinations(LANGUAGES, 2))
    per_pair: dict[tuple[str, str], list] = {p: [] for p in pairs}
    for _ in range(seeds):
        warp = np.eye(DIMS) + 0.2 * rng.standard_normal((DIMS, DIMS))
        latents = base @ warp + 0.3 * rng.standard_normal(base.shape)
        found = run_pairs(latents, np.array(langs), np.array(spk), pairs, RELABELLINGS)
        for pair, value in found.items():
            per_pair[pair].append(value)
    scores = {p: stack_runs(v) for p, v in per_pair.items()}
    tests = [pair_tests(s, family=len(scores)) for s in scores.values()]
    p_pairs = holm([t["p_vs_chance"] for t in tests])
    contrast = group_contrast(scores, GROUPS)
    mean = float(np.mean([s.contributions.sum(axis=1).mean() for s in scores.values()]))
    crossed = [crossed_ci(s) for s in scores.values()]
    misses = (
        np.mean([t["ci_high"] < CHANCE for t in tests]),
        np.mean([t["ci_low"] > CHANCE for t in tests]),
        np.mean([high < CHANCE for _, high in crossed]),
        np.mean([low > CHANCE for low, _ in crossed]),
        any(not t["ci_low"] <= CHANCE <= t["ci_high"] for t in tests),
        any(not t["ci_low_simultaneous"] <= CHANCE <= t["ci_high_simultaneous"] for t in tests),
    )
    return (contrast["p_value"] < 0.05, bool((p_pairs < 0.05).any()), mean, *misses)


def crossed_ci(scores: PairScores) -> tuple[float, float]:
    """A pair's 95% CI with the crossed SE alone (the matrix's CI before
    :func:`harness.stats.pair_matrix.pair_se`)."""
    return crossed(scores.contributions, scores.strata).ci()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=300)
    parser.add_argument("--scenario", choices=SCENARIOS, action="append", help="default: all")
    parser.add_argument(
        "--design",
        nargs=3,
        type=int,
        action="append",
        metavar=("SPEAKERS", "CLIPS", "SEEDS"),
        help="speakers per language, clips a speaker, seeds (default: 3 4 5 and 6 4 5)",
    )
    args = parser.parse_args()
    print(
        "| scenario | speakers per language | clips | seeds | groups | any pair | mean score "
        "| pair CI wholly below / above 0.5 | the same, crossed SE alone "
        "| any pair CI / simultaneous | suites |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scenario in args.scenario or SCENARIOS:
        for speakers, clips, seeds in args.design or ((3, 4, 5), (6, 4, 5)):
            rng = np.random.default_rng(0)
            start = time.process_time()
            hits = np.array(
                [one_suite(scenario, speakers, clips, seeds, rng) for _ in range(args.suites)]
            )
            cpu = time.process_time() - start
            groups, pair, mean, below, above, below_x, above_x, any_ci, any_sim = hits.mean(0)
            se = hits[:, 2].std(ddof=1) / np.sqrt(len(hits))
            print(
                f"| {scenario} | {speakers} | {clips} | {seeds} | {groups:.1%} | {pair:.1%} "
                f"| {mean:.3f} (SE {se:.3f}) | {below:.1%} / {above:.1%} "
                f"| {below_x:.1%} / {above_x:.1%} | {any_ci:.1%} / {any_sim:.1%} "
                f"| {args.suites} ({cpu:.0f} s CPU) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
