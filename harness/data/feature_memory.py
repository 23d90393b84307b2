"""What a process already knows about the audio it has turned into features.

A worker runs many runs of one suite, and they share most of their clips: the
same read-only corpus arrays (:func:`harness.run.inputs.load_clips`) through
the same feature settings. Hashing a clip's samples and reading its features
back from the disk cache cost more than a third of a flagship run's training
(bench/bench_phases.py), so the process keeps

* each read-only array's digest, by identity (an array that can be written to
  is hashed every time: its samples may change), forgotten with the array;
* the most recent features by (cache folder, audio digest), up to
  :data:`MEMORY_BYTES`, least recently used dropped first: a read-only copy
  is kept and each caller gets its own copy, so no caller can change what
  the next run reads (and torch takes the arrays without a warning).

Nothing here changes a number: the digest is the disk cache's, and a
remembered entry is the array the cache would have returned (the folder
names the feature parameters' key, so other settings never share an entry).
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict

import numpy as np

#: features kept in memory per process (a flagship run's clips take about 45 MB)
MEMORY_BYTES = 512 * 2**20


class FeatureMemory:
    """Digests by array identity and features by (folder, digest), for one process."""

    def __init__(self, limit: int = MEMORY_BYTES) -> None:
        self.limit = limit
        self._digests: dict[int, tuple[weakref.ref[np.ndarray], str]] = {}
        self._features: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._bytes = 0

    def digest(self, audio: np.ndarray) -> str:
        """The blake2b digest of ``audio``'s samples (float32, contiguous);
        remembered for an array that cannot be written to."""
        if audio.flags.writeable:
            return _digest(audio)
        known = self._digests.get(id(audio))
        if known is not None and known[0]() is audio:
            return known[1]
        value = _digest(audio)
        key = id(audio)

        def forget(_: weakref.ref[np.ndarray]) -> None:
            self._digests.pop(key, None)

        self._digests[key] = (weakref.ref(audio, forget), value)
        return value

    def get(self, key: str, digest: str) -> np.ndarray | None:
        """A copy of the features kept for (``key``, ``digest``), or None."""
        found = self._features.get((key, digest))
        if found is None:
            return None
        self._features.move_to_end((key, digest))
        return found.copy()

    def put(self, key: str, digest: str, features: np.ndarray) -> np.ndarray:
        """Keep a read-only copy of ``features``; return ``features`` themselves."""
        if features.nbytes > self.limit or (key, digest) in self._features:
            return features
        kept = features.copy()
        kept.setflags(write=False)
        self._features[(key, digest)] = kept
        self._bytes += kept.nbytes
        while self._bytes > self.limit:
            _, dropped = self._features.popitem(last=False)
            self._bytes -= dropped.nbytes
        return features

    def clear(self) -> None:
        self._digests.clear()
        self._features.clear()
        self._bytes = 0


def _digest(audio: np.ndarray) -> str:
    array = np.ascontiguousarray(audio, dtype=np.float32)
    return hashlib.blake2b(array.data, digest_size=16).hexdigest()


#: the process's memory, shared by every FeatureExtractor
MEMORY = FeatureMemory()
