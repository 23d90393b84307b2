"""The torch module of the wav2vec2 plugin: ``Wav2Vec2ForPreTraining`` with the run's
mask generator, an optional clip head, and the per-layer read-out the latent
extractors use (``layer_states``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness_plugins.models.wav2vec2.masking import mask_spans, sample_negatives
from harness_plugins.models.wav2vec2.offline import require_transformers

#: seed of the masks and negatives of held-out evaluation (the same frames every time)
EVAL_SEED = 20_200_611


class Wav2Vec2Module(nn.Module):
    """``Wav2Vec2ForPreTraining`` with the run's mask generator, optional clip
    head, and the per-layer read-out of the latent extractors."""

    def __init__(
        self,
        config: Any,
        crop_samples: int,
        mask_prob: float,
        mask_length: int,
        num_negatives: int,
        n_classes: int | None,
        freeze_feature_encoder: bool,
    ) -> None:
        super().__init__()
        transformers = require_transformers()
        self.net = transformers.Wav2Vec2ForPreTraining(config)
        # the masks come from mask_spans only: transformers never draws its own
        self.net.config.mask_time_prob = 0.0
        self.crop_samples = crop_samples
        self.mask_prob = mask_prob
        self.mask_length = mask_length
        self.num_negatives = num_negatives
        self.freeze_feature_encoder = freeze_feature_encoder
        # seeded from torch's global generator, which the core seeded with the run's seed
        self.rng = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
        hidden = config.hidden_size
        self.head = nn.Linear(hidden, n_classes) if n_classes is not None else None

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        """Each crop to zero mean and unit variance (as wav2vec 2.0's feature extractor)."""
        x = x - x.mean(-1, keepdim=True)
        return x / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-7)

    def frames(self, samples: int) -> int:
        return int(self.net.wav2vec2._get_feat_extract_output_lengths(samples))

    def pretraining(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Contrastive + diversity loss per masked frame, and the codebook perplexity."""
        rng = self.rng if self.training else torch.Generator().manual_seed(EVAL_SEED)
        batch, frames = x.shape[0], self.frames(x.shape[-1])
        mask = mask_spans(batch, frames, self.mask_prob, self.mask_length, rng)
        negatives = sample_negatives(mask, self.num_negatives, rng)
        out = self.net(
            self.normalise(x),
            mask_time_indices=mask.to(x.device),
            sampled_negative_indices=negatives.to(x.device),
        )
        masked = mask.sum().to(x.device)
        return {"loss": out.loss / masked, "codebook_perplexity": out.codevector_perplexity}

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The transformer's output mean-pooled over time (batch, hidden)."""
        model = self.net.wav2vec2
        x = self.normalise(x)
        if self.freeze_feature_encoder:
            with torch.no_grad():
                conv = model.feature_extractor(x)
        else:
            conv = model.feature_extractor(x)
        hidden, _ = model.feature_projection(conv.transpose(1, 2))
        return model.encoder(hidden).last_hidden_state.mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip logits (batch, n_classes) of waveform crops (batch, samples)."""
        if self.head is None:
            raise RuntimeError("this wav2vec2 module was built without classes (no head)")
        return self.head(self.pooled(x))

    @property
    def frame_stride(self) -> int:
        """Samples between two frames of the feature encoder (the product of its strides)."""
        return int(torch.tensor(self.net.config.conv_stride).prod())

    @property
    def frame_window(self) -> int:
        """Samples one encoder frame sees (its receptive field)."""
        window = 1
        for kernel, stride in zip(
            reversed(self.net.config.conv_kernel), reversed(self.net.config.conv_stride),
            strict=True,
        ):  # fmt: skip
            window = (window - 1) * stride + kernel
        return window

    def layer_frames(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Latent-extractor protocol: :meth:`layer_states`' layers frame by frame,
        each (batch, frames, dim)."""
        out = self.net.wav2vec2(self.normalise(x), output_hidden_states=True)
        states = {"encoder": out.extract_features}
        for i, hidden in enumerate(out.hidden_states[1:], start=1):
            states[f"layer{i}"] = hidden
        return states

    def layer_states(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Latent-extractor protocol: every layer of waveforms ``x`` (batch, samples),
        each mean-pooled over time: ``encoder`` (the convolutional feature
        encoder's normalised output) and ``layer1``..``layerN`` (the transformer
        layers' outputs)."""
        out = self.net.wav2vec2(self.normalise(x), output_hidden_states=True)
        states = {"encoder": out.extract_features.mean(1)}
        # hidden_states[0] is the transformer's input; [i] the output of layer i
        for i, hidden in enumerate(out.hidden_states[1:], start=1):
            states[f"layer{i}"] = hidden.mean(1)
        return states
