"""t-SNE probe: 2-D coordinates of the latents for figures, with how far to trust them.

t-SNE is a picture, not a test of separability: its clusters depend on perplexity
and seed, and distances between clusters mean little. The probe therefore returns
the coordinates as an artifact and reports numbers that say how faithful the
picture is (trustworthiness) and how much same-language neighbourhood it shows,
next to the same number in the latent space and its chance level. Use the
linear_svc probe for the question "are languages separable?".
"""

from __future__ import annotations

from harness import Component, Metric, Param, hookimpl

METRICS = [
    Metric(
        "trustworthiness",
        "how well the 2-D neighbourhoods keep the latent-space neighbourhoods (1 = perfectly; "
        "sklearn.manifold.trustworthiness with n_neighbors)",
        label="2-D trustworthiness",
        bounds=(0.0, 1.0),
    ),
    Metric(
        "neighbour_language_agreement",
        "in 2-D, fraction of each clip's n_neighbors nearest clips of OTHER speakers that "
        "share its language",
        chance="neighbour_language_agreement_chance",
        label="same-language neighbours (2-D)",
        bounds=(0.0, 1.0),
    ),
    Metric(
        "neighbour_language_agreement_latent",
        "the same fraction in the standardised latent space, before t-SNE",
        chance="neighbour_language_agreement_chance",
        label="same-language neighbours (latent space)",
        bounds=(0.0, 1.0),
    ),
    Metric(
        "neighbour_language_agreement_chance",
        "the fraction expected if neighbours were random clips of other speakers; a baseline",
        role="reference",
        label="same-language neighbours by chance",
        bounds=(0.0, 1.0),
    ),
]


PARAMS = [
    Param(
        "perplexity",
        float,
        30.0,
        "t-SNE perplexity; lowered to (n_clips - 1) / 3 when larger (see docs/probes.md)",
        min=1.0,
    ),
    Param("max_iter", int, 1000, "t-SNE optimisation iterations", min=250),
    Param("n_neighbors", int, 5, "neighbours for trustworthiness and language agreement", min=1),
    Param(
        "seeds",
        list,
        None,
        "run only for these run seeds (t-SNE costs seconds at hundreds of clips and the "
        "report draws one seed); default: every seed",
        item=int,
        optional=True,
    ),
]


@hookimpl
def harness_probes() -> list[Component]:
    return [
        Component(
            name="tsne",
            factory="harness_plugins.probes.tsne_probe:TSNEProbe",
            doc="2-D t-SNE coordinates (artifact 'coords') with trustworthiness and "
            "neighbour language agreement; a picture, not a separability test",
            params=PARAMS,
            metrics=METRICS,
            # a picture and one of the dearest probes: the final probing draws it
            along_training=False,
        )
    ]
