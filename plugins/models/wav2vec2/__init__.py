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

from harness import Component, hookimpl
from harness_plugins.models.wav2vec2.offline import (
    EXTRA,
    INSTALL,
    require_transformers,
    transformers_installed,
)
from harness_plugins.models.wav2vec2.params import PARAMS, check

__all__ = [
    "EXTRA",
    "INSTALL",
    "harness_models",
    "require_transformers",
    "transformers_installed",
]


@hookimpl
def harness_models() -> list[Component]:
    return [
        Component(
            name="wav2vec2",
            title="wav2vec 2.0",
            loss="contrastive + diversity loss per masked frame",
            factory="harness_plugins.models.wav2vec2.model:Wav2Vec2Model",
            tasks=("contrastive", "classify"),
            input="waveform",
            groups=("feature_encoder", "transformer", "head"),
            doc="wav2vec 2.0 from scratch on waveform crops (Hugging Face transformers, the "
            f"[{EXTRA}] extra): contrastive + diversity loss; classify: mean-pooled transformer "
            "output and a linear head",
            params=PARAMS,
            check=check,
        )
    ]
