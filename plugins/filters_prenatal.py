"""The ``womb`` pretraining filter: external sound as a hydrophone in the uterus
records it, from published in-utero measurements.

Each measurement is a table of cited points (frequency, attenuation in dB,
positive where the uterus is quieter than outside) taken from one source's
abstract, with the sentence each point comes from. The filter's response
interpolates the points linearly in log-frequency and holds the end values
outside them (no extrapolation beyond what was measured); it is applied as a
linear-phase FIR (``scipy.signal.firwin2``) centred on each sample, so it
shifts nothing in time. docs/data.md ("A model of hearing in the womb") says
what the model leaves out.

Importing this module imports numpy only: scipy is imported when audio is filtered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from harness import Component, Param, hookimpl


@dataclass(frozen=True)
class CitedPoint:
    """One point of a measured response: at ``hz``, external sound is
    ``attenuation_db`` quieter inside the uterus (negative: louder inside)."""

    hz: float
    attenuation_db: float
    #: what the source says that gives this point
    basis: str


@dataclass(frozen=True)
class Measurement:
    """One source's in-utero attenuation of external sound."""

    key: str
    citation: str
    points: tuple[CitedPoint, ...]

    def attenuation_db(self, freqs: Any) -> np.ndarray:
        """Attenuation (dB) at ``freqs`` (Hz): the points interpolated linearly in
        log-frequency, the first and last held below and above them."""
        f = np.maximum(np.asarray(freqs, dtype=np.float64), 1e-9)
        hz = np.log([p.hz for p in self.points])
        return np.interp(np.log(f), hz, [p.attenuation_db for p in self.points])


RICHARDS_1992 = Measurement(
    key="human",
    citation=(
        "Richards DS, Frentzen B, Gerhardt KJ, McCann ME, Abrams RM (1992). Sound levels "
        "in the human uterus. Obstetrics & Gynecology 80(2):186-190 (abstract, Results): "
        "eight parturients, a hydrophone in the uterus, external one-third-octave band noises"
    ),
    points=(
        CitedPoint(125.0, -3.7, "low-frequency sounds (0.125 kHz) were enhanced by 3.7 dB"),
        CitedPoint(4000.0, 10.0, "a maximum attenuation of 10.0 dB at 4.0 kHz"),
    ),
)
GERHARDT_1990 = Measurement(
    key="sheep",
    citation=(
        "Gerhardt KJ, Abrams RM, Oliver CC (1990). Sound environment of the fetal sheep. "
        "American Journal of Obstetrics and Gynecology 162(1):282-287 (abstract): a "
        "hydrophone in the amnion of pregnant ewes, broadband and octave-band noise"
    ),
    points=(
        CitedPoint(
            250.0,
            -4.0,
            "below 0.25 kHz 2 to 5 dB greater inside; -4 dB is where 6 dB per octave "
            "from 20 dB at 4 kHz arrives at 0.25 kHz",
        ),
        CitedPoint(4000.0, 20.0, "above 0.25 kHz attenuation rose 6 dB per octave, 20 dB at 4 kHz"),
    ),
)
#: the measurements the filter offers, by the ``study`` parameter's value
MEASUREMENTS: Mapping[str, Measurement] = {m.key: m for m in (RICHARDS_1992, GERHARDT_1990)}


def response(freqs: Any, study: str = "human") -> np.ndarray:
    """The declared response: gain in dB at ``freqs`` (Hz), minus the attenuation."""
    return -MEASUREMENTS[study].attenuation_db(freqs)


def declared_response(params: Mapping[str, Any]) -> dict[str, Any]:
    """The response the report's Methods draw (``Component.response``): the
    gain on a grid from 50 Hz to 8 kHz, the cited points and their source."""
    study = MEASUREMENTS[str(params.get("study", "human"))]
    grid = np.geomspace(50.0, 8000.0, 61)
    return {
        "hz": grid.tolist(),
        "gain_db": response(grid, study.key).tolist(),
        "cited": [(p.hz, -p.attenuation_db) for p in study.points],
        "source": study.citation,
    }


def taps_for(study: str, sample_rate: int) -> int:
    """FIR length: odd (linear phase, a whole-sample delay the filter removes), and
    eight periods of the lowest cited frequency long, so the response resolves it."""
    lowest = MEASUREMENTS[study].points[0].hz
    return 2 * math.ceil(4 * sample_rate / lowest) + 1


@lru_cache(maxsize=16)
def fir_taps(study: str, sample_rate: int) -> np.ndarray:
    """The linear-phase FIR whose magnitude follows :func:`response` up to Nyquist."""
    from scipy.signal import firwin2

    numtaps = taps_for(study, sample_rate)
    nyquist = sample_rate / 2
    grid = np.linspace(0.0, nyquist, 2 ** math.ceil(math.log2(numtaps)) + 1)
    gains = 10.0 ** (response(grid, study) / 20.0)
    return firwin2(numtaps, grid, gains, fs=sample_rate)


def womb_filter(audio: np.ndarray, sample_rate: int, study: str = "human") -> np.ndarray:
    """``audio`` through the ``study``'s response, zero-phase; float64 out."""
    from scipy.signal import oaconvolve

    x = np.asarray(audio, dtype=np.float64)
    if len(x) == 0:
        return x
    # 'same' keeps the centre of the full convolution: the symmetric FIR's
    # (numtaps - 1) / 2 samples of delay are removed, so nothing moves in time
    return oaconvolve(x, fir_taps(study, int(sample_rate)), mode="same")


class Womb:
    """External sound as heard in the uterus (a hydrophone's record of it)."""

    def __init__(self, study: str = "human") -> None:
        if study not in MEASUREMENTS:
            raise ValueError(f"study: expected one of {sorted(MEASUREMENTS)}, got {study!r}")
        self.study = study

    def __call__(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return womb_filter(audio, sample_rate, self.study).astype(np.float32)


@hookimpl
def harness_pretrain_filters() -> list[Component]:
    return [
        Component(
            "womb",
            "harness_plugins.filters_prenatal:Womb",
            "external sound as recorded in the uterus: attenuation from published "
            "in-utero measurements (human: Richards et al. 1992; sheep: Gerhardt et al. 1990)",
            params=[
                Param(
                    "study",
                    str,
                    "human",
                    "whose measurement: 'human' (Richards et al. 1992, 8 parturients) or "
                    "'sheep' (Gerhardt, Abrams & Oliver 1990, pregnant ewes)",
                    choices=tuple(MEASUREMENTS),
                )
            ],
            title="womb (in-utero attenuation)",
            response=declared_response,
        )
    ]
