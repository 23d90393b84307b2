"""One run, end to end: data, roles, pretraining filter, features, training,
latents, probes; returns the run record (docs/architecture.md).

Everything that can fail raises; the runner turns an exception into a
"failed" record. A run whose loss went non-finite is not a failure: it is
recorded as "diverged", with its model-free latents and probes. A probe that
raises (or breaks its contract) does not fail the run either: its training and
latents stay, the fault is recorded in ``probe_errors``, and ``harness probe``
runs the missing probes again from the stored latents.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import math
import time
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.audio import data_quality, recorded_skips
from harness.baseline import NAME as BASELINE_NAME
from harness.baseline import baseline_feature_config, svm_baseline
from harness.batches import IGNORE, crop_all, crop_labelled, segment_all, segment_labelled
from harness.checkpoints import StartingWeights
from harness.components import Metric
from harness.contracts import (
    Clip,
    ContractError,
    DataError,
    Model,
    ProbeResult,
    check_clip,
    check_filtered,
    check_latents,
    check_layers,
    check_probe_result,
)
from harness.environment import environment, load_average
from harness.expand import RunSpec
from harness.features import FeatureExtractor, fit_normalizer
from harness.hashing import canonical_json
from harness.objectives import SILENCE
from harness.preparation import data_request, request_key
from harness.probe_cache import cached_probe, probe_key
from harness.registry import Registry, load_registry
from harness.selection import Selection
from harness.splits import Roles, assign_roles
from harness.suite import MODEL_TARGET_KEYS
from harness.training import Labels, Reference, TrainingData, train, untrained_reference

#: file names inside the run folder (the record's ``artifacts``)
ARTIFACTS = {
    "weights": "weights.pt",
    "latents": "latents.npz",
    "probe_artifacts": "probe_artifacts.npz",
}
#: random stream of the pretraining filter (see harness.batches.generator for the others)
FILTER_STREAM = 3


def execute(spec: RunSpec, run_dir: Path, registry: Registry | None = None) -> dict[str, Any]:
    """Run ``spec`` in ``run_dir`` (which exists and is private to this run).

    :param registry: where components are looked up; default every installed plugin.
    :return: the run record, JSON-ready; its arrays are written into ``run_dir``.
    """
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    clock, cpu_clock, load_start = time.perf_counter(), time.process_time(), load_average()
    registry = registry or load_registry()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)

    phases = _Phases()
    with phases("data"):
        skipped_files: list[dict[str, str]] = []
        clips = load_clips(spec, registry, skipped_files)
        language = spec.condition.language
        pretrain_languages = [language] if language and spec.condition.pretrains else []
        targets = spec.target.target_languages if spec.target.classify else spec.target.language
        roles = assign_roles(clips, spec.splits, targets, pretrain_languages)
        classes = class_names(spec, roles) if spec.target.classify else ()
    waveform = model_input(spec, registry) == "waveform"
    with phases("features"):
        if waveform:
            features = waveform_inputs(spec, registry, roles)
            data = waveform_data(spec, roles, features, classes)
        else:
            features = compute_features(spec, registry, roles)
            data = (
                labelled_data(spec, roles, features, classes)
                if classes
                else features.training_data(spec.training.segment_frames)
            )
    length = (
        spec.training.crop_samples(spec.features.sample_rate)
        if waveform
        else spec.training.segment_frames
    )

    with phases("training"):
        model = registry.create(spec.model)
        start = (
            StartingWeights(spec.checkpoint, model, spec.model.plugin) if spec.checkpoint else None
        )
        reference = None
        if spec.target.threshold_mode == "relative":
            reference = model_reference(spec, registry, model, features.n_features, data, length)
        module, outcome = train(
            model,
            features.n_features,
            data,
            target=spec.target,
            training=spec.training,
            pretrain_epochs=spec.condition.epochs,
            seed=spec.seed,
            name=spec.model.plugin,
            reference=reference,
            initialise=start,
            groups=registry.get("model", spec.model.plugin).groups,
            pretrain_steps=spec.condition.pretrain_steps,
            pretrain_objective=spec.condition.pretrain_objective,
            input_length=length,
        )
        state = {key: value.detach().cpu() for key, value in module.state_dict().items()}
        torch.save(state, run_dir / ARTIFACTS["weights"])

    baseline = None
    if classes:  # a phase of classify runs only
        with phases("baseline"):
            baseline = classical_baseline(spec, roles)

    with phases("latents"):
        usable = module if outcome.status != "diverged" else None
        latents: dict[str, LatentSpace] = {}
        skipped: list[dict[str, str]] = []
        if spec.probes and roles.probe:  # a suite without probes (probes = []) needs no latents
            latents, skipped = extract_latents(
                spec,
                registry,
                usable,
                features.probe_frames if waveform else features.probe,
                outcome.device,
                model_inputs=features.probe if waveform else None,
            )
        arrays = {name: space.values for name, space in latents.items()}
        save_arrays(run_dir / ARTIFACTS["latents"], arrays)
    with phases("probes"):
        probed = run_probes(spec, registry, latents, roles.probe)
        save_arrays(run_dir / ARTIFACTS["probe_artifacts"], probed.arrays)

    return {
        "run_id": spec.run_id,
        "label": spec.label,
        "status": outcome.status,
        "spec": spec.to_dict(),
        "convergence": outcome.convergence(),
        "classification": outcome.classification,
        "baseline": baseline,
        "checkpoint": start.record() if start is not None else None,
        "curve": outcome.curve.to_dict(),
        "n_features": features.n_features,
        "latent_spaces": {
            name: {
                "extractor": space.extractor,
                "needs_model": space.needs_model,
                "stack": space.stack,
                "depth": space.depth,
            }
            for name, space in latents.items()
        },
        "probes": probed.rows,
        "probe_details": probed.details,
        "probe_errors": probed.errors,
        "probe_warnings": probed.warnings,
        "extractors_skipped": skipped,
        "data": {
            "counts": roles.counts(),
            "probe_clips": roles.probe_index(),
            **data_quality(clips, skipped_files),
        },
        "artifacts": dict(ARTIFACTS),
        "environment": {**environment(), "device": outcome.device},
        "started": started,
        "wall_seconds": time.perf_counter() - clock,
        # what the wall seconds were measured under: this process's CPU time
        # (every thread) and the machine's load average at the start and end
        "cpu_seconds": time.process_time() - cpu_clock,
        "load_average": {"start": load_start, "end": load_average()},
        "phase_seconds": phases.seconds,
        "error": None,
    }


class _Phases:
    """Wall seconds of each phase of a run, to see where a suite's time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """An .npz of named arrays (names may contain '/'); loads with allow_pickle=False."""
    # numpy's stubs type savez's **kwds as its bool options, not as arrays
    np.savez(path, **arrays)  # type: ignore[arg-type]


