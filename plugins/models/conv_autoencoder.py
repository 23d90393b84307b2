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

from collections.abc import Iterator, Mapping
from typing import Any

from harness import Component, Param, ValidationContext, hookimpl
from harness_plugins.models.layer_params import channels_param, channels_problem


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
            factory="harness_plugins.models.conv_autoencoder_model:ConvAutoencoderModel",
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
