"""The ``temporal_integration`` probe: how long a stretch of input a trained
model's output frames integrate, read off the ``input_gradient`` extractor's
profiles (docs/probes.md, "Temporal integration"). Any other latent space is
skipped with the reason, not measured. The numpy code is in
:mod:`harness_plugins.probes.temporal_probe`.
"""

from __future__ import annotations

from harness import Component, Metric, Param, hookimpl

METRICS = [
    Metric(
        "integration_frames",
        "the fewest consecutive input frames holding `mass` of an output frame's "
        "input-gradient mass, per clip, averaged within each speaker, then over speakers",
        higher_is_better=True,
        label="integration window (frames)",
    ),
    Metric(
        "capped_share",
        "share of clips whose measured lags held less than `mass`: their window is a "
        "lower bound (raise the extractor's max_lag)",
        role="reference",
        label="share of windows capped at max_lag",
        bounds=(0.0, 1.0),
    ),
]


@hookimpl
def harness_probes() -> list[Component]:
    return [
        Component(
            name="temporal_integration",
            factory="harness_plugins.probes.temporal_probe:TemporalIntegrationProbe",
            doc="integration window (frames) of each input_gradient profile: the fewest "
            "consecutive lags holding `mass` of the gradient mass; per-speaker values in "
            "details",
            params=[
                Param(
                    "mass",
                    float,
                    0.9,
                    "share of the gradient mass the window holds",
                    min=0.05,
                    max=1.0,
                )
            ],
            metrics=METRICS,
            title="temporal integration",
            # it reads input_gradient's profiles only, so it comes with it, where named
            named_only=True,
        )
    ]
