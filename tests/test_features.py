"""Feature extraction: agreement with librosa, every config field honoured, the disk cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")
torch = pytest.importorskip("torch")

from harness.data.feature_memory import MEMORY  # noqa: E402
from harness.data.features import FeatureExtractor, fit_normalizer  # noqa: E402
from harness.spec.config import FeatureConfig  # noqa: E402

torch.set_num_threads(1)


def _speechlike(n: int, rate: int, seed: int) -> np.ndarray:
    """Harmonics under a slow envelope plus noise: a wide dynamic range, like speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 2.5 * t)) ** 2
    return (0.1 * envelope * voiced + 0.003 * rng.standard_normal(n)).astype(np.float32)


def _librosa_mel(audio: np.ndarray, fx: FeatureExtractor) -> np.ndarray:
    return librosa.feature.melspectrogram(y=audio, **fx.librosa_mel_params()).T


CONFIGS = [
    FeatureConfig(normalize="none"),
    # the original study: 22050 Hz, n_fft 2048, hop 512 (~23 ms), 128 mels
    FeatureConfig(
        sample_rate=22050,
        win_ms=2048 / 22.05,
        hop_ms=512 / 22.05,
        n_fft=2048,
        n_mels=128,
        normalize="none",
    ),
    FeatureConfig(
        sample_rate=8000, win_ms=32, hop_ms=8, n_mels=24, fmin=60.0, fmax=3800.0, normalize="none"
    ),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "study", "narrowband"])
