"""A run's training data and the data phases that give it.

:func:`read_source` is the data phase (the clips, their roles and a classify
task's classes), :func:`prepare` the features phase (each role's inputs from
:mod:`harness.run.inputs`, cut into the :class:`TrainingData` the loop trains
on: segments for a feature model, crops for a waveform model, with a classify
task's targets, class names and class weights). A classify run's classical
baseline (:func:`classical_baseline`) reads the same split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.batches import IGNORE, crop_all, crop_labelled, segment_all, segment_labelled
from harness.data.features import FeatureExtractor
from harness.data.splits import Roles, assign_roles
from harness.learning.objectives import SILENCE
from harness.learning.pretraining import Pretraining, PretrainStage
from harness.learning.training_data import Labels, StageSegments, TrainingData
from harness.plugin.contracts import Clip, DataError
from harness.plugin.registry import Registry
from harness.run.baseline import NAME as BASELINE_NAME
from harness.run.baseline import baseline_feature_config, svm_baseline
from harness.run.inputs import (
    RunFeatures,
    compute_features,
    load_clips,
    model_input,
    run_plan,
    stage_role,
    waveform_inputs,
)
from harness.spec.expand import RunSpec


@dataclass(frozen=True)
class RunSource:
    """What the data phase read: the dataset's clips, the files it skipped,
    each role's clips, and a classify task's classes (empty otherwise)."""

    clips: list[Clip]
    skipped_files: list[dict[str, str]]
    roles: Roles
    classes: tuple[str, ...]


def read_source(spec: RunSpec, registry: Registry, plan: Pretraining) -> RunSource:
    """The data phase: the clips (:func:`load_clips`), their roles (the target
    language(s) and ``plan``'s pretraining languages) and a classify task's classes."""
    skipped_files: list[dict[str, str]] = []
    clips = load_clips(spec, registry, skipped_files)
    targets = spec.target.target_languages if spec.target.classify else spec.target.language
    roles = assign_roles(clips, spec.splits, targets, plan.languages)
    classes = class_names(spec, roles, plan) if spec.target.classify else ()
    return RunSource(clips, skipped_files, roles, classes)


@dataclass(frozen=True)
class Prepared:
    """What the features phase prepared: each role's inputs, the training data
    cut from them, whether the model takes waveforms, and the length its module
    is built for (frames per segment, or samples per crop)."""

    features: RunFeatures
    data: TrainingData
    waveform: bool
    length: int

    @property
    def probe_features(self) -> list[np.ndarray]:
        """The probe clips' feature frames, which the model-free extractors read."""
        return self.features.probe_frames if self.waveform else self.features.probe

    @property
    def probe_model_inputs(self) -> list[np.ndarray] | None:
        """What extractors that read the model get, where it is not the probe features:
        a waveform model's probe waveforms."""
        return self.features.probe if self.waveform else None


def prepare(spec: RunSpec, registry: Registry, plan: Pretraining, source: RunSource) -> Prepared:
    """The features phase: each role's features (or a waveform model's audio)
    and the training data cut from them."""
    roles, classes = source.roles, source.classes
    if model_input(spec, registry) == "waveform":
        inputs = waveform_inputs(spec, registry, roles, plan)
        data = waveform_data(spec, roles, inputs, classes, plan)
        return Prepared(inputs, data, True, spec.training.crop_samples(spec.features.sample_rate))
    features = compute_features(spec, registry, roles, plan)
    frames = spec.training.segment_frames
    if classes:
        return Prepared(
            features, labelled_data(spec, roles, features, classes, plan), False, frames
        )
    return Prepared(features, features.training_data(frames), False, frames)


def waveform_data(
    spec: RunSpec,
    roles: Roles,
    inputs: RunFeatures,
    classes: Sequence[str],
    plan: Pretraining | None = None,
) -> TrainingData:
    """Fixed-length crops (n, crop_samples) of each role (:func:`crop_all`), with a
    classify task's targets (:func:`crop_labelled`); a self-supervised
    pretraining ``plan``'s crops carry no labels."""
    crop = spec.training.crop_samples(spec.features.sample_rate)
    if not classes:
        return TrainingData(
            train=crop_all(inputs.train, crop),
            heldout=crop_all(inputs.heldout, crop),
            pretrain=crop_all(inputs.pretrain, crop) if inputs.pretrain else None,
            later_stages=tuple(StageSegments(crop_all(x, crop)) for x in inputs.later_pretrain),
        )
    index = {name: i for i, name in enumerate(classes)}

    def role(
        _: str, clips: Sequence[Clip], audio: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, Labels]:
        x, y, frame_y = crop_labelled(
            audio, [index[c.label(spec.target.label)] for c in clips], crop
        )
        return x, Labels(y, frame_y)

    cut = _Cut(role, lambda audio: crop_all(audio, crop))
    return _labelled_roles(spec, roles, classes, inputs, cut, run_plan(spec, plan))


def class_names(spec: RunSpec, roles: Roles, plan: Pretraining | None = None) -> tuple[str, ...]:
    """The classes of a classify task, sorted (with ``silence`` last when silent
    frames are labelled); a self-supervised ``plan``'s pretraining clips may
    have other labels.

    :raises DataError: when a class lacks training or held-out speakers (the
        held-out measures would be about other classes), or a pretraining clip
        has a label that is no class (pretraining would have nothing to learn
        from it), naming the class and what each role has.
    """
    label = spec.target.label
    speakers: dict[str, dict[str, set[str]]] = {}
    for role in ("train", "heldout"):
        for clip in roles.role_clips(role):
            speakers.setdefault(clip.label(label), {"train": set(), "heldout": set()})[role].add(
                clip.speaker
            )
    lacking = [
        f"{label} {name!r}: {len(have['train'])} training and {len(have['heldout'])} held-out "
        "speaker(s)"
        for name, have in sorted(speakers.items())
        if not have["train"] or not have["heldout"]
    ]
    if len(speakers) < 2:
        lacking.append(f"only {len(speakers)} value(s) of {label!r} ({sorted(speakers)})")
    classes = sorted(speakers)
    # the clips of the stages that pretrain on the task need a class each
    task_languages = {s.language for s in run_plan(spec, plan).stages if not s.self_supervised}
    heard = [c for lang, clips in roles.pretrain.items() if lang in task_languages for c in clips]
    strangers = sorted({c.label(label) for c in heard} - set(classes))
    if strangers:
        lacking.append(
            f"pretraining clips are labelled {strangers}, which are not classes of the target "
            f"task ({classes}); a classify task pretrains on the same classes"
        )
    if lacking:
        raise DataError(
            f"the classify task on {label!r} needs every class in both training and held-out "
            "speakers (splits are speaker-disjoint):\n  " + "\n  ".join(lacking)
        )
    if spec.features.silence == "label":
        classes.append(SILENCE)
    return tuple(classes)


def class_weights(spec: RunSpec, classes: Sequence[str], y: np.ndarray) -> tuple[float, ...] | None:
    """The training loss's class weights of ``[target] class_weights``.

    ``balanced`` weighs class c by n / (k * n_c) over the training segments, as
    scikit-learn's ``compute_class_weight("balanced")``; ``explicit`` reads
    ``[target] weights``, which must name every class.
    """
    mode = spec.target.class_weights
    if mode == "none":
        return None
    if mode == "balanced":
        counts = np.bincount(y, minlength=len(classes)).astype(float)
        present = counts > 0
        weights = np.ones(len(classes))
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return tuple(float(w) for w in weights)
    given = spec.target.weights
    missing = [c for c in classes if c not in given]
    unknown = sorted(set(given) - set(classes))
    if missing or unknown:
        raise DataError(
            f"target.weights must give a weight to every class {list(classes)}: "
            + "; ".join(
                part
                for part in (
                    f"missing {missing}" if missing else "",
                    f"no class named {unknown}" if unknown else "",
                )
                if part
            )
        )
    return tuple(float(given[c]) for c in classes)


def labelled_data(
    spec: RunSpec,
    roles: Roles,
    features: RunFeatures,
    classes: Sequence[str],
    plan: Pretraining | None = None,
) -> TrainingData:
    """The classify task's segments with their targets, class names and weights.

    With ``[features] silence = "mask"`` a silent frame's target is
    :data:`~harness.data.batches.IGNORE` (it adds nothing to the loss); with
    ``"label"`` it is the :data:`~harness.learning.objectives.SILENCE` class. A clip's
    own label stays its class either way.
    """
    index = {name: i for i, name in enumerate(classes)}
    frames = spec.training.segment_frames
    silent_target = IGNORE if spec.features.silence == "mask" else index.get(SILENCE, IGNORE)

    def role(
        name: str, clips: Sequence[Clip], arrays: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, Labels]:
        labels = [index[c.label(spec.target.label)] for c in clips]
        frame_labels = None
        if name in features.silent:
            frame_labels = [
                np.where(silent, silent_target, label)
                for silent, label in zip(features.silent[name], labels, strict=True)
            ]
        x, y, frame_y = segment_labelled(arrays, labels, frame_labels, frames)
        return x, Labels(y, frame_y)

    cut = _Cut(role, lambda audio: segment_all(audio, frames))
    return _labelled_roles(spec, roles, classes, features, cut, run_plan(spec, plan))


@dataclass(frozen=True)
class _Cut:
    """How a classify task's inputs are cut: ``labelled`` cuts a role's clips
    into segments or crops with their targets, ``unlabelled`` cuts inputs
    without them (a self-supervised plan's pretraining inputs)."""

    labelled: Callable[[str, Sequence[Clip], Sequence[np.ndarray]], tuple[np.ndarray, Labels]]
    unlabelled: Callable[[Sequence[np.ndarray]], np.ndarray]


def _labelled_roles(
    spec: RunSpec,
    roles: Roles,
    classes: Sequence[str],
    inputs: RunFeatures,
    cut: _Cut,
    plan: Pretraining,
) -> TrainingData:
    """A classify task's training data from each role's inputs, cut by ``cut``."""
    train, train_labels = cut.labelled("train", roles.train, inputs.train)
    heldout, heldout_labels = cut.labelled("heldout", roles.heldout, inputs.heldout)
    stages = [
        _stage_cut(roles, cut, stage_role(i), stage, audio)
        for i, (stage, audio) in enumerate(
            zip(plan.stages, [inputs.pretrain, *inputs.later_pretrain], strict=False)
        )
    ]
    first = stages[0] if stages else None
    return TrainingData(
        train=train,
        heldout=heldout,
        pretrain=first.x if first is not None else None,
        train_labels=train_labels,
        heldout_labels=heldout_labels,
        pretrain_labels=first.labels if first is not None else None,
        classes=tuple(classes),
        class_weights=class_weights(spec, classes, train_labels.y),
        later_stages=tuple(s for s in stages[1:] if s is not None),
    )


def _stage_cut(
    roles: Roles, cut: _Cut, role: str, stage: PretrainStage, inputs: Sequence[np.ndarray]
) -> StageSegments | None:
    """A pretraining stage's inputs cut, with targets unless it optimises the
    model's own loss; None without inputs."""
    if not inputs:
        return None
    if stage.self_supervised:  # the model's own loss: no labels
        return StageSegments(cut.unlabelled(inputs))
    x, labels = cut.labelled(role, roles.pretrain.get(stage.language or "", []), inputs)
    return StageSegments(x, labels)


def classical_baseline(spec: RunSpec, roles: Roles) -> dict[str, Any]:
    """The MFCC + SVM baseline (:mod:`harness.run.baseline`) on the run's split:
    tuned on the training speakers' clips, scored on the held-out speakers'.

    It hears no pretraining and has no seed of its own (its folds follow
    ``[splits] seed``), so the runs that share a split and features share one
    fit, from the cache. When the folds cannot be built (a class with fewer
    than two training speakers) the record says why instead of failing the run.
    """
    extract = FeatureExtractor(baseline_feature_config(spec.features), Path(spec.cache_dir))
    label = spec.target.label
    try:
        result = svm_baseline(
            extract([c.audio for c in roles.train]),
            [c.label(label) for c in roles.train],
            [c.speaker for c in roles.train],
            extract([c.audio for c in roles.heldout]),
            [c.label(label) for c in roles.heldout],
            seed=spec.splits.seed,
            cache_dir=Path(spec.cache_dir),
        )
    except DataError as error:
        return {"name": BASELINE_NAME, "skipped": str(error)}
    return result.to_dict()
