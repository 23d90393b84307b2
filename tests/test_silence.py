"""Silent frames: the energy detector, its alignment with the feature frames,
mode "remove" in the features and the features cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")
torch = pytest.importorskip("torch")

from harness.data.features import FeatureExtractor  # noqa: E402
from harness.data.silence import frame_energy_db, frame_rms, keep_frames, silent_frames  # noqa: E402
from harness.spec.config import FeatureConfig  # noqa: E402

torch.set_num_threads(1)
RATE = 16000
HOP, WIN = 160, 400  # the default FeatureConfig at 16 kHz: 10 ms hop, 25 ms window


def _tone(n: int, freq: float, amplitude: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(n) / rate
    # a raised-cosine edge of 5 ms so the bursts' spectra stay clean
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.005 * rate))
    return (amplitude * ramp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _bursts(floor: float = 0.0, rate: int = RATE, seed: int = 0) -> tuple[np.ndarray, list]:
    """0.3 s gap, 0.25 s tone, 0.4 s gap, 0.25 s tone, 0.3 s gap (1.5 s), over a
    noise floor of standard deviation ``floor``; returns the audio and the tone
    intervals in samples."""
    rng = np.random.default_rng(seed)
    audio = (floor * rng.standard_normal(int(1.5 * rate))).astype(np.float32)
    spans = [(int(0.3 * rate), int(0.55 * rate)), (int(0.95 * rate), int(1.2 * rate))]
    for (start, end), freq in zip(spans, (440.0, 700.0), strict=True):
        audio[start:end] += _tone(end - start, freq, 0.5, rate)
    return audio, spans


def _frame_classes(spans: list, n_frames: int, hop: int, win: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames whose whole window lies inside a tone, and frames whose window is
    at least ``win`` samples away from every tone (beyond any smoothing's reach)."""
    centres = np.arange(n_frames) * hop
    inside = np.zeros(n_frames, bool)
    far = np.ones(n_frames, bool)
    for start, end in spans:
        inside |= (centres - win // 2 >= start + 0.005 * RATE) & (
            centres + win // 2 <= end - 0.005 * RATE
        )
        far &= (centres + win // 2 < start - 0.05 * RATE) | (centres - win // 2 > end + 0.05 * RATE)
    return inside, far


def _silent(audio: np.ndarray, silence_db: float = 40.0, **kw) -> np.ndarray:
    return silent_frames(audio, sample_rate=RATE, hop=HOP, win=WIN, silence_db=silence_db, **kw)


@pytest.mark.parametrize("floor", [0.0, 0.5e-3], ids=["zeros", "noise floor"])
def test_gaps_are_silent_and_tones_are_not(floor: float) -> None:
    audio, spans = _bursts(floor)
    silent = _silent(audio)
    assert silent.dtype == bool and silent.shape == (1 + len(audio) // HOP,)
    inside, far = _frame_classes(spans, len(silent), HOP, WIN)
    assert inside.sum() > 30 and far.sum() > 60
    assert not silent[inside].any()
    assert silent[far].all()
    # three silent stretches (before, between, after) and two of speech: no flicker
    changes = np.flatnonzero(silent[1:] != silent[:-1])
    assert len(changes) == 4


def test_threshold_is_relative_to_the_loudest_frame() -> None:
    # a noise floor 60 dB under the tones' RMS is silence at 40 dB, speech at 70 dB
    audio, _ = _bursts(0.5 / np.sqrt(2) * 1e-3)
    assert _silent(audio, 40.0).sum() > 60
    assert not _silent(audio, 70.0).any()
    # scaling the clip changes nothing: the level is relative to the clip's maximum
    np.testing.assert_array_equal(_silent(audio * 0.05, 40.0), _silent(audio, 40.0))


def test_unsmoothed_decision_is_librosa_split_definition() -> None:
    audio, _ = _bursts(1e-3, seed=3)
    ours = ~_silent(audio, 35.0, min_silence_ms=0, min_speech_ms=0, hangover_ms=0)
    rms = librosa.feature.rms(y=audio, frame_length=WIN, hop_length=HOP)[0]
    reference = librosa.amplitude_to_db(rms, ref=np.max, top_db=None) > -35.0
    np.testing.assert_array_equal(ours, reference)
    np.testing.assert_allclose(frame_rms(audio, hop=HOP, win=WIN), rms, rtol=1e-6, atol=1e-9)
    level = frame_energy_db(audio, hop=HOP, win=WIN)
    assert level.max() == 0.0 and (level <= 0).all()


def test_smoothing_removes_flicker() -> None:
    audio, spans = _bursts()
    # a 2 ms click in the middle of the long gap, and a 40 ms dropout inside the first tone
    click = int(0.75 * RATE)
    audio[click : click + 32] = 0.4
    start = spans[0][0] + int(0.1 * RATE)
    audio[start : start + int(0.04 * RATE)] = 0.0
    raw = _silent(audio, min_silence_ms=0, min_speech_ms=0, hangover_ms=0)
    smooth = _silent(audio)
    click_frames = slice(click // HOP - 1, click // HOP + 3)
    dropout_frames = slice((start + WIN) // HOP, (start + int(0.04 * RATE) - WIN) // HOP)
    assert not raw[click_frames].all() and raw[dropout_frames].all()  # the raw decision flickers
    assert smooth[click_frames].all()  # the click is no speech
    assert not smooth[dropout_frames].any()  # the dropout is no silence
    # the hangover: speech goes on a little after the tone's last loud frame
    last_loud = np.flatnonzero(~raw[: (spans[0][1] + WIN) // HOP + 5])[-1]
    assert not smooth[last_loud + 1 : last_loud + 3].any()
    assert smooth[last_loud + 10]


def test_edge_cases() -> None:
    zeros = np.zeros(RATE // 2, np.float32)
    assert _silent(zeros).all()
    kept = keep_frames(zeros, sample_rate=RATE, hop=HOP, win=WIN, silence_db=40.0)
    assert kept.sum() == 1
    steady = _tone(RATE // 2, 300.0, 0.3)
    assert not _silent(steady).any()
    assert _silent(np.ones(1, np.float32)).shape == (1,)  # shorter than a window: one frame
    with pytest.raises(ValueError, match="silence_db"):
        _silent(steady, 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        _silent(np.zeros(0, np.float32))


ALIGNMENT = [
    FeatureConfig(),
    # an odd window (551 samples) and clips that are whole multiples of the hop
    FeatureConfig(sample_rate=22050, win_ms=25.0, hop_ms=10.0, n_mels=64),
    FeatureConfig(sample_rate=8000, win_ms=32, hop_ms=8, n_mels=24, kind="mfcc"),
    FeatureConfig(trim_db=30.0),
    FeatureConfig(silence="mask", trim_db=30.0),
    FeatureConfig(silence="label"),
]


@pytest.mark.parametrize("config", ALIGNMENT, ids=["default", "odd", "8k", "trim", "mask", "label"])
def test_masks_align_with_feature_frames(config: FeatureConfig) -> None:
    fx = FeatureExtractor(config, None)
    rate, hop = config.sample_rate, config.hop_length
    audios = [_bursts(1e-4, rate, seed)[0] for seed in range(2)]
    audios += [audios[0][: 100 * hop], audios[1][: 57 * hop + 3], audios[0][: hop // 2]]
    masks = fx.silence(audios)
    features = fx(audios)
    for audio, mask, feature in zip(audios, masks, features, strict=True):
        assert mask.dtype == bool and mask.shape == (feature.shape[0],)
        if config.trim_db is None:
            assert len(mask) == fx.frames(len(audio))
            np.testing.assert_array_equal(
                mask,
                silent_frames(
                    audio, sample_rate=rate, hop=hop, win=config.win_length, silence_db=40.0
                ),
            )
    # the bursts have silence in the middle and on the edges, the short clips not all
    assert masks[0].any() and not masks[0].all()


def test_remove_drops_exactly_the_silent_frames() -> None:
    keep = FeatureConfig(normalize="none", top_db=None)
    remove = dataclasses.replace(keep, silence="remove")
    audios = [_bursts(1e-4, seed=s)[0] for s in range(3)]
    full = FeatureExtractor(keep, None)(audios)
    masks = FeatureExtractor(keep, None).silence(audios)
    fx = FeatureExtractor(remove, None)
    shortened = fx(audios)
    for whole, mask, short in zip(full, masks, shortened, strict=True):
        assert 0 < short.shape[0] < whole.shape[0]
        np.testing.assert_allclose(short, whole[~mask], rtol=1e-5, atol=1e-4)
    # after removal, the masks of the features say nothing is silent
    assert not any(m.any() for m in fx.silence(audios))
    assert [m.shape[0] for m in fx.silence(audios)] == [s.shape[0] for s in shortened]


def test_remove_never_empties_a_clip() -> None:
    fx = FeatureExtractor(FeatureConfig(silence="remove"), None)
    quiet = np.zeros(RATE, np.float32)
    quiet[8000:8040] = 0.2  # a 2.5 ms click: smoothed away, so every frame is silent
    out = fx([quiet, np.zeros(RATE // 4, np.float32)])
    assert [o.shape[0] for o in out] == [1, 1]
    assert all(np.isfinite(o).all() for o in out)
    assert [m.tolist() for m in fx.silence([quiet])] == [[True]]


def test_remove_after_trimming() -> None:
    base = FeatureConfig(normalize="none", top_db=None, trim_db=30.0)
    audio = _bursts(1e-4)[0]
    trimmed = FeatureExtractor(base, None)([audio])[0]
    mask = FeatureExtractor(base, None).silence([audio])[0]
    removed = FeatureExtractor(dataclasses.replace(base, silence="remove"), None)([audio])[0]
    # trimming took the edges; removal takes the gap between the tones as well
    assert removed.shape[0] < trimmed.shape[0] < FeatureExtractor(base, None).frames(len(audio))
    np.testing.assert_allclose(removed, trimmed[~mask], rtol=1e-5, atol=1e-4)


def test_cache_key_follows_the_silence_settings(tmp_path) -> None:
    audios = [_bursts(1e-4, seed=s)[0] for s in range(2)]
    FeatureExtractor(FeatureConfig(), tmp_path)(audios)
    # modes that keep every frame, at any threshold, read the same entries
    for shared in (
        FeatureConfig(silence="mask"),
        FeatureConfig(silence="label", silence_db=20.0),
        FeatureConfig(silence_db=60.0),
    ):
        fx = FeatureExtractor(shared, tmp_path)
        fx(audios)
        assert (fx.hits, fx.misses) == (2, 0), shared
    # removal changes the features: its own entries, one per threshold
    for db in (40.0, 25.0):
        fx = FeatureExtractor(FeatureConfig(silence="remove", silence_db=db), tmp_path)
        first = fx(audios)
        assert (fx.hits, fx.misses) == (0, 2)
        again = FeatureExtractor(FeatureConfig(silence="remove", silence_db=db), tmp_path)
        repeated = again(audios)
        assert (again.hits, again.misses) == (2, 0)
        assert all(np.array_equal(a, b) for a, b in zip(first, repeated, strict=True))
    keys = {
        FeatureExtractor(FeatureConfig(silence=mode, silence_db=db), None).key
        for mode in ("keep", "mask", "label")
        for db in (30.0, 40.0)
    }
    assert len(keys) == 1
