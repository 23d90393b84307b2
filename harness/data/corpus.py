"""Helpers shared by dataset plugins that read recorded files.

:func:`select_balanced` picks the same number of clips from each speaker and,
where the data allows, the same number of speakers from each language,
decoding lazily so a large download is never read in full. Choices are seeded
per language and per speaker, so adding a language or a speaker does not
change what was picked for the others.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import write_json
from harness.data.audio import BadAudio, SkipLog, cached_clip, require_languages
from harness.hashing import content_hash, stable_seed
from harness.plugin.components import Param, ValidationContext
from harness.plugin.contracts import Clip, DataRequest, DataWarning

#: what a dataset check scans: per language, files listed per speaker
SpeakerFiles = dict[str, int]


@dataclass(frozen=True)
class Candidate:
    """A file that may become a clip, with the labels its clip will carry (``Clip.labels``)."""

    clip_id: str
    path: Path
    labels: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


def select_balanced(
    language: str,
    candidates: Mapping[str, Sequence[Candidate]],
    *,
    clips_per_speaker: int | None,
    max_speakers: int | None,
    seed: int,
    load: Callable[[Path], np.ndarray],
    sample_rate: int,
    skips: SkipLog,
) -> list[Clip]:
    """Pick up to ``max_speakers`` speakers with ``clips_per_speaker`` usable clips each.

    ``candidates`` maps a speaker id (already unique across languages) to its
    files. A file ``load`` rejects with :class:`BadAudio` is skipped with a
    warning and replaced by another file of the same speaker; a speaker left
    with too few usable files is dropped. ``clips_per_speaker=None`` keeps
    every usable file of every chosen speaker.
    """
    need = clips_per_speaker or 1
    # speakers with too few files are common (most Common Voice contributors
    # record a clip or two) and not an input error, so they pass silently
    eligible = sorted(s for s, files in candidates.items() if len(files) >= need)
    order = np.random.default_rng(stable_seed(seed, language)).permutation(len(eligible))
    clips: list[Clip] = []
    chosen = 0
    for index in order:
        if max_speakers is not None and chosen >= max_speakers:
            break
        speaker = eligible[index]
        picked = _usable_clips(
            language,
            speaker,
            candidates[speaker],
            clips_per_speaker,
            seed,
            load,
            sample_rate,
            skips,
        )
        if clips_per_speaker is not None and len(picked) < clips_per_speaker:
            skips.skip(
                language,
                f"speaker {speaker}",
                f"too few usable clips ({len(picked)} of {clips_per_speaker} needed)",
                "speaker",
            )
            continue
        chosen += 1
        clips.extend(sorted(picked, key=lambda c: c.clip_id))
    if max_speakers is not None and 0 < chosen < max_speakers:
        found = (chosen, len(eligible), len(candidates))
        _warn_short(skips.dataset, language, max_speakers, need, found)
    return clips


def _warn_short(
    dataset: str, language: str, max_speakers: int, need: int, found: tuple[int, int, int]
) -> None:
    """Fewer usable speakers than ``max_speakers``: ``found`` is (chosen,
    eligible, all) speakers. Warns at the caller of :func:`select_balanced`."""
    chosen, eligible, total = found
    short = eligible - chosen
    lost = f", {short} more lost clips to unusable files" if short else ""
    warnings.warn(
        DataWarning(
            f"{dataset} [{language}]: max_speakers = {max_speakers} asks for "
            f"{max_speakers} speakers with {need} usable clip(s) each; found {chosen} "
            f"({eligible} of the {total} speakers have {need} or more "
            f"files{lost})"
        ),
        stacklevel=3,
    )


def _usable_clips(
    language: str,
    speaker: str,
    candidates: Sequence[Candidate],
    clips_per_speaker: int | None,
    seed: int,
    load: Callable[[Path], np.ndarray],
    sample_rate: int,
    skips: SkipLog,
) -> list[Clip]:
    """Up to ``clips_per_speaker`` of a speaker's files, drawn in a seeded order,
    that ``load`` accepts; each rejected file is skipped with its reason."""
    files = sorted(candidates, key=lambda c: c.clip_id)
    rng = np.random.default_rng(stable_seed(seed, language, speaker))
    picked: list[Clip] = []
    for file_index in rng.permutation(len(files)):
        if clips_per_speaker is not None and len(picked) >= clips_per_speaker:
            break
        candidate = files[file_index]
        try:
            audio = load(candidate.path)
        except BadAudio as exc:
            skips.skip(language, candidate.path, str(exc), exc.reason)
            continue
        labels = dict(candidate.labels)
        picked.append(Clip(candidate.clip_id, language, speaker, audio, sample_rate, labels=labels))
    return picked


def scan_cached(context: ValidationContext, what: str, stamp: Any, scan: Callable[[], Any]) -> Any:
    """``scan()``, or its answer from an earlier check with the same ``stamp``.

    A dataset check that lists a large folder or table keeps what it found under
    ``<cache>/validation/``, keyed by ``what`` and ``stamp`` (paths with their
    modification times and sizes), so ``harness validate`` and ``harness run``
    scan a download once until it changes. The answer must be JSON.
    """
    if context.cache_dir is None:
        return scan()
    path = context.cache_dir / "validation" / f"{content_hash({'what': what, 'stamp': stamp})}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    answer = scan()
    with contextlib.suppress(OSError):  # an unwritable cache only costs a scan next time
        write_json(path, answer)
    return answer


def stamp(path: Path) -> list[Any]:
    """A path with its modification time and size: changes when the data does."""
    info = path.stat()
    return [str(path.resolve()), info.st_mtime_ns, info.st_size]


def check_speakers(
    dataset: str,
    files: Mapping[str, SpeakerFiles],
    params: Mapping[str, Any],
    context: ValidationContext,
) -> Iterator[tuple[str, str]]:
    """Whether the files listed per language and speaker can fill every role.

    ``files`` maps each language found to ``{speaker: files listed}``. Listed
    is an upper bound (a file may still fail to decode at run time), so this
    catches a suite that cannot work before any run starts; the run checks the
    decoded clips again (:func:`harness.data.splits.assign_roles`).
    """
    per_speaker = params.get("clips_per_speaker") or 1
    usable = {
        lang: sum(n >= per_speaker for n in speakers.values()) for lang, speakers in files.items()
    }
    kept = dict(usable)
    cap = params.get("max_speakers")
    if cap is not None:
        kept = {lang: min(n, cap) for lang, n in kept.items()}
    balance = bool(params.get("balance")) and kept
    fewest = min(kept.values()) if balance else 0
    for lang in context.languages:
        if lang not in files:
            continue  # reported by the dataset as a missing language
        roles = context.roles.get(lang, {})
        need = sum(roles.values())
        have = fewest if balance else kept[lang]
        if have >= need:
            continue
        detail = ", ".join(f"{role} {n}" for role, n in roles.items())
        found = (
            f"{usable[lang]} of its {len(files[lang])} speaker(s) have {per_speaker} or more files"
        )
        if cap is not None and cap < need:
            found += f"; max_speakers = {cap} keeps at most {cap}"
        if balance and fewest < min(usable[lang], cap or usable[lang]):
            found += f"; balance = true keeps {fewest} in every language, as many as the fewest"
        yield (
            "",
            f"{dataset}: language {lang!r} needs {need} speaker(s) with {per_speaker} clip(s) "
            f"each ({detail}; roles never share a speaker): {found}",
        )
    yield from probe_clips_problem(params.get("clips_per_speaker"), context)


def probe_clips_problem(
    clips_per_speaker: int | None, context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """Whether the probe speakers' clips can give ``splits.probe_clips_per_language``."""
    wanted, speakers = context.probe_clips, context.probe_speakers
    if clips_per_speaker is None or wanted is None or not speakers:
        return
    most = clips_per_speaker * speakers
    if most < wanted:
        yield (
            "clips_per_speaker",
            f"{clips_per_speaker} clip(s) from each of {speakers} probe speakers give {most} "
            f"clips per probe language, fewer than splits.probe_clips_per_language = {wanted}",
        )


