"""RAVDESS (the Ryerson Audio-Visual Database of Emotional Speech and Song), read from disk.

Layout: ``<root>/Actor_NN/MM-VV-EE-II-SS-RR-AA.wav``, seven two-digit fields:
modality (01 audio-video, 02 video only, 03 audio only), vocal channel (01
speech, 02 song), emotion (01..08: neutral, calm, happy, sad, angry, fearful,
disgust, surprised), intensity (01 normal, 02 strong), statement (01 "Kids are
talking by the door", 02 "Dogs are sitting by the door"), repetition (01, 02)
and actor (01..24; odd actors are male, even female). The actor is the speaker
(``ravdess_actor_NN``), so speaker-disjoint splits are actor-disjoint. Every
clip is English (language ``en``).

A file whose name does not follow the layout (a wrong field count, a field that
is not a number, an unknown code, an actor that is not its folder's) is skipped
with reason ``layout``, naming the file and what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness import REQUIRED, Component, Param, ValidationContext, hookimpl
from harness.data.audio import SkipLog
from harness.data.corpus import Candidate, check_speakers, selection_params
from harness.data.dataset_roots import OneLanguageRecordings, one_language_root

LANGUAGE = "en"
EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
INTENSITIES = ("normal", "strong")
STATEMENTS = ("kids", "dogs")
#: the labels of every clip (beside language and speaker)
LABELS = ("emotion", "intensity", "statement", "gender", "actor")
_ACTOR_DIR = re.compile(r"Actor_(\d\d)")
_FIELDS = ("modality", "vocal_channel", "emotion", "intensity", "statement", "repetition", "actor")


class LayoutError(ValueError):
    """A file name that does not follow the RAVDESS layout; the message says why."""


def parse_name(name: str) -> dict[str, int]:
    """The seven fields of a RAVDESS file name (without its suffix), as numbers.

    :raises LayoutError: naming what is wrong (field count, a non-number, an unknown code).
    """
    parts = name.split("-")
    if len(parts) != len(_FIELDS):
        raise LayoutError(
            f"expected 7 fields MM-VV-EE-II-SS-RR-AA separated by '-', got {len(parts)}"
        )
    values: dict[str, int] = {}
    for field, part in zip(_FIELDS, parts, strict=True):
        if not (len(part) == 2 and part.isdigit()):
            raise LayoutError(f"field {field} is {part!r}, expected two digits")
        values[field] = int(part)
    ranges = {
        "modality": 3,
        "vocal_channel": 2,
        "emotion": len(EMOTIONS),
        "intensity": len(INTENSITIES),
        "statement": len(STATEMENTS),
        "repetition": 2,
        "actor": 24,
    }
    for field, top in ranges.items():
        if not 1 <= values[field] <= top:
            raise LayoutError(f"field {field} is {values[field]:02d}, expected 01..{top:02d}")
    return values


def clip_labels(fields: Mapping[str, int]) -> dict[str, str]:
    """The labels of a clip from its parsed file name."""
    return {
        "emotion": EMOTIONS[fields["emotion"] - 1],
        "intensity": INTENSITIES[fields["intensity"] - 1],
        "statement": STATEMENTS[fields["statement"] - 1],
        "gender": "male" if fields["actor"] % 2 else "female",
        "actor": f"{fields['actor']:02d}",
    }


def speaker_id(actor: int) -> str:
    return f"ravdess_actor_{actor:02d}"


def scan(
    root: Path,
    modality: int,
    vocal_channel: int,
    emotions: frozenset[str] | None,
    skips: SkipLog | None,
) -> dict[str, list[Candidate]]:
    """The kept files of ``root`` by speaker; files off the layout are skipped into ``skips``."""

    def skip(what: Path, detail: str) -> None:
        if skips is not None:
            skips.skip(LANGUAGE, what, detail, "layout")

    by_speaker: dict[str, list[Candidate]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        match = _ACTOR_DIR.fullmatch(folder.name)
        if match is None:
            skip(folder, "not an actor folder (expected Actor_NN, NN = 01..24)")
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if path.suffix.lower() != ".wav":
                continue
            try:
                fields = parse_name(path.stem)
            except LayoutError as exc:
                skip(path, f"not a RAVDESS file name: {exc}")
                continue
            if fields["actor"] != int(match.group(1)):
                skip(path, f"actor {fields['actor']:02d} in the name, but folder {folder.name}")
                continue
            labels = clip_labels(fields)
            if fields["modality"] != modality or fields["vocal_channel"] != vocal_channel:
                continue
            if emotions is not None and labels["emotion"] not in emotions:
                continue
            clip_id = f"ravdess/{folder.name}/{path.name}"
            by_speaker.setdefault(speaker_id(fields["actor"]), []).append(
                Candidate(clip_id, path, labels)
            )
    return by_speaker


class RavdessDataset(OneLanguageRecordings):
    name = "ravdess"
    language, title = LANGUAGE, "RAVDESS"

    def __init__(
        self,
        root: str,
        modality: int = 3,
        vocal_channel: int = 1,
        emotions: list[str] | None = None,
        clips_per_speaker: int | None = None,
        max_speakers: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(root, clips_per_speaker, max_speakers, seed, balance=False)
        self.modality = modality
        self.vocal_channel = vocal_channel
        self.emotions = frozenset(emotions) if emotions is not None else None

    def scan(self) -> dict[str, list[Candidate]]:
        return scan(self.root, self.modality, self.vocal_channel, self.emotions, self.skips)


def check_ravdess(
    params: Mapping[str, Any], context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """The root exists, every language is English, the emotions are known, enough actors."""
    unknown = sorted(set(params.get("emotions") or ()) - set(EMOTIONS))
    if unknown:
        yield "emotions", f"ravdess: unknown emotion(s) {unknown}; valid: {', '.join(EMOTIONS)}"
    root = Path(params["root"]).expanduser()
    if not (yield from one_language_root("ravdess", LANGUAGE, "English", root, context)):
        return
    emotions = frozenset(params["emotions"]) if params.get("emotions") else None
    found = scan(root, params["modality"], params["vocal_channel"], emotions, None)
    if not found:
        yield "root", (f"ravdess: no file in {root} follows Actor_NN/MM-VV-EE-II-SS-RR-AA.wav "
                       f"with modality {params['modality']:02d} and vocal channel "
                       f"{params['vocal_channel']:02d}")  # fmt: skip
        return
    files = {LANGUAGE: {s: len(c) for s, c in found.items()}}
    yield from check_speakers("ravdess", files, {**params, "balance": False}, context)


@hookimpl
def harness_datasets() -> list[Component]:
    return [
        Component(
            name="ravdess",
            factory=RavdessDataset,
            doc="RAVDESS emotional speech: <root>/Actor_NN/MM-VV-EE-II-SS-RR-AA.wav (English)",
            params=[
                Param("root", str, REQUIRED, "folder holding Actor_01 .. Actor_24"),
                Param(
                    "modality",
                    int,
                    3,
                    "files kept by modality: 1 audio-video, 2 video only, 3 audio only",
                    choices=(1, 2, 3),
                ),
                Param(
                    "vocal_channel",
                    int,
                    1,
                    "files kept by channel: 1 speech, 2 song",
                    choices=(1, 2),
                ),
                Param(
                    "emotions",
                    list,
                    None,
                    f"emotions kept (of {', '.join(EMOTIONS)}); default: all",
                    item=str,
                    optional=True,
                ),
                *selection_params("actor"),
            ],
            labels=LABELS,
            check=check_ravdess,
        )
    ]
