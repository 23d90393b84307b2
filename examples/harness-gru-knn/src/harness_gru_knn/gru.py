"""A GRU that reads feature frames up to t and predicts frame t+1 (MSE).

Everything a model plugin needs is here: a ``torch.nn.Module``, an object with
``build`` and ``loss`` (the model contract), and one hook that registers it
with its parameters. The core seeds torch, runs the training loop, measures
time to threshold and calls the extractors; none of that is repeated here.
"""

from __future__ import annotations

import torch
from harness import Component, Param, hookimpl
from torch import nn


class NextFrameGRU(nn.Module):
    """GRU over (batch, frames, features) with a linear read-out to the next frame."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.gru = nn.GRU(n_features, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out)

    def final_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The last layer's hidden state after reading ``x``: ``{"h": (batch, hidden)}``.

        The built-in ``lstm_state`` extractor recognises any module with this method
        (its latent space is then ``lstm_state/h``).
        """
        _, h = self.gru(x)
        return {"h": h[-1]}


class GRUModel:
    """The model contract: ``build`` a fresh module, score a batch with ``loss``."""

    def __init__(self, hidden_size: int = 64, num_layers: int = 1) -> None:
        self.hidden_size = hidden_size
        self.num_layers = num_layers

    def build(self, n_features: int, segment_frames: int) -> nn.Module:
        # a recurrent model reads any number of frames, so segment_frames is unused
        return NextFrameGRU(n_features, self.hidden_size, self.num_layers)

    def loss(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        # frames 0..T-2 predict frames 1..T-1
        prediction = module(batch[:, :-1])
        return nn.functional.mse_loss(prediction, batch[:, 1:])


@hookimpl
def harness_models() -> list[Component]:
    return [
        Component(
            name="gru",
            factory=GRUModel,
            doc="GRU predicting the next feature frame (MSE)",
            params=[
                Param("hidden_size", int, 64, "GRU units per layer", min=1),
                Param("num_layers", int, 1, "stacked GRU layers", min=1, max=8),
            ],
        )
    ]
