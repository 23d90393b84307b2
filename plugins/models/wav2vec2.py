"""wav2vec 2.0 trained from scratch on the waveform (Hugging Face ``transformers``).

The module is ``Wav2Vec2ForPreTraining`` with a small configuration (every
size a parameter): a convolutional feature encoder over the raw waveform, a
few transformer layers, and the Gumbel product quantizer whose codes are the
contrastive targets. The component declares ``input="waveform"``: the core
feeds it fixed-length crops (batch, samples) at ``features.sample_rate``.

Its own loss is wav2vec 2.0's: spans of the encoder's frames are masked, the
transformer's output at each masked frame must pick the frame's quantized
code among ``num_negatives`` codes of other masked frames of the same crop
(contrastive), plus the diversity loss that keeps the codebook in use; both
per masked frame. The masks and the negatives are drawn here from a
generator the module seeds from the run's seed when it is built (held-out
evaluation draws from a fixed one, so every evaluation masks the same
frames), never from numpy's or transformers' global state, so a run is
deterministic on CPU. The held-out codebook perplexity is a measure of the
curve (``heldout_codebook_perplexity``).

With ``[target] task = "classify"`` the module gets a linear head on the
transformer output mean-pooled over time (clip logits); its own loss stays
available, which is what a condition with ``pretrain_objective =
"self_supervised"`` pretrains on before fine-tuning. ``freeze_feature_encoder``
keeps the convolutional encoder fixed while fine-tuning.

Every layer is a latent space: ``layer_states(x)`` returns the feature
encoder's output (``encoder``) and each transformer layer's output
(``layer1``..``layerN``), each mean-pooled over time; the ``layer_states``
extractor reads it.

Parameter groups (``[training] lr_groups`` and ``freeze``): ``feature_encoder``
(the convolutions over the waveform), ``transformer`` (everything else of
wav2vec 2.0: feature projection, transformer, quantizer and projections) and
``head`` (the classify head; empty without one).

Starting from a checkpoint (``checkpoint = "..."`` in a suite): the weights of
an earlier harness run of this plugin, or a Hugging Face ``save_pretrained``
folder of ``Wav2Vec2ForPreTraining`` (tensor names ``wav2vec2.*``,
``quantizer.*``, ...) or of the bare ``Wav2Vec2Model`` (``feature_extractor.*``,
``encoder.*``, ...): :meth:`Wav2Vec2Model.load_checkpoint` maps the names onto
this module. The plugin's size parameters must describe the checkpoint's
model (``config.json`` is not read); a tensor of another shape is an error
that names it. A classify head the checkpoint lacks starts as built.

Nothing is downloaded: importing this module sets ``HF_HUB_OFFLINE`` and
``TRANSFORMERS_OFFLINE``, and the model is built from a configuration, never
from a hub name.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from harness import Component, Param, ValidationContext, hookimpl
from harness.checkpoints import CheckpointError, load_matching

# forced before transformers is imported anywhere in this process
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

#: the optional dependency and how to install it
EXTRA = "wav2vec2"
INSTALL = f"pip install 'speech-pretrain-harness[{EXTRA}]'"
#: seed of the masks and negatives of held-out evaluation (the same frames every time)
EVAL_SEED = 20_200_611


def transformers_installed() -> bool:
    return importlib.util.find_spec("transformers") is not None


def require_transformers() -> Any:
    """The ``transformers`` package, or an ImportError naming the extra to install."""
    if not transformers_installed():
        raise ImportError(
            f"the wav2vec2 model needs Hugging Face transformers, the [{EXTRA}] extra: {INSTALL}"
        )
    import huggingface_hub.constants
    import transformers

    # transformers may have been imported before this module set the variables
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    return transformers


def mask_spans(
    batch: int, frames: int, prob: float, length: int, rng: torch.Generator
) -> torch.Tensor:
    """Boolean (batch, frames): ``round(prob * frames / length)`` spans of
    ``length`` frames per row (at least one, never the whole row), their
    starts drawn without replacement from ``rng``; spans may overlap."""
    length = max(1, min(length, frames - 1))
    starts = frames - length + 1
    count = min(starts, max(1, round(prob * frames / length)))
    order = torch.rand(batch, starts, generator=rng).argsort(-1)[:, :count]
    index = (order.unsqueeze(-1) + torch.arange(length)).reshape(batch, -1)
    mask = torch.zeros(batch, frames, dtype=torch.bool)
    return mask.scatter_(1, index, True)


def sample_negatives(mask: torch.Tensor, count: int, rng: torch.Generator) -> torch.Tensor:
    """Indices (batch, frames, count) into the flattened (batch * frames) frames:
    for each masked frame, ``count`` other masked frames of the same row, drawn
    uniformly from ``rng`` (with replacement across draws); unmasked frames,
    whose targets are ignored, point at their row's first frame."""
    batch, frames = mask.shape
    out = torch.zeros(batch, frames, count, dtype=torch.long)
    for row in range(batch):
        where = mask[row].nonzero().squeeze(-1)
        n = len(where)
        if n < 2:
            continue
        pick = torch.randint(0, n - 1, (n, count), generator=rng)
        pick = pick + (pick >= torch.arange(n).unsqueeze(-1)).long()  # never the frame itself
        out[row, where] = where[pick]
    return out + (torch.arange(batch) * frames).view(batch, 1, 1)


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


