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

from collections.abc import Iterator, Mapping
from typing import Any

from harness import Component, Metric, Param, ValidationContext, hookimpl

DISTANCES = ("cosine", "kl_symmetric", "euclidean")
MODES = ("within", "across")

METRICS = [
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
] + [
    Metric(
        "abx_chance",
        "the ABX error (%) of a representation that tells no phone from another",
        role="reference",
        label="ABX error by chance (%)",
        bounds=(0.0, 100.0),
    )
]

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
    if context.silence == "remove":
        yield (
            "",
            "abx cuts each phone's frames by time, and [features] silence = 'remove' drops "
            "frames so their times are lost; use silence = 'keep' (or 'mask')",
        )


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