def test_mel_power_matches_librosa(config: FeatureConfig) -> None:
    fx = FeatureExtractor(config, None)
    rate = config.sample_rate
    # unequal lengths share one padded batch; padding must not leak into any clip
    audios = [_speechlike(n, rate, i) for i, n in enumerate((rate, rate // 3 + 17, 2 * rate - 5))]
    for audio, ours in zip(audios, fx.mel_power(audios), strict=True):
        ref = _librosa_mel(audio, fx)
        assert ours.shape == ref.shape
        assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-4
        big = ref > 1e-6 * ref.max()  # elementwise where float32 rounding is not all there is
        assert np.max(np.abs(ours - ref)[big] / ref[big]) < 1e-4


def test_db_and_mfcc_match_librosa() -> None:
    audio = _speechlike(16000, 16000, 3)
    # top_db 40 is below this clip's dynamic range, so the clipping is exercised
    logmel = FeatureExtractor(FeatureConfig(normalize="none", top_db=40.0), None)
    mfcc = FeatureExtractor(
        FeatureConfig(kind="mfcc", n_mfcc=20, top_db=40.0, normalize="none"), None
    )
    ref_db = librosa.power_to_db(_librosa_mel(audio, logmel).T, ref=1.0, top_db=40.0)
    ours_db = logmel([audio])[0]
    assert ours_db.shape == (ref_db.shape[1], 40)
    np.testing.assert_allclose(ours_db, ref_db.T, atol=2e-3)
    assert ours_db.min() == pytest.approx(ours_db.max() - 40.0, abs=1e-3)  # top_db clipped
    ref_mfcc = librosa.feature.mfcc(S=ref_db, n_mfcc=20)
    ours_mfcc = mfcc([audio])[0]
    assert ours_mfcc.shape == (ref_mfcc.shape[1], 20) and mfcc.n_features == 20
    np.testing.assert_allclose(ours_mfcc, ref_mfcc.T, atol=2e-2, rtol=1e-4)


def test_natural_log_and_no_compression() -> None:
    audio = _speechlike(8000, 16000, 4)
    power = FeatureExtractor(FeatureConfig(log="none", normalize="none"), None)
    ln = FeatureExtractor(FeatureConfig(log="ln", normalize="none"), None)
    p = power([audio])[0]
    np.testing.assert_allclose(ln([audio])[0], np.log(np.maximum(p, 1e-10)), rtol=1e-5, atol=1e-5)


def test_per_clip_normalisation() -> None:
    audios = [_speechlike(12000, 16000, 5), 3.0 * _speechlike(9000, 16000, 6)]
    minmax = FeatureExtractor(FeatureConfig(), None)(audios)  # clip_minmax is the default
    for x in minmax:
        assert x.dtype == np.float32 and x.shape[1] == 40
        assert x.min() == pytest.approx(0.0) and x.max() == pytest.approx(1.0)
    zscore = FeatureExtractor(FeatureConfig(normalize="clip_zscore"), None)(audios)
    for x in zscore:
        np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-4)
        np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-3)


def test_trim_removes_leading_and_trailing_silence() -> None:
    rate = 16000
    speech = _speechlike(rate, rate, 7)
    quiet = np.zeros(rate // 2, dtype=np.float32)
    padded = np.concatenate([quiet, speech, quiet])
    plain = FeatureExtractor(FeatureConfig(normalize="none"), None)([padded])[0]
    trimmed = FeatureExtractor(FeatureConfig(normalize="none", trim_db=60.0), None)([padded])[0]
    speech_frames = rate // 160
    assert plain.shape[0] == 1 + len(padded) // 160
    # the speech's own frames stay (its envelope dips are not edges); silence goes
    assert speech_frames - 10 <= trimmed.shape[0] <= speech_frames + 6


def test_corpus_zscore_uses_training_statistics() -> None:
    config = FeatureConfig(normalize="corpus_zscore")
    fx = FeatureExtractor(config, None)
    train = fx([_speechlike(8000, 16000, s) for s in range(3)])
    other = fx([_speechlike(8000, 16000, 9)])
    normalize = fit_normalizer(train, config)
    frames = np.concatenate(normalize(train))
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-3)
    assert normalize(other)[0].shape == other[0].shape
    identity = fit_normalizer(train, FeatureConfig(normalize="clip_minmax"))
    assert all(a is b for a, b in zip(identity(train), train, strict=True))


# one changed value per FeatureConfig field; a field added later must be added here
CHANGES = {
    "kind": "mfcc",
    "sample_rate": 8000,
    "win_ms": 20.0,
    "hop_ms": 5.0,
    "n_fft": 1024,
    "n_mels": 32,
    "fmin": 50.0,
    "fmax": 4000.0,
    "n_mfcc": 20,
    "log": "ln",
    "top_db": 60.0,
    "normalize": "clip_zscore",
    "trim_db": 40.0,
    "silence": "remove",
    "silence_db": 30.0,
}
# a field that changes the features only beside another setting is changed there
# (the silence threshold under silence = "remove"; tests/test_silence.py checks that the
# modes that keep every frame share the cache)
CHANGED_BESIDE = {"silence_db": {"silence": "remove"}}


def test_cache_hits_on_repeat_and_misses_on_any_change(tmp_path) -> None:
    assert set(CHANGES) == {f.name for f in dataclasses.fields(FeatureConfig)}
    audios = [_speechlike(4000, 16000, s) for s in range(3)]
    base = FeatureConfig()
    first = FeatureExtractor(base, tmp_path)
    computed = first(audios)
    assert (first.hits, first.misses) == (0, 3)

    again = FeatureExtractor(base, tmp_path)
    # the cached file is what a hit returns in a new process (this one remembers
    # them: harness.data.feature_memory): mark one entry and read it back
    MEMORY.clear()
    entry = next((tmp_path / "features" / again.key).rglob("*.npy"))
    marked = np.load(entry)
    marked[0, 0] = -123.0
    np.save(entry, marked)
    repeated = again(audios)
    assert (again.hits, again.misses) == (3, 0)
    assert sum(bool((r == -123.0).any()) for r in repeated) == 1
    assert sum(np.array_equal(a, b) for a, b in zip(repeated, computed, strict=True)) == 2

    for name, value in CHANGES.items():
        beside = dataclasses.replace(base, **CHANGED_BESIDE.get(name, {}))
        FeatureExtractor(beside, tmp_path)(audios)
        changed = FeatureExtractor(dataclasses.replace(beside, **{name: value}), tmp_path)
        changed(audios)
        assert (changed.hits, changed.misses) == (0, 3), f"changing {name} must miss the cache"

    edited = FeatureExtractor(base, tmp_path)
    edited([audios[0], audios[1] * 0.5])  # different samples: a different entry
    assert (edited.hits, edited.misses) == (1, 1)


def test_rejects_bad_audio_and_impossible_settings() -> None:
    fx = FeatureExtractor(FeatureConfig(), None)
    with pytest.raises(ValueError, match="clip 1"):
        fx([np.ones(100, np.float32), np.array([0.0, np.nan], np.float32)])
    with pytest.raises(ValueError, match="non-empty"):
        fx([np.zeros(0, np.float32)])
    with pytest.raises(ValueError, match="n_fft"):
        FeatureExtractor(FeatureConfig(n_fft=128), None)  # shorter than the 400-sample window
    with pytest.raises(ValueError, match="n_mfcc"):
        FeatureExtractor(FeatureConfig(kind="mfcc", n_mels=10, n_mfcc=13), None)


def test_short_clip_and_frame_count() -> None:
    fx = FeatureExtractor(FeatureConfig(), None)
    out = fx([_speechlike(50, 16000, 1), _speechlike(16000, 16000, 2)])
    assert [o.shape for o in out] == [(1, 40), (101, 40)]
    assert all(np.isfinite(o).all() for o in out)


@pytest.mark.parametrize("config", CONFIGS[:2], ids=["default", "study"])
def test_a_clips_features_do_not_depend_on_its_batch_or_chunk(config, monkeypatch) -> None:
    """Clips are framed as one padded batch and transformed a few at a time: neither
    the other clips nor where the chunks fall may change a clip's numbers."""
    import harness.data.features as features

    rate = config.sample_rate
    audios = [_speechlike(n, rate, i) for i, n in enumerate((rate, rate // 2 + 9, 3 * rate))]
    fx = FeatureExtractor(dataclasses.replace(config, normalize="clip_minmax"), None)
    together = fx.compute(audios)
    monkeypatch.setattr(features, "CHUNK_BYTES", 1)  # one clip per chunk
    for audio, mine in zip(audios, together, strict=True):
        alone = fx.compute([audio])[0]
        assert alone.shape == mine.shape
        np.testing.assert_allclose(alone, mine, rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS[:2], ids=["default", "study"])
def test_features_are_the_same_numbers_with_any_number_of_threads(config, monkeypatch) -> None:
    """Blocks of frames are shared out between torch's threads, each block computed
    by one thread: the numbers may not depend on how many there are."""
    import torch

    import harness.data.features as features

    rate = config.sample_rate
    audios = [_speechlike(n, rate, i) for i, n in enumerate((rate, 2 * rate + 7, 5 * rate))]
    fx = FeatureExtractor(config, None)
    monkeypatch.setattr(features, "CHUNK_BYTES", 2**16)  # many blocks per batch
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fx.mel_power(audios)
        torch.set_num_threads(3)
        three = fx.mel_power(audios)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, three, strict=True):
        assert np.array_equal(a, b)
