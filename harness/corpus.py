"""Helpers shared by dataset plugins that read recorded files.

:func:`select_balanced` picks the same number of clips from each speaker and,
where the data allows, the same number of speakers from each language,
decoding lazily so a large download is never read in full. Choices are seeded
per language and per speaker, so adding a language or a speaker does not
change what was picked for the others.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.audio import BadAudio, SkipLog, cached_clip, require_languages
from harness.contracts import Clip, DataRequest, DataWarning
from harness.hashing import stable_seed


@dataclass(frozen=True)
class Candidate:
    """A file that may become a clip."""

    clip_id: str
    path: Path


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
        files = sorted(candidates[speaker], key=lambda c: c.clip_id)
        rng = np.random.default_rng(stable_seed(seed, language, speaker))
        picked: list[Clip] = []
        for file_index in rng.permutation(len(files)):
            if clips_per_speaker is not None and len(picked) >= clips_per_speaker:
                break
            candidate = files[file_index]
            try:
                audio = load(candidate.path)
            except BadAudio as exc:
                skips.skip(language, candidate.path, str(exc))
                continue
            picked.append(Clip(candidate.clip_id, language, speaker, audio, sample_rate))
        if clips_per_speaker is not None and len(picked) < clips_per_speaker:
            skips.skip(
                language,
                f"speaker {speaker}",
                f"too few usable clips ({len(picked)} of {clips_per_speaker} needed)",
            )
            continue
        chosen += 1
        clips.extend(sorted(picked, key=lambda c: c.clip_id))
    if max_speakers is not None and 0 < chosen < max_speakers:
        warnings.warn(
            DataWarning(
                f"{skips.dataset} [{language}]: only {chosen} of {len(candidates)} speakers have "
                f"{need} usable clips each (max_speakers = {max_speakers})"
            ),
            stacklevel=2,
        )
    return clips


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
        require_languages(self.name, request.languages, {c.language for c in clips})
        return equal_speakers(self.name, clips) if self.balance else clips
