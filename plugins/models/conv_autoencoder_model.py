"""The convolutional autoencoder itself (torch): the module and the model
contract the ``conv_autoencoder`` component builds (declared in
:mod:`harness_plugins.models.conv_autoencoder`).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from harness_plugins.models.layer_params import channels_problem


class ConvAutoencoder(nn.Module):
    """Encoder to a ``bottleneck``-sized code and a mirrored decoder."""

    def __init__(
        self, n_features: int, segment_frames: int, channels: list[int], bottleneck: int
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.segment_frames = segment_frames
        stride = 2 ** len(channels)
        self.padded = (-(-segment_frames // stride) * stride, -(-n_features // stride) * stride)
        self.grid = (self.padded[0] // stride, self.padded[1] // stride)

        encoder: list[nn.Module] = []
        previous = 1
        for width in channels:
            # kernel 3, stride 2, padding 1 halves an even size exactly
            encoder += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.ReLU()]
            previous = width
        self.encoder = nn.Sequential(*encoder)
        flat = channels[-1] * self.grid[0] * self.grid[1]
        self.to_code = nn.Linear(flat, bottleneck)
        self.from_code = nn.Linear(bottleneck, flat)

        decoder: list[nn.Module] = []
        widths = [*reversed(channels), 1]
        for i, (width, out) in enumerate(itertools.pairwise(widths)):
            # kernel 4, stride 2, padding 1 doubles the size exactly
            decoder.append(nn.ConvTranspose2d(width, out, 4, stride=2, padding=1))
            if i < len(channels) - 1:
                decoder.append(nn.ReLU())
        self.decoder = nn.Sequential(*decoder)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        frames, features = x.shape[-2:]
        if (frames, features) != (self.segment_frames, self.n_features):
            raise ValueError(
                f"expected segments of shape ({self.segment_frames}, {self.n_features}), "
                f"got ({frames}, {features})"
            )
        extra_t = self.padded[0] - frames
        extra_f = self.padded[1] - features
        return F.pad(x.unsqueeze(1), (0, extra_f, 0, extra_t))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent-extractor protocol: codes (batch, bottleneck) of segments (batch, frames, features)."""
        hidden = self.encoder(self._pad(x))
        return self.to_code(hidden.flatten(1))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Segments (batch, frames, features) rebuilt from codes."""
        hidden = self.from_code(code).view(code.shape[0], -1, *self.grid)
        image = self.decoder(hidden)
        return image[:, 0, : self.segment_frames, : self.n_features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class ConvAutoencoderModel:
    """The model contract: builds a :class:`ConvAutoencoder`, scores reconstruction."""

    def __init__(self, channels: list[int] | None = None, bottleneck: int = 64) -> None:
        channels = [16, 32, 64] if channels is None else list(channels)
        problem = channels_problem(channels)
        if problem:
            raise ValueError(f"channels: {problem}")
        self.channels = channels
        self.bottleneck = bottleneck

    def build(self, n_features: int, segment_frames: int) -> nn.Module:
        return ConvAutoencoder(n_features, segment_frames, self.channels, self.bottleneck)

    def loss(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(module(batch), batch)
