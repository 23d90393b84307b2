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

It is timed against one flagship LSTM run's training, measured in the same
process and interleaved with it (``--repeats`` rounds, alternating which goes
first, so a busy machine slows both alike): :func:`harness.learning.training.train`
with the flagship's model (LSTM, 64 units, 40 mels), batches (16 segments of
100 frames), optimiser and held-out evaluation every 5 steps, for the median
number of steps (target and pretraining) of the stored flagship LSTM runs
(tests/fixtures/readme_runs/pretrain), on random frames of the flagship's
sizes (24 training and 16 held-out clips of 4 s).

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
import json
import lzma
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from timing import best_and_median, interleaved, stopwatch, timed

from harness.hashing import stable_seed
from harness.plugin.alignments import PhoneInterval
from harness.plugin.probe_contracts import FrameInput, FrameLatents
from harness_plugins.probes import abx_cells, abx_core, abx_probe, abx_score
from harness_plugins.probes.abx_probe import ABXProbe

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

ROOT = Path(__file__).resolve().parent.parent
#: the stored flagship runs (bench/readme_numbers.py)
FLAGSHIP_RUNS = ROOT / "tests" / "fixtures" / "readme_runs" / "pretrain" / "records.jsonl.xz"


def flagship_steps() -> int:
    """The median optimiser steps (target + pretraining) of the stored flagship LSTM runs."""
    with lzma.open(FLAGSHIP_RUNS, "rt") as lines:
        records = [json.loads(line) for line in lines]
    steps = [
        (r["convergence"]["steps"] or 0) + (r["convergence"]["pretrain_steps"] or 0)
        for r in records
        if r["spec"]["model"]["plugin"] == "lstm"
    ]
    return int(statistics.median(steps))


def training_run(steps: int, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds of one flagship-like LSTM training of ``steps`` steps."""
    from harness.learning.training import TrainingData, train
    from harness.spec.config import TargetConfig, TrainingConfig
    from harness_plugins.models.lstm_model import LSTMModel

    rng = np.random.default_rng(seed)
    data = TrainingData(
        train=rng.random((96, 100, 40), dtype=np.float32),
        heldout=rng.random((64, 100, 40), dtype=np.float32),
    )
    # an unreachable absolute threshold: the run is censored after exactly ``steps`` steps
    target = TargetConfig(
        language="es", threshold=0.0, threshold_mode="absolute", max_steps=steps, eval_every=5
    )
    training = TrainingConfig(optimizer="adam", lr=0.003, batch_size=16, segment_frames=100)
    _, wall, cpu = timed(
        lambda: train(LSTMModel(64), 40, data, target=target, training=training, seed=seed)
    )
    return wall, cpu


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


def report(times: dict[str, list[float]]) -> None:
    """The probe's seconds against training's, best and median of the rounds."""
    best, median = best_and_median(times)
    for clock in ("cpu", "wall"):
        print(
            f"  {clock}: abx {best[f'abx_{clock}']:.2f} s best / {median[f'abx_{clock}']:.2f} "
            f"median, training {best[f'train_{clock}']:.2f} / {median[f'train_{clock}']:.2f}; "
            f"abx / training {best[f'abx_{clock}'] / best[f'train_{clock}']:.2f}x best, "
            f"{median[f'abx_{clock}'] / median[f'train_{clock}']:.2f}x median"
        )


def stage_split(given: FrameInput, probe: ABXProbe, repeats: int) -> dict[str, float]:
    """CPU seconds of the probe's stages, each the best of ``repeats``: cutting
    and capping items; laying out the cells and the pairs they read; the
    frame costs and DTW of those pairs; scoring the triplets; the averages."""
    if probe.languages is not None:
        given = abx_probe._only(given, probe.languages)
    seed = stable_seed("abx items", given.seed) % 2**32
    found: dict[str, list[float]] = {}
    for _ in range(repeats):
        ticks = [time.process_time()]
        items = abx_core.make_items(given.latents, given.phones, given.speakers, given.languages)
        items = abx_core.cap_items(items, probe.max_items, seed)
        ticks.append(time.process_time())
        layout = abx_score.layout_of(items)
        planned = abx_score.plan_cells(
            layout, probe.modes, probe.min_items, probe.max_x_speakers, seed
        )
        pairs = abx_cells.blocks(layout, list(planned.values()))
        ticks.append(time.process_time())
        distances = abx_core.pair_distances(items, pairs.pairs, probe.distance)
        ticks.append(time.process_time())
        tables = {
            mode: abx_score.table(layout, c, *abx_cells.right_answers(layout, c, pairs, distances))
            for mode, c in planned.items()
        }
        ticks.append(time.process_time())
        for cells in tables.values():
            abx_score.average(cells), abx_score.key_shares(cells)
        ticks.append(time.process_time())
        names = (
            "items",
            "cells and pairs",
            f"DTW ({len(pairs.pairs)} pairs)",
            "triplets",
            "averages",
        )
        for name, a, b in zip(names, ticks[:-1], ticks[1:], strict=True):
            found.setdefault(name, []).append(b - a)
    return {name: min(values) for name, values in found.items()}


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
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
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
    steps = flagship_steps()
    training_run(steps, seed=99)  # warm up torch's kernels before anything is timed
    with stopwatch() as first:
        probe.run_frames(given)
    print(
        f"first probe call in this process: {first.cpu:.2f} s CPU (numba loads its compiled "
        "kernels from its cache, or compiles them when it is cold, once per install)"
    )
    results = []

    def abx(_: int) -> tuple[float, float]:
        with stopwatch() as fast:
            results.append(probe.run_frames(given))
        return fast.wall, fast.cpu

    keys = ("train_wall", "train_cpu", "abx_wall", "abx_cpu")
    times = interleaved(args.repeats, lambda seed: training_run(steps, seed), abx, keys)
    print("abx: " + ", ".join(f"{k} {v:.2f}" for k, v in results[0].metrics.items()))
    print(f"{args.repeats} interleaved rounds; training: the flagship LSTM run, {steps} steps")
    report(times)
    stages = stage_split(given, probe, args.repeats)
    print(
        "stages (CPU s, best of the rounds): "
        + ", ".join(f"{k} {v:.3f}" for k, v in stages.items())
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
