"""The core tables of a suite file as frozen dataclasses: [features], [splits],
[target] and [training]. Each field is an :func:`~harness.spec.options.option`
(documentation and range), and each section's :meth:`problems` holds the rules
that relate its fields, which both ``harness validate`` and the code that uses
the section call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from harness.plugin.params import REQUIRED
from harness.spec.options import Section, option


@dataclass(frozen=True)
class FeatureConfig(Section):
    """[features]: the acoustic front end, computed once and cached."""

    kind: str = option("logmel", "log-mel spectrogram or MFCC frames", choices=("logmel", "mfcc"))
    sample_rate: int = option(16000, "audio is resampled to this rate (Hz)", min=4000, max=96000)
    win_ms: float = option(25.0, "analysis window length in milliseconds", min=1.0, max=500.0)
    hop_ms: float = option(10.0, "hop between frames in milliseconds", min=0.5, max=250.0)
    n_fft: int | None = option(
        None, "FFT size; default: the window length rounded up to a power of two", min=16
    )
    n_mels: int = option(40, "number of mel bands", min=1, max=512)
    fmin: float = option(0.0, "lowest mel band edge in Hz", min=0.0)
    fmax: float | None = option(
        None, "highest mel band edge in Hz; default: sample_rate / 2", min=1.0
    )
    n_mfcc: int = option(13, "MFCC coefficients kept (kind = 'mfcc' only)", min=1, max=128)
    log: str = option(
        "db",
        "compression of mel power: decibels, natural log, or none",
        choices=("db", "ln", "none"),
    )
    top_db: float | None = option(
        80.0, "with log = 'db', clip to this many dB below the peak", min=1.0
    )
    normalize: str = option(
        "clip_minmax",
        "scaling of feature values: per-clip min-max to [0, 1] (as the original study), "
        "per-clip z-score, z-score over the training corpus, or none",
        choices=("clip_minmax", "clip_zscore", "corpus_zscore", "none"),
    )
    trim_db: float | None = option(
        None, "trim leading and trailing silence quieter than this many dB below the peak", min=1.0
    )
    silence: str = option(
        "keep",
        "silent frames (quieter than silence_db below the clip's loudest frame): keep them, "
        "remove them before segmenting, mask them out of a classify task's loss and metrics, "
        "or label them as a class of their own ('silence')",
        choices=("keep", "remove", "mask", "label"),
    )
    silence_db: float = option(
        40.0,
        "a frame whose energy is this many dB below the clip's loudest frame is silent",
        min=1.0,
    )

    @property
    def silence_in_loss(self) -> bool:
        """Silent frames are masked out of, or labelled in, a classify task's loss."""
        return self.silence in ("mask", "label")

    @property
    def win_length(self) -> int:
        """Analysis window in samples."""
        return max(2, round(self.win_ms * self.sample_rate / 1000))

    @property
    def hop_length(self) -> int:
        """Hop between frames in samples."""
        return max(1, round(self.hop_ms * self.sample_rate / 1000))

    def problems(self) -> Iterator[tuple[str, str]]:
        nyquist = self.sample_rate / 2
        if self.n_fft is not None and self.n_fft < self.win_length:
            yield (
                "n_fft",
                f"expected at least the window length, {self.win_length} samples "
                f"({self.win_ms} ms at {self.sample_rate} Hz), got {self.n_fft}",
            )
        if self.kind == "mfcc" and self.n_mfcc > self.n_mels:
            yield (
                "n_mfcc",
                f"expected at most n_mels = {self.n_mels} (MFCC are taken from the mel bands), "
                f"got {self.n_mfcc}",
            )
        if self.fmax is not None and self.fmax > nyquist:
            yield "fmax", f"expected <= sample_rate / 2 = {nyquist}, got {self.fmax}"
        if self.fmin >= (self.fmax or nyquist):
            yield "fmin", f"expected below fmax ({self.fmax or nyquist}), got {self.fmin}"


