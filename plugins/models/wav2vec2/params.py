"""The wav2vec2 plugin's parameters, and the rules on them the Param schema cannot say."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from harness import Param, ValidationContext
from harness_plugins.models.wav2vec2.offline import transformers_problem


def size_problems(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    # rules the Param schema cannot say: list lengths and sizes that must divide
    conv = [settings[k] for k in ("conv_dim", "conv_kernel", "conv_stride")]
    if not conv[0] or len({len(c) for c in conv}) != 1:
        yield "conv_dim", ("conv_dim, conv_kernel and conv_stride must be non-empty lists of one "
                           f"length (one entry per layer), got lengths {[len(c) for c in conv]}")  # fmt: skip
    for name, values in zip(("conv_dim", "conv_kernel", "conv_stride"), conv, strict=True):
        if any(v < 1 for v in values):
            yield name, f"expected positive sizes, got {values}"
    for name, divisor in (("num_heads", "hidden_size"), ("pos_conv_groups", "hidden_size"),
                          ("codevector_groups", "codevector_dim")):  # fmt: skip
        if settings[divisor] % settings[name]:
            yield name, (f"must divide {divisor} = {settings[divisor]}, got {settings[name]}")


def check(params: Mapping[str, Any], context: ValidationContext) -> Iterator[tuple[str, str]]:
    problem = transformers_problem()
    if problem:
        yield "", problem
    yield from size_problems(params)


_SIZE = "(every size is a parameter; the defaults are a small model for CPU)"
#: the feature encoder's convolutions when a suite does not give them
DEFAULT_CONV = {
    "conv_dim": [32, 32, 32, 32],
    "conv_kernel": [10, 4, 4, 4],
    "conv_stride": [5, 4, 4, 2],
}


def _conv(name: str, doc: str) -> Param:
    """One list entry per feature-encoder convolution."""
    return Param(name, list, list(DEFAULT_CONV[name]), doc, item=int)


def _count(name: str, default: int, doc: str, least: int) -> Param:
    return Param(name, int, default, doc, min=least)


def _positive(name: str, default: float, doc: str, least: float) -> Param:
    return Param(name, float, default, doc, min=least)


PARAMS = [
    _conv("conv_dim", "channels of each feature-encoder convolution " + _SIZE),
    _conv("conv_kernel", "kernel of each feature-encoder convolution (samples, then frames)"),
    _conv(
        "conv_stride",
        "stride of each feature-encoder convolution; their product is the "
        "encoder's hop in samples (160: 10 ms at 16 kHz)",
    ),
    _count("hidden_size", 64, "transformer width", 8),
    Param("num_layers", int, 2, "transformer layers", min=1, max=24),
    _count("num_heads", 4, "attention heads (divides hidden_size)", 1),
    _count("intermediate_size", 128, "feed-forward width of each layer", 1),
    _count("pos_conv_kernel", 16, "kernel of the convolutional position embedding (frames)", 2),
    _count("pos_conv_groups", 4, "groups of the position convolution (divides hidden_size)", 1),
    _count("codevector_groups", 2, "quantizer codebooks (G)", 1),
    _count("codevectors_per_group", 32, "entries per codebook (V)", 2),
    _count("codevector_dim", 64, "size of a quantized vector (divisible by codevector_groups)", 2),
    _count("proj_codevector_dim", 64, "size of the space the contrastive task compares in", 2),
    _count(
        "num_negatives",
        10,
        "distractors per masked frame, drawn from the crop's other masked frames",
        1,
    ),
    Param(
        "mask_prob",
        float,
        0.65,
        "masked spans per crop: round(mask_prob * frames / mask_length)",
        min=0.01,
        max=1.0,
    ),
    _count("mask_length", 4, "frames per masked span", 1),
    _positive("diversity_loss_weight", 0.1, "weight of the diversity loss", 0.0),
    _positive(
        "logits_temperature", 0.1, "temperature of the contrastive cosine similarities", 0.001
    ),
    _positive(
        "gumbel_temperature", 2.0, "Gumbel-softmax temperature of the quantizer (fixed)", 0.01
    ),
    Param("dropout", float, 0.0, "dropout throughout (0: none)", min=0.0, max=0.9),
    Param(
        "freeze_feature_encoder",
        bool,
        False,
        "classify: keep the convolutional feature encoder fixed while "
        "fine-tuning (self-supervised pretraining still trains it)",
    ),
]
