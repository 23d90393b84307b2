"""The temporal-integration extractor, ``input_gradient``: for every probe
clip, how the input-gradient mass of a trained model's output frames spreads
over the lags between input and output frame (docs/probes.md, "Temporal
integration"). The ``temporal_integration`` probe reads the profile into an
integration window. The torch code is in
:mod:`harness_plugins.extractors_temporal_gradient`.
"""

from __future__ import annotations

from harness import Component, Param, hookimpl

PARAMS = [
    Param(
        "max_lag",
        int,
        50,
        "lags (feature frames) measured on each side of an output frame; mass farther "
        "away is kept in one last column. Probe clips need 2 * max_lag + 1 frames",
        min=1,
    ),
    Param(
        "outputs",
        int,
        8,
        "output frames measured per clip, spread where the whole lag range fits in the clip",
        min=1,
    ),
    Param(
        "projections",
        int,
        4,
        "random output directions per output frame (the Jacobian's norm is estimated "
        "from them; a fixed seed, the same in every run)",
        min=1,
    ),
]


@hookimpl
def harness_latent_extractors() -> list[Component]:
    return [
        Component(
            name="input_gradient",
            factory="harness_plugins.extractors_temporal_gradient:InputGradient",
            doc="per probe clip, the input-gradient mass of the model's output frames over "
            "input-output lags (space 'profile', read by the temporal_integration probe); "
            "models with one output per input frame",
            params=PARAMS,
            title="input-gradient profile",
            # models without per-frame outputs are refused: only where a suite names it
            named_only=True,
        )
    ]
