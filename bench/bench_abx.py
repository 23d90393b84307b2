"""Benchmark: the ``abx`` probe on a flagship-size held-out set, against the
run's training time and against the brute-force reference.

The flagship (suites/pretrain.toml) probes 4 languages x 20 speakers x 8 clips
= 640 clips of 4 s, 10 ms hop (about 400 frames each); its LSTM has 64 units.
Until the corpus carries phone tiers, the tiers here are synthetic: per
language a 30-phone inventory drawn with Zipf (1/rank) frequencies, phones of
40-150 ms; each frame is its phone's mean plus a speaker offset and noise (64
dimensions), so the errors land between 0 and chance. What is timed is the
probe's own work on one latent space: items, the seeded cap, the batched DTW
of every pair a cell reads, the cells and their averages.

    python bench/bench_abx.py                       # flagship size, default probe
    python bench/bench_abx.py --languages-probed 1 --max-x-speakers 2   # cheaper settings
    python bench/bench_abx.py --languages 1 --speakers 3 --clips 2 --reference
    python bench/bench_abx.py --null 200            # false "differs" between conditions

``--null N`` simulates N suites of two conditions that do not differ (10 seeds,
8 speakers of one language, 3 clips of 2 s each) and tests each ABX difference
as the report does (``separability_vs_control``: seeds paired, the per-speaker
parts' difference, :func:`harness.stats.speakers.crossed` counting seeds and
speakers as sampled). Two nulls: ``none``, no effect at all; ``speakers``, the
condition helps half of the speakers and hurts the others as much (a noise
level swapped between the two conditions), so only a test that counts speakers
as sampled holds its level.

A benchmark, not a test: it asserts nothing. docs/probes.md states its numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from timing import stopwatch

from harness.plugin.alignments import PhoneInterval
from harness.plugin.probe_contracts import FrameInput, FrameLatents
from harness_plugins.probes import abx_core
from harness_plugins.probes.abx_probe import ABXProbe

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

#: the flagship LSTM run's median training seconds (docs/running.md, same machine class)
FLAGSHIP_TRAINING_S = 3.09


def synthetic_set(
    languages: int, speakers: int, clips: int, seconds: float, dim: int, seed: int = 0
) -> FrameInput:
    """Probe clips with synthetic phone tiers and frames (see the module doc)."""
    rng = np.random.default_rng(seed)
    hop = 0.01
    frames, times, tiers, who, lang = [], [], [], [], []
    for language in range(languages):
        inventory = [f"L{language}p{k}" for k in range(30)]
        zipf = 1.0 / np.arange(1, 31)
        zipf /= zipf.sum()
        means = {p: rng.normal(size=dim) for p in inventory}
        for s in range(speakers):
            offset = rng.normal(scale=0.7, size=dim)
            for _ in range(clips):
                tier, t = [], 0.0
                while t < seconds - 0.15:
                    length = float(rng.uniform(0.04, 0.15))
                    tier.append(PhoneInterval(t, t + length, str(rng.choice(inventory, p=zipf))))
                    t += length
                clock = np.arange(0.0, seconds, hop)
                phone_of = np.searchsorted([i.end for i in tier], clock).clip(0, len(tier) - 1)
                mean = np.stack([means[tier[k].phone] for k in phone_of])
                frames.append((0.3 * mean + offset + rng.normal(size=mean.shape)).astype("f4"))
                times.append(clock)
                tiers.append(tuple(tier))
                who.append(f"l{language}s{s}")
                lang.append(f"l{language}")
    return FrameInput(
        FrameLatents(tuple(frames), tuple(times)), tuple(tiers), np.array(who), np.array(lang), 0
    )


def null_rates(n_suites: int, seeds: int = 10, speakers: int = 8) -> dict[str, list[float]]:
    """Share of suites whose ABX difference between two conditions that do not
    differ is called significant (p < 0.05), per null and mode."""
    from harness.stats.speakers import crossed

    found: dict[str, list[float]] = {}
    for null in ("none", "speakers"):
        hits = {"within": 0, "across": 0}
        for suite in range(n_suites):
            rng = np.random.default_rng([suite, 7])
            base = synthetic_set(1, speakers, 3, 2.0, 16, seed=suite)
            # per speaker, the noise of (control, condition): equal, or swapped at random
            noise = {s: (1.0, 1.0) for s in set(base.speakers.tolist())}
            if null == "speakers":
                noise = {s: tuple(rng.permutation([0.6, 1.4])) for s in sorted(noise)}
            parts = {}
            for condition in (0, 1):
                for seed in range(seeds):
                    run = np.random.default_rng([suite, condition, seed])
                    frames = tuple(
                        (f + noise[str(s)][condition] * run.normal(size=f.shape)).astype("f4")
                        for f, s in zip(base.latents.frames, base.speakers, strict=True)
                    )
                    given = FrameInput(
                        FrameLatents(frames, base.latents.times),
                        base.phones, base.speakers, base.languages, seed,
                    )  # fmt: skip
                    details = ABXProbe().run_frames(given).details
                    for mode in hits:
                        parts[(mode, condition, seed)] = details[f"abx_{mode}/speakers"]
            for mode in hits:
                differences = np.array(
                    [np.subtract(parts[(mode, 1, k)], parts[(mode, 0, k)]) for k in range(seeds)]
                )
                test = crossed(differences, np.zeros(differences.shape[1]))
                hits[mode] += test.p_value() < 0.05
        for mode, count in hits.items():
            rate = count / n_suites
            found[f"{null}/{mode}"] = [rate, float(np.sqrt(rate * (1 - rate) / n_suites))]
    return found


def reference_clips(given: FrameInput) -> list[dict]:
    return [
        {
            "frames": f.astype(np.float64),
            "times": t,
            "tier": [(i.start, i.end, i.phone) for i in tier],
            "speaker": str(s),
            "group": str(g),
        }
        for f, t, tier, s, g in zip(
            given.latents.frames,
            given.latents.times,
            given.phones,
            given.speakers,
            given.languages,
            strict=True,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", type=int, default=4)
    parser.add_argument("--speakers", type=int, default=20, help="probe speakers per language")
    parser.add_argument("--clips", type=int, default=8, help="clips per speaker")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-items", type=int, default=10, help="0: uncapped")
    parser.add_argument("--max-x-speakers", type=int, default=5, help="0: every speaker")
    parser.add_argument(
        "--languages-probed", type=int, default=0, help="the probe's languages; 0: all"
    )
    parser.add_argument("--reference", action="store_true", help="also time the brute force")
    parser.add_argument("--null", type=int, default=0, help="suites of the null simulation")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.null:
        for name, (rate, se) in null_rates(args.null).items():
            print(f"null {name}: false 'differs' {100 * rate:.1f}% (SE {100 * se:.1f})")
        return
    given = synthetic_set(args.languages, args.speakers, args.clips, args.seconds, args.dim)
    cap = args.max_items or None
    probed = sorted(set(given.languages.tolist()))[: args.languages_probed or None]
    probe = ABXProbe(max_items=cap, max_x_speakers=args.max_x_speakers or None, languages=probed)
    n_items = len(abx_core.make_items(given.latents, given.phones, given.speakers))
    print(
        f"{len(given.phones)} clips, {n_items} items, {len(probed)} language(s) probed, "
        f"max_items {cap}, max_x_speakers {args.max_x_speakers or None}, "
        f"{args.threads} thread(s)"
    )
    with stopwatch() as fast:
        result = probe.run_frames(given)
    print(
        f"abx (batched): {fast.wall:.2f} s wall, {fast.cpu:.2f} s CPU; "
        + ", ".join(f"{k} {v:.2f}" for k, v in result.metrics.items())
    )
    print(
        f"  against the flagship LSTM run's training ({FLAGSHIP_TRAINING_S} s): "
        f"{fast.cpu / FLAGSHIP_TRAINING_S:.2f}x by CPU, {fast.wall / FLAGSHIP_TRAINING_S:.2f}x by wall"
    )
    if args.reference:
        from helpers import abx_reference

        clips = reference_clips(given)
        uncapped = ABXProbe(max_items=None, max_x_speakers=None)
        with stopwatch() as fast_uncapped:
            again = uncapped.run_frames(given)
        with stopwatch() as slow:
            expected = {m: abx_reference.abx_error(clips, m) for m in ("within", "across")}
        print(
            f"uncapped: batched {fast_uncapped.wall:.2f} s wall / {fast_uncapped.cpu:.2f} s CPU, "
            f"reference {slow.wall:.1f} s wall / {slow.cpu:.1f} s CPU "
            f"({slow.cpu / max(fast_uncapped.cpu, 1e-9):.0f}x CPU)"
        )
        for mode, value in expected.items():
            print(f"  {mode}: batched {again.metrics[f'abx_{mode}']:.3f}, reference {value:.3f}")


if __name__ == "__main__":
    main()
