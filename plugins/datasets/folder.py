"""Any recordings on disk laid out as ``<root>/<language>/<speaker>/*.{wav,flac,mp3}``.

The speaker is the folder name, prefixed with the language so it stays unique
across languages; the clip id is the file's path below ``root``.

With ``subfolder_label = "emotion"`` (any label name), each speaker folder holds
one folder per value of that label instead of the files:
``<root>/<language>/<speaker>/<value>/*.wav``, and each clip carries the label
``emotion = <value>``. A file left directly in a speaker folder then has no
value and is skipped with reason ``layout``.

With ``alignments = <path>``, every clip carries a phone tier (``Clip.phones``)
read from TextGrid files in a folder mirroring the audio's
(``<alignments>/<language>/<speaker>/<name>.TextGrid``, tier
``alignment_tier``) or from a ZeroSpeech item file (see
:mod:`harness_plugins.datasets.alignment_files`). An audio file without an
alignment is skipped with reason ``layout``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
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
from harness.plugin.alignments import tier_problems
from harness.plugin.components import CLIP_LABELS
from harness.plugin.contracts import Clip, DataError, DataRequest
from harness_plugins.datasets.alignment_files import AlignmentError, Alignments, alignment_problems

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
        alignments: str | None = None,
        alignment_tier: str = "phones",
    ) -> None:
        super().__init__(root, clips_per_speaker, max_speakers, seed, balance)
        self.subfolder_label = subfolder_label
        self.alignments = (
            Alignments(Path(alignments).expanduser(), alignment_tier) if alignments else None
        )

    def load(self, request: DataRequest) -> list[Clip]:
        clips = super().load(request)
        return clips if self.alignments is None else [self._aligned(c) for c in clips]

    def _aligned(self, clip: Clip) -> Clip:
        """``clip`` with its phone tier; a tier that cannot be read, or that does
        not fit the audio, is a DataError naming the file."""
        assert self.alignments is not None
        relative = Path(clip.clip_id.removeprefix("folder/"))
        where = self.alignments.where(relative)
        try:
            tier = self.alignments.tier(relative)
        except AlignmentError as exc:
            raise DataError(f"folder: {exc}") from None
        if tier is None:  # candidates() kept only aligned files
            raise DataError(f"folder: no alignment for {self.root / relative} ({where})")
        duration = len(clip.audio) / clip.sample_rate
        problems = tier_problems(tier, duration)
        if problems:
            raise DataError(f"folder: {where}: {problems[0]}; the alignment must be of "
                            f"{self.root / relative}, {duration:.3f} s long")  # fmt: skip
        return replace(clip, phones=tier)

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
            if self.alignments is not None:
                labelled = self._with_alignment(language, labelled)
            if labelled:
                by_speaker[f"{language}/{speaker_dir.name}"] = [
                    Candidate(f"folder/{p.relative_to(self.root).as_posix()}", p, labels)
                    for p, labels in labelled
                ]
        return by_speaker

    def _with_alignment(
        self, language: str, files: list[tuple[Path, dict[str, str]]]
    ) -> list[tuple[Path, dict[str, str]]]:
        """The files the alignments cover; the others skipped with reason ``layout``."""
        assert self.alignments is not None
        kept = []
        for path, labels in files:
            relative = path.relative_to(self.root)
            try:
                found = self.alignments.has(relative)
            except AlignmentError as exc:
                raise DataError(f"folder: {exc}") from None
            if found:
                kept.append((path, labels))
            else:
                where = self.alignments.where(relative)
                self.skips.skip(language, path, f"no alignment ({where})", "layout")
        return kept


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
    if params.get("alignments"):
        path = Path(params["alignments"]).expanduser()
        used = [lang for lang in context.languages if lang in available]
        for problem in alignment_problems(path, params["alignment_tier"], used):
            yield "alignments", f"folder: {problem}"


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
                Param(
                    "alignments",
                    str,
                    None,
                    "phone alignments: a folder of TextGrids mirroring root "
                    "(<alignments>/<language>/<speaker>/<name>.TextGrid, as the Montreal Forced "
                    "Aligner writes them) or a ZeroSpeech item file; default: none",
                    optional=True,
                ),
                Param(
                    "alignment_tier",
                    str,
                    "phones",
                    "the TextGrid tier holding the phones (alignments in TextGrids)",
                ),
            ],
            labels=lambda params: (
                (params["subfolder_label"],) if params.get("subfolder_label") else ()
            ),
            check=check_folder,
            alignments="alignments",
        )
    ]
