"""Pretraining filters: what the model hears before it learns the target language.

``full`` passes the audio through; ``lowpass`` keeps what is below a cutoff
(roughly what a fetus hears through tissue and fluid); ``noise`` keeps only the
long-term magnitude spectrum and randomises the phase, a control that answers
"is it the language, or any audio with the same spectrum?".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from harness import Component, Param, ValidationContext, hookimpl


def cutoff_problem(cutoff_hz: float, sample_rate: int) -> str | None:
    """Why a low-pass cutoff cannot filter audio at ``sample_rate``, or None."""
    if 0 < cutoff_hz < sample_rate / 2:
        return None
    return (
        f"expected between 0 and {sample_rate / 2} Hz, the Nyquist frequency of "
        f"{sample_rate} Hz audio, got {cutoff_hz}"
    )


def check_cutoff(
    params: Mapping[str, Any], context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """The Component check of a filter with ``cutoff_hz``: filters receive audio at
    the suite's feature sample rate (datasets deliver it at that rate)."""
    cutoff = params.get("cutoff_hz")
    problem = None if cutoff is None else cutoff_problem(cutoff, context.sample_rate)
    if problem:
        yield "cutoff_hz", f"{problem}; the audio's rate is features.sample_rate"


@lru_cache(maxsize=32)
def _butter_sos(cutoff_hz: float, order: int, sample_rate: int) -> np.ndarray:
    from scipy.signal import butter

    problem = cutoff_problem(cutoff_hz, sample_rate)
    if problem:
        raise ValueError(f"low-pass cutoff_hz: {problem}")
    return butter(order, cutoff_hz, btype="lowpass", fs=sample_rate, output="sos")


def lowpass_filter(audio: np.ndarray, sample_rate: int, cutoff_hz: float, order: int) -> np.ndarray:
    """Zero-phase Butterworth low-pass (forward and backward: magnitude |H|^2, no delay).

    Returns float64; the filter components cast to float32 at the end.
    """
    from scipy.signal import sosfiltfilt

    x = np.asarray(audio, dtype=np.float64)
    if len(x) == 0:
        return x
    sos = _butter_sos(float(cutoff_hz), int(order), int(sample_rate))
    # scipy's default edge padding exceeds very short clips; pad as much as they allow
    default_pad = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    return sosfiltfilt(sos, x, padlen=min(default_pad, len(x) - 1))


class Full:
    """No filtering."""

    def __call__(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return np.array(audio, dtype=np.float32)


class Lowpass:
    def __init__(self, cutoff_hz: float = 500.0, order: int = 4) -> None:
        self.cutoff_hz = cutoff_hz
        self.order = order

    def __call__(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return lowpass_filter(audio, sample_rate, self.cutoff_hz, self.order).astype(np.float32)


class SpectralNoise:
    """Noise with the clip's magnitude spectrum and random phase (seeded by ``rng``)."""

    def __init__(self, cutoff_hz: float | None = None, order: int = 4) -> None:
        self.cutoff_hz = cutoff_hz
        self.order = order

    def __call__(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(audio, dtype=np.float64)
        n = len(x)
        if n < 2:
            return x.astype(np.float32)
        spectrum = np.fft.rfft(x)
        shuffled = np.abs(spectrum) * np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, len(spectrum)))
        # DC (and Nyquist for even n) must stay real for a real signal: keep them as they are
        shuffled[0] = spectrum[0].real
        if n % 2 == 0:
            shuffled[-1] = spectrum[-1].real
        noise = np.fft.irfft(shuffled, n=n)
        if self.cutoff_hz is not None:
            # filtering after randomising: the clip's edges leak broadband energy into its
            # DFT, which low-passing the clip first would carry into the noise unattenuated
            noise = lowpass_filter(noise, sample_rate, self.cutoff_hz, self.order)
        return noise.astype(np.float32)


@hookimpl
def harness_pretrain_filters() -> list[Component]:
    cutoff = Param("cutoff_hz", float, 500.0, "low-pass cutoff frequency (-3 dB per pass)", min=1.0)
    order = Param(
        "order", int, 4, "Butterworth order (applied forward and backward)", min=1, max=12
    )
    return [
        Component("full", Full, "the unfiltered waveform", default=True, title="full band"),
        Component(
            "lowpass",
            Lowpass,
            "zero-phase Butterworth low-pass (scipy sosfiltfilt), as heard in the womb",
            params=[cutoff, order],
            check=check_cutoff,
            title="low-pass",
        ),
        Component(
            "noise",
            SpectralNoise,
            "control: noise with the clip's magnitude spectrum and random phase",
            params=[
                Param(
                    "cutoff_hz",
                    float,
                    None,
                    "also low-pass the noise at this frequency",
                    min=1.0,
                    optional=True,
                ),
                order,
            ],
            check=check_cutoff,
            title="spectrally matched noise",
            keeps_speech=False,
        ),
    ]
