"""Shared audio handling for dataset plugins: decode, resample, reject bad clips.

Every dataset plugin goes through the same checks, so "unusable" means the
same thing for eSpeak, Common Voice and a folder of files, and every skipped
clip is reported the same way (a :class:`harness.contracts.DataWarning`
naming the file and the reason, counted per language).
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np

from harness.atomic import atomic_path
from harness.contracts import DataError, DataWarning

#: A clip whose peak is below this (full scale 1.0, about -80 dBFS) carries no speech.
SILENCE_PEAK = 1e-4


class BadAudio(Exception):
    """A clip cannot be used; the message is the reason shown to the user."""


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1) as mono float32.

    Raises :class:`BadAudio` when the file cannot be read.
    """
    import soundfile as sf

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for broken files
        raise BadAudio(f"cannot decode: {exc}") from exc
    # mixing channels keeps every speaker audible whichever channel they are on
    mono = audio.mean(axis=1, dtype=np.float32) if audio.shape[1] > 1 else audio[:, 0]
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample mono audio; the output has ``round(len * target / orig)`` samples.

    Uses a polyphase filter (scipy), which is deterministic for the same input
    and rates, so cached corpora stay bit-identical.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if orig_rate == target_rate:
        return audio
    from scipy.signal import resample_poly

    divisor = gcd(int(orig_rate), int(target_rate))
    up, down = int(target_rate) // divisor, int(orig_rate) // divisor
    out = resample_poly(audio.astype(np.float64), up, down)
    length = round(len(audio) * target_rate / orig_rate)
    return fit_length(out, length).astype(np.float32)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad ``audio`` at the end to exactly ``length`` samples."""
    if len(audio) >= length:
        return audio[:length]
    return np.concatenate([audio, np.zeros(length - len(audio), dtype=audio.dtype)])


def check_clip(audio: np.ndarray, min_samples: int = 1) -> None:
    """Raise :class:`BadAudio` for an empty, non-finite or silent clip."""
    if audio.ndim != 1:
        raise BadAudio(f"expected mono audio, got shape {audio.shape}")
    if len(audio) < min_samples:
        raise BadAudio("empty" if len(audio) == 0 else f"too short ({len(audio)} samples)")
    if not np.isfinite(audio).all():
        raise BadAudio("contains NaN or infinite samples")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise BadAudio("silent (peak below -80 dBFS)")


def load_clip(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode, check and resample one file to ``sample_rate``; raise :class:`BadAudio`."""
    audio, rate = decode(path)
    check_clip(audio)
    return resample(audio, rate, sample_rate)


@dataclass
class SkipLog:
    """Warns about each skipped clip and counts them per language and reason."""

    dataset: str
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def skip(self, language: str, what: str | Path, reason: str) -> None:
        warnings.warn(
            DataWarning(f"{self.dataset} [{language}]: skipped {what}: {reason}"), stacklevel=3
        )
        self.counts[(language, _reason_kind(reason))] += 1

    def skipped(self, language: str | None = None) -> int:
        """Clips skipped so far, for one language or all."""
        return sum(n for (lang, _), n in self.counts.items() if language in (None, lang))


def _reason_kind(reason: str) -> str:
    # counts group by the first words of the reason ("cannot decode", "silent", ...)
    return reason.split(":")[0].split("(")[0].strip()


def require_languages(dataset: str, languages: Iterable[str], found: Iterable[str]) -> None:
    """Raise :class:`DataError` naming every requested language with no usable clip."""
    have = set(found)
    missing = [lang for lang in languages if lang not in have]
    if missing:
        raise DataError(
            f"{dataset}: no usable clips for language(s) {', '.join(missing)} "
            "(see the warnings above for skipped files)"
        )


def file_digest(path: Path, *extra: object) -> str:
    """A cache key for a file: its absolute path, size and modification time, plus ``extra``."""
    stat = path.stat()
    text = "|".join(
        [str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *map(str, extra)]
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def atomic_save(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as .npy so that readers never see a half-written file."""
    # no fsync: these are cache entries, one per clip, and a reader treats a
    # damaged one as missing; syncing each would slow a cold cache for nothing
    with atomic_path(path, fsync=False) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def cached_clip(path: Path, sample_rate: int, cache_dir: Path | None) -> np.ndarray:
    """:func:`load_clip` with decoded audio kept under ``cache_dir/decoded``.

    The key holds the file's path, size and modification time, so an edited
    file is decoded again. Raises :class:`BadAudio`.
    """
    if cache_dir is None:
        return load_clip(path, sample_rate)
    key = file_digest(path, sample_rate)
    cached = cache_dir / "decoded" / key[:2] / f"{key}.npy"
    if cached.exists():
        try:
            return np.load(cached, allow_pickle=False)
        except (OSError, ValueError):
            cached.unlink(missing_ok=True)  # a damaged cache entry is decoded again
    audio = load_clip(path, sample_rate)
    atomic_save(cached, audio)
    return audio
