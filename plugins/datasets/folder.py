"""Any recordings on disk laid out as ``<root>/<language>/<speaker>/*.{wav,flac,mp3}``.

The speaker is the folder name, prefixed with the language so it stays unique
across languages; the clip id is the file's path below ``root``.

With ``subfolder_label = "emotion"`` (any label name), each speaker folder holds
one folder per value of that label instead of the files:
``<root>/<language>/<speaker>/<value>/*.wav``, and each clip carries the label
``emotion = <value>``. A file left directly in a speaker folder then has no
value and is skipped with reason ``layout``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness import REQUIRED, Component, Param, ValidationContext, hookimpl
from harness.data.corpus import (
    Candidate,
    RecordingsDataset,
    check_speakers,
    scan_cached,
    selection_params,
    stamp,
)
from harness.data.dataset_roots import languages_under_root
from harness.plugin.components import CLIP_LABELS

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
        subfolder_label: str | None = None,
    ) -> None:
        super().__init__(root, clips_per_speaker, max_speakers, seed, balance)
        self.subfolder_label = subfolder_label

    def candidates(self, language: str) -> dict[str, list[Candidate]]:
        folder = self.root / language
        if not folder.is_dir():
            self.skips.skip(language, folder, "missing language folder", "missing")
            return {}
        by_speaker: dict[str, list[Candidate]] = {}
        for speaker_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = _audio_files(speaker_dir)
            if self.subfolder_label is None:
                labelled = [(p, {}) for p in files]
            else:
                for p in files:
                    self.skips.skip(language, p, f"not in a {self.subfolder_label} folder "
                                    f"(subfolder_label = {self.subfolder_label!r})", "layout")  # fmt: skip
                labelled = [
                    (p, {self.subfolder_label: value.name})
                    for value in sorted(d for d in speaker_dir.iterdir() if d.is_dir())
                    for p in _audio_files(value)
                ]
            if labelled:
                by_speaker[f"{language}/{speaker_dir.name}"] = [
                    Candidate(f"folder/{p.relative_to(self.root).as_posix()}", p, labels)
                    for p, labels in labelled
                ]
        return by_speaker


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


def _speaker_files(folder: Path) -> dict[str, int]:
    """Audio files per speaker folder of one language folder."""
    return {
        f"{folder.name}/{d.name}": len(_audio_files(d))
        for d in sorted(p for p in folder.iterdir() if p.is_dir())
    }


def _labelled_speaker_files(folder: Path) -> dict[str, int]:
    """Audio files per speaker folder, in its label folders (``subfolder_label``)."""
    return {
        f"{folder.name}/{d.name}": sum(len(_audio_files(v)) for v in d.iterdir() if v.is_dir())
        for d in sorted(p for p in folder.iterdir() if p.is_dir())
    }


def _language_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_folder(
    params: Mapping[str, Any], context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """The root exists, holds a folder for every language, with enough speakers and files."""
    label = params.get("subfolder_label")
    if label is not None and (not label.isidentifier() or label in CLIP_LABELS):
        yield "subfolder_label", (f"folder: expected a label name (letters, digits, '_') other "
                                  f"than language and speaker, got {label!r}")  # fmt: skip
    root = Path(params["root"]).expanduser()
    available = yield from languages_under_root(
        "folder", root, context.languages, _language_folders, "folder"
    )
    if available is None:
        return
    files = {}
    for lang in context.languages:
        folder = root / lang
        if lang in available:
            # a speaker folder's time changes when files are added or removed in it
            key = [stamp(folder), *(stamp(d) for d in sorted(folder.iterdir()) if d.is_dir())]
            if label is not None:  # a label folder's time changes with its files
                key += [stamp(v) for d in sorted(folder.iterdir()) if d.is_dir()
                        for v in sorted(d.iterdir()) if v.is_dir()]  # fmt: skip
            if label is None:
                files[lang] = scan_cached(
                    context, "folder", key, lambda f=folder: _speaker_files(f)
                )
            else:
                files[lang] = scan_cached(
                    context, "folder-labelled", key, lambda f=folder: _labelled_speaker_files(f)
                )
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
                *selection_params(max_speakers_doc="speakers per language; default: all"),
                Param(
                    "balance",
                    bool,
                    False,
                    "keep as many speakers in every language as the language with the fewest",
                ),
                Param(
                    "subfolder_label",
                    str,
                    None,
                    "a label read from folders inside each speaker folder: "
                    "<root>/<language>/<speaker>/<value>/*.wav; default: none",
                    optional=True,
                ),
            ],
            labels=lambda params: (
                (params["subfolder_label"],) if params.get("subfolder_label") else ()
            ),
            check=check_folder,
        )
    ]
