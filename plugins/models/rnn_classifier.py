"""Recurrent frame classifier: LSTM or GRU over MFCC or log-mel frames.

Stacked recurrent layers read the frames; a linear read-out (after dropout)
gives logits for every frame (batch, frames, n_classes), so the core can train
on every frame that counts and mask or label silent frames. The model is
agnostic of the feature kind: ``[features] kind`` chooses MFCC or log-mel.

A one-directional module streams: ``step(frame, state)`` reads one frame with
the state carried (``state=None`` starts a sequence) and gives exactly the
logits the full-sequence forward gives for that frame. A bidirectional module
reads the future, so it has no ``step`` and the core records no streaming
accuracy for it.

``final_state`` exposes every layer's state after a clip (``h`` and, for an
LSTM, ``c`` of the last layer, ``layer<i>.h`` / ``layer<i>.c`` below it), the
protocol the ``lstm_state`` extractor reads, so each layer is a latent space.

Parameter groups (``[training] lr_groups``, ``freeze``): ``backbone`` is the
recurrent layers, ``head`` the linear read-out.
"""

from __future__ import annotations

from harness import Component, Param, hookimpl
from harness_plugins.models.layer_params import dropout_param, num_layers_param

CELLS = ("lstm", "gru")
#: parameter groups, as parameter_groups returns them
GROUPS = ("backbone", "head")


@hookimpl
def harness_models() -> list[Component]:
    return [
        Component(
            name="rnn_classifier",
            factory="harness_plugins.models.rnn_classifier_model:RNNClassifierModel",
            tasks=("classify",),
            groups=GROUPS,
            doc="LSTM or GRU over MFCC or log-mel frames with per-frame logits; "
            "streams one frame at a time",
            params=[
                Param("cell", str, "gru", "recurrent cell", choices=tuple(CELLS)),
                Param("hidden_size", int, 128, "units per recurrent layer", min=1),
                num_layers_param("stacked recurrent layers"),
                dropout_param(0.0, "dropout between stacked layers and before the read-out"),
                Param("bidirectional", bool, False, "read each segment both ways (no streaming)"),
            ],
        )
    ]
