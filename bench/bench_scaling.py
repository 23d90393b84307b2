"""How much language the raw-feature baseline shows on the embedded corpus, by
feature scaling and probe speakers per language.

The probe path of a run without a model: eSpeak NG corpus (the `espeak`
dataset plugin) -> log-mel features (`harness.data.features`) with each
`normalize` option -> the `feature_stats` extractor (per-band mean and std) ->
the `ridge` probe (speaker-grouped CV, 1000 speaker-level relabellings). What
it prints decides the flagship suite's design: enough probe speakers for the
baseline to be clearly above chance, and a scaling that does not wash language
out. `corpus_zscore` statistics come from 3 Spanish speakers outside the probe
set, as a run fits them on its target training clips.

    python bench/bench_scaling.py                  # 3, 10 and 20 speakers per language
    python bench/bench_scaling.py --speakers 3 20

A benchmark, not a test: it asserts nothing; a few minutes on an idle machine
(the corpus is generated once and cached).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from timing import timed

from harness.data.features import FeatureExtractor, fit_normalizer
from harness.plugin.contracts import DataRequest
from harness.plugin.registry import load_registry
from harness.plugin.selection import Selection
from harness.spec.config import FeatureConfig

LANGUAGES = ("es", "it", "ja", "en")
SCALINGS = ("clip_minmax", "clip_zscore", "corpus_zscore", "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, nargs="+", default=[3, 10, 20])
    parser.add_argument("--cache", type=Path, default=None, help="cache root (default: a temp dir)")
    args = parser.parse_args()
    registry = load_registry(autoload=False)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    most = max(args.speakers)
    dataset = registry.create(Selection("dataset", "espeak", {"clips_per_speaker": 8}, "espeak"))
    need = {lang: most + (3 if lang == "es" else 0) for lang in LANGUAGES}
    request = DataRequest(LANGUAGES, 16000, need, cache / "datasets" / "espeak")
    clips, wall, _ = timed(lambda: dataset.load(request))
    print(f"corpus: {len(clips)} clips in {wall:.1f} s wall")
    speakers = {
        lang: sorted({c.speaker for c in clips if c.language == lang}) for lang in LANGUAGES
    }
    fit_speakers = set(speakers["es"][:3])
    probe_pool = {lang: [s for s in speakers[lang] if s not in fit_speakers] for lang in LANGUAGES}
    stats = registry.create(Selection("latent_extractor", "feature_stats", {}, "feature_stats"))
    probe = registry.create(Selection("probe", "ridge", {"n_permutations": 1000}, "ridge"))
    print(
        f"{'scaling':>14} {'speakers':>8} {'multiclass':>10} {'p':>7} {'target':>7} {'p':>7} {'cpu s':>6}"
    )
    for scaling in SCALINGS:
        config = FeatureConfig(normalize=scaling)
        extract = FeatureExtractor(config, cache)
        fit = [c for c in clips if c.speaker in fit_speakers]
        normalize = fit_normalizer(extract([c.audio for c in fit]), config)
        for n in args.speakers:
            chosen = {s for lang in LANGUAGES for s in probe_pool[lang][:n]}
            probe_clips = [c for c in clips if c.speaker in chosen]
            features = normalize(extract([c.audio for c in probe_clips]))
            latents = stats.extract(None, features, "cpu")["mean_std"]
            labels = np.array([c.language for c in probe_clips])
            groups = np.array([c.speaker for c in probe_clips])
            result, _, cpu = timed(lambda: probe.run(latents, labels, groups, "es", 0))  # noqa: B023
            m = result.metrics
            print(
                f"{scaling:>14} {n:>8} {m['balanced_accuracy_multiclass']:>10.3f} "
                f"{m['p_value_multiclass']:>7.4f} {m['balanced_accuracy_target']:>7.3f} "
                f"{m['p_value_target']:>7.4f} {cpu:>6.2f}"
            )


if __name__ == "__main__":
    main()