def missing_languages(
    dataset: str, root: Path, wanted: Sequence[str], available: Sequence[str], unit: str
) -> Iterator[tuple[str, str]]:
    """A problem for each language with no ``unit`` under ``root``, listing what there is."""
    listing = ", ".join(sorted(available)) or "none"
    for lang in wanted:
        if lang not in available:
            yield (
                "root",
                (f"{dataset}: no {unit} for language {lang!r} in {root}; available: {listing}"),
            )


def missing_root(dataset: str, root: Path) -> str | None:
    """Why ``root`` cannot hold a dataset, or None."""
    if root.is_dir():
        return None
    what = "is not a folder" if root.exists() else "does not exist"
    return f"{dataset}: the dataset folder {root} {what}"


def equal_speakers(dataset: str, clips: Sequence[Clip]) -> list[Clip]:
    """Keep the same number of speakers in every language: the fewest any language has.

    Speakers are kept in the order they were chosen (``clips`` lists each
    speaker's clips together), so the result is still seeded and stable.
    """
    order: dict[str, list[str]] = {}
    for clip in clips:
        speakers = order.setdefault(clip.language, [])
        if not speakers or speakers[-1] != clip.speaker:
            speakers.append(clip.speaker)
    if not order:
        return list(clips)
    fewest = min(len(s) for s in order.values())
    if any(len(s) > fewest for s in order.values()):
        limiting = ", ".join(sorted(lang for lang, s in order.items() if len(s) == fewest))
        warnings.warn(
            DataWarning(
                f"{dataset}: kept {fewest} speaker(s) in every language, as many as {limiting} "
                "has, so each language contributes as much audio (set balance = false to keep "
                "every eligible speaker)"
            ),
            stacklevel=2,
        )
    kept = {s for speakers in order.values() for s in speakers[:fewest]}
    return [c for c in clips if c.speaker in kept]


