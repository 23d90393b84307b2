"""A run's inputs: the dataset's clips, each pretraining stage's audio after
its filter, the probe clips' audio after the suite's [probing] filter, and
each role's normalised features, or for a waveform
model each role's audio (:class:`RunFeatures`).

The clips are read once per process (a worker runs many runs of one suite);
the normaliser is fitted on the target training clips only, so the scaling is
the same in every condition of a suite. What is cut into training segments
from these inputs is :mod:`harness.run.data`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.data.audio import recorded_skips
from harness.data.batches import segment_all
from harness.data.features import FeatureExtractor, fit_normalizer
from harness.data.preparation import data_request, request_key
from harness.data.splits import Roles
from harness.learning.pretraining import Pretraining, PretrainStage
from harness.learning.training_data import StageSegments, TrainingData
from harness.plugin.contracts import Clip, DataError, check_clip, check_filtered
from harness.plugin.registry import Registry
from harness.plugin.selection import Selection
from harness.spec.expand import RunSpec

#: random stream of the pretraining filter (see harness.data.batches.generator for the others)
FILTER_STREAM = 3
#: random stream of the probe clips' filter ([probing] filter), seeded by the
#: speaker assignment's seed, not the run's: every run hears the same probe audio
PROBE_FILTER_STREAM = 13

#: the last dataset load of this process: workers run many runs of one suite,
#: and every run of a suite reads the same corpus (with the files it skipped)
_LAST_LOAD: tuple[str, list[Clip], list[dict[str, str]]] | None = None


def load_clips(
    spec: RunSpec, registry: Registry, skipped: list[dict[str, str]] | None = None
) -> list[Clip]:
    """The dataset's clips, checked against the contract; read once per process.
    The files it skipped (:func:`harness.data.audio.recorded_skips`) go into ``skipped``.

    The audio arrays are made read-only, so a plugin that would change a shared
    clip in place fails loudly instead of corrupting later runs.
    """
    global _LAST_LOAD
    request = data_request(spec)
    key = request_key(spec, registry)
    if _LAST_LOAD is not None and _LAST_LOAD[0] == key:
        (skipped if skipped is not None else []).extend(_LAST_LOAD[2])
        return _LAST_LOAD[1]
    dataset = registry.create(spec.dataset)
    with recorded_skips() as rows:
        clips = dataset.load(request)
    (skipped if skipped is not None else []).extend(rows)
    if not clips:
        raise DataError(f"dataset {spec.dataset.plugin!r} returned no clips")
    for clip in clips:
        check_clip(spec.dataset.plugin, clip, spec.features.sample_rate)
        clip.audio.setflags(write=False)
    _LAST_LOAD = (key, clips, rows)
    return clips


def run_plan(spec: RunSpec, plan: Pretraining | None = None) -> Pretraining:
    """``plan``, or where none is given the one the run's condition makes
    (:meth:`Pretraining.of`)."""
    return Pretraining.of(spec.condition) if plan is None else plan


def filter_pretraining(
    spec: RunSpec, registry: Registry, clips: Sequence[Clip]
) -> list[np.ndarray]:
    """The condition's pretraining audio after its filter (seeded from the run seed)."""
    return _filtered(spec.condition.filter, spec.seed, registry, clips)


def probe_audio(spec: RunSpec, registry: Registry, roles: Roles) -> list[np.ndarray]:
    """The probe clips' audio, through the suite's [probing] filter where it has
    one: the same filtered audio in every run (its features are cached by the
    filtered samples, so a filter changes the cache key)."""
    if spec.probe_filter is None:
        return [c.audio for c in roles.probe]
    seed = (spec.splits.seed, PROBE_FILTER_STREAM)
    return _filtered(spec.probe_filter, seed, registry, roles.probe)


def _filtered(
    selection: Selection,
    seed: int | tuple[int, int],
    registry: Registry,
    clips: Sequence[Clip],
    stage: int = 0,
) -> list[np.ndarray]:
    """Each clip through the filter ``selection``; its random stream from ``seed``
    (a run seed, with the pretraining filter's stream; a curriculum's later
    stage draws its own), or ``(seed, stream)``."""
    apply = registry.create(selection)
    if isinstance(seed, tuple):
        entropy = list(seed)
    else:
        entropy = [seed, FILTER_STREAM] if stage == 0 else [seed, FILTER_STREAM, stage]
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    return [
        check_filtered(selection.plugin, c.audio, apply(c.audio, c.sample_rate, rng)) for c in clips
    ]


def pretraining_audio(
    spec: RunSpec, registry: Registry, roles: Roles, plan: Pretraining | None = None
) -> list[list[np.ndarray]]:
    """The audio each stage of ``plan`` pretrains on (default the condition's):
    its language's pretraining clips after its filter; [] for the empty plan."""
    stages = run_plan(spec, plan).stages
    return [_stage_audio(spec, registry, roles, stage, i) for i, stage in enumerate(stages)]