#: the last dataset load of this process: workers run many runs of one suite,
#: and every run of a suite reads the same corpus (with the files it skipped)
_LAST_LOAD: tuple[str, list[Clip], list[dict[str, str]]] | None = None


def load_clips(
    spec: RunSpec, registry: Registry, skipped: list[dict[str, str]] | None = None
) -> list[Clip]:
    """The dataset's clips, checked against the contract; read once per process.
    The files it skipped (:func:`harness.audio.recorded_skips`) go into ``skipped``.

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


#: references computed in this process, by what determines them: a worker
#: running many runs of a suite computes each model's reference once
_REFERENCES: dict[str, Reference] = {}
_MAX_REFERENCES = 64


def model_reference(
    spec: RunSpec,
    registry: Registry,
    model: Model,
    n_features: int,
    data: TrainingData,
    length: int | None = None,
) -> Reference:
    """What the run's relative threshold is a fraction of: the model's untrained
    held-out loss averaged over the suite's seeds (``spec.reference_seeds``).

    It depends on the model, those seeds, the held-out segments and the device,
    never on what a condition pretrains on (the held-out speakers and the
    normaliser come from the target language only), so every run of a model
    in a suite gets the same value, except where a condition changes the
    settings (features change the held-out segments, training their length
    and the device, target the task): those runs get their own. The modules
    start from the model's own checkpoint (``[[models]] checkpoint``, the same
    in every condition), never from a condition's. Cached per process, keyed by
    all of these.
    """
    seeds = spec.reference_seeds
    length = spec.training.segment_frames if length is None else length
    heldout = np.ascontiguousarray(data.heldout)
    targets = data.heldout_labels
    # what the untrained loss is a loss of (a condition may change it); not the threshold
    # or the budget, which differ per model but leave that loss as it is
    task = {k: v for k, v in dataclasses.asdict(spec.target).items() if k not in MODEL_TARGET_KEYS}
    key = canonical_json(
        {
            "model": spec.model.to_dict(),
            "checkpoint": spec.reference_checkpoint.sha256 if spec.reference_checkpoint else None,
            "source": registry.get("model", spec.model.plugin).source,
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "n_features": n_features,
            "segment_frames": length,
            "device": spec.training.device,
            "target": task,
            "seeds": list(seeds),
            "heldout": [list(heldout.shape), str(heldout.dtype)],
            "heldout_sha256": hashlib.sha256(heldout.tobytes()).hexdigest(),
            "classes": list(data.classes),
            "targets_sha256": None
            if targets is None
            else hashlib.sha256(targets.y.tobytes() + targets.frame_y.tobytes()).hexdigest(),
        }
    )
    if key not in _REFERENCES:
        if len(_REFERENCES) >= _MAX_REFERENCES:
            _REFERENCES.pop(next(iter(_REFERENCES)))
        _REFERENCES[key] = untrained_reference(
            model,
            n_features,
            data,
            segment_frames=length,
            seeds=seeds,
            device=spec.training.device,
            name=spec.model.plugin,
            initialise=(
                StartingWeights(spec.reference_checkpoint, model, spec.model.plugin)
                if spec.reference_checkpoint
                else None
            ),
        )
    return _REFERENCES[key]


def filter_pretraining(
    spec: RunSpec, registry: Registry, clips: Sequence[Clip]
) -> list[np.ndarray]:
    """The condition's pretraining audio after its filter (seeded from the run seed)."""
    selection = spec.condition.filter
    apply = registry.create(selection)
    seed = np.random.SeedSequence([spec.seed, FILTER_STREAM])
    rng = np.random.default_rng(seed)
    return [
        check_filtered(selection.plugin, c.audio, apply(c.audio, c.sample_rate, rng)) for c in clips
    ]


