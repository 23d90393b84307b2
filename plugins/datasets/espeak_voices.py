"""Voices of one's own for the ``espeak`` dataset's speakers (``voices = "unique"``).

eSpeak NG has 13 plain voice variants (m1..m8, f1..f5), and every language
draws its speakers from the same 13, so with ``voices = "variants"`` (the
default) a Dutch and a Japanese speaker can share one variant's formants, and
a variant moves a speaker's features further than its language does
(docs/data.md). With ``"unique"`` each speaker keeps its variant (so its
gender and voice quality) and gets its own vocal tract and pitch band
besides: every formant frequency of the variant file scaled by a factor drawn
for the speaker (:data:`TRACT`, about the spread of adult vocal-tract lengths
within a sex) times a small per-formant factor (:data:`JITTER`), and the
variant's pitch band (the ``pitch`` line, in Hz, within which the speaker's
drawn pitch and range lie) by another (:data:`PITCH`). eSpeak reads variants
only from its data folder, so the speakers' variant files are written into a
private copy of that folder (links to the installed files, and the new
variants; copies where links cannot be made), which exists while the
language is spoken.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from harness.hashing import stable_seed

#: the ``voices`` parameter's values
CHOICES = ("variants", "unique")
#: a speaker's vocal-tract factor on every formant frequency, uniform in this range
TRACT = (0.90, 1.10)
#: each formant's own factor on top, uniform in this range
JITTER = (0.97, 1.03)
#: a speaker's factor on its variant's pitch band, uniform in this range
PITCH = (0.85, 1.15)
_FORMANT = re.compile(r"^(formant\s+)(\d+)(\s+)(\d+)", re.MULTILINE)
_PITCH = re.compile(r"^(pitch\s+)(\d+)(\s+)(\d+)", re.MULTILINE)
#: eSpeak's own pitch band where a variant names none (Hz)
DEFAULT_PITCH = (80, 118)


def speaker_variant_name(k: int) -> str:
    """The variant file name of speaker ``k`` in the private data folder."""
    return f"harness-speaker{k:03d}"


def speaker_factors(seed: int, language: str, k: int) -> tuple[np.ndarray, float]:
    """Speaker ``k``'s factors on formants 0..8 (its tract factor times each
    formant's jitter) and on its pitch band, from their own seeded stream: the
    variant, pitch, rate and text draws stay those of ``voices = "variants"``."""
    rng = np.random.default_rng(stable_seed("espeak-tract", seed, language, k))
    tract = rng.uniform(*TRACT)
    return tract * rng.uniform(*JITTER, size=9), float(rng.uniform(*PITCH))


def scaled_variant(text: str, formants: np.ndarray, pitch: float) -> str:
    """A variant file's text with each ``formant N freq height width`` line's
    frequency (a percentage of the language's formant) multiplied by
    ``formants[N]`` and both ends of its ``pitch`` band by ``pitch``. Lines
    the variant lacks are added at eSpeak's defaults first."""
    if not _FORMANT.search(text):
        text += "".join(f"\nformant {n} 100 100 100" for n in range(len(formants))) + "\n"
    if not _PITCH.search(text):
        text += "\npitch {} {}\n".format(*DEFAULT_PITCH)

    def formant(match: re.Match[str]) -> str:
        head, number, gap, percent = match.groups()
        factor = formants[int(number)] if int(number) < len(formants) else 1.0
        return f"{head}{number}{gap}{round(int(percent) * factor)}"

    def band(match: re.Match[str]) -> str:
        head, low, gap, high = match.groups()
        return f"{head}{round(int(low) * pitch)}{gap}{round(int(high) * pitch)}"

    return _PITCH.sub(band, _FORMANT.sub(formant, text))


@contextlib.contextmanager
def private_data(installed: Path, variants: Mapping[str, str]) -> Iterator[Path]:
    """A data folder that is ``installed`` (links to its files) plus ``variants``
    (name -> variant file text) among its voice variants; removed on exit."""
    with tempfile.TemporaryDirectory(prefix="harness-espeak-data-") as folder:
        root = Path(folder)
        _link_all(installed, root, but="voices")
        _link_all(installed / "voices", root / "voices", but="!v")
        own = root / "voices" / "!v"
        _link_all(installed / "voices" / "!v", own)
        for name, text in variants.items():
            (own / name).write_text(text)
        yield root


def _link_all(source: Path, target: Path, but: str | None = None) -> None:
    """``source``'s entries (but one) in ``target``: links, or copies where the
    system refuses links (Windows without the right to make them)."""
    target.mkdir(exist_ok=True)
    for entry in source.iterdir():
        if entry.name == but:
            continue
        try:
            os.symlink(entry, target / entry.name)
        except OSError:
            if entry.is_dir():
                shutil.copytree(entry, target / entry.name)
            else:
                shutil.copy2(entry, target / entry.name)