class RecordingsDataset:
    """A dataset of recorded files: subclasses list each language's candidates
    by speaker (:meth:`candidates`); loading, balancing and caching are shared."""

    #: the component name, used in warnings and errors
    name = "recordings"

    def __init__(
        self,
        root: str,
        clips_per_speaker: int | None,
        max_speakers: int | None,
        seed: int,
        balance: bool,
    ) -> None:
        self.root = Path(root).expanduser()
        self.clips_per_speaker = clips_per_speaker
        self.max_speakers = max_speakers
        self.seed = seed
        self.balance = balance
        self.skips = SkipLog(self.name)

    def candidates(self, language: str) -> dict[str, list[Candidate]]:
        raise NotImplementedError

    def load(self, request: DataRequest) -> list[Clip]:
        clips: list[Clip] = []
        for language in request.languages:
            clips += select_balanced(
                language,
                self.candidates(language),
                clips_per_speaker=self.clips_per_speaker,
                max_speakers=self.max_speakers,
                seed=self.seed,
                load=lambda p: cached_clip(p, request.sample_rate, request.cache_dir),
                sample_rate=request.sample_rate,
                skips=self.skips,
            )
        require_languages(self.skips, request.languages, {c.language for c in clips})
        return equal_speakers(self.name, clips) if self.balance else clips


def selection_params(unit: str = "speaker", max_speakers_doc: str = "") -> list[Param]:
    """The clip-selection parameters a recordings dataset shares with the others:
    ``clips_per_speaker``, ``max_speakers`` and ``seed`` (see :func:`select_balanced`).

    :param unit: what a speaker is called in this dataset ("actor"), for the docs.
    :param max_speakers_doc: the doc of ``max_speakers`` when it is not "<unit>s kept".
    """
    return [
        Param(
            "clips_per_speaker",
            int,
            None,
            f"clips taken from every {unit}; default: all",
            min=1,
            optional=True,
        ),
        Param(
            "max_speakers",
            int,
            None,
            max_speakers_doc or f"{unit}s kept; default: all",
            min=1,
            optional=True,
        ),
        Param("seed", int, 0, f"seed of the {unit} and clip choice", min=0),
    ]
