"""The ``abx`` probe itself (torch), declared in :mod:`harness_plugins.probes.abx`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.hashing import stable_seed
from harness.plugin.probe_contracts import FrameInput, FrameLatents, ProbeResult
from harness_plugins.probes.abx_core import cap_items, make_items
from harness_plugins.probes.abx_score import ABXScore, CellTable, abx_cells, average, key_shares

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
        native: Sequence[str] | None = None,
        foreign: Sequence[str] | None = None,
    ) -> None:
        self.distance = distance
        self.max_items = max_items
        self.min_items = min_items
        self.modes = tuple(modes)
        self.max_x_speakers = max_x_speakers
        self.languages = None if languages is None else frozenset(languages)
        self.native = frozenset(native or ())
        self.foreign = frozenset(foreign or ())

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
        cells = abx_cells(
            items, self.distance, self.modes, self.min_items, self.max_x_speakers, seed
        )
        speakers = sorted({str(s) for s in given.speakers})
        metrics = {"abx_chance": CHANCE}
        details: dict[str, list[float]] = {}
        for mode in self.modes:
            score = average(cells[mode])
            if not score.n_cells:  # no cell of this mode: nothing measured, no metric
                continue
            metrics[f"abx_{mode}"] = score.error
            if whole:  # each probe speaker's additive part, in sorted id order (docs/probes.md)
                details.update(_parts(f"abx_{mode}", mode, score, cells[mode], speakers))
            details[f"abx_{mode}/cells"] = [float(score.n_cells)]
            if self.native and self.foreign:
                found = _attunement(cells[mode], mode, self.native, self.foreign, speakers)
                metrics.update(found[0])
                details.update(found[1] if whole else {})
        if len(metrics) == 1:
            return ProbeResult(
                skipped=f"no ABX cell: {len(items)} items; no context holds two phones of one "
                "speaker (within) or of two speakers (across) often enough"
            )
        details["abx/items"] = [float(len(items))]
        return ProbeResult(metrics=metrics, details=details)


def _parts(
    name: str, mode: str, score: ABXScore, cells: CellTable, speakers: list[str], sign: float = 1.0
) -> dict[str, list[float]]:
    """A score's per-speaker parts and, across speakers, its per-pair shares: an
    S x S matrix (speaker of A and B by speaker of X, sorted ids), row-major,
    which the statistics resample by speaker (:mod:`harness.stats.abx_pairs`)."""
    out = {f"{name}/speakers": [sign * score.contributions.get(s, 0.0) for s in speakers]}
    if mode == "across":
        index = {s: i for i, s in enumerate(speakers)}
        matrix = np.zeros((len(speakers), len(speakers)))
        for key, share in key_shares(cells).items():
            matrix[index[key[0]], index[key[-1]]] += share
        out[f"{name}/pairs"] = (sign * matrix).ravel().tolist()
    return out


def _attunement(
    cells: CellTable,
    mode: str,
    native: frozenset[str],
    foreign: frozenset[str],
    speakers: list[str],
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """ABX on the native languages' contrasts, on the foreign ones' and their
    difference (foreign - native: positive is native-like), with their parts;
    nothing where either side has no cell."""
    sides = {}
    for side, languages in (("native", native), ("foreign", foreign)):
        mine = cells.in_groups(languages)
        sides[side] = (mine, average(mine))
    if not all(score.n_cells for _, score in sides.values()):
        return {}, {}
    metrics = {f"abx_{side}_{mode}": score.error for side, (_, score) in sides.items()}
    metrics[f"abx_attunement_{mode}"] = (
        metrics[f"abx_foreign_{mode}"] - metrics[f"abx_native_{mode}"]
    )
    details: dict[str, list[float]] = {}
    for side, (mine, score) in sides.items():
        details.update(_parts(f"abx_{side}_{mode}", mode, score, mine, speakers))
    # the parts of foreign - native: the two sides' speakers are disjoint (one language each)
    for kind in ("speakers", "pairs"):
        f, n = (details.get(f"abx_{side}_{mode}/{kind}") for side in ("foreign", "native"))
        if f is not None and n is not None:
            details[f"abx_attunement_{mode}/{kind}"] = (np.subtract(f, n)).tolist()
    return metrics, details


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
