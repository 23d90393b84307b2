"""The recurrent frame classifier itself (torch): the modules and the
classifier contract the ``rnn_classifier`` component builds (declared in
:mod:`harness_plugins.models.rnn_classifier`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from harness_plugins.models.rnn_classifier import CELLS

_CELL_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU}


class RNNClassifier(nn.Module):
    """Recurrent layers with a per-frame linear read-out to the classes."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        cell: str,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.rnn = _CELL_MODULES[cell](
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            # torch warns when dropout is set on a single layer, where it does nothing
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), n_classes)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits for every frame of ``x`` (batch, frames, features), and the final state."""
        out, state = self.rnn(x, state)
        return self.head(self.dropout(out)), state

    def final_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Latent-extractor protocol: every layer's state after reading ``x``.

        ``h`` (and ``c`` for an LSTM) of the last layer, ``layer<i>.h`` /
        ``layer<i>.c`` for each layer below it (1 = the first), each
        (batch, hidden) or, bidirectional, both directions side by side.
        """
        _, state = self.rnn(x)
        parts = {"h": state[0], "c": state[1]} if self.cell == "lstm" else {"h": state}
        directions = 2 if self.rnn.bidirectional else 1
        layers = self.rnn.num_layers
        out: dict[str, torch.Tensor] = {}
        for name, value in parts.items():
            # (layers * directions, batch, hidden) -> per layer (batch, directions * hidden)
            per_layer = value.view(layers, directions, *value.shape[1:])
            for i in range(layers):
                key = name if i == layers - 1 else f"layer{i + 1}.{name}"
                out[key] = torch.cat(list(per_layer[i]), -1)
        return out


class StreamingRNNClassifier(RNNClassifier):
    """A one-directional :class:`RNNClassifier`, which also reads one frame at a time."""

    def step(self, frame: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Streaming: one frame (batch, features) in, its logits (batch, n_classes) and
        the new state out; ``state=None`` starts a sequence."""
        out, state = self.forward(frame.unsqueeze(1), state)
        return out.squeeze(1), state


class RNNClassifierModel:
    """The classifier contract: builds an :class:`RNNClassifier`, returns per-frame logits."""

    def __init__(
        self,
        cell: str = "gru",
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        if cell not in CELLS:
            raise ValueError(f"cell: expected one of {', '.join(CELLS)}, got {cell!r}")
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.bidirectional = bidirectional

    def build(self, n_features: int, segment_frames: int, n_classes: int) -> nn.Module:
        kind = RNNClassifier if self.bidirectional else StreamingRNNClassifier
        return kind(
            n_features,
            n_classes,
            self.cell,
            self.hidden_size,
            self.num_layers,
            self.dropout,
            self.bidirectional,
        )

    def logits(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return module(batch)[0]

    def parameter_groups(self, module: nn.Module) -> Mapping[str, Iterable[nn.Parameter]]:
        """``backbone``: the recurrent layers; ``head``: the linear read-out."""
        return {"backbone": module.rnn.parameters(), "head": module.head.parameters()}
