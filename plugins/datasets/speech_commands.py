"""Google Speech Commands (v0.01 or v0.02), read from disk.

Layout: ``<root>/<word>/<speaker>_nohash_<n>.wav`` with ``validation_list.txt``
and ``testing_list.txt`` at the root (paths such as ``yes/0a7c2a8d_nohash_0.wav``;
a file on neither list is in the training split). Folders whose name starts
with ``_`` (``_background_noise_``) hold no keywords and are ignored.

Labels: ``keyword`` (the word folder) and ``split`` (``train``, ``validation``
or ``testing``, from the lists). The speaker is the hash before ``_nohash_``,
prefixed (``speech_commands/<hash>``) so it never collides with another
dataset's; one speaker's clips of every word belong to that speaker, so the
harness's speaker-disjoint splits keep a voice out of training whatever word it
says. Every clip is English (language ``en``). A ``.wav`` file whose name does
not follow ``<speaker>_nohash_<n>.wav`` is skipped with reason ``layout``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import REQUIRED, Component, Param, ValidationContext, hookimpl
from harness.data.audio import SkipLog
from harness.data.corpus import Candidate, check_speakers, selection_params
from harness.data.dataset_roots import OneLanguageRecordings, one_language_root

LANGUAGE = "en"
LABELS = ("keyword", "split")
LISTS = {"validation": "validation_list.txt", "testing": "testing_list.txt"}
_NAME = re.compile(r"([0-9A-Za-z]+)_nohash_(\d+)\.wav")


def word_folders(root: Path) -> list[str]:
    """The keyword folders of ``root`` (``_background_noise_`` and hidden folders left out)."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] not in "_.")


def read_lists(root: Path, skips: SkipLog | None) -> dict[str, str]:
    """``{relative path: split}`` for the files on the validation and testing lists."""
    split: dict[str, str] = {}
    for name, file in LISTS.items():
        path = root / file
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            if skips is not None:
                why = "missing" if not path.exists() else "unreadable"
                skips.skip(LANGUAGE, path, f"cannot read the {name} list: {exc}", why)
            continue
        for line in lines:
            if line.strip():
                split[line.strip().replace("\\", "/")] = name
    return split


def scan(
    root: Path, words: Sequence[str] | None, skips: SkipLog | None
) -> dict[str, list[Candidate]]:
    """Every keyword file by speaker; names off the layout are skipped into ``skips``."""
    splits = read_lists(root, skips)
    by_speaker: dict[str, list[Candidate]] = {}
    scanned = list(words if words is not None else word_folders(root))
    for word in scanned:
        folder = root / word
        if not folder.is_dir():
            if skips is not None:
                skips.skip(LANGUAGE, folder, f"no folder for word {word!r}", "missing")
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if path.suffix.lower() != ".wav":
                continue
            match = _NAME.fullmatch(path.name)
            if match is None:
                if skips is not None:
                    skips.skip(LANGUAGE, path, "name is not <speaker>_nohash_<n>.wav", "layout")
                continue
            relative = f"{word}/{path.name}"
            labels = {"keyword": word, "split": splits.get(relative, "train")}
            speaker = f"speech_commands/{match.group(1)}"
            by_speaker.setdefault(speaker, []).append(
                Candidate(f"speech_commands/{relative}", path, labels)
            )
    if skips is not None:
        _listed_but_absent(root, scanned, splits, skips)
    return by_speaker


def _listed_but_absent(
    root: Path, words: Sequence[str], splits: Mapping[str, str], skips: SkipLog
) -> None:
    """Entries of the validation and testing lists, in the words read, with no file."""
    for relative, split in splits.items():
        if relative.split("/", 1)[0] in words and not (root / relative).is_file():
            skips.skip(
                LANGUAGE, root / relative, f"on {LISTS[split]} but not in the folder", "missing"
            )


class SpeechCommandsDataset(OneLanguageRecordings):
    name = "speech_commands"
    language, title = LANGUAGE, "Speech Commands"

    def __init__(
        self,
        root: str,
        words: list[str] | None = None,
        clips_per_speaker: int | None = None,
        max_speakers: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(root, clips_per_speaker, max_speakers, seed, balance=False)
        self.words = list(words) if words is not None else None

    def scan(self) -> dict[str, list[Candidate]]:
        return scan(self.root, self.words, self.skips)


def check_speech_commands(
    params: Mapping[str, Any], context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """The root exists with its lists, the words are folders of it, enough speakers."""
    root = Path(params["root"]).expanduser()
    if not (yield from one_language_root("speech_commands", LANGUAGE, "English", root, context)):
        return
    for file in LISTS.values():
        if not (root / file).is_file():
            yield "root", f"speech_commands: {root / file} is missing (part of the download)"
    available = word_folders(root)
    words = params.get("words")
    if words is not None:
        unknown = sorted(set(words) - set(available))
        if unknown:
            yield "words", (f"speech_commands: no folder for word(s) {unknown} in {root}; "
                            f"available: {', '.join(available) or 'none'}")  # fmt: skip
            return
    found = scan(root, words, None)
    files = {LANGUAGE: {s: len(c) for s, c in found.items()}}
    yield from check_speakers("speech_commands", files, {**params, "balance": False}, context)


@hookimpl
def harness_datasets() -> list[Component]:
    return [
        Component(
            name="speech_commands",
            factory=SpeechCommandsDataset,
            doc="Speech Commands keywords: <root>/<word>/<speaker>_nohash_<n>.wav and the lists",
            params=[
                Param("root", str, REQUIRED, "folder holding the word folders and the lists"),
                Param(
                    "words",
                    list,
                    None,
                    "word folders read; default: every folder not starting with '_'",
                    item=str,
                    optional=True,
                ),
                *selection_params(),
            ],
            labels=LABELS,
            check=check_speech_commands,
        )
    ]