@dataclass(frozen=True)
class LatentSpace:
    """One latent space of the probe clips and the extractor (suite label) it came from."""

    extractor: str
    values: np.ndarray
    #: False for model-free spaces (the raw-feature baseline), whose probe results are reused
    needs_model: bool = True
    #: the ordered stack of layers the extractor declared this space part of
    #: (``<extractor label>/<stack>``) and its depth there; None outside any stack
    stack: str | None = None
    depth: int | None = None


@dataclass(frozen=True)
class RunFeatures:
    """Normalised feature arrays (frames, n_features) of each role."""

    n_features: int
    pretrain: list[np.ndarray]
    train: list[np.ndarray]
    heldout: list[np.ndarray]
    probe: list[np.ndarray]
    #: per role (pretrain, train, heldout), each clip's silent frames aligned
    #: with its features; only with ``[features] silence`` mask or label
    silent: Mapping[str, list[np.ndarray]] = field(default_factory=dict)
    #: a waveform model's run (where the roles hold waveforms): the probe
    #: clips' normalised feature frames, for the model-free extractors
    probe_frames: list[np.ndarray] = field(default_factory=list)

    def training_data(self, segment_frames: int) -> TrainingData:
        return TrainingData(
            train=segment_all(self.train, segment_frames),
            heldout=segment_all(self.heldout, segment_frames),
            pretrain=segment_all(self.pretrain, segment_frames) if self.pretrain else None,
        )


