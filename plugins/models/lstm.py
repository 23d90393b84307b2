"""Next-frame LSTM: reads mel frames up to t and predicts frame t+1 (MSE).

The study's model was LSTM(250) followed by Dense(128) over 128 mel bands;
here the output layer always maps back to ``n_features``, and the hidden size
and depth are parameters. The module also runs in streaming mode (one frame
at a time with its state carried), and exposes ``final_state`` so the
``lstm_state`` extractor can read its last hidden and cell state.
"""

from __future__ import annotations

from harness import Component, Param, hookimpl
from harness_plugins.models.layer_params import dropout_param, num_layers_param


@hookimpl
def harness_models() -> list[Component]:
    return [
        Component(
            name="lstm",
            title="LSTM",
            loss="MSE of the next frame",
            factory="harness_plugins.models.lstm_model:LSTMModel",
            tasks=("next_frame",),
            doc="LSTM predicting the next feature frame (MSE), as the original study",
            params=[
                Param("hidden_size", int, 128, "LSTM units per layer (the study: 250)", min=1),
                num_layers_param("stacked LSTM layers"),
                dropout_param(0.0, "dropout between stacked layers"),
            ],
        )
    ]
