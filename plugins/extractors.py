"""Built-in latent extractors.

An extractor recognises a module by a small documented protocol, never by its
class, so a third-party model gets these extractors by implementing it:

``final_state(x) -> dict[str, Tensor]``
    Read ``x`` (batch, frames, n_features) to the end; return named states,
    each (batch, dim): the last layer's as ``<state>`` (the built-in LSTM: ``h``
    and ``c``) and, for stacked layers, layer i's (1 = the first) as
    ``layer<i>.<state>``. Used by ``lstm_state``; every returned name becomes a
    latent space, and each state's layers form an ordered stack (``layers``).

``layer_states(x) -> dict[str, Tensor]``
    Read ``x`` (batch, length...) as the module's input; return each layer's
    state pooled over time (batch, dim), by name, from the input up (the
    extractor declares that order as the stack ``layers``). Used by ``layer_states``;
    every layer becomes a latent space (wav2vec2: ``encoder``, ``layer1``...).
    A waveform model's extractors receive each probe clip's waveform
    (samples,) instead of its feature frames.

``encode(x) -> Tensor`` and ``segment_frames: int``
    Codes (batch, dim) of segments (batch, segment_frames, n_features).
    Used by ``bottleneck``, which averages the codes of a clip's segments.
"""

from __future__ import annotations

from harness import Component, hookimpl


#: clips (or segments) per forward pass
@hookimpl
def harness_latent_extractors() -> list[Component]:
    return [
        Component(
            name="lstm_state",
            factory="harness_plugins.extractor_classes:LSTMState",
            doc="final hidden (h) and cell (c) state of the last recurrent layer per clip, and "
            "of each layer below it (layer<i>.h, layer<i>.c; ordered stacks hidden and cell); "
            "models with final_state(x)",
        ),
        Component(
            name="layer_states",
            factory="harness_plugins.extractor_classes:LayerStates",
            doc="every layer's state pooled over the clip, one latent space per layer "
            "(wav2vec2: encoder, layer1..layerN); models with layer_states(x)",
        ),
        Component(
            name="bottleneck",
            factory="harness_plugins.extractor_classes:Bottleneck",
            doc="autoencoder code averaged over the clip's segments; "
            "models with encode(x) and segment_frames",
        ),
        Component(
            name="feature_stats",
            factory="harness_plugins.extractor_classes:FeatureStats",
            doc="mean and std of the clip's feature frames (raw-input baseline, no model)",
        ),
    ]
