"""Benchmark: how often the report's ABX comparison of two conditions says
"differs" when they do not (and how often it does when they do).

Each simulated suite has two conditions, ``--seeds`` seeds and two languages
(``l0`` native, ``l1`` foreign) of ``--speakers`` probe speakers each, 3 clips
of 2 s (synthetic 5-phone tiers and frames, :func:`synthetic_set`). A run's frames
are the suite's frames plus noise whose level sets how well phones are told
apart; the ``abx`` probe (``native = ["l0"]``, ``foreign = ["l1"]``) scores
each run, and each metric's condition - control difference, paired over
seeds, is tested as the report does (:func:`harness.stats.abx_pairs.speaker_test`:
per-pair shares for across-speaker scores with the unbiased speaker variance,
per-speaker parts otherwise) and, for comparison, with the pair test's
delete-one-speaker jackknife (the test before the unbiased variance) and with
the per-speaker parts alone (the test before ``abx_pairs``). For
``abx_across`` it prints each variance term's root mean square over the
suites (seeds; speakers and the residual, jackknife and unbiased) beside the
spread of the estimates. Scenarios:

* ``none``: no effect at all;
* ``speakers``: the condition helps half of the speakers and hurts the others
  as much (noise 0.6 or 1.4, swapped at random), a population null that only
  a test counting speakers as sampled holds;
* ``heavy``: no effect, but each run's noise level is 1 + 0.3 |t_2| (heavy-tailed
  seed effects);
* ``few``: ``speakers`` with 4 speakers per language;
* ``effect`` (power): the condition lowers the noise of the native speakers
  only (0.8), so native and across ABX and the attunement truly change.

    python bench/bench_abx_null.py --suites 100          # every scenario
    python bench/bench_abx_null.py --suites 20 --scenarios none effect
    python bench/bench_abx_null.py --cache /tmp/abx-null   # keep the runs' differences
    python bench/bench_abx_null.py --t-only   # the seed effect alone, through a t-test

A benchmark, not a test: it asserts nothing. docs/probes.md states its numbers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from harness.plugin.alignments import PhoneInterval
from harness.plugin.probe_contracts import FrameInput, FrameLatents
from harness.stats.abx_pairs import as_matrices, speaker_test, variance_terms
from harness.stats.speakers import crossed
from harness_plugins.probes.abx_probe import ABXProbe

SCENARIOS = ("none", "speakers", "heavy", "few", "effect")
METRICS = ("abx_within", "abx_across", "abx_attunement_within", "abx_attunement_across")


def synthetic_set(speakers: int, clips: int, seconds: float, dim: int, seed: int) -> FrameInput:
    """Two languages (``l0``, ``l1``) of ``speakers`` speakers, each with an
    8-phone inventory (uniform; 50-120 ms phones); a frame is 0.5 times its
    phone's mean plus a speaker offset and unit noise."""
    rng = np.random.default_rng(seed)
    clock = np.arange(0.0, seconds, 0.01)
    frames, tiers, who, lang = [], [], [], []
    for language in range(2):
        inventory = [f"L{language}p{k}" for k in range(5)]
        means = {p: rng.normal(size=dim) for p in inventory}
        for s in range(speakers):
            offset = rng.normal(scale=0.7, size=dim)
            for _ in range(clips):
                lengths = rng.uniform(0.05, 0.12, size=int(seconds / 0.05))
                ends = np.cumsum(lengths)
                ends = ends[ends < seconds]
                names = rng.choice(inventory, size=ends.size)
                tier = tuple(
                    PhoneInterval(float(a), float(b), str(p))
                    for a, b, p in zip(np.r_[0.0, ends[:-1]], ends, names, strict=True)
                )
                phone_of = np.searchsorted(ends, clock).clip(0, ends.size - 1)
                mean = np.stack([means[str(names[k])] for k in phone_of])
                frames.append((0.5 * mean + offset + rng.normal(size=mean.shape)).astype("f4"))
                tiers.append(tier)
                who.append(f"l{language}s{s}")
                lang.append(f"l{language}")
    latents = FrameLatents(tuple(frames), tuple(clock for _ in frames))
    return FrameInput(latents, tuple(tiers), np.array(who), np.array(lang), 0)


def noise_levels(scenario: str, speakers: list[str], rng: np.random.Generator) -> dict:
    """Per speaker, the noise level of (control, condition)."""
    if scenario in ("speakers", "few"):
        return {s: tuple(rng.permutation([0.6, 1.4])) for s in speakers}
    if scenario == "effect":
        return {s: (1.0, 0.8 if s.startswith("l0") else 1.0) for s in speakers}
    return {s: (1.0, 1.0) for s in speakers}


