"""Any recordings on disk laid out as ``<root>/<language>/<speaker>/*.{wav,flac,mp3}``.

The speaker is the folder name, prefixed with the language so it stays unique
across languages; the clip id is the file's path below ``root``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness import REQUIRED, Component, Param, ValidationContext, hookimpl
from harness.corpus import (
    Candidate,
    RecordingsDataset,
    check_speakers,
    missing_languages,
    missing_root,
    scan_cached,
    stamp,
)

EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")


class FolderDataset(RecordingsDataset):
    name = "folder"

    def __init__(
        self,
        root: str,
        clips_per_speaker: int | None = None,
        max_speakers: int | None = None,
        seed: int = 0,
        balance: bool = False,
    ) -> None:
        super().__init__(root, clips_per_speaker, max_speakers, seed, balance)

    def candidates(self, language: str) -> dict[str, list[Candidate]]:
        folder = self.root / language
        if not folder.is_dir():
            self.skips.skip(language, folder, "missing language folder", "missing")
            return {}
        by_speaker: dict[str, list[Candidate]] = {}
        for speaker_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = sorted(
                p for p in speaker_dir.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS
            )
            if files:
                by_speaker[f"{language}/{speaker_dir.name}"] = [
                    Candidate(f"folder/{p.relative_to(self.root).as_posix()}", p) for p in files
                ]
        return by_speaker


def _speaker_files(folder: Path) -> dict[str, int]:
    """Audio files per speaker folder of one language folder."""
    return {
        f"{folder.name}/{d.name}": sum(
            1 for p in d.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS
        )
        for d in sorted(p for p in folder.iterdir() if p.is_dir())
    }


def check_folder(
    params: Mapping[str, Any], context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """The root exists, holds a folder for every language, with enough speakers and files."""
    root = Path(params["root"]).expanduser()
    problem = missing_root("folder", root)
    if problem:
        yield "root", problem
        return
    available = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    yield from missing_languages("folder", root, context.languages, available, "folder")
    files = {}
    for lang in context.languages:
        folder = root / lang
        if lang in available:
            # a speaker folder's time changes when files are added or removed in it
            key = [stamp(folder), *(stamp(d) for d in sorted(folder.iterdir()) if d.is_dir())]
            files[lang] = scan_cached(context, "folder", key, lambda f=folder: _speaker_files(f))
    yield from check_speakers("folder", files, params, context)


@hookimpl
def harness_datasets() -> list[Component]:
    return [
        Component(
            name="folder",
            factory=FolderDataset,
            doc="recordings laid out as <root>/<language>/<speaker>/*.wav|flac|mp3|ogg",
            params=[
                Param("root", str, REQUIRED, "folder holding one folder per language"),
                Param(
                    "clips_per_speaker",
                    int,
                    None,
                    "clips taken from every speaker; default: all",
                    min=1,
                    optional=True,
                ),
                Param(
                    "max_speakers",
                    int,
                    None,
                    "speakers per language; default: all",
                    min=1,
                    optional=True,
                ),
                Param("seed", int, 0, "seed of the speaker and clip choice", min=0),
                Param(
                    "balance",
                    bool,
                    False,
                    "keep as many speakers in every language as the language with the fewest",
                ),
            ],
            check=check_folder,
        )
    ]
