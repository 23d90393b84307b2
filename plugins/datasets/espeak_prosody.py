"""Emotion-like prosody for the ``espeak`` dataset: acted prosody of a formant
synthesizer, not emotion.

Each class is a declared profile of four synthesizer settings applied to a
clip on top of its speaker's voice: a shift of the pitch level, a factor on
the pitch range, a factor on the speaking rate (all relative to the speaker's
own drawn values) and a volume (eSpeak's loudness, 100 = normal). The
directions follow the acoustic correlates that studies of acted emotional
speech report (Scherer 2003, Speech Communication 40, review table of vocal
cues; Banse & Scherer 1996): happiness and anger raise pitch, widen its range,
speed up and get louder; sadness lowers pitch, narrows its range, slows down
and gets softer; fear raises pitch and rate with a narrow range; calm is slow,
soft and narrow. Nothing else of an emotion (voice quality, timing of stress,
words) is in these clips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.hashing import stable_seed

#: the label the classes are given (``Clip.labels``)
LABEL = "emotion"


@dataclass(frozen=True)
class Profile:
    """One class's settings, relative to the speaker's voice."""

    pitch_shift: int
    range_factor: float
    rate_factor: float
    volume: int

    def settings(self, speaker: Mapping[str, Any]) -> dict[str, int]:
        """eSpeak's rate, pitch, range and volume for a clip of ``speaker`` (its
        drawn ``rate``, ``pitch`` and ``spread``), within eSpeak's ranges."""
        return {
            "rate": int(np.clip(round(speaker["rate"] * self.rate_factor), 80, 450)),
            "pitch": int(np.clip(speaker["pitch"] + self.pitch_shift, 0, 100)),
            "spread": int(np.clip(round(speaker["spread"] * self.range_factor), 0, 100)),
            "volume": self.volume,
        }


PROFILES: dict[str, Profile] = {
    "neutral": Profile(pitch_shift=0, range_factor=1.0, rate_factor=1.0, volume=100),
    "happy": Profile(pitch_shift=15, range_factor=1.6, rate_factor=1.1, volume=115),
    "sad": Profile(pitch_shift=-15, range_factor=0.4, rate_factor=0.8, volume=75),
    "angry": Profile(pitch_shift=8, range_factor=1.4, rate_factor=1.15, volume=140),
    "fearful": Profile(pitch_shift=20, range_factor=0.6, rate_factor=1.2, volume=95),
    "calm": Profile(pitch_shift=-6, range_factor=0.6, rate_factor=0.85, volume=85),
}


def clip_classes(
    classes: Sequence[str], clips: int, seed: int, language: str, speaker: int
) -> list[str]:
    """The class of each of a speaker's ``clips``: the classes in a seeded order,
    repeated, so every speaker speaks each class equally often when ``clips`` is
    a multiple of their number, and the order differs between speakers."""
    if not classes:
        return []
    rng = np.random.default_rng(stable_seed("espeak-prosody", seed, language, speaker))
    order = rng.permutation(len(classes))
    return [classes[order[c % len(classes)]] for c in range(clips)]


def prosody_problems(classes: Sequence[str], clips_per_speaker: int) -> list[tuple[str, str]]:
    """What is wrong with a ``prosody`` parameter: unknown or repeated classes,
    fewer than two, or a clip count that cannot balance them per speaker."""
    if not classes:
        return []
    problems = []
    unknown = [c for c in classes if c not in PROFILES]
    if unknown:
        problems.append(("prosody", f"unknown prosody class {unknown[0]!r}; declared: "
                         f"{', '.join(PROFILES)}"))  # fmt: skip
    if len(set(classes)) != len(classes) or len(classes) < 2:
        problems.append(("prosody", f"expected two or more distinct classes, got {list(classes)}"))
    if clips_per_speaker % len(classes):
        problems.append(("clips_per_speaker", f"expected a multiple of the {len(classes)} "
                         f"prosody classes, so every speaker speaks each class equally often, "
                         f"got {clips_per_speaker}"))  # fmt: skip
    return problems