class Wav2Vec2Model:
    """The model contract on the waveform: its own (wav2vec 2.0) loss, and
    clip logits for the ``classify`` task."""

    def __init__(
        self,
        conv_dim: list[int] | None = None,
        conv_kernel: list[int] | None = None,
        conv_stride: list[int] | None = None,
        hidden_size: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        intermediate_size: int = 128,
        pos_conv_kernel: int = 16,
        pos_conv_groups: int = 4,
        codevector_groups: int = 2,
        codevectors_per_group: int = 32,
        codevector_dim: int = 64,
        proj_codevector_dim: int = 64,
        num_negatives: int = 10,
        mask_prob: float = 0.65,
        mask_length: int = 4,
        diversity_loss_weight: float = 0.1,
        logits_temperature: float = 0.1,
        gumbel_temperature: float = 2.0,
        dropout: float = 0.0,
        freeze_feature_encoder: bool = False,
    ) -> None:
        conv_dim = [32, 32, 32, 32] if conv_dim is None else list(conv_dim)
        conv_kernel = [10, 4, 4, 4] if conv_kernel is None else list(conv_kernel)
        conv_stride = [5, 4, 4, 2] if conv_stride is None else list(conv_stride)
        settings = dict(
            conv_dim=conv_dim, conv_kernel=conv_kernel, conv_stride=conv_stride,
            hidden_size=hidden_size, num_heads=num_heads, pos_conv_groups=pos_conv_groups,
            codevector_groups=codevector_groups, codevector_dim=codevector_dim,
        )  # fmt: skip
        for name, problem in _problems(settings):
            raise ValueError(f"{name}: {problem}")
        self.settings = dict(
            conv_dim=tuple(conv_dim),
            conv_kernel=tuple(conv_kernel),
            conv_stride=tuple(conv_stride),
            feat_extract_norm="group",
            conv_bias=False,
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            intermediate_size=intermediate_size,
            num_conv_pos_embeddings=pos_conv_kernel,
            num_conv_pos_embedding_groups=pos_conv_groups,
            num_codevector_groups=codevector_groups,
            num_codevectors_per_group=codevectors_per_group,
            codevector_dim=codevector_dim,
            proj_codevector_dim=proj_codevector_dim,
            num_negatives=num_negatives,
            diversity_loss_weight=diversity_loss_weight,
            contrastive_logits_temperature=logits_temperature,
            hidden_dropout=dropout,
            attention_dropout=dropout,
            activation_dropout=dropout,
            feat_proj_dropout=dropout,
            feat_quantizer_dropout=dropout,
            final_dropout=dropout,
            layerdrop=0.0,
            # > 0 so the masked-frame embedding exists; the module draws the masks
            mask_time_prob=mask_prob,
            mask_time_length=mask_length,
            mask_feature_prob=0.0,
            do_stable_layer_norm=False,
        )
        self.mask_prob = mask_prob
        self.mask_length = mask_length
        self.num_negatives = num_negatives
        self.gumbel_temperature = gumbel_temperature
        self.freeze_feature_encoder = freeze_feature_encoder

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


