"""Benchmark: corpus generation and feature throughput against librosa.

1. Generates the eSpeak corpus of a flagship-sized suite (4 languages x 7
   speakers x 8 clips x 4 s) in a fresh cache and reports wall time, CPU time
   (this process and its generator children) and audio seconds per second;
   then the time of a second, cached load.
2. Computes features of clips of that corpus (64 by default) with :class:`harness.data.features.FeatureExtractor`
   (no cache) and with ``librosa.feature.melspectrogram`` (+ ``power_to_db``),
   interleaved round by round so drift in machine load hits both alike, and
   prints the median throughput (audio seconds per wall second) and the ratio.
   It does so for 1 thread (what the local executor gives each worker on a
   two-core machine) and all cores, for torch and numpy's BLAS alike; the
   ratio of CPU seconds is printed beside the wall-clock one.

    python bench/bench_features.py
    python bench/bench_features.py --rounds 7 --json bench-features.json

A benchmark, not a test: it asserts nothing and takes a minute or two on an
idle two-core machine (several times longer on a loaded one).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from timing import Times, best_and_median, stopwatch, timed

from harness.data.features import FeatureExtractor
from harness.plugin.contracts import DataRequest
from harness.spec.config import FeatureConfig
from harness_plugins.datasets.espeak import EspeakDataset

LANGUAGES = ("es", "ja", "it", "en")
CONFIGS = {
    "default (16 kHz, 25/10 ms, 40 mels)": FeatureConfig(),
    "study (22.05 kHz, n_fft 2048, hop 512, 128 mels)": FeatureConfig(
        sample_rate=22050, win_ms=2048 / 22.05, hop_ms=512 / 22.05, n_fft=2048, n_mels=128
    ),
}


def bench_corpus(cache: Path, speakers: int, clips: int, seconds: float) -> dict[str, Any]:
    request = DataRequest(LANGUAGES, 16000, dict.fromkeys(LANGUAGES, speakers), cache)
    dataset = EspeakDataset(clips_per_speaker=clips, clip_seconds=seconds)
    # eSpeak synthesises in child processes: their CPU time counts
    with stopwatch(children=True) as generated:
        loaded = dataset.load(request)
    wall, cpu = generated.wall, generated.cpu
    audio = sum(len(c.audio) for c in loaded) / 16000
    _, cached, _ = timed(
        lambda: EspeakDataset(clips_per_speaker=clips, clip_seconds=seconds).load(request)
    )
    return {
        "clips": len(loaded),
        "audio_seconds": audio,
        "generate_wall_s": wall,
        "generate_cpu_s": cpu,
        "audio_seconds_per_wall_second": audio / wall,
        "cached_load_wall_s": cached,
    }


def librosa_features(audios: list[np.ndarray], fx: FeatureExtractor) -> list[np.ndarray]:
    """What FeatureExtractor computes for kind='logmel', the librosa way."""
    import librosa

    c = fx.config
    out = []
    for audio in audios:
        mel = librosa.feature.melspectrogram(y=audio, **fx.librosa_mel_params())
        db = librosa.power_to_db(mel, ref=1.0, top_db=c.top_db)
        out.append(((db - db.min()) / (db.max() - db.min())).T.astype(np.float32))
    return out


def bench_features(audios: list[np.ndarray], config: FeatureConfig, rounds: int) -> dict[str, Any]:
    fx = FeatureExtractor(config, None)
    seconds = sum(len(a) for a in audios) / config.sample_rate
    fx.compute(audios[:4]), librosa_features(audios[:4], fx)  # warm up (imports, JIT, caches)
    times: Times = {"harness": [], "librosa": [], "harness_cpu": [], "librosa_cpu": []}
    for _ in range(rounds):
        mine, wall, cpu = timed(lambda: fx.compute(audios))
        times["harness"].append(wall)
        times["harness_cpu"].append(cpu)
        reference, wall, cpu = timed(lambda: librosa_features(audios, fx))
        times["librosa"].append(wall)
        times["librosa_cpu"].append(cpu)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(mine, reference, strict=True))
    _, median = best_and_median(times)
    harness_rate = seconds / median["harness"]
    librosa_rate = seconds / median["librosa"]
    return {
        "audio_seconds": seconds,
        "harness_audio_s_per_s": harness_rate,
        "librosa_audio_s_per_s": librosa_rate,
        "ratio": harness_rate / librosa_rate,
        # CPU seconds (all threads) are less moved by other processes than wall
        "cpu_ratio": median["librosa_cpu"] / median["harness_cpu"],
        "max_abs_difference": worst,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speakers", type=int, default=7)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--feature-clips", type=int, default=64, help="clips of the corpus the features use"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"cpu_count": os.cpu_count(), "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-features-") as folder:
        corpus = bench_corpus(Path(folder), args.speakers, args.clips, args.seconds)
        results["corpus"] = corpus
        print(
            f"corpus: {corpus['clips']} clips, {corpus['audio_seconds']:.0f} s of audio "
            f"({len(LANGUAGES)} languages x {args.speakers} speakers x {args.clips} clips x "
            f"{args.seconds} s)\n"
            f"  generated in {corpus['generate_wall_s']:.1f} s wall, "
            f"{corpus['generate_cpu_s']:.1f} s CPU "
            f"({corpus['audio_seconds_per_wall_second']:.0f} audio s per wall s); "
            f"cached load {corpus['cached_load_wall_s']:.2f} s"
        )
        results["features"] = {}
        for name, config in CONFIGS.items():
            request = DataRequest(
                LANGUAGES, config.sample_rate, dict.fromkeys(LANGUAGES, args.speakers), Path(folder)
            )
            dataset = EspeakDataset(clips_per_speaker=args.clips, clip_seconds=args.seconds)
            clips = dataset.load(request)
            # every language and speaker, evenly: every k-th clip
            step = max(1, len(clips) // args.feature_clips)
            audios = [c.audio for c in clips[::step][: args.feature_clips]]
            for threads in sorted({1, os.cpu_count() or 1}):
                torch.set_num_threads(threads)
                # numpy's BLAS (librosa's filterbank product) gets the same threads as
                # torch: an idle second BLAS thread spinning on a loaded machine slowed
                # librosa ~50x here, which no user of one thread would see
                with threadpool_limits(threads):
                    row = bench_features(audios, config, args.rounds)
                row["torch_threads"] = threads
                results["features"][f"{name}, {threads} thread(s)"] = row
                print(
                    f"features {name}, torch threads {threads}: "
                    f"harness {row['harness_audio_s_per_s']:.0f} audio s/s, "
                    f"librosa {row['librosa_audio_s_per_s']:.0f} audio s/s, "
                    f"ratio {row['ratio']:.2f}x, CPU ratio {row['cpu_ratio']:.2f}x "
                    f"(max |difference| {row['max_abs_difference']:.1e})"
                )
    results["load_average_after"] = os.getloadavg()
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
