"""Shared audio handling for dataset plugins: decode, resample, reject bad clips.

Every dataset plugin goes through the same checks, so "unusable" means the
same thing for eSpeak, Common Voice and a folder of files, and every skipped
clip is reported the same way (a :class:`harness.plugin.contracts.DataWarning`
naming the file and the reason, counted per language).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_path
from harness.plugin.contracts import Clip, DataError, DataWarning

#: A clip whose peak is below this (full scale 1.0, about -80 dBFS) carries no speech.
SILENCE_PEAK = 1e-4


#: Why a file or clip was skipped, as recorded (``data.skipped`` of a run record):
#: ``missing`` (no such file), ``empty`` (0 bytes, or no samples), ``undecodable``
#: (the decoder refused it, or it holds NaN or infinite samples), ``silent`` (peak
#: below -80 dBFS), ``too_short``, ``unreadable`` (a table or folder of the dataset),
#: ``speaker`` (a speaker dropped for too few usable clips), ``layout`` (a file whose
#: name or place does not follow the dataset's layout, such as a RAVDESS name with a
#: wrong field count), ``other`` (a plugin's warning that names no reason).
SKIP_REASONS = ("missing", "empty", "undecodable", "silent", "too_short", "unreadable",
                "speaker", "layout", "other")  # fmt: skip
#: the reasons that concern one audio file (the others: a table or folder, a speaker)
FILE_REASONS = ("missing", "empty", "undecodable", "silent", "too_short", "layout")


class BadAudio(Exception):
    """A clip cannot be used; the message is the reason shown to the user and
    ``reason`` one of :data:`SKIP_REASONS`."""

    def __init__(self, message: str, reason: str = "undecodable") -> None:
        super().__init__(message)
        self.reason = reason


@contextlib.contextmanager
def quiet_stderr() -> Iterator[list[str]]:
    """Keep what C libraries print on file descriptor 2 (mpg123's "Note: Illegal
    Audio-MPEG-Header", ...) off the terminal; the lines are given back, to be
    part of a message when the read fails."""
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to redirect (a detached process)
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines += [line.strip() for line in text.splitlines() if line.strip()]


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1) as mono float32.

    Raises :class:`BadAudio` when the file is missing, empty or cannot be decoded.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise BadAudio("missing: no such file", "missing")
    if path.stat().st_size == 0:
        raise BadAudio("empty file (0 bytes)", "empty")
    with quiet_stderr() as noise:
        try:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as exc:  # soundfile raises several types for broken files
            error: Exception | None = exc
        else:
            error = None
    if error is not None:
        said = f" ({noise[0]})" if noise else ""
        raise BadAudio(f"undecodable: {error}{said}", "undecodable") from error
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
    if len(audio) == 0:
        raise BadAudio("empty: no samples", "empty")
    if len(audio) < min_samples:
        raise BadAudio(f"too short ({len(audio)} samples)", "too_short")
    if not np.isfinite(audio).all():
        raise BadAudio("undecodable: contains NaN or infinite samples", "undecodable")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise BadAudio("silent (peak below -80 dBFS)", "silent")


def load_clip(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode, check and resample one file to ``sample_rate``; raise :class:`BadAudio`."""
    audio, rate = decode(path)
    check_clip(audio)
    return resample(audio, rate, sample_rate)


@dataclass
class SkipLog:
    """Warns about each skipped clip (a :class:`DataWarning` carrying the language,
    file and reason) and counts them per language and reason."""

    dataset: str
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def skip(self, language: str, what: str | Path, detail: str, reason: str = "other") -> None:
        """``reason`` is one of :data:`SKIP_REASONS`; ``detail`` says more for a person."""
        warning = DataWarning(f"{self.dataset} [{language}]: skipped {what}: {detail}")
        warning.dataset, warning.language, warning.file = self.dataset, language, str(what)
        warning.reason, warning.detail = reason, detail
        warnings.warn(warning, stacklevel=3)
        self.counts[(language, reason)] += 1

    def skipped(self, language: str | None = None) -> int:
        """Clips skipped so far, for one language or all."""
        return sum(n for (lang, _), n in self.counts.items() if language in (None, lang))

    def summary(self, language: str) -> str:
        """What was skipped in ``language``, such as "2 missing, 3 silent", or "nothing"."""
        parts = [f"{n} {reason}" for (lang, reason), n in sorted(self.counts.items())
                 if lang == language]  # fmt: skip
        return ", ".join(parts) or "no file skipped"


def require_languages(skips: SkipLog, languages: Iterable[str], found: Iterable[str]) -> None:
    """Raise :class:`DataError` naming every requested language with no usable clip,
    with what was skipped in each."""
    have = set(found)
    missing = [lang for lang in languages if lang not in have]
    if missing:
        raise DataError(
            f"{skips.dataset}: no usable clips for language(s) {', '.join(missing)}: "
            + "; ".join(f"{lang}: {skips.summary(lang)}" for lang in missing)
        )


@contextlib.contextmanager
def recorded_skips() -> Iterator[list[dict[str, str]]]:
    """Collect the :class:`DataWarning` s raised inside as ``data.skipped`` rows
    ({dataset, language, file, reason, detail}) instead of printing them."""
    rows: list[dict[str, str]] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        yield rows
    for item in caught:
        w = item.message
        if not isinstance(w, DataWarning):
            warnings.warn_explicit(w, item.category, item.filename, item.lineno)
            continue
        reason = getattr(w, "reason", "other")
        rows.append({
            "dataset": str(getattr(w, "dataset", "")),
            "language": str(getattr(w, "language", "")),
            "file": str(getattr(w, "file", "")),
            "reason": reason if reason in SKIP_REASONS else "other",
            "detail": str(getattr(w, "detail", w)),
        })  # fmt: skip


def skip_counts(rows: Iterable[Mapping[str, str]]) -> dict[str, dict[str, int]]:
    """``{language: {reason: n}}`` of ``data.skipped`` rows."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        per = out.setdefault(row["language"], {})
        per[row["reason"]] = per.get(row["reason"], 0) + 1
    return out


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


def data_quality(clips: Iterable[Clip], skipped: list[dict[str, str]]) -> dict[str, Any]:
    """The run record's account of the data: what the dataset delivered per language
    (``loaded``: speakers and clips), every file it skipped with the reason
    (``skipped``) and their counts (``skipped_counts``: language -> reason -> n)."""
    speakers: dict[str, set[str]] = {}
    counts: Counter[str] = Counter()
    for clip in clips:
        speakers.setdefault(clip.language, set()).add(clip.speaker)
        counts[clip.language] += 1
    loaded = {lang: {"speakers": len(speakers[lang]), "clips": counts[lang]} for lang in speakers}
    return {"loaded": loaded, "skipped": list(skipped), "skipped_counts": skip_counts(skipped)}
