"""The mel-spectrogram CNN itself (torch): the module and the classifier
contract the ``mel_cnn`` component builds (declared in
:mod:`harness_plugins.models.mel_cnn`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from harness_plugins.models.mel_cnn import shape_problems


def _pool(kind: str, kernel: tuple[int, int]) -> nn.Module:
    # ceil_mode: an odd side keeps its last frame (or band) in a window of its own
    if kind == "max":
        return nn.MaxPool2d(kernel, ceil_mode=True)
    return nn.AvgPool2d(kernel, ceil_mode=True)


class MelCNN(nn.Module):
    """Convolution blocks over the (frames x features) image, then a hidden layer and the logits."""

    def __init__(
        self,
        n_features: int,
        segment_frames: int,
        n_classes: int,
        channels: list[int],
        kernel_size: int,
        dropout: float,
        pooling: str,
        hidden_size: int,
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.segment_frames = segment_frames
        blocks: list[nn.Module] = []
        previous, height, width = 1, segment_frames, n_features
        for out in channels:
            blocks += [nn.Conv2d(previous, out, kernel_size, padding=kernel_size // 2), nn.ReLU()]
            # a side already down to one frame (or band) is left as it is
            kernel = (2 if height > 1 else 1, 2 if width > 1 else 1)
            blocks += [_pool(pooling, kernel), nn.Dropout(dropout)]
            height, width = -(-height // kernel[0]), -(-width // kernel[1])
            previous = out
        self.convolutions = nn.Sequential(*blocks)
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(previous * height * width, hidden_size), nn.ReLU()
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, n_classes))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent-extractor protocol: the hidden layer (batch, hidden_size) of segments
        (batch, segment_frames, n_features)."""
        frames, features = x.shape[-2:]
        if (frames, features) != (self.segment_frames, self.n_features):
            raise ValueError(
                f"expected segments of shape ({self.segment_frames}, {self.n_features}), "
                f"got ({frames}, {features})"
            )
        return self.hidden(self.convolutions(x.unsqueeze(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip logits (batch, n_classes) of segments (batch, frames, features)."""
        return self.head(self.encode(x))


class MelCNNModel:
    """The classifier contract: builds a :class:`MelCNN`, returns its clip logits."""

    def __init__(
        self,
        channels: list[int] | None = None,
        kernel_size: int = 3,
        dropout: float = 0.25,
        pooling: str = "max",
        hidden_size: int = 128,
    ) -> None:
        channels = [16, 32] if channels is None else list(channels)
        for name, problem in shape_problems(channels, kernel_size):
            raise ValueError(f"{name}: {problem}")
        self.channels = channels
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.pooling = pooling
        self.hidden_size = hidden_size

    def build(self, n_features: int, segment_frames: int, n_classes: int) -> nn.Module:
        return MelCNN(
            n_features,
            segment_frames,
            n_classes,
            self.channels,
            self.kernel_size,
            self.dropout,
            self.pooling,
            self.hidden_size,
        )

    def logits(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return module(batch)

    def parameter_groups(self, module: nn.Module) -> Mapping[str, Iterable[nn.Parameter]]:
        """``backbone``: the convolutions and the hidden layer; ``head``: the output layer."""
        backbone = [*module.convolutions.parameters(), *module.hidden.parameters()]
        return {"backbone": backbone, "head": module.head.parameters()}