def one_suite(scenario: str, suite: int, seeds: int, speakers: int) -> dict[str, np.ndarray]:
    """Per metric, the (seeds, ...) condition - control differences of the
    per-speaker parts (``speakers``) and pair shares (``pairs``)."""
    rng = np.random.default_rng([suite, 7])
    base = synthetic_set(4 if scenario == "few" else speakers, 3, 2.0, 16, seed=suite)
    ids = sorted(set(base.speakers.tolist()))
    noise = noise_levels(scenario, ids, rng)
    probe = ABXProbe(native=["l0"], foreign=["l1"])
    found: dict[tuple[int, int], dict[str, list[float]]] = {}
    for condition in (0, 1):
        for seed in range(seeds):
            run = np.random.default_rng([suite, condition, seed])
            scale = 1.0 + 0.3 * abs(run.standard_t(2)) if scenario == "heavy" else 1.0
            frames = tuple(
                (f + scale * noise[str(s)][condition] * run.normal(size=f.shape)).astype("f4")
                for f, s in zip(base.latents.frames, base.speakers, strict=True)
            )
            latents = FrameLatents(frames, base.latents.times)
            given = FrameInput(latents, base.phones, base.speakers, base.languages, seed)
            found[(condition, seed)] = probe.run_frames(given).details
    out = {}
    for metric in METRICS:
        for kind in ("speakers", "pairs"):
            name = f"{metric}/{kind}"
            if name in found[(0, 0)]:
                out[name] = np.array(
                    [np.subtract(found[(1, k)][name], found[(0, k)][name]) for k in range(seeds)]
                )
    out["strata"] = np.array([s[:2] for s in ids])
    return out


def cached_suite(
    scenario: str, suite: int, seeds: int, speakers: int, cache: Path | None
) -> dict[str, np.ndarray]:
    """:func:`one_suite`, kept in ``cache`` (one .npz a suite) when given, so the
    tests can be re-run on the same simulated runs without the probe."""
    if cache is None:
        return one_suite(scenario, suite, seeds, speakers)
    path = cache / f"{scenario}-{seeds}x{speakers}-{suite}.npz"
    if path.exists():
        with np.load(path) as stored:
            return {name.replace("|", "/"): stored[name] for name in stored.files}
    diffs = one_suite(scenario, suite, seeds, speakers)
    np.savez(path, **{name.replace("/", "|"): value for name, value in diffs.items()})
    return diffs


