"""Benchmark of the classical baseline (MFCC statistics + SVM, grid-searched).

For synthetic MFCC frames shaped like an emotion corpus (8 classes, every
speaker has every class, 20 coefficients, 1 to 3 s clips at a 10 ms hop, a
weak class signal under speaker offsets) at 200 training / 40 held-out clips
(10 + 2 speakers) and 1000 / 200 clips (20 + 4 speakers):

1. ``clip_statistics`` of every clip;
2. ``svm_baseline`` with the default grid (4 linear + 16 RBF settings, 5
   speaker-grouped folds: 100 fits and a refit), without a cache;
3. the same call again with a warm disk cache.

Wall and CPU time (this process), BLAS on one thread (what the local executor
gives each worker), with the held-out balanced accuracy so a run that
learned nothing stands out.

    python bench/bench_baseline.py
    python bench/bench_baseline.py --sizes 200:40 --repeats 3

A benchmark, not a test: it asserts nothing; about a minute on an idle machine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from timing import timed

from harness.run.baseline import DEFAULT_GRID, clip_statistics, svm_baseline

CLASSES = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
COEFFICIENTS = 20


def corpus(clips: int, speakers: int, seed: int) -> tuple[list[np.ndarray], list[str], list[str]]:
    """``clips`` clips spread over ``speakers`` speakers and every class."""
    rng = np.random.default_rng(seed)
    directions = np.random.default_rng(99).standard_normal((len(CLASSES), COEFFICIENTS))
    frames, labels, groups = [], [], []
    for i in range(clips):
        speaker, label = i % speakers, (i // speakers) % len(CLASSES)
        offset = np.random.default_rng([seed, speaker]).standard_normal(COEFFICIENTS)
        n = int(rng.integers(100, 300))
        x = 3.0 * rng.standard_normal((n, COEFFICIENTS)) + offset + 0.8 * directions[label]
        frames.append(x.astype(np.float32))
        labels.append(CLASSES[label])
        groups.append(f"s{seed}_{speaker}")
    return frames, labels, groups


def bench(train: int, heldout: int, repeats: int) -> dict[str, Any]:
    frames, labels, groups = corpus(train, max(10, train // 50), seed=0)
    held_frames, held_labels, _ = corpus(heldout, max(2, heldout // 50), seed=1)
    _, stats_wall, stats_cpu = timed(lambda: clip_statistics(frames + held_frames))
    fits = []
    for _ in range(repeats):
        result, wall, cpu = timed(
            lambda: svm_baseline(frames, labels, groups, held_frames, held_labels, seed=0)
        )
        fits.append((wall, cpu))
    with tempfile.TemporaryDirectory() as cache:
        svm_baseline(
            frames, labels, groups, held_frames, held_labels, seed=0, cache_dir=Path(cache)
        )
        _, hit_wall, _ = timed(
            lambda: svm_baseline(
                frames, labels, groups, held_frames, held_labels, seed=0, cache_dir=Path(cache)
            )
        )
    best = min(fits)
    return {
        "clips": f"{train}/{heldout}",
        "speakers": f"{len(set(groups))}/{max(2, heldout // 50)}",
        "frames": sum(len(f) for f in frames + held_frames),
        "stats_s": stats_wall,
        "stats_cpu_s": stats_cpu,
        "fit_wall_s": best[0],
        "fit_cpu_s": best[1],
        "cached_s": hit_wall,
        "folds": result.cv_folds,
        "chosen": result.params,
        "heldout_bacc": result.balanced_accuracy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["200:40", "1000:200"],
                        help="train:heldout clip counts")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1, help="fits per size; the fastest counts")
    args = parser.parse_args()
    candidates = sum(int(np.prod([len(v) for v in part.values()])) for part in DEFAULT_GRID)
    print(f"default grid: {candidates} settings; BLAS on one thread")
    with threadpool_limits(1):
        for size in args.sizes:
            train, heldout = (int(x) for x in size.split(":"))
            row = bench(train, heldout, args.repeats)
            print(
                f"{row['clips']:>9} clips ({row['speakers']} speakers, {row['frames']} frames): "
                f"statistics {row['stats_s']:.2f} s wall / {row['stats_cpu_s']:.2f} s CPU; "
                f"grid search + refit + held-out {row['fit_wall_s']:.2f} s wall / "
                f"{row['fit_cpu_s']:.2f} s CPU ({row['folds']} folds, "
                f"{candidates * row['folds'] + 1} fits); cached {row['cached_s']:.3f} s; "
                f"chosen {row['chosen']}; held-out balanced accuracy {row['heldout_bacc']:.3f}"
            )


if __name__ == "__main__":
    main()