@dataclass(frozen=True)
class SplitConfig(Section):
    """[splits]: speaker-disjoint roles, per language."""

    probe_languages: list[str] = option(
        REQUIRED, "languages the probes separate; [] in a suite without probes (probes = [])"
    )
    pretrain_speakers: int = option(2, "speakers per pretraining language", min=1)
    train_speakers: int = option(2, "target-language speakers the model trains on", min=1)
    heldout_speakers: int = option(
        1, "target-language speakers whose held-out loss decides convergence", min=1
    )
    probe_speakers: int = option(
        3,
        "speakers per probe language (never seen in any training); speaker-grouped CV "
        "with C chosen by inner CV needs at least 3",
        min=2,
    )
    train_speakers_by_language: dict[str, int] = option(
        {},
        "train_speakers for some target languages only, such as {ja = 1}: imbalanced "
        "classes for a classify task",
        min=1,
    )
    probe_clips_per_language: int | None = option(
        None, "probe clips per language; default: as many as the smallest language has", min=2
    )
    seed: int = option(0, "seed of the speaker assignment (fixed across run seeds)", min=0)

    def train_speakers_of(self, language: str) -> int:
        """Training speakers of one target language (``train_speakers_by_language`` first)."""
        return self.train_speakers_by_language.get(language, self.train_speakers)

    def speakers_per_role(
        self, targets: Sequence[str], pretrain_languages: Iterable[str]
    ) -> dict[str, dict[str, int]]:
        """Per language, the speakers each role needs, in the order
        :func:`harness.data.splits.assign_roles` deals them out: probe, held-out,
        train, pretrain (roles never share a speaker).

        :param targets: the languages trained on and held out.
        :param pretrain_languages: the languages pretrained on.
        """
        need: dict[str, dict[str, int]] = {}
        for lang in self.probe_languages:
            need.setdefault(lang, {})["probe"] = self.probe_speakers
        for lang in targets:
            need.setdefault(lang, {})["heldout"] = self.heldout_speakers
            need[lang]["train"] = self.train_speakers_of(lang)
        for lang in pretrain_languages:
            need.setdefault(lang, {})["pretrain"] = self.pretrain_speakers
        return need

    def problems(self) -> Iterator[tuple[str, str]]:
        distinct = list(dict.fromkeys(self.probe_languages))
        if len(distinct) == 1:
            yield (
                "probe_languages",
                f"expected at least two distinct languages (the probes separate languages), "
                f"got {self.probe_languages}",
            )


#: learning-rate decays of ``[training] schedule`` (harness.learning.schedules)
SCHEDULES = ("constant", "linear", "cosine")
#: held-out metrics a task can be thresholded on, and whether higher is better
TARGET_METRICS = {"loss": False, "accuracy": True, "balanced_accuracy": True}
#: the task whose loss the core computes (cross-entropy of the model's logits)
CLASSIFY = "classify"