def compute_features(spec: RunSpec, registry: Registry, roles: Roles) -> RunFeatures:
    """Features of every role; the normaliser is fitted on the target training clips.

    Fitting on the target training clips only keeps the scaling identical
    across the conditions of a suite, so pretraining changes nothing but what
    the model heard first.
    """
    extract = FeatureExtractor(spec.features, Path(spec.cache_dir))
    pretrain_clips = roles.pretrain.get(spec.condition.language or "", [])
    audio = filter_pretraining(spec, registry, pretrain_clips) if spec.condition.pretrains else []
    train_raw = extract([c.audio for c in roles.train])
    normalize = fit_normalizer(train_raw, spec.features)
    heldout_audio = [c.audio for c in roles.heldout]
    silent = (
        {
            "pretrain": extract.silence(audio) if audio else [],
            "train": extract.silence([c.audio for c in roles.train]),
            "heldout": extract.silence(heldout_audio),
        }
        if spec.features.silence in ("mask", "label")
        else {}
    )
    return RunFeatures(
        n_features=extract.n_features,
        pretrain=normalize(extract(audio)) if audio else [],
        train=normalize(train_raw),
        heldout=normalize(extract(heldout_audio)),
        probe=normalize(extract([c.audio for c in roles.probe])),
        silent=silent,
    )


def model_input(spec: RunSpec, registry: Registry) -> str:
    """What the run's model takes: ``features`` or ``waveform`` (``Component.input``)."""
    return registry.get("model", spec.model.plugin).input


def waveform_inputs(spec: RunSpec, registry: Registry, roles: Roles) -> RunFeatures:
    """A waveform model's inputs: each role's audio (the pretraining audio after
    the condition's filter, as feature models hear it), ``n_features`` 1.

    The probe clips also get their feature frames (normalised as in a feature
    model's run), which the model-free extractors read, so the raw-feature
    baseline means the same in every run of a suite.
    """
    pretrain_clips = roles.pretrain.get(spec.condition.language or "", [])
    audio = filter_pretraining(spec, registry, pretrain_clips) if spec.condition.pretrains else []
    probe_frames: list[np.ndarray] = []
    if spec.probes and roles.probe:
        extract = FeatureExtractor(spec.features, Path(spec.cache_dir))
        normalize = fit_normalizer(extract([c.audio for c in roles.train]), spec.features)
        probe_frames = normalize(extract([c.audio for c in roles.probe]))
    return RunFeatures(
        n_features=1,
        pretrain=list(audio),
        train=[c.audio for c in roles.train],
        heldout=[c.audio for c in roles.heldout],
        probe=[c.audio for c in roles.probe],
        probe_frames=probe_frames,
    )


def waveform_data(
    spec: RunSpec, roles: Roles, inputs: RunFeatures, classes: Sequence[str]
) -> TrainingData:
    """Fixed-length crops (n, crop_samples) of each role (:func:`crop_all`), with a
    classify task's targets (:func:`crop_labelled`); a self-supervised
    pretraining condition's crops carry no labels."""
    crop = spec.training.crop_samples(spec.features.sample_rate)
    if not classes:
        return TrainingData(
            train=crop_all(inputs.train, crop), heldout=crop_all(inputs.heldout, crop),
            pretrain=crop_all(inputs.pretrain, crop) if inputs.pretrain else None,
        )  # fmt: skip
    index = {name: i for i, name in enumerate(classes)}

    def role(
        _: str, clips: Sequence[Clip], audio: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, Labels]:
        x, y, frame_y = crop_labelled(
            audio, [index[c.label(spec.target.label)] for c in clips], crop
        )
        return x, Labels(y, frame_y)

    return _labelled_roles(spec, roles, classes, inputs, role, lambda audio: crop_all(audio, crop))


def class_names(spec: RunSpec, roles: Roles) -> tuple[str, ...]:
    """The classes of a classify task, sorted (with ``silence`` last when silent
    frames are labelled).

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
    strangers = sorted({c.label(label) for c in roles.role_clips("pretrain")} - set(classes))
    if strangers and not spec.condition.self_supervised:
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
    spec: RunSpec, roles: Roles, features: RunFeatures, classes: Sequence[str]
) -> TrainingData:
    """The classify task's segments with their targets, class names and weights.

    With ``[features] silence = "mask"`` a silent frame's target is
    :data:`~harness.batches.IGNORE` (it adds nothing to the loss); with
    ``"label"`` it is the :data:`~harness.objectives.SILENCE` class. A clip's
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

    return _labelled_roles(
        spec, roles, classes, features, role, lambda audio: segment_all(audio, frames)
    )


