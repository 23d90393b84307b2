"""Time-aligned phone tiers: :class:`PhoneInterval`, the unit a clip's
``phones`` tier is made of (``Clip.phones``), and the checks of a tier.

A tier is a tuple of intervals in time order, each naming the phone spoken
from ``start`` to ``end`` seconds of the clip, in the dataset's phone
alphabet (eSpeak NG's for the embedded corpus; the aligner's for a user's
TextGrids). Silences and pauses are not intervals: the gaps between them are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class PhoneInterval:
    """One phone of a clip: ``phone`` spoken from ``start`` to ``end`` seconds."""

    start: float
    end: float
    phone: str


def tier_problems(tier: Sequence[PhoneInterval], duration: float) -> list[str]:
    """What is wrong with a phone tier of a clip ``duration`` seconds long:
    empty phone names, intervals that are empty, overlap the previous one or
    run past the clip's end (a 10 ms tolerance for rounding)."""
    problems: list[str] = []
    previous_end = 0.0
    for i, interval in enumerate(tier):
        where = f"interval {i} ({interval.phone!r}, {interval.start:.3f}-{interval.end:.3f} s)"
        if not interval.phone:
            problems.append(f"{where} has no phone")
        if not interval.end > interval.start:
            problems.append(f"{where} is empty or reversed")
        if interval.start < previous_end - 1e-9:
            problems.append(f"{where} overlaps the previous interval")
        if interval.end > duration + 0.01:
            problems.append(f"{where} ends after the clip ({duration:.3f} s)")
        previous_end = max(previous_end, interval.end)
    return problems