@dataclass(frozen=True)
class TargetConfig(Section):
    """[target]: what the model learns after pretraining, and what counts as learnt."""

    language: str = option(REQUIRED, "the language the model learns after pretraining")
    threshold: float = option(
        REQUIRED,
        "value of `metric` that counts as learnt: for the loss, a loss value (absolute) or "
        "a fraction of the model's untrained held-out loss averaged over the suite's seeds "
        "(relative); for an accuracy, the accuracy to reach",
        min=0.0,
    )
    task: str | None = option(
        None,
        "what the model learns: 'next_frame', 'reconstruct' (a model's own objective) or "
        "'classify' (predict `label` of each clip); default: each model's own objective",
    )
    label: str = option(
        "language",
        "classify: the clip label predicted, such as 'language', 'keyword' or 'emotion' "
        "(one the dataset declares)",
    )
    languages: list[str] = option(
        [],
        "classify: every language whose speakers are trained on and held out (language ID "
        "needs several); default: [language]",
    )
    metric: str = option(
        "loss",
        "held-out measure the threshold applies to: the loss (lower is better) or, for "
        "classify, accuracy or balanced accuracy (higher is better)",
        choices=tuple(TARGET_METRICS),
    )
    threshold_mode: str | None = option(
        None,
        "'relative': one threshold per model, a fraction of its untrained held-out loss "
        "averaged over the seeds, so a suite keeps its meaning when features change; "
        "'absolute' compares raw values; default: relative for the loss, absolute for "
        "an accuracy",
        choices=("relative", "absolute"),
    )
    max_steps: int = option(
        2000, "training budget; runs that have not crossed by then are censored", min=1
    )
    eval_every: int = option(25, "optimizer steps between held-out evaluations", min=1)
    class_weights: str = option(
        "none",
        "classify: weigh the cross-entropy per class: not at all, by inverse class "
        "frequency in the training segments ('balanced', as scikit-learn), or by `weights`",
        choices=("none", "balanced", "explicit"),
    )
    weights: dict[str, float] = option(
        {}, "classify, class_weights = 'explicit': weight of each class, such as {es = 1, ja = 4}"
    )
    sampler: str = option(
        "shuffle",
        "classify: batches drawn from a shuffled pass over the training segments, or "
        "'balanced': every class equally often (seeded)",
        choices=("shuffle", "balanced"),
    )

    def __post_init__(self) -> None:
        if self.threshold_mode is None:
            mode = "relative" if self.metric == "loss" else "absolute"
            object.__setattr__(self, "threshold_mode", mode)

    @property
    def classify(self) -> bool:
        return self.task == CLASSIFY

    @property
    def higher_is_better(self) -> bool:
        """Direction of :attr:`metric`: a run has learnt once it is at or beyond the threshold."""
        return TARGET_METRICS[self.metric]

    @property
    def target_languages(self) -> tuple[str, ...]:
        """The languages whose speakers train and are held out, ``language`` first."""
        return tuple(dict.fromkeys([self.language, *self.languages]))

    def _threshold_meant(self) -> Iterator[tuple[str, str]]:
        """Thresholds that are legal numbers but no run could meaningfully cross."""
        if self.threshold == 0:
            why = (
                "a loss of 0 is never reached, so every run would be censored"
                if self.metric == "loss"
                else f"an {self.metric} of 0 is reached before any training"
            )
            yield "threshold", f"expected more than 0: {why}"
        elif self.metric == "loss" and self.threshold_mode == "relative" and self.threshold >= 1:
            yield (
                "threshold",
                f"expected a fraction below 1 of the untrained held-out loss, got "
                f"{self.threshold}: the untrained model is already there, so runs would "
                "'reach' it at step 0 (for a raw loss value, set threshold_mode = 'absolute')",
            )

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.metric != "loss" and not self.classify:
            yield (
                "metric",
                f"expected 'loss': the task {self.task or 'of each model'} reports "
                f"no {self.metric}; accuracies come with task = 'classify'",
            )
        if self.metric != "loss" and self.threshold_mode == "relative":
            yield (
                "threshold_mode",
                f"expected 'absolute': a relative threshold is a fraction "
                f"of the untrained loss, not of an {self.metric}",
            )
        if self.metric != "loss" and self.threshold > 1:
            yield "threshold", f"expected an {self.metric} in [0, 1], got {self.threshold}"
        yield from self._threshold_meant()
        if not self.classify:
            task = repr(self.task) if self.task else "each model's own objective"
            for key, default in (
                ("class_weights", "none"),
                ("sampler", "shuffle"),
                ("label", "language"),
            ):
                if getattr(self, key) != default:
                    yield key, f"applies to task = 'classify' only (the task is {task})"
            if self.languages:
                yield "languages", "applies to task = 'classify' only; a model learns one language"
        if self.class_weights == "explicit" and not self.weights:
            yield (
                "weights",
                "class_weights = 'explicit' needs a weight per class, such as {es = 1, ja = 4}",
            )
        if self.weights and self.class_weights != "explicit":
            yield "weights", "applies with class_weights = 'explicit' only"
        bad = {k: v for k, v in self.weights.items() if v <= 0}
        if bad:
            yield "weights", f"expected positive weights, got {bad}"


#: the [training] keys that name a model's parameter groups (``Component.groups``)
GROUP_KEYS = ("lr_groups", "freeze")


