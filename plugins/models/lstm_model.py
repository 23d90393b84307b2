"""The next-frame LSTM itself (torch): the module and the model contract
the ``lstm`` component builds (declared in :mod:`harness_plugins.models.lstm`)."""

from __future__ import annotations

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]


class NextFrameLSTM(nn.Module):
    """Many-to-many LSTM with a linear read-out to the next frame."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.n_features = n_features
        self.lstm = nn.LSTM(
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            # torch warns when dropout is set on a single layer, where it does nothing
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, n_features)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Predictions for every frame of ``x`` (batch, frames, features), and the final state."""
        out, state = self.lstm(x, state)
        return self.head(out), state

    def step(self, frame: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Streaming mode: one frame (batch, features) in, its prediction and the new state out."""
        out, state = self.forward(frame.unsqueeze(1), state)
        return out.squeeze(1), state

    def final_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Latent-extractor protocol: every layer's hidden and cell state after reading ``x``.

        Returns ``{"h": (batch, hidden), "c": (batch, hidden)}`` for the last
        layer and, with stacked layers, ``layer<i>.h`` / ``layer<i>.c`` for each
        layer below it (1 = the first), so every layer is a latent space.
        """
        _, (h, c) = self.lstm(x)
        states = {}
        for i in range(len(h) - 1):
            states[f"layer{i + 1}.h"], states[f"layer{i + 1}.c"] = h[i], c[i]
        return {**states, "h": h[-1], "c": c[-1]}

    def frame_states(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Latent-extractor protocol: the last layer's hidden state after each
        frame of ``x``, ``{"h": (batch, frames, hidden)}`` (what ``abx`` reads)."""
        out, _ = self.lstm(x)
        return {"h": out}


class LSTMModel:
    """The model contract: builds a :class:`NextFrameLSTM`, scores next-frame prediction."""

    def __init__(self, hidden_size: int = 128, num_layers: int = 1, dropout: float = 0.0) -> None:
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout

    def build(self, n_features: int, segment_frames: int) -> nn.Module:
        return NextFrameLSTM(n_features, self.hidden_size, self.num_layers, self.dropout)

    def loss(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        # frames 0..T-2 predict frames 1..T-1
        prediction, _ = module(batch[:, :-1])
        return nn.functional.mse_loss(prediction, batch[:, 1:])