def _problems(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
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


def _check(params: Mapping[str, Any], context: ValidationContext) -> Iterator[tuple[str, str]]:
    if not transformers_installed():
        yield "", (f"needs Hugging Face transformers, which is not installed: install the "
                   f"[{EXTRA}] extra ({INSTALL})")  # fmt: skip
    yield from _problems(params)


_SIZE = "(every size is a parameter; the defaults are a small model for CPU)"


@hookimpl
def harness_models() -> list[Component]:
    return [
        Component(
            name="wav2vec2",
            title="wav2vec 2.0",
            loss="contrastive + diversity loss per masked frame",
            factory=Wav2Vec2Model,
            tasks=("contrastive", "classify"),
            input="waveform",
            groups=("feature_encoder", "transformer", "head"),
            doc="wav2vec 2.0 from scratch on waveform crops (Hugging Face transformers, the "
            f"[{EXTRA}] extra): contrastive + diversity loss; classify: mean-pooled transformer "
            "output and a linear head",
            params=[
                Param(
                    "conv_dim",
                    list,
                    [32, 32, 32, 32],
                    "channels of each feature-encoder convolution " + _SIZE,
                    item=int,
                ),
                Param(
                    "conv_kernel",
                    list,
                    [10, 4, 4, 4],
                    "kernel of each feature-encoder convolution (samples, then frames)",
                    item=int,
                ),
                Param(
                    "conv_stride",
                    list,
                    [5, 4, 4, 2],
                    "stride of each feature-encoder convolution; their product is the "
                    "encoder's hop in samples (160: 10 ms at 16 kHz)",
                    item=int,
                ),
                Param("hidden_size", int, 64, "transformer width", min=8),
                Param("num_layers", int, 2, "transformer layers", min=1, max=24),
                Param("num_heads", int, 4, "attention heads (divides hidden_size)", min=1),
                Param("intermediate_size", int, 128, "feed-forward width of each layer", min=1),
                Param(
                    "pos_conv_kernel",
                    int,
                    16,
                    "kernel of the convolutional position embedding (frames)",
                    min=2,
                ),
                Param(
                    "pos_conv_groups",
                    int,
                    4,
                    "groups of the position convolution (divides hidden_size)",
                    min=1,
                ),
                Param("codevector_groups", int, 2, "quantizer codebooks (G)", min=1),
                Param("codevectors_per_group", int, 32, "entries per codebook (V)", min=2),
                Param(
                    "codevector_dim",
                    int,
                    64,
                    "size of a quantized vector (divisible by codevector_groups)",
                    min=2,
                ),
                Param(
                    "proj_codevector_dim",
                    int,
                    64,
                    "size of the space the contrastive task compares in",
                    min=2,
                ),
                Param(
                    "num_negatives",
                    int,
                    10,
                    "distractors per masked frame, drawn from the crop's other masked frames",
                    min=1,
                ),
                Param(
                    "mask_prob",
                    float,
                    0.65,
                    "masked spans per crop: round(mask_prob * frames / mask_length)",
                    min=0.01,
                    max=1.0,
                ),
                Param("mask_length", int, 4, "frames per masked span", min=1),
                Param("diversity_loss_weight", float, 0.1, "weight of the diversity loss", min=0.0),
                Param(
                    "logits_temperature",
                    float,
                    0.1,
                    "temperature of the contrastive cosine similarities",
                    min=0.001,
                ),
                Param(
                    "gumbel_temperature",
                    float,
                    2.0,
                    "Gumbel-softmax temperature of the quantizer (fixed)",
                    min=0.01,
                ),
                Param("dropout", float, 0.0, "dropout throughout (0: none)", min=0.0, max=0.9),
                Param(
                    "freeze_feature_encoder",
                    bool,
                    False,
                    "classify: keep the convolutional feature encoder fixed while "
                    "fine-tuning (self-supervised pretraining still trains it)",
                ),
            ],
            check=_check,
        )
    ]
