"""The wav2vec2 plugin's model contract: its settings as a ``Wav2Vec2Config``, the module
it builds, its own loss, clip logits, parameter groups and checkpoint names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.spec.checkpoints import CheckpointError, load_matching
from harness_plugins.models.wav2vec2.module import Wav2Vec2Module
from harness_plugins.models.wav2vec2.offline import require_transformers
from harness_plugins.models.wav2vec2.params import DEFAULT_CONV, size_problems

#: parameters that set the ``Wav2Vec2Config`` field of the same name
_SAME_NAMES = (
    "hidden_size",
    "intermediate_size",
    "codevector_dim",
    "proj_codevector_dim",
    "num_negatives",
    "diversity_loss_weight",
)
#: parameters that set a ``Wav2Vec2Config`` field of another name
_RENAMED = {
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "pos_conv_kernel": "num_conv_pos_embeddings",
    "pos_conv_groups": "num_conv_pos_embedding_groups",
    "codevector_groups": "num_codevector_groups",
    "codevectors_per_group": "num_codevectors_per_group",
    "logits_temperature": "contrastive_logits_temperature",
    # > 0 so the masked-frame embedding exists; the module draws the masks
    "mask_prob": "mask_time_prob",
    "mask_length": "mask_time_length",
}
#: every dropout of the configuration follows the one ``dropout`` parameter
_DROPOUTS = (
    "hidden_dropout",
    "attention_dropout",
    "activation_dropout",
    "feat_proj_dropout",
    "feat_quantizer_dropout",
    "final_dropout",
)
#: configuration fields the plugin fixes
_FIXED = {
    "feat_extract_norm": "group",
    "conv_bias": False,
    "layerdrop": 0.0,
    "mask_feature_prob": 0.0,
    "do_stable_layer_norm": False,
}


def config_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Wav2Vec2Config`` keyword arguments of the plugin's parameters."""
    return {
        **{name: tuple(params[name]) for name in DEFAULT_CONV},
        **_FIXED,
        **{name: params[name] for name in _SAME_NAMES},
        **{field: params[name] for name, field in _RENAMED.items()},
        **dict.fromkeys(_DROPOUTS, params["dropout"]),
    }


@dataclass(eq=False)
class Wav2Vec2Model:
    """The model contract on the waveform: its own (wav2vec 2.0) loss, and
    clip logits for the ``classify`` task. The fields are the plugin's parameters."""

    conv_dim: list[int] | None = None
    conv_kernel: list[int] | None = None
    conv_stride: list[int] | None = None
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 128
    pos_conv_kernel: int = 16
    pos_conv_groups: int = 4
    codevector_groups: int = 2
    codevectors_per_group: int = 32
    codevector_dim: int = 64
    proj_codevector_dim: int = 64
    num_negatives: int = 10
    mask_prob: float = 0.65
    mask_length: int = 4
    diversity_loss_weight: float = 0.1
    logits_temperature: float = 0.1
    gumbel_temperature: float = 2.0
    dropout: float = 0.0
    freeze_feature_encoder: bool = False

    def __post_init__(self) -> None:
        for name, default in DEFAULT_CONV.items():
            given = getattr(self, name)
            setattr(self, name, list(default if given is None else given))
        for name, problem in size_problems(vars(self)):
            raise ValueError(f"{name}: {problem}")
        self.settings = config_settings(vars(self))

    def config(self) -> Any:
        """The ``Wav2Vec2Config`` of these settings (built locally, nothing fetched)."""
        return require_transformers().Wav2Vec2Config(**self.settings)

    def build(
        self, n_features: int, segment_frames: int, n_classes: int | None = None
    ) -> nn.Module:
        """``segment_frames`` is the crop length in samples (a waveform model gets
        ``n_features`` 1)."""
        module = Wav2Vec2Module(
            self.config(),
            segment_frames,
            self.mask_prob,
            self.mask_length,
            self.num_negatives,
            n_classes,
            self.freeze_feature_encoder,
        )
        frames = module.frames(segment_frames)
        if frames < 2:
            raise ValueError(
                f"a crop of {segment_frames} samples gives {frames} encoder frame(s); the "
                "contrastive task needs at least 2: raise training.crop_seconds or lower "
                "conv_stride"
            )
        module.net.set_gumbel_temperature(self.gumbel_temperature)
        return module

    def measures(self, module: nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return module.pretraining(batch)  # type: ignore[operator,no-any-return]

    def loss(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return self.measures(module, batch)["loss"]

    def logits(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return module(batch)  # type: ignore[no-any-return]

    def parameter_groups(self, module: nn.Module) -> dict[str, list[nn.Parameter]]:
        """``feature_encoder``, ``transformer`` (the rest of wav2vec 2.0), ``head``."""
        encoder = list(module.net.wav2vec2.feature_extractor.parameters())  # type: ignore[union-attr]
        head = list(module.head.parameters()) if module.head is not None else []
        taken = {id(p) for p in encoder + head}
        rest = [p for p in module.parameters() if id(p) not in taken]
        return {"feature_encoder": encoder, "transformer": rest, "head": head}

    def load_checkpoint(
        self, module: nn.Module, state: Mapping[str, torch.Tensor]
    ) -> dict[str, list[str]]:
        """Hugging Face tensor names (``Wav2Vec2ForPreTraining`` or the bare
        ``Wav2Vec2Model``) or this module's own (a harness run), mapped onto
        this module; then the core's matching load (shapes checked)."""
        try:
            return load_matching(module, {_own_name(k): v for k, v in state.items()})
        except CheckpointError as exc:  # the protocol's refusal; the core adds where
            raise ValueError(str(exc)) from exc


#: top-level names of ``Wav2Vec2ForPreTraining``'s tensors, under ``net.`` here
_PRETRAINING_PARTS = ("wav2vec2.", "quantizer.", "project_q.", "project_hid.")


def _own_name(name: str) -> str:
    """A checkpoint's tensor name as this module names it."""
    if name.startswith(("net.", "head.")):
        return name  # a harness run of this plugin
    if name.startswith(_PRETRAINING_PARTS):
        return "net." + name
    return "net.wav2vec2." + name  # the bare Wav2Vec2Model
