"""Speaker-disjoint roles: disjointness, determinism, probe balance, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.splits import ROLES, assign_roles
from harness.plugin.contracts import Clip, DataError
from harness.spec.config import SplitConfig


def corpus(plan: dict[str, tuple[int, int]]) -> list[Clip]:
    """Clips for ``{language: (speakers, clips per speaker)}``, in a scrambled order."""
    clips = [
        Clip(f"{lang}-s{s}-c{c}", lang, f"{lang}/s{s}", np.zeros(4, np.float32), 16000)
        for lang, (speakers, per) in plan.items()
        for s in range(speakers)
        for c in range(per)
    ]
    order = np.random.default_rng(0).permutation(len(clips))
    return [clips[i] for i in order]


SPLITS = SplitConfig(
    probe_languages=["es", "it", "ja"],
    pretrain_speakers=2,
    train_speakers=2,
    heldout_speakers=1,
    probe_speakers=2,
)


def _owners(roles) -> dict[str, str]:
    owners: dict[str, str] = {}
    for role in ROLES:
        for speaker in roles.speakers(role):
            assert owners.setdefault(speaker, role) == role, f"{speaker} has two roles"
    return owners


def test_roles_are_speaker_disjoint_and_counted() -> None:
    clips = corpus({"es": (7, 3), "it": (4, 3), "ja": (4, 3), "en": (2, 5)})
    roles = assign_roles(clips, SPLITS, "es", ["it", "ja", "en"])
    _owners(roles)
    counts = roles.counts()
    assert set(counts) == set(ROLES)
    assert counts["train"] == {"es": {"speakers": 2, "clips": 6}}
    assert counts["heldout"] == {"es": {"speakers": 1, "clips": 3}}
    assert counts["pretrain"] == {
        "it": {"speakers": 2, "clips": 6},
        "ja": {"speakers": 2, "clips": 6},
        "en": {"speakers": 2, "clips": 10},
    }
    assert counts["probe"] == {lang: {"speakers": 2, "clips": 6} for lang in ("es", "it", "ja")}
    # the target's 7 speakers: 2 probe + 1 held-out + 2 train; 2 left unused
    used = {s for role in ROLES for s in roles.speakers(role) if s.startswith("es/")}
    assert len(used) == 5


def test_assignment_is_deterministic_and_follows_the_split_seed() -> None:
    clips = corpus({"es": (9, 2), "it": (6, 2), "ja": (6, 2)})
    a = assign_roles(clips, SPLITS, "es", ["it"])
    b = assign_roles(list(reversed(clips)), SPLITS, "es", ["it"])  # input order is irrelevant
    for role in ROLES:
        assert [c.clip_id for c in a.role_clips(role)] == [c.clip_id for c in b.role_clips(role)]
    assert a.probe_index() == b.probe_index()
    others = [
        assign_roles(clips, SplitConfig(**{**SPLITS.__dict__, "seed": s}), "es", ["it"])
        for s in range(1, 6)
    ]
    assert any(o.speakers("train") != a.speakers("train") for o in others)


def test_pretraining_language_does_not_move_other_roles() -> None:
    """Every condition of a suite must probe, train and hold out the same clips."""
    clips = corpus({"es": (7, 2), "it": (6, 2), "ja": (6, 2)})
    reference = assign_roles(clips, SPLITS, "es", [])
    for pretrain in (["it"], ["ja"], ["it", "ja"], ["es"]):
        roles = assign_roles(clips, SPLITS, "es", pretrain)
        _owners(roles)
        for role in ("train", "heldout", "probe"):
            assert roles.role_clips(role) == reference.role_clips(role), (pretrain, role)
        assert set(roles.pretrain) == set(pretrain)


def test_probe_clips_equal_per_language_in_stable_order() -> None:
    clips = corpus({"es": (5, 4), "it": (4, 3), "ja": (4, 6)})
    roles = assign_roles(clips, SPLITS, "es", [])
    index = roles.probe_index()
    # default: as many as the smallest language has (it: 2 speakers x 3 clips)
    assert [index["language"].count(lang) for lang in ("es", "it", "ja")] == [6, 6, 6]
    assert index["language"] == sorted(index["language"], key=["es", "it", "ja"].index)
    ja = [s for s, lang in zip(index["speaker"], index["language"], strict=True) if lang == "ja"]
    assert sorted(ja.count(s) for s in set(ja)) == [3, 3]  # drawn evenly from both speakers
    fixed = SplitConfig(**{**SPLITS.__dict__, "probe_clips_per_language": 4})
    counts = assign_roles(clips, fixed, "es", []).counts()["probe"]
    assert {lang: c["clips"] for lang, c in counts.items()} == {"es": 4, "it": 4, "ja": 4}


def test_too_few_speakers_names_language_role_and_counts() -> None:
    clips = corpus({"es": (4, 3), "it": (4, 3), "ja": (1, 3)})
    with pytest.raises(DataError) as info:
        assign_roles(clips, SPLITS, "es", ["it"])
    message = str(info.value)
    # es: probe 2 + held-out 1 + train 2 = 5 > 4; ja: probe 2 > 1; it: probe 2 + pretrain 2 fits
    assert "'es' has 4 speaker(s) but the splits need 5 (probe 2, heldout 1, train 2" in message
    assert "'ja' has 1 speaker(s) but the splits need 2 (probe 2" in message
    assert "'it'" not in message


def test_missing_language_and_too_few_probe_clips() -> None:
    clips = corpus({"es": (5, 3), "it": (4, 3)})
    with pytest.raises(DataError, match=r"'ja' has 0 speaker\(s\)"):
        assign_roles(clips, SPLITS, "es", [])
    many = SplitConfig(**{**SPLITS.__dict__, "probe_clips_per_language": 7})
    with pytest.raises(
        DataError, match=r"'it' role probe has 6 clip\(s\) from 2 speaker\(s\) but needs 7"
    ):
        assign_roles(corpus({"es": (5, 3), "it": (4, 3), "ja": (4, 4)}), many, "es", [])


def test_speaker_shared_across_languages_is_rejected() -> None:
    clips = corpus({"es": (5, 2), "it": (4, 2), "ja": (4, 2)})
    clips.append(Clip("x", "it", "es/s0", np.zeros(4, np.float32), 16000))
    with pytest.raises(DataError, match="'es/s0' appears in 'es' and 'it'"):
        assign_roles(clips, SPLITS, "es", [])
