"""Speaker-disjoint roles: who is heard in pretraining, training, held-out and probes.

Within a language every speaker gets at most one role, so a probe never
separates speakers the model has memorised, and the held-out loss that decides
convergence is measured on voices the model never trained on.

Speakers are shuffled per language with ``splits.seed`` (never the run seed),
then dealt out in a fixed order: probe, held-out, train, pretrain. Pretraining
comes last, so a condition's pretraining language does not move any other
role's speakers: every run of a suite probes the same clips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.hashing import stable_seed
from harness.plugin.contracts import Clip, DataError
from harness.spec.config import SplitConfig

ROLES = ("pretrain", "train", "heldout", "probe")


@dataclass(frozen=True)
class Roles:
    """The clips of each role. ``train`` and ``heldout`` are clips of the target
    language(s), ``target`` is the first of them."""

    pretrain: dict[str, list[Clip]]
    train: list[Clip]
    heldout: list[Clip]
    probe: list[Clip]
    target: str = ""
    probe_languages: tuple[str, ...] = field(default=())

    def role_clips(self, role: str) -> list[Clip]:
        if role == "pretrain":
            return [c for clips in self.pretrain.values() for c in clips]
        return list(getattr(self, role))

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{role: {language: {"speakers": n, "clips": n}}}`` (for the run record)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for role in ROLES:
            per: dict[str, dict[str, int]] = {}
            speakers: dict[str, set[str]] = defaultdict(set)
            for clip in self.role_clips(role):
                speakers[clip.language].add(clip.speaker)
                entry = per.setdefault(clip.language, {"speakers": 0, "clips": 0})
                entry["clips"] += 1
            for language, names in speakers.items():
                per[language]["speakers"] = len(names)
            out[role] = per
        return out

    def speakers(self, role: str) -> set[str]:
        return {c.speaker for c in self.role_clips(role)}

    def probe_index(self) -> dict[str, list[str]]:
        """Probe clip ids, languages and speakers, in the order latents are stored."""
        return {
            "clip_id": [c.clip_id for c in self.probe],
            "language": [c.language for c in self.probe],
            "speaker": [c.speaker for c in self.probe],
        }


def assign_roles(
    clips: Sequence[Clip],
    splits: SplitConfig,
    target: str | Sequence[str],
    pretrain_languages: Iterable[str],
) -> Roles:
    """Deal each language's speakers out to the roles the suite needs.

    :param clips: what the dataset returned (any order; speaker ids unique across languages).
    :param splits: the suite's [splits] section (speaker counts, probe clips, seed).
    :param target: the language learnt after pretraining, or the languages (a
        classify task's): each gives held-out and training speakers.
    :param pretrain_languages: languages pretrained on (by this run or every run of
        the suite: the other roles do not depend on it).
    :raises DataError: before any training, naming every language and role that
        lacks speakers or clips, with what it has and what it needs.
    """
    targets = [target] if isinstance(target, str) else list(dict.fromkeys(target))
    pretrain_languages = list(dict.fromkeys(pretrain_languages))
    probe_languages = list(dict.fromkeys(splits.probe_languages))
    by_language = _group(clips)
    problems: list[str] = []

    # what each language must provide, in the order speakers are dealt
    wants = splits.speakers_per_role(targets, pretrain_languages)
    dealt = _deal(by_language, wants, splits.seed, problems)
    probe = _probe_clips(by_language, dealt, probe_languages, splits, problems)
    if problems:
        raise DataError("the data cannot support these splits:\n  " + "\n  ".join(problems))

    def clips_of(lang: str, role: str) -> list[Clip]:
        return [c for s in dealt[lang][role] for c in by_language[lang][s]]

    return Roles(
        pretrain={lang: clips_of(lang, "pretrain") for lang in pretrain_languages},
        train=[c for lang in targets for c in clips_of(lang, "train")],
        heldout=[c for lang in targets for c in clips_of(lang, "heldout")],
        probe=probe,
        target=targets[0],
        probe_languages=tuple(probe_languages),
    )


def _deal(
    by_language: dict[str, dict[str, list[Clip]]],
    wants: dict[str, dict[str, int]],
    seed: int,
    problems: list[str],
) -> dict[str, dict[str, list[str]]]:
    """Each language's speakers, shuffled with the splits seed, dealt out to its
    roles in order; a language with too few speakers is a problem instead."""
    dealt: dict[str, dict[str, list[str]]] = {}
    for lang, roles in wants.items():
        speakers = sorted(by_language.get(lang, {}))
        need = sum(roles.values())
        if len(speakers) < need:
            detail = ", ".join(f"{role} {n}" for role, n in roles.items())
            problems.append(
                f"language {lang!r} has {len(speakers)} speaker(s) but the splits need {need} "
                f"({detail}; roles never share a speaker)"
            )
            continue
        rng = np.random.default_rng(stable_seed("splits", seed, lang))
        shuffled = [speakers[i] for i in rng.permutation(len(speakers))]
        start = 0
        dealt[lang] = {}
        for role, n in roles.items():
            dealt[lang][role] = sorted(shuffled[start : start + n])
            start += n
    return dealt


def _group(clips: Sequence[Clip]) -> dict[str, dict[str, list[Clip]]]:
    """Language -> speaker -> clips sorted by id; a speaker in two languages is an error."""
    by_language: dict[str, dict[str, list[Clip]]] = defaultdict(lambda: defaultdict(list))
    language_of: dict[str, str] = {}
    for clip in clips:
        other = language_of.setdefault(clip.speaker, clip.language)
        if other != clip.language:
            raise DataError(
                f"speaker {clip.speaker!r} appears in {other!r} and {clip.language!r}; "
                "datasets must give speakers ids unique across languages"
            )
        by_language[clip.language][clip.speaker].append(clip)
    for speakers in by_language.values():
        for speaker_clips in speakers.values():
            speaker_clips.sort(key=lambda c: c.clip_id)
    return by_language


def _probe_clips(
    by_language: dict[str, dict[str, list[Clip]]],
    dealt: dict[str, dict[str, list[str]]],
    languages: list[str],
    splits: SplitConfig,
    problems: list[str],
) -> list[Clip]:
    """Equal clips per probe language, drawn evenly from its probe speakers."""
    available = {
        lang: sum(len(by_language[lang][s]) for s in dealt[lang]["probe"])
        for lang in languages
        if lang in dealt
    }
    if not available:
        return []
    per_language = splits.probe_clips_per_language or min(available.values())
    probe: list[Clip] = []
    for lang in languages:
        if lang not in available:
            continue
        if available[lang] < per_language:
            problems.append(
                f"language {lang!r} role probe has {available[lang]} clip(s) from "
                f"{len(dealt[lang]['probe'])} speaker(s) but needs {per_language} "
                "(probe_clips_per_language)"
            )
            continue
        if per_language < 2:
            problems.append(f"language {lang!r} role probe has {available[lang]} clip(s); needs 2")
            continue
        # round-robin over speakers so each contributes as evenly as its clips allow
        queues = [list(by_language[lang][s]) for s in dealt[lang]["probe"]]
        chosen: list[Clip] = []
        while len(chosen) < per_language:
            for queue in queues:
                if queue and len(chosen) < per_language:
                    chosen.append(queue.pop(0))
        probe.extend(sorted(chosen, key=lambda c: (c.speaker, c.clip_id)))
    return probe