def _stage_audio(
    spec: RunSpec, registry: Registry, roles: Roles, stage: PretrainStage, index: int
) -> list[np.ndarray]:
    if stage.language is None:
        return []
    clips = roles.pretrain.get(stage.language, [])
    if stage.filter is None:
        return [c.audio for c in clips]
    return _filtered(stage.filter, spec.seed, registry, clips, index)


def stage_role(index: int) -> str:
    """The role name of pretraining stage ``index``: pretrain, pretrain2, pretrain3..."""
    return "pretrain" if index == 0 else f"pretrain{index + 1}"


@dataclass(frozen=True)
class RunFeatures:
    """Normalised feature arrays (frames, n_features) of each role."""

    n_features: int
    pretrain: list[np.ndarray]
    train: list[np.ndarray]
    heldout: list[np.ndarray]
    probe: list[np.ndarray]
    #: per role (pretrain, pretrain2... of later stages, train, heldout), each
    #: clip's silent frames aligned with its features; only with ``[features]
    #: silence`` mask or label
    silent: Mapping[str, list[np.ndarray]] = field(default_factory=dict)
    #: a curriculum's later stages' inputs, in order (the first stage's are ``pretrain``)
    later_pretrain: tuple[list[np.ndarray], ...] = ()
    #: a waveform model's run (where the roles hold waveforms): the probe
    #: clips' normalised feature frames, for the model-free extractors
    probe_frames: list[np.ndarray] = field(default_factory=list)

    def training_data(self, segment_frames: int) -> TrainingData:
        return TrainingData(
            train=segment_all(self.train, segment_frames),
            heldout=segment_all(self.heldout, segment_frames),
            pretrain=segment_all(self.pretrain, segment_frames) if self.pretrain else None,
            later_stages=tuple(
                StageSegments(segment_all(x, segment_frames)) for x in self.later_pretrain
            ),
        )


def compute_features(
    spec: RunSpec, registry: Registry, roles: Roles, plan: Pretraining | None = None
) -> RunFeatures:
    """Features of every role; the normaliser is fitted on the target training clips.

    Fitting on the target training clips only keeps the scaling identical
    across the conditions of a suite, so pretraining changes nothing but what
    the model heard first.
    """
    extract = FeatureExtractor(spec.features, Path(spec.cache_dir))
    stages = pretraining_audio(spec, registry, roles, plan) or [[]]
    train_raw = extract([c.audio for c in roles.train])
    normalize = fit_normalizer(train_raw, spec.features)
    heldout_audio = [c.audio for c in roles.heldout]
    silent = (
        {
            **{stage_role(i): extract.silence(a) if a else [] for i, a in enumerate(stages)},
            "train": extract.silence([c.audio for c in roles.train]),
            "heldout": extract.silence(heldout_audio),
        }
        if spec.features.silence_in_loss
        else {}
    )
    pretrain = [normalize(extract(audio)) if audio else [] for audio in stages]
    return RunFeatures(
        n_features=extract.n_features,
        pretrain=pretrain[0],
        later_pretrain=tuple(pretrain[1:]),
        train=normalize(train_raw),
        heldout=normalize(extract(heldout_audio)),
        probe=normalize(extract(probe_audio(spec, registry, roles))),
        silent=silent,
    )


def model_input(spec: RunSpec, registry: Registry) -> str:
    """What the run's model takes: ``features`` or ``waveform`` (``Component.input``)."""
    return registry.get("model", spec.model.plugin).input


def waveform_inputs(
    spec: RunSpec, registry: Registry, roles: Roles, plan: Pretraining | None = None
) -> RunFeatures:
    """A waveform model's inputs: each role's audio (the pretraining audio after
    the condition's filter, as feature models hear it; the probe clips' through
    the [probing] filter), ``n_features`` 1.

    The probe clips also get their feature frames (normalised as in a feature
    model's run), which the model-free extractors read, so the raw-feature
    baseline means the same in every run of a suite.
    """
    stages = pretraining_audio(spec, registry, roles, plan) or [[]]
    heard = probe_audio(spec, registry, roles)
    probe_frames: list[np.ndarray] = []
    if spec.probes and roles.probe:
        extract = FeatureExtractor(spec.features, Path(spec.cache_dir))
        normalize = fit_normalizer(extract([c.audio for c in roles.train]), spec.features)
        probe_frames = normalize(extract(heard))
    return RunFeatures(
        n_features=1,
        pretrain=list(stages[0]),
        later_pretrain=tuple(list(audio) for audio in stages[1:]),
        train=[c.audio for c in roles.train],
        heldout=[c.audio for c in roles.heldout],
        probe=heard,
        probe_frames=probe_frames,
    )