def _labelled_roles(
    spec: RunSpec,
    roles: Roles,
    classes: Sequence[str],
    inputs: RunFeatures,
    role: Callable[[str, Sequence[Clip], Sequence[np.ndarray]], tuple[np.ndarray, Labels]],
    unlabelled: Callable[[Sequence[np.ndarray]], np.ndarray],
) -> TrainingData:
    """A classify task's training data from each role's inputs: ``role`` cuts
    a role's clips into labelled segments or crops; a self-supervised
    pretraining condition's inputs are cut by ``unlabelled`` (no targets)."""
    train, train_labels = role("train", roles.train, inputs.train)
    heldout, heldout_labels = role("heldout", roles.heldout, inputs.heldout)
    pretrain, pretrain_labels = None, None
    if inputs.pretrain and spec.condition.self_supervised:  # the model's own loss: no labels
        pretrain = unlabelled(inputs.pretrain)
    elif inputs.pretrain:
        clips = roles.pretrain.get(spec.condition.language or "", [])
        pretrain, pretrain_labels = role("pretrain", clips, inputs.pretrain)
    return TrainingData(
        train=train,
        heldout=heldout,
        pretrain=pretrain,
        train_labels=train_labels,
        heldout_labels=heldout_labels,
        pretrain_labels=pretrain_labels,
        classes=tuple(classes),
        class_weights=class_weights(spec, classes, train_labels.y),
    )


def classical_baseline(spec: RunSpec, roles: Roles) -> dict[str, Any]:
    """The MFCC + SVM baseline (:mod:`harness.baseline`) on the run's split:
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


def extract_latents(
    spec: RunSpec,
    registry: Registry,
    module: torch.nn.Module | None,
    probe_features: Sequence[np.ndarray],
    device: str,
    model_inputs: Sequence[np.ndarray] | None = None,
) -> tuple[dict[str, LatentSpace], list[dict[str, str]]]:
    """Latent spaces ``<extractor label>/<space>`` of the probe clips, and the skipped extractors.

    ``module`` is None when the run diverged: only model-free extractors run.
    Extractors that read the model get ``model_inputs`` (a waveform model's
    probe waveforms), default ``probe_features``; model-free ones always get
    ``probe_features``.
    """
    latents: dict[str, LatentSpace] = {}
    skipped: list[dict[str, str]] = []
    for selection in spec.extractors:
        extractor = registry.create(selection)
        needs_model = bool(getattr(extractor, "needs_model", True))
        if needs_model and module is None:
            skipped.append({"extractor": selection.label, "reason": "the run diverged"})
            continue
        target = module if needs_model else None
        if not extractor.supports(target):
            name = type(module).__name__ if module is not None else "no model"
            skipped.append({"extractor": selection.label, "reason": f"does not support {name}"})
            continue
        given = model_inputs if needs_model and model_inputs is not None else probe_features
        spaces = extractor.extract(target, list(given), device)
        if not isinstance(spaces, Mapping) or not spaces:
            raise ContractError(
                "latent_extractor",
                selection.plugin,
                "extract() must return a non-empty dict of latent spaces",
            )
        declare = getattr(extractor, "layers", None)
        stacks = (
            check_layers(selection.plugin, declare(list(spaces)), spaces)
            if callable(declare)
            else {}
        )
        where = {space: (f"{selection.label}/{stack}", depth)
                 for stack, members in stacks.items() for space, depth in members.items()}  # fmt: skip
        for space, value in spaces.items():
            name = f"{selection.label}/{space}"
            checked = check_latents(selection.plugin, space, value, len(probe_features))
            stack, depth = where.get(space, (None, None))
            latents[name] = LatentSpace(selection.label, checked, needs_model, stack, depth)
    return latents, skipped


def probe_rows(
    result: ProbeResult, metrics: Mapping[str, Metric], where: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A checked probe result as the record's metric rows (each with what its
    probe declared about it) and detail rows; non-finite numbers become None."""
    rows = []
    for metric, number in result.metrics.items():
        value = float(number)
        declared = metrics[metric]
        rows.append(
            {
                **where,
                "metric": metric,
                "value": value if math.isfinite(value) else None,
                "higher_is_better": declared.higher_is_better,
                "role": declared.role,
                "chance": declared.chance,
                "headline": declared.headline,
                "bounds": list(declared.bounds) if declared.bounds is not None else None,
            }
        )
    details = []
    for name, values in result.details.items():
        numbers = [float(v) for v in values]
        details.append(
            {**where, "name": name, "values": [v if math.isfinite(v) else None for v in numbers]}
        )
    return rows, details


