"""The per-process memory of clip digests and features (harness.data.feature_memory)."""

from __future__ import annotations

import gc

import numpy as np

from harness.data import feature_memory
from harness.data.feature_memory import FeatureMemory
from harness.data.features import FeatureExtractor
from harness.spec.config import FeatureConfig


def _clip(seed: int, n: int = 8000) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, n).astype(np.float32)


def test_a_read_only_array_is_hashed_once_and_a_writeable_one_every_time(monkeypatch):
    memory = FeatureMemory()
    calls = []
    real = feature_memory._digest
    monkeypatch.setattr(feature_memory, "_digest", lambda a: calls.append(1) or real(a))
    fixed, loose = _clip(0), _clip(1)
    fixed.setflags(write=False)
    assert memory.digest(fixed) == memory.digest(fixed) == real(fixed.copy())
    assert len(calls) == 1
    memory.digest(loose)
    loose[0] = 1.0  # a writeable array may change between two calls
    assert memory.digest(loose) != real(_clip(1))
    assert len(calls) == 3


def test_a_forgotten_array_leaves_no_digest_behind():
    memory = FeatureMemory()
    audio = _clip(2)
    audio.setflags(write=False)
    memory.digest(audio)
    assert len(memory._digests) == 1
    del audio
    gc.collect()
    assert memory._digests == {}


def test_features_are_kept_as_copies_up_to_the_limit_oldest_dropped_first():
    memory = FeatureMemory(limit=3 * 800)
    arrays = [np.full((10, 20), i, np.float32) for i in range(4)]  # 800 bytes each
    for i, a in enumerate(arrays):
        assert memory.put("k", str(i), a) is a
        a[0, 0] = -1.0  # the caller's array is its own
    assert memory.get("k", "0") is None
    got = memory.get("k", "3")
    assert got is not None and got[0, 0] == 3.0 and got.flags.writeable
    got[0, 0] = -2.0  # and so is each copy handed out
    assert memory.get("k", "3")[0, 0] == 3.0
    memory.get("k", "1")  # used: now the newest
    memory.put("k", "4", np.zeros((10, 20), np.float32))
    assert memory.get("k", "1") is not None and memory.get("k", "2") is None
    assert memory.get("other key", "3") is None


def test_remembered_features_equal_the_disk_cache_and_a_fresh_computation(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_memory, "MEMORY", FeatureMemory())
    monkeypatch.setattr("harness.data.features.MEMORY", feature_memory.MEMORY)
    clips = [_clip(s) for s in range(3)]
    for c in clips:
        c.setflags(write=False)
    extract = FeatureExtractor(FeatureConfig(), tmp_path)
    first = extract(clips)
    assert len(feature_memory.MEMORY._features) == 3  # kept in memory
    again = FeatureExtractor(FeatureConfig(), tmp_path)
    repeated = again(clips)
    assert again.hits == 3
    feature_memory.MEMORY.clear()
    from_disk = FeatureExtractor(FeatureConfig(), tmp_path)(clips)
    fresh = FeatureExtractor(FeatureConfig(), None)(clips)
    for a, b, c, d in zip(first, from_disk, fresh, repeated, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, d)
        np.testing.assert_array_equal(a, c)
    first[0][0, 0] = 1.0  # a caller's change reaches neither the memory nor the next caller
    assert FeatureExtractor(FeatureConfig(), tmp_path)(clips)[0][0, 0] != 1.0
