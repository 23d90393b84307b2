"""The ``abx`` probe itself (torch), declared in :mod:`harness_plugins.probes.abx`."""

from __future__ import annotations

from collections.abc import Sequence

from harness.hashing import stable_seed
from harness.plugin.probe_contracts import FrameInput, FrameLatents, ProbeResult
from harness_plugins.probes.abx_core import cap_items, make_items
from harness_plugins.probes.abx_score import abx_scores

CHANCE = 50.0


class ABXProbe:
    """ABX error of one latent space's frames on the probe clips' phone tiers."""

    def __init__(
        self,
        distance: str = "cosine",
        max_items: int | None = 10,
        min_items: int = 1,
        modes: Sequence[str] = ("within", "across"),
        max_x_speakers: int | None = 5,
        languages: Sequence[str] | None = None,
    ) -> None:
        self.distance = distance
        self.max_items = max_items
        self.min_items = min_items
        self.modes = tuple(modes)
        self.max_x_speakers = max_x_speakers
        self.languages = None if languages is None else frozenset(languages)

    def run_frames(self, given: FrameInput) -> ProbeResult:
        every_speaker = set(map(str, given.speakers))
        if self.languages is not None:
            given = _only(given, self.languages)
        # the speaker-level statistics read one part per probe speaker of the run: with
        # some speakers left out there is none to give them (docs/probes.md)
        whole = {str(s) for s in given.speakers} == every_speaker
        if all(not tier for tier in given.phones):
            return ProbeResult(skipped="the probe clips carry no phone tiers")
        if self.distance == "kl_symmetric" and any((f < 0).any() for f in given.latents.frames):
            raise ValueError(
                "distance kl_symmetric needs non-negative frames (posteriorgrams); "
                "this space has negative values: use distance = 'cosine'"
            )
        items = make_items(given.latents, given.phones, given.speakers, groups=given.languages)
        seed = stable_seed("abx items", given.seed) % 2**32
        items = cap_items(items, self.max_items, seed)
        scores = abx_scores(
            items, self.distance, self.modes, self.min_items, self.max_x_speakers, seed
        )
        speakers = sorted({str(s) for s in given.speakers})
        metrics = {"abx_chance": CHANCE}
        details: dict[str, list[float]] = {}
        for mode, score in scores.items():
            if not score.n_cells:  # no cell of this mode: nothing measured, no metric
                continue
            metrics[f"abx_{mode}"] = score.error
            if whole:  # each probe speaker's additive part, in sorted id order (docs/plugins.md)
                details[f"abx_{mode}/speakers"] = [
                    score.contributions.get(s, 0.0) for s in speakers
                ]
            details[f"abx_{mode}/cells"] = [float(score.n_cells)]
        if len(metrics) == 1:
            return ProbeResult(
                skipped=f"no ABX cell: {len(items)} items; no context holds two phones of one "
                "speaker (within) or of two speakers (across) often enough"
            )
        details["abx/items"] = [float(len(items))]
        return ProbeResult(metrics=metrics, details=details)


def _only(given: FrameInput, languages: frozenset[str]) -> FrameInput:
    """The clips of ``languages`` only (the speakers of the others stay out of the details)."""
    keep = [i for i, language in enumerate(given.languages) if str(language) in languages]
    latents = FrameLatents(
        tuple(given.latents.frames[i] for i in keep), tuple(given.latents.times[i] for i in keep)
    )
    return FrameInput(
        latents,
        tuple(given.phones[i] for i in keep),
        given.speakers[keep],
        given.languages[keep],
        given.seed,
    )


__all__ = ["ABXProbe"]
