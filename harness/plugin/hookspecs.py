"""Hook specifications: the whole plugin API of the harness.

Every hook here is a *registration* hook. The harness calls it once, when the
plugin manager is built, with no arguments; each implementation returns the
components it contributes to one family (a list of
:class:`harness.plugin.components.Component`). The suite file then selects components
by name with ``plugin = "<name>"`` and gives their parameters.

What the object built by a component's factory must do is the family's
*contract*, written down in :mod:`harness.plugin.contracts` and docs/plugins.md.

Besides its parameters, a component may declare ``check``: the rules its
``Param`` declarations cannot say, which ``harness validate`` runs on the
resolved parameters with a :class:`harness.plugin.components.ValidationContext`
(the feature sample rate, the suite's languages) and reports under the
parameter's key path; and ``default=True``: the family's choice when a suite
names none (the core names no plugin itself).

A plugin module implements any subset of these hooks::

    from harness import Component, Param, hookimpl

    @hookimpl
    def harness_probes():
        return [Component(name="knn", factory=KNNProbe, doc="...", params=[...])]

Hooks are called with keyword arguments only, so a spec may gain an argument
later without breaking plugins that do not take it. No hook is
``firstresult``: every plugin's answer is collected, and two components with
the same name in one family is an error naming both sources.

An installed plugin whose hook raises, or returns a declaration that fails
:func:`harness.plugin.components.check_declaration`, is set aside whole
(:class:`harness.plugin.registry.BrokenPlugin`, shown by ``harness plugins``); the
other plugins keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from harness.plugin.markers import NAME

if TYPE_CHECKING:
    from harness.plugin.components import Component

hookspec = pluggy.HookspecMarker(NAME)


@hookspec
def harness_datasets() -> list[Component]:
    """Contribute dataset components.

    Called once when the plugin manager is built.

    :return: components whose factory builds a :class:`harness.plugin.contracts.Dataset`:
        an object with ``load(request: DataRequest) -> list[Clip]`` returning
        mono float32 clips with language and speaker labels at the requested
        sample rate. The core makes the speaker-disjoint splits, never the dataset.
    """


@hookspec
def harness_pretrain_filters() -> list[Component]:
    """Contribute pretraining-filter components (what the model hears first).

    Called once when the plugin manager is built.

    :return: components whose factory builds a :class:`harness.plugin.contracts.PretrainFilter`:
        a callable ``(audio, sample_rate, rng) -> audio`` applied to each
        pretraining waveform before features are computed. It must return a
        finite float32 array of the same length.
    """


@hookspec
def harness_models() -> list[Component]:
    """Contribute model components.

    Called once when the plugin manager is built.

    :return: components whose factory builds a :class:`harness.plugin.contracts.Model`:
        ``build(n_features, segment_frames) -> torch.nn.Module`` (the core seeds
        torch before calling it) and ``loss(module, batch) -> scalar tensor``
        for a batch of shape ``(batch, frames, n_features)``. The training loop
        lives in the core, once, for every model.
    """


@hookspec
def harness_latent_extractors() -> list[Component]:
    """Contribute latent-extractor components.

    Called once when the plugin manager is built.

    :return: components whose factory builds a
        :class:`harness.plugin.contracts.LatentExtractor`: ``supports(module) -> bool``
        and ``extract(module, clips) -> dict[space name, array (n_clips, dim)]``.
        ``module`` is ``None`` for model-free extractors (``needs_model = False``),
        such as the raw-feature baseline. Optionally ``layers(spaces) -> {stack:
        {space: depth}}`` declares which spaces form an ordered stack of layers.
    """


@hookspec
def harness_probes() -> list[Component]:
    """Contribute probe components.

    Called once when the plugin manager is built.

    :return: components whose factory builds a :class:`harness.plugin.contracts.Probe`:
        ``run(latents, labels, groups, target, seed) -> ProbeResult``. Declare the
        metrics it reports in ``Component.metrics`` (name, doc, higher-is-better).
    """


@hookspec
def harness_executors() -> list[Component]:
    """Contribute executor components (where runs execute).

    Called once when the plugin manager is built.

    :return: components whose factory builds a :class:`harness.plugin.contracts.Executor`:
        ``map(fn, items) -> iterator of (item, outcome)`` yielding as runs finish.
    """
