"""The batched ABX (harness_plugins.probes.abx_core, abx_score) agrees with the
brute-force reference written from the definition (tests/helpers/abx_reference.py)
and, where zerospeech-libriabx2 is installed, with its compiled DTW."""

from __future__ import annotations

import numpy as np
import pytest

from harness.plugin.alignments import PhoneInterval
from harness.plugin.probe_contracts import FrameLatents
from harness_plugins.probes import abx_core, abx_dtw
from harness_plugins.probes.abx_score import abx_scores

from helpers import abx_reference as ref

HOP = 0.01


def random_clips(seed: int, n_speakers: int = 3, per_speaker: int = 4, signal: float = 1.0):
    """Clips whose frames are a phone's mean (times ``signal``), a speaker's offset and noise."""
    rng = np.random.default_rng(seed)
    phones = ["a", "e", "k"]
    means = {p: rng.normal(size=5) for p in phones}
    clips = []
    for s in range(n_speakers):
        offset = rng.normal(scale=0.5, size=5)
        for _ in range(per_speaker):
            tier, t = [], 0.0
            for _ in range(rng.integers(10, 15)):
                length = float(rng.uniform(0.015, 0.07))
                tier.append((round(t, 4), round(t + length, 4), str(rng.choice(phones))))
                t += length + float(rng.choice([0.0, 0.02]))
            times = np.arange(0.0, t + HOP, HOP)
            frames = np.stack(
                [
                    signal * means[_phone_at(tier, time)] + offset + rng.normal(size=5)
                    for time in times
                ]
            )
            clips.append({"frames": frames, "times": times, "tier": tier, "speaker": f"s{s}"})
    return clips


def _phone_at(tier, time):
    for start, end, phone in tier:
        if start <= time <= end:
            return phone
    return tier[0][2]


def fast(clips, modes=("within", "across"), distance="cosine"):
    latents = FrameLatents(
        tuple(c["frames"].astype(np.float32) for c in clips), tuple(c["times"] for c in clips)
    )
    tiers = [tuple(PhoneInterval(*i) for i in c["tier"]) for c in clips]
    items = abx_core.make_items(latents, tiers, [c["speaker"] for c in clips])
    return abx_scores(items, distance, modes)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", ["within", "across"])
@pytest.mark.parametrize("layout", [(1 << 20, 64), (50, 1)])
def test_batched_abx_agrees_with_the_definition(seed, mode, layout, monkeypatch):
    # (50, 1): chunks of about 50 costs, one pair per tile, as a large set cuts them
    monkeypatch.setattr(abx_dtw, "CHUNK_CELLS", layout[0])
    monkeypatch.setattr(abx_dtw, "TILE", layout[1])
    clips = random_clips(seed)
    found = fast(clips, (mode,))[mode]
    expected = ref.abx_error(clips, mode)
    assert abs(found.error - expected) <= 0.5, (found.error, expected)
    assert sum(found.contributions.values()) == pytest.approx(found.error)
    # frames that carry the phone discriminate it: well below chance
    assert expected < 40


def test_frames_without_phone_information_score_chance():
    clips = random_clips(3, n_speakers=4, per_speaker=4, signal=0.0)
    found = fast(clips, ("within",))["within"]
    assert abs(found.error - ref.abx_error(clips, "within")) <= 0.5
    assert 40 < found.error < 60


def test_kl_symmetric_agrees_with_the_definition():
    clips = random_clips(4)
    for clip in clips:  # posteriorgrams: a softmax of each frame
        e = np.exp(clip["frames"])
        clip["frames"] = e / e.sum(1, keepdims=True)
    found = fast(clips, ("within",), "kl_symmetric")["within"]
    assert abs(found.error - ref.abx_error(clips, "within", "kl_symmetric")) <= 0.5


def test_batched_dtw_equals_the_loop_dtw_pair_by_pair():
    rng = np.random.default_rng(5)
    xs = [rng.normal(size=(rng.integers(1, 9), 3)) for _ in range(12)]
    # a frame against itself (i == j) is off by float32's acos near 1 (~1e-4)
    pairs = np.array([(i, j) for i in range(12) for j in range(12) if i != j])
    items = abx_core.Items.of_frames(
        tuple(x.astype(np.float32) for x in xs), *(np.zeros(12, str),) * 3
    )
    for distance in ("cosine", "euclidean"):
        found = abx_core.pair_distances(items, pairs, distance, chunk=7)
        expected = [ref.dtw(xs[i], xs[j], distance) for i, j in pairs]
        np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-5)


def test_zerospeech_compiled_dtw_agrees_with_the_batched_one():
    dtw = pytest.importorskip("libri_light_dtw", reason="zerospeech-libriabx2 is not installed")
    rng = np.random.default_rng(6)
    xs = [rng.normal(size=(rng.integers(1, 9), 4)).astype(np.float32) for _ in range(10)]
    pairs = np.array([(i, j) for i in range(10) for j in range(10)])
    items = abx_core.Items.of_frames(tuple(xs), *(np.zeros(10, str),) * 3)
    found = abx_core.pair_distances(items, pairs, "cosine")
    for (i, j), value in zip(pairs, found, strict=True):
        cost = abx_core.frame_distances(xs[i], xs[j], "cosine")
        assert value == pytest.approx(dtw._dtw(len(xs[i]), len(xs[j]), cost, True), abs=1e-5)


def test_capping_x_speakers_samples_fewer_cells_with_the_seed():
    clips = random_clips(7, n_speakers=5)
    latents = FrameLatents(
        tuple(c["frames"].astype(np.float32) for c in clips), tuple(c["times"] for c in clips)
    )
    tiers = [tuple(PhoneInterval(*i) for i in c["tier"]) for c in clips]
    items = abx_core.make_items(latents, tiers, [c["speaker"] for c in clips])
    every = abx_scores(items, "cosine", ("across",))["across"]
    assert abx_scores(items, "cosine", ("across",), max_x_speakers=4)["across"] == every
    one = abx_scores(items, "cosine", ("across",), max_x_speakers=1, seed=3)["across"]
    assert one.n_cells < every.n_cells / 2
    assert one == abx_scores(items, "cosine", ("across",), max_x_speakers=1, seed=3)["across"]
    assert one != abx_scores(items, "cosine", ("across",), max_x_speakers=1, seed=4)["across"]


def test_capping_items_keeps_at_most_the_cap_of_each_group_with_the_seed():
    clips = random_clips(8)
    latents = FrameLatents(
        tuple(c["frames"].astype(np.float32) for c in clips), tuple(c["times"] for c in clips)
    )
    tiers = [tuple(PhoneInterval(*i) for i in c["tier"]) for c in clips]
    items = abx_core.make_items(latents, tiers, [c["speaker"] for c in clips])
    capped = abx_core.cap_items(items, 2, seed=1)
    groups = {}
    for key in zip(capped.context, capped.phone, capped.speaker, strict=True):
        groups[key] = groups.get(key, 0) + 1
    assert max(groups.values()) == 2 and len(capped) < len(items)
    again = abx_core.cap_items(items, 2, seed=1)
    assert [f.tobytes() for f in again.frames] == [f.tobytes() for f in capped.frames]
