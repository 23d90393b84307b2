"""Pretraining filters: measured attenuation against the analytic Butterworth response."""

from __future__ import annotations

import numpy as np
import pytest

from harness.plugin.components import resolve_params
from harness.plugin.contracts import check_filtered
from harness_plugins import filters

RATE = 16000


def _components() -> dict:
    return {c.name: c for c in filters.harness_pretrain_filters()}


def _build(name: str, **given):
    component = _components()[name]
    params, problems = resolve_params(component.params, given, name)
    assert not problems
    return component.create(**params)


def _zero_phase_gain_db(f: float, cutoff: float, order: int, rate: int) -> float:
    """Energy gain of a digital Butterworth applied forward and backward.

    One pass has |H|^2 = 1 / (1 + (tan(pi f / fs) / tan(pi fc / fs))^(2N)) (bilinear
    transform with prewarping); two passes square it, so energy changes by 20 log10 |H|^2.
    """
    ratio = np.tan(np.pi * f / rate) / np.tan(np.pi * cutoff / rate)
    magnitude_squared = 1.0 / (1.0 + ratio ** (2 * order))
    return 20.0 * np.log10(magnitude_squared)


def _energy_db(x: np.ndarray) -> float:
    return 10.0 * np.log10(np.mean(np.asarray(x, np.float64) ** 2))


@pytest.mark.parametrize(("cutoff", "order"), [(500.0, 4), (1000.0, 2)])
@pytest.mark.parametrize("ratio", [0.5, 1.0, 1.5, 2.0, 3.0])
def test_lowpass_attenuation_matches_zero_phase_butterworth(cutoff, order, ratio) -> None:
    f = cutoff * ratio
    t = np.arange(RATE) / RATE
    tone = np.sin(2 * np.pi * f * t).astype(np.float32)
    out = _build("lowpass", cutoff_hz=cutoff, order=order)(tone, RATE, np.random.default_rng(0))
    middle = slice(RATE // 4, 3 * RATE // 4)  # away from the edges' transients
    measured = _energy_db(out[middle]) - _energy_db(tone[middle])
    expected = _zero_phase_gain_db(f, cutoff, order, RATE)
    assert measured == pytest.approx(expected, abs=0.1)
    if ratio == 1.0:
        assert measured == pytest.approx(-6.02, abs=0.05)  # half amplitude at the cutoff
    if ratio == 2.0 and order == 4:
        assert measured < -45.0  # an octave above 500 Hz: about -48 dB


def _windowed_power(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of the Hann-windowed middle half: no edge transients, little leakage."""
    middle = np.asarray(x[len(x) // 4 : 3 * len(x) // 4], np.float64)
    spectrum = np.fft.rfft(middle * np.hanning(len(middle)))
    return np.fft.rfftfreq(len(middle), 1 / RATE), np.abs(spectrum) ** 2


def test_lowpass_noise_band_energy() -> None:
    """Broadband input: energy above the cutoff falls as the response predicts."""
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(4 * RATE).astype(np.float32)
    out = _build("lowpass")(noise, RATE, rng)  # defaults: 500 Hz, order 4
    freqs, before = _windowed_power(noise)
    _, after = _windowed_power(out)
    for low, high in [(600, 800), (800, 1200), (1200, 2000)]:
        band = (freqs >= low) & (freqs < high)
        expected = 10 ** (_zero_phase_gain_db(freqs[band], 500.0, 4, RATE) / 10)
        predicted_db = 10 * np.log10(np.sum(before[band] * expected) / np.sum(before[band]))
        measured_db = 10 * np.log10(np.sum(after[band]) / np.sum(before[band]))
        assert measured_db == pytest.approx(predicted_db, abs=0.5)
    passband = freqs < 200
    assert 10 * np.log10(after[passband].sum() / before[passband].sum()) > -0.5


def test_filters_keep_length_dtype_and_finiteness() -> None:
    rng = np.random.default_rng(2)
    for length in (3, 17, 1001):
        audio = rng.standard_normal(length).astype(np.float32)
        for name in ("full", "lowpass", "noise"):
            out = _build(name)(audio, RATE, np.random.default_rng(0))
            checked = check_filtered(name, audio, out)
            assert checked.dtype == np.float32 and checked.shape == audio.shape


def test_full_is_identity_and_copies() -> None:
    audio = np.linspace(-1, 1, 100, dtype=np.float32)
    out = _build("full")(audio, RATE, np.random.default_rng(0))
    np.testing.assert_array_equal(out, audio)
    out[0] = 5.0
    assert audio[0] == -1.0


def test_lowpass_cutoff_above_nyquist_is_refused() -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        _build("lowpass", cutoff_hz=9000.0)(np.ones(100, np.float32), RATE, None)


def test_noise_keeps_magnitude_spectrum_and_randomises_phase() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(RATE) / RATE
    # noise under a decaying envelope: broadband, with a temporal shape to destroy
    audio = (rng.standard_normal(RATE) * np.exp(-4 * t)).astype(np.float32)
    noise = _build("noise")
    a = noise(audio, RATE, np.random.default_rng(10))
    b = noise(audio, RATE, np.random.default_rng(10))
    c = noise(audio, RATE, np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)  # seeded by the run's rng
    assert not np.allclose(a, c)
    spectrum_in, spectrum_out = np.abs(np.fft.rfft(audio)), np.abs(np.fft.rfft(a))
    np.testing.assert_allclose(spectrum_out, spectrum_in, rtol=1e-4, atol=1e-4)
    assert abs(np.corrcoef(a, audio)[0, 1]) < 0.05
    quarter = RATE // 4
    assert _energy_db(audio[:quarter]) - _energy_db(audio[-quarter:]) > 20.0
    assert abs(_energy_db(a[:quarter]) - _energy_db(a[-quarter:])) < 1.0  # envelope gone


def test_noise_with_cutoff_matches_lowpassed_spectrum() -> None:
    rng = np.random.default_rng(4)
    audio = rng.standard_normal(2 * RATE).astype(np.float32)
    out = _build("noise", cutoff_hz=500.0)(audio, RATE, np.random.default_rng(0))
    lowpassed = _build("lowpass", cutoff_hz=500.0)(audio, RATE, None)
    freqs, reference = _windowed_power(lowpassed)
    _, measured = _windowed_power(out)
    for low, high in [(0, 250), (250, 500), (500, 700), (700, 1000)]:
        band = (freqs >= low) & (freqs < high)
        ratio_db = 10 * np.log10(measured[band].sum() / reference[band].sum())
        assert abs(ratio_db) < 1.0, (low, high, ratio_db)
    _, original = _windowed_power(audio)
    high = freqs > 2000
    assert 10 * np.log10(measured[high].sum() / original[high].sum()) < -70


def test_declared_parameters() -> None:
    components = _components()
    assert set(components) == {"full", "lowpass", "noise"}
    lowpass = components["lowpass"]
    assert lowpass.defaults() == {"cutoff_hz": 500.0, "order": 4}
    _, problems = resolve_params(lowpass.params, {"cutoff_hz": "high"}, "filter")
    assert problems and "cutoff_hz" in problems[0][0]
    assert components["noise"].defaults()["cutoff_hz"] is None