@dataclass
class ProbeOutcome:
    """What the probes gave: metric rows, detail rows and artifact arrays of the
    (probe, latent space) pairs that ran, and the faults of the others.

    ``errors``: one row per pair whose probe raised or broke its contract
    (extractor, latent_space, probe, plugin, type, message, traceback);
    ``warnings``: one row per NaN metric (extractor, latent_space, probe,
    plugin, metric, message), recorded as missing in ``rows``.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)


def run_probes(
    spec: RunSpec, registry: Registry, latents: Mapping[str, LatentSpace], clips: Sequence[Clip]
) -> ProbeOutcome:
    """Every probe of the run on every latent space (see :func:`probe_latents`)."""
    return probe_latents(
        spec.probes,
        registry,
        latents,
        labels=np.array([c.language for c in clips]),
        groups=np.array([c.speaker for c in clips]),
        target=spec.target.language,
        seed=spec.seed,
        cache_dir=Path(spec.cache_dir),
    )


def probe_latents(
    probes: Sequence[Selection],
    registry: Registry,
    latents: Mapping[str, LatentSpace],
    *,
    labels: np.ndarray,
    groups: np.ndarray,
    target: str,
    seed: int,
    cache_dir: Path | None,
    only: Collection[tuple[str, str]] | None = None,
) -> ProbeOutcome:
    """Each probe on each latent space, one (probe, space) pair at a time.

    A pair whose probe raises or breaks its contract is recorded in ``errors``
    and the others go on. Results on model-free latents are reused from
    ``cache_dir`` (None: always computed).

    :param only: (probe label, latent space) pairs to run; default all.
    """
    out = ProbeOutcome()
    for selection in probes:
        component = registry.get("probe", selection.plugin)
        metrics = {m.name: m for m in component.metrics}
        probe: Any = None
        for space, latent in latents.items():
            if only is not None and (selection.label, space) not in only:
                continue
            where = {"extractor": latent.extractor, "latent_space": space,
                     "probe": selection.label}  # fmt: skip
            try:
                if probe is None:
                    probe = registry.create(selection)
                answer_now = functools.partial(
                    probe.run, latent.values, labels, groups, target, seed
                )
                if latent.needs_model or cache_dir is None:
                    answer = answer_now()
                else:
                    identity = {**selection.to_dict(), "source": component.source}
                    key = probe_key(latent.values, labels, groups, target, seed, identity)
                    answer = cached_probe(cache_dir, key, answer_now)
                result = check_probe_result(selection.plugin, metrics, answer)
                arrays = probe_arrays(selection, space, result)
                metric_rows, detail_rows = probe_rows(result, metrics, where)
            except Exception as exc:
                out.errors.append(
                    {**where, "plugin": selection.plugin, "type": type(exc).__name__,
                     "message": str(exc), "traceback": traceback.format_exc()}
                )  # fmt: skip
                continue
            out.rows += metric_rows
            out.details += detail_rows
            out.arrays.update(arrays)
            out.warnings += [
                {**where, "plugin": selection.plugin, "metric": row["metric"],
                 "message": f"probe plugin {selection.plugin!r} reported {row['metric']} as NaN"}
                for row in metric_rows if row["value"] is None
            ]  # fmt: skip
    return out


def probe_arrays(selection: Selection, space: str, result: ProbeResult) -> dict[str, np.ndarray]:
    """A probe result's artifacts, named ``<space>/<probe label>/<name>``."""
    arrays = {}
    for name, array in result.artifacts.items():
        value = np.asarray(array)
        if value.dtype == object:
            # object arrays need pickle to load, and records load with allow_pickle=False
            raise ContractError("probe", selection.plugin, f"artifact {name!r} is an object array")
        arrays[f"{space}/{selection.label}/{name}"] = value
    return arrays
