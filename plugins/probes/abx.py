"""ABX probe: how well a latent space discriminates the phones of a language,
frame by frame (the ABX error of ZeroSpeech, BabySLM and infant-modelling
studies).

The probe reads each probe clip's latent frames and phone tier
(``alignments = True``): items are phone triphones, distances DTW over a frame
distance, and the error is averaged over contexts, speakers and phone pairs
(:mod:`harness_plugins.probes.abx_core`; docs/probes.md). It reports the
within- and across-speaker error in percent (lower is better, chance 50) and
each speaker's additive part of them (``abx_within/speakers``), so the
statistics can treat the probe speakers as sampled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from harness import Component, Metric, Param, ValidationContext, hookimpl

DISTANCES = ("cosine", "kl_symmetric", "euclidean")
MODES = ("within", "across")
SIDES = ("native", "foreign")

METRICS = (
    [
        Metric(
            f"abx_{mode}",
            f"ABX error (%) of phone triphones, {mode}-speaker: the share of (A, B, X) "
            "triplets where X is nearer the other phone, averaged over contexts, speakers and "
            "phone pairs; absent when no cell could be formed",
            higher_is_better=False,
            chance="abx_chance",
            label=f"ABX error, {mode} speakers (%)",
            bounds=(0.0, 100.0),
        )
        for mode in MODES
    ]
    + [
        Metric(
            f"abx_{side}_{mode}",
            f"ABX error (%), {mode}-speaker, on the contrasts of the {side} languages "
            f"(parameter {side}) only; absent unless native and foreign are given",
            higher_is_better=False,
            chance="abx_chance",
            label=f"ABX error, {side}, {mode} speakers (%)",
            bounds=(0.0, 100.0),
        )
        for mode in MODES
        for side in SIDES
    ]
    + [
        Metric(
            f"abx_attunement_{mode}",
            f"attunement, {mode}-speaker: foreign ABX error - native ABX error (points); "
            "positive is native-like (native contrasts told apart better than foreign ones)",
            label=f"attunement, {mode} speakers (points)",
            bounds=(-100.0, 100.0),
        )
        for mode in MODES
    ]
    + [
        Metric(
            "abx_chance",
            "the ABX error (%) of a representation that tells no phone from another",
            role="reference",
            label="ABX error by chance (%)",
            bounds=(0.0, 100.0),
        )
    ]
)

PARAMS = [
    Param(
        "distance",
        str,
        "cosine",
        "frame distance under the DTW: cosine (angle / pi, as ZeroSpeech), kl_symmetric "
        "(for posteriorgrams), euclidean",
        choices=DISTANCES,
    ),
    Param(
        "max_items",
        int,
        10,
        "at most this many items of one phone, context and speaker, a subsample seeded by "
        "the run seed (bounds the triplets per cell); omit for every item",
        min=2,
        optional=True,
    ),
    Param(
        "max_x_speakers",
        int,
        5,
        "across speakers: at most this many speakers of X per context and speaker of A and "
        "B, seeded by the run seed (Libri-light's max_x_across); omit for every other speaker",
        min=1,
        optional=True,
    ),
    Param(
        "languages",
        list,
        None,
        "the probe languages whose phones are discriminated (contexts never span "
        "languages); default: every probe language",
        item=str,
        optional=True,
    ),
    Param(
        "native",
        list,
        None,
        "probe languages whose contrasts are native to the model: with foreign, the probe "
        "also reports ABX on each side and the attunement (foreign - native)",
        item=str,
        optional=True,
    ),
    Param(
        "foreign",
        list,
        None,
        "probe languages whose contrasts are foreign (disjoint from native; both or neither)",
        item=str,
        optional=True,
    ),
    Param("min_items", int, 1, "fewest items of A, B and X a cell needs", min=1),
    Param(
        "modes",
        list,
        list(MODES),
        "which errors to compute: within (A, B, X of one speaker), across (X of another)",
        item=str,
    ),
]


def check(params: Mapping[str, Any], context: ValidationContext) -> Iterator[tuple[str, str]]:
    """Modes known and distinct; the feature frames' times must be known."""
    modes = params.get("modes") or []
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes or len(set(modes)) != len(modes):
        yield "modes", f"must be distinct values of {list(MODES)}, got {modes!r}"
    languages = params.get("languages")
    if languages is not None:
        outside = [x for x in languages if x not in context.probe_languages]
        if outside or not languages:
            yield (
                "languages",
                f"must name probe languages ({', '.join(context.probe_languages)}), "
                f"got {languages!r}",
            )
    yield from _check_sides(params, languages or context.probe_languages)
    if context.silence == "remove":
        yield (
            "",
            "abx cuts each phone's frames by time, and [features] silence = 'remove' drops "
            "frames so their times are lost; use silence = 'keep' (or 'mask')",
        )


def _check_sides(params: Mapping[str, Any], probed: Sequence[str]) -> Iterator[tuple[str, str]]:
    """native and foreign: both or neither, probed languages, disjoint, non-empty."""
    sides = {side: params.get(side) for side in SIDES}
    given = [side for side, value in sides.items() if value is not None]
    if len(given) == 1:
        other = SIDES[1 - SIDES.index(given[0])]
        yield other, f"{given[0]} is given, so name the {other} languages too (or drop both)"
        return
    for side, value in sides.items():
        if value is None:
            continue
        outside = [x for x in value if x not in probed]
        if outside or not value or len(set(value)) != len(value):
            yield side, f"must name distinct probed languages ({', '.join(probed)}), got {value!r}"
    if given and set(sides["native"] or ()) & set(sides["foreign"] or ()):
        both = sorted(set(sides["native"] or ()) & set(sides["foreign"] or ()))
        yield "foreign", f"a language is native or foreign, not both: {', '.join(both)}"


@hookimpl
def harness_probes() -> list[Component]:
    return [
        Component(
            name="abx",
            factory="harness_plugins.probes.abx_probe:ABXProbe",
            doc="ABX phone discrimination error (%) of frame-level latents, within and across "
            "speakers, DTW over cosine (or KL) frame distances; needs phone tiers",
            params=PARAMS,
            metrics=METRICS,
            check=check,
            alignments=True,
            title="ABX",
        )
    ]
