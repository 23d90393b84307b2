"""Mel-spectrogram CNN: the speech-commands keyword classifier.

A training segment (frames, features) is read as a one-channel image. Each
block is a 2-D convolution ("same" padding), ReLU, a 2 x 2 pooling (a side
already down to 1 is not pooled) and dropout; the flattened result goes
through a hidden linear layer (ReLU, dropout) to the clip logits
(batch, n_classes): one decision per segment, for the ``classify`` task only.

The hidden layer is the model's latent space: the module exposes ``encode``
and ``segment_frames``, the protocol the ``bottleneck`` extractor reads, so
the penultimate layer of a trained classifier can be probed.

Parameter groups (``[training] lr_groups``, ``freeze``): ``backbone`` is the
convolution blocks and the hidden layer, ``head`` the linear output layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from harness import Component, Param, ValidationContext, hookimpl
from harness_plugins.models.layer_params import channels_param, channels_problem, dropout_param

POOLING = ("max", "avg")
#: parameter groups, as parameter_groups returns them
GROUPS = ("backbone", "head")


def shape_problems(channels: list[int], kernel_size: int) -> Iterator[tuple[str, str]]:
    # the Param schema cannot bound a list's length or elements, nor ask for odd numbers
    problem = channels_problem(channels)
    if problem:
        yield "channels", problem
    if kernel_size % 2 == 0:
        yield "kernel_size", (f"expected an odd size (the 'same' padding keeps the frames "
                              f"aligned), got {kernel_size}")  # fmt: skip


def _check(params: Mapping[str, Any], context: ValidationContext) -> Iterator[tuple[str, str]]:
    yield from shape_problems(params["channels"], params["kernel_size"])
    if context.task == "classify" and context.silence in ("mask", "label"):
        yield (
            "",
            (
                f"mel_cnn decides once per segment (clip logits), so features.silence = "
                f"{context.silence!r} has no per-frame labels to act on; use 'keep' or 'remove', "
                "or a per-frame model such as rnn_classifier"
            ),
        )


@hookimpl
def harness_models() -> list[Component]:
    return [
        Component(
            name="mel_cnn",
            factory="harness_plugins.models.mel_cnn_model:MelCNNModel",
            tasks=("classify",),
            groups=GROUPS,
            doc="2-D CNN over the (frames x mel) image with dropout, then linear layers "
            "to clip logits (the speech-commands classifier)",
            params=[
                channels_param(
                    [16, 32],
                    "output channels of each convolution block (conv, ReLU, 2x2 pool, dropout)",
                ),
                Param("kernel_size", int, 3, "side of the square convolution kernel (odd)", min=1),
                dropout_param(0.25, "dropout after each block and before the output"),
                Param(
                    "pooling",
                    str,
                    "max",
                    "2x2 pooling after each convolution",
                    choices=POOLING,
                ),
                Param(
                    "hidden_size",
                    int,
                    128,
                    "units of the hidden linear layer (the latent space)",
                    min=1,
                ),
            ],
            check=_check,
        )
    ]
