"""Convolutional autoencoder over mel patches.

A training segment (frames, features) is read as a one-channel image. Strided
convolutions shrink it to a bottleneck vector; transposed convolutions rebuild
it; the loss is the reconstruction MSE. Any segment size works: the input is
zero-padded up to a multiple of the total stride and the reconstruction is
cropped back, and the loss covers the real frames only.

The module exposes ``encode`` and ``segment_frames``, the protocol the
``bottleneck`` extractor reads.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from harness import Component, Param, ValidationContext, hookimpl
from harness_plugins.models.layer_params import channels_param, channels_problem


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


def _check(params: Mapping[str, Any], context: ValidationContext) -> Iterator[tuple[str, str]]:
    problem = channels_problem(params["channels"])
    if problem:
        yield "channels", problem


@hookimpl
def harness_models() -> list[Component]:
    return [
        Component(
            name="conv_autoencoder",
            title="convolutional autoencoder",
            loss="reconstruction MSE",
            factory=ConvAutoencoderModel,
            tasks=("reconstruct",),
            doc="2-D convolutional autoencoder reconstructing mel patches (MSE)",
            params=[
                channels_param(
                    [16, 32, 64], "output channels of each stride-2 convolution of the encoder"
                ),
                Param("bottleneck", int, 64, "size of the code vector", min=1),
            ],
            check=_check,
        )
    ]