@dataclass(frozen=True)
class TrainingConfig(Section):
    """[training]: the optimiser and batches, shared by pretraining and target training.

    The learning-rate schedule (:mod:`harness.learning.schedules`) restarts in each
    phase over that phase's own steps: pretraining over its epochs' batches,
    target training over ``target.max_steps``. Parameter groups
    (``lr_groups``, ``freeze``) are the names the model component declares
    (``Component.groups``).
    """

    optimizer: str = option("adam", "optimiser", choices=("adam", "adamw", "sgd"))
    lr: float = option(1e-3, "learning rate", min=0.0)
    weight_decay: float = option(0.0, "weight decay", min=0.0)
    schedule: str = option(
        "constant",
        "learning-rate decay over each phase's steps (after the warm-up, from decay_start on): "
        "none, linear or cosine to final_lr_fraction * lr",
        choices=SCHEDULES,
    )
    warmup_steps: int = option(
        0,
        "steps at the start of each phase over which the rate rises linearly to lr "
        "(step i of n: i / n of it); not with warmup_fraction",
        min=0,
    )
    warmup_fraction: float = option(
        0.0, "warm-up as a fraction of each phase's steps; not with warmup_steps", min=0.0, max=1.0
    )
    decay_start: float = option(
        0.0,
        "fraction of each phase's steps before the decay begins (0.7: decay after 70% of "
        "the steps; the rate holds until then); linear and cosine only",
        min=0.0,
        max=1.0,
    )
    final_lr_fraction: float = option(
        0.0,
        "the rate the decay ends at, a fraction of lr; linear and cosine only",
        min=0.0,
        max=1.0,
    )
    lr_groups: dict[str, float] = option(
        {},
        "learning rate of parameter groups the model declares, such as "
        "{head = 1e-3, backbone = 1e-4}; other parameters train at lr",
        min=0.0,
    )
    freeze: list[str] = option(
        [],
        "parameter groups the model declares that target training leaves untrained, "
        "such as ['backbone'] (pretraining trains them)",
    )
    freeze_steps: int | None = option(
        None,
        "train the frozen groups too after this many target steps; default: frozen throughout",
        min=1,
    )
    batch_size: int = option(16, "segments per optimiser step", min=1)
    segment_frames: int = option(100, "frames per training segment", min=2)
    grad_clip: float | None = option(
        None,
        "max_grad_norm: scale each step's gradient down to this L2 norm over all trained "
        "parameters; default: no clipping",
        min=0.0,
    )
    device: str = option(
        "cpu",
        "where to train: cpu (the default: the same suite and seed give the same numbers), "
        "auto (cuda when available, else cpu) or cuda (an error where torch sees none)",
        choices=("cpu", "auto", "cuda"),
    )
    precision: str = option(
        "fp32",
        "number format of each training step: fp32, or bf16 (autocast: matrix products and "
        "convolutions in bfloat16, weights, optimiser and held-out evaluation in float32)",
        choices=("fp32", "bf16"),
    )
    crop_seconds: float = option(
        1.0,
        "waveform models: seconds of audio per training and held-out crop (feature models "
        "read segment_frames instead)",
        min=0.01,
    )

    def crop_samples(self, sample_rate: int) -> int:
        """Samples per waveform crop at ``sample_rate``."""
        return max(1, round(self.crop_seconds * sample_rate))

    @property
    def groups(self) -> tuple[str, ...]:
        """The parameter groups the section names (``lr_groups``, then ``freeze``)."""
        return tuple(dict.fromkeys(g for key in GROUP_KEYS for g in getattr(self, key)))

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.warmup_steps and self.warmup_fraction:
            yield (
                "warmup_fraction",
                f"give the warm-up once: warmup_steps = {self.warmup_steps} "
                f"or warmup_fraction = {self.warmup_fraction}",
            )
        if self.schedule == "constant":
            for key in ("decay_start", "final_lr_fraction"):
                if getattr(self, key):
                    yield (
                        key,
                        "applies to a decaying schedule only (schedule = 'linear' or "
                        "'cosine'); the schedule is 'constant'",
                    )
        if self.decay_start == 1.0 and self.schedule != "constant":
            yield (
                "decay_start",
                "expected below 1: the decay would start after the last "
                "step; use schedule = 'constant'",
            )
        if self.freeze_steps is not None and not self.freeze:
            yield "freeze_steps", "applies with freeze only (the groups to unfreeze)"
        twice = sorted({g for g in self.freeze if self.freeze.count(g) > 1})
        if twice:
            yield "freeze", f"names {twice} more than once"