def seed_flip_p(differences: np.ndarray) -> float:
    """Two-sided p of the exact sign-flip test over seeds of the per-seed sums
    of ``differences`` (seeds, ...): every one of the 2^seeds flips of whole
    seeds (scipy's one-sample permutation test). Under these nulls the two
    conditions of a seed are exchangeable, so its level is at most 5 % by
    construction: the reference that tells a test's excess from the draw of
    suites. It counts speakers as fixed, so it is not the report's test."""
    totals = differences.reshape(len(differences), -1).sum(axis=1)
    found = stats.permutation_test(
        (totals,),
        lambda x, axis=-1: np.mean(x, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf,
        vectorized=True,
    )
    return float(found.pvalue)


def _terms(matrices: np.ndarray, strata: np.ndarray) -> dict[str, float]:
    """The variance terms of the pair test (:func:`variance_terms`), speakers
    and residual under both speaker variances."""
    out = {}
    for variance in ("unbiased", "jackknife"):
        seeds, blocks, residual = variance_terms(matrices, strata, variance)
        out["seeds"] = seeds
        out[f"speakers {variance}"] = sum(v for v, _ in blocks)
        out[f"residual {variance}"] = residual
    return out


def rates(
    scenario: str,
    n_suites: int,
    seeds: int,
    speakers: int,
    cache: Path | None = None,
    first: int = 0,
) -> tuple[dict[str, tuple], dict[str, np.ndarray]]:
    """Share of suites with p < 0.05, per metric and test (``report``: the
    report's; ``jackknife``: the pair test with the jackknife speaker variance;
    ``parts``: per-speaker parts only; ``seed flips``: :func:`seed_flip_p`),
    with its binomial SE; and, per suite, for ``abx_across``, the report
    test's estimate, SE and degrees of freedom, the jackknife test's SE, the
    SE of the per-seed sums alone (their SD over sqrt(seeds)) and the variance
    terms (:func:`_terms`)."""
    hits: dict[str, int] = {}
    spread: dict[str, list[float]] = {}
    for suite in range(first, first + n_suites):
        diffs = cached_suite(scenario, suite, seeds, speakers, cache)
        strata = diffs["strata"]
        for metric in METRICS:
            parts = diffs[f"{metric}/speakers"]
            pairs = diffs.get(f"{metric}/pairs")
            matrices = None if pairs is None else as_matrices(pairs, strata.size)
            report = speaker_test(parts, matrices, strata)
            jackknife = speaker_test(parts, matrices, strata, variance="jackknife")
            p_values = {
                "report": report.p_value(),
                "jackknife": jackknife.p_value(),
                "parts": crossed(parts, strata).p_value(),
                "seed flips": seed_flip_p(parts),
            }
            for name, p in p_values.items():
                key = f"{metric} {name}"
                hits[key] = hits.get(key, 0) + int(p < 0.05)
            if metric == "abx_across" and matrices is not None:
                totals = parts.sum(axis=1)
                found = {
                    "estimate": report.estimate,
                    "se": report.se,
                    "df": report.df,
                    "se jackknife": jackknife.se,
                    "seed se": float(totals.std(ddof=1) / np.sqrt(totals.size)),
                    **_terms(matrices, strata),
                }
                for key, value in found.items():
                    spread.setdefault(key, []).append(value)
    found = {
        key: (
            count / n_suites,
            float(np.sqrt(count / n_suites * (1 - count / n_suites) / n_suites)),
        )
        for key, count in hits.items()
    }
    return found, {k: np.asarray(v) for k, v in spread.items()}


def t_test_level(n_suites: int, seeds: int, curvature: float) -> float:
    """The level of the one-sample t-test (df seeds - 1) on per-seed
    differences ``g(s1) - g(s0)`` of two runs whose noise levels ``s`` are
    1 + 0.3 |t_2| each, ``g(s) = 1 - exp(-curvature (s - 1))`` an error that
    saturates as the noise grows (``curvature`` 0: ``g(s) = s``, no
    saturation): what the heavy scenario's seed effect alone does to a t-based
    paired test, without the probe."""
    rng = np.random.default_rng(11)
    s0, s1 = 1 + 0.3 * np.abs(rng.standard_t(2, size=(2, n_suites, seeds)))
    g = (lambda s: s) if curvature == 0 else (lambda s: 1 - np.exp(-curvature * (s - 1)))
    d = g(s1) - g(s0)
    p = stats.ttest_1samp(d, 0.0, axis=1).pvalue
    return float(np.mean(p < 0.05))


def _print_spread(spread: dict[str, np.ndarray]) -> None:
    """The ``abx_across`` line: the spread of the estimates against the root
    mean square SEs and variance terms, and the report test's df."""

    def rms(key: str) -> float:  # an SE is squared, a variance term is not
        mean = np.mean(
            spread[key] ** 2 if key in ("se", "se jackknife", "seed se") else spread[key]
        )
        return float(np.sign(mean) * np.sqrt(abs(mean)))

    terms = ", ".join(
        f"{key} {rms(key):.3g}"
        for key in spread
        if key.startswith(("seeds", "speakers", "residual"))
    )
    print(
        f"  abx_across: SD of the estimates {spread['estimate'].std(ddof=1):.3g}, "
        f"root mean square SE {rms('se'):.3g} (jackknife {rms('se jackknife'):.3g}, "
        f"per-seed sums alone {rms('seed se'):.3g}), "
        f"df median {np.median(spread['df']):.1f} "
        f"(10-90%: {np.quantile(spread['df'], 0.1):.1f}-{np.quantile(spread['df'], 0.9):.1f})\n"
        f"  variance terms, square root of the mean: {terms}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=int, default=100)
    parser.add_argument(
        "--first", type=int, default=0, help="first suite's seed (fresh suites: past earlier runs)"
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--speakers", type=int, default=6, help="per language")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--cache", type=Path, help="keep each suite's differences here")
    parser.add_argument(
        "--t-only", action="store_true", help="only the t-test's level under heavy seed effects"
    )
    args = parser.parse_args()
    if args.t_only:
        for curvature in (0.0, 1.0, 3.0):
            level = t_test_level(100_000, args.seeds, curvature)
            print(f"t-test, g curvature {curvature}: 'differs' {100 * level:.2f}% (SE 0.07)")
        return
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for scenario in args.scenarios:
        start = time.process_time()
        found, spread = rates(
            scenario, args.suites, args.seeds, args.speakers, args.cache, args.first
        )
        print(f"{scenario} ({args.suites} suites, {time.process_time() - start:.0f} s CPU):")
        for key, (rate, se) in found.items():
            print(f"  {key}: 'differs' {100 * rate:.1f}% (SE {100 * se:.1f})")
        _print_spread(spread)


if __name__ == "__main__":
    main()
