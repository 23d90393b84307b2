"""Synthetic run folders that follow docs/architecture.md, for testing tables,
statistics and the report without training anything.

The numbers are drawn so that the statistics have something to find: the
``ja_lowpass`` condition makes both models reach the threshold sooner and
separates languages better in the model's latent spaces; ``ja_full`` changes
nothing. Seed i learns alike in every condition (a shared seed effect), as
real paired suites do. Some runs are censored (no crossing within the budget), one diverges
and one fails, as real suites do.

    python tests/helpers/fake_results.py reports/fake     # write a folder to look at
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.hashing import content_hash, stable_seed
from harness.spec.design import ConditionInfo, Design, ModelInfo
from harness.spec.expand import PROTOCOL_VERSION
from harness.spec.facts_capture import capture_facts
from harness_plugins.probes import linear_svc, tsne

#: what the built-in probes declare about each metric (role, chance level, headline)
DECLARED = {m.name: m for m in (*linear_svc.METRICS, *tsne.METRICS)}


@dataclass(frozen=True)
class FakeCondition:
    name: str
    label: str
    language: str | None
    filter: str
    #: multiplies the median steps to threshold (below 1: faster)
    speed: float
    #: added to the probe's balanced accuracy in model latent spaces
    separation: float


@dataclass(frozen=True)
class FakeModel:
    plugin: str
    label: str
    #: median steps to threshold without pretraining
    median_steps: float
    #: latent spaces this model exposes, besides the raw-feature baseline
    spaces: tuple[str, ...]
    seconds_per_step: float
    #: space -> (stack, depth) as its extractor would declare it (``layers()``)
    layers: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    #: condition name -> space -> added to the probe's balanced accuracy there
    #: (a planted layer effect)
    layer_gain: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


CONDITIONS = (
    FakeCondition("none", "No pretraining", None, "full", 1.0, 0.0),
    FakeCondition("ja_lowpass", "Japanese, low-pass 500 Hz", "ja", "lowpass", 0.6, 0.12),
    FakeCondition("ja_full", "Japanese, full band", "ja", "full", 1.0, 0.0),
)
MODELS = (
    FakeModel("lstm", "lstm", 450.0, ("lstm_state/h", "lstm_state/c"), 0.04),
    FakeModel("conv_autoencoder", "conv_ae", 350.0, ("bottleneck/code",), 0.02),
)
#: six conditions shaped like the flagship's (suites/pretrain.toml), long labels included
FLAGSHIP_CONDITIONS = (
    FakeCondition("none", "no pretraining", None, "full", 1.0, 0.0),
    FakeCondition("es-lp500", "Spanish, low-pass 500 Hz", "es", "lowpass", 0.6, 0.1),
    FakeCondition("it-lp500", "Italian, low-pass 500 Hz", "it", "lowpass", 0.65, 0.08),
    FakeCondition("ja-lp500", "Japanese, low-pass 500 Hz", "ja", "lowpass", 0.7, 0.06),
    FakeCondition("es-full", "Spanish, full band", "es", "full", 1.0, 0.0),
    FakeCondition(
        "noise-lp500", "noise shaped like Spanish, low-pass 500 Hz", "es", "noise", 0.62, 0.0
    ),
)
#: the flagship's models, unlabelled (so the report names them by their plugins' titles)
FLAGSHIP_MODELS = (
    MODELS[0],
    FakeModel("conv_autoencoder", "conv_autoencoder", 350.0, ("bottleneck/code",), 0.02),
)


def flagship_suite() -> FakeSuite:
    """Six conditions, two unlabelled models, six seeds: the flagship's shape."""
    return FakeSuite(
        conditions=FLAGSHIP_CONDITIONS,
        models=FLAGSHIP_MODELS,
        seeds=tuple(range(6)),
        diverged=(),
        failed=(),
    )


BASELINE_SPACE = "feature_stats/mean_std"
PROBE_LANGUAGES = ("es", "ja", "en")
TARGET = "es"


@dataclass
class FakeSuite:
    """What to generate; every field has a realistic default."""

    name: str = "fake-suite"
    question: str = "Does hearing low-passed Japanese first make a model learn Spanish faster?"
    conditions: Sequence[FakeCondition] = CONDITIONS
    models: Sequence[FakeModel] = MODELS
    seeds: Sequence[int] = tuple(range(8))
    max_steps: int = 600
    eval_every: int = 25
    batch_size: int = 16
    clips_per_speaker: int = 8
    speakers_per_language: int = 6
    #: relabellings in each score's shared speaker-permutation null
    n_permutations: int = 499
    #: run labels ("condition/model/seedN") written as status "diverged"
    diverged: Sequence[str] = ("ja_full/conv_ae/seed3",)
    #: run labels written as status "failed"
    failed: Sequence[str] = ("ja_full/lstm/seed5",)
    #: run labels left out entirely (a partial suite still running)
    missing: Sequence[str] = ()
    write_manifest: bool = True
    tsne: bool = True
    random_seed: int = 0
    #: SD of each run's own log steps around its seed's (the seed effect is 0.3)
    run_noise: float = 0.15
    extra_toml: str = ""
    run_ids: dict[str, str] = field(default_factory=dict)
    #: condition name -> factor on its runs' wall seconds and on the 1-minute load
    #: average they record (1.0 when absent): a condition run on a busy machine
    slowdown: dict[str, float] = field(default_factory=dict)


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def suite_toml(fake: FakeSuite) -> str:
    control = fake.conditions[0].name
    lines = [
        f"name = {_toml_string(fake.name)}",
        f"question = {_toml_string(fake.question)}",
        'description = "Synthetic results for tests."',
        f"seeds = {list(fake.seeds)}",
        f"control = {_toml_string(control)}",
        "",
        "[dataset]",
        'plugin = "espeak"',
        "",
        "[splits]",
        f"probe_languages = {json.dumps(list(PROBE_LANGUAGES))}",
        "",
        "[target]",
        f"language = {_toml_string(TARGET)}",
        "threshold = 0.5",
        f"max_steps = {fake.max_steps}",
        f"eval_every = {fake.eval_every}",
        "",
    ]
    for c in fake.conditions:
        lines += ["[[conditions]]", f"name = {_toml_string(c.name)}"]
        lines += [f"label = {_toml_string(c.label)}"]
        if c.language:
            lines += [f"language = {_toml_string(c.language)}"]
            lines += [f"filter = {{ plugin = {_toml_string(c.filter)} }}"]
        lines.append("")
    for m in fake.models:
        lines += ["[[models]]", f"plugin = {_toml_string(m.plugin)}"]
        lines += [f"label = {_toml_string(m.label)}", ""]
    lines += ["[[probes]]", 'plugin = "linear_svc"', ""]
    if fake.tsne:
        lines += ["[[probes]]", 'plugin = "tsne"', ""]
    return "\n".join(lines) + fake.extra_toml


def _spec(fake: FakeSuite, c: FakeCondition, m: FakeModel, seed: int) -> dict[str, Any]:
    filter_sel = {"plugin": c.filter, "label": c.filter, "params": {}}
    if c.filter == "lowpass":
        filter_sel["params"] = {"cutoff_hz": 500.0, "order": 4}
    content = {
        "protocol": PROTOCOL_VERSION,
        "condition": {
            "name": c.name,
            "label": c.label,
            "language": c.language,
            "filter": filter_sel,
            "epochs": 1 if c.language else 0,
        },
        "model": {"plugin": m.plugin, "label": m.label, "params": {"hidden": 64}},
        "seed": seed,
        "reference_seeds": list(fake.seeds),
        "dataset": {"plugin": "espeak", "label": "espeak", "params": {"clips_per_speaker": 8}},
        "features": {"kind": "logmel", "sample_rate": 16000, "n_mels": 40, "hop_ms": 10.0},
        "splits": {"probe_languages": list(PROBE_LANGUAGES), "probe_speakers": 2, "seed": 0},
        "target": {
            "language": TARGET,
            "threshold": 0.5,
            "threshold_mode": "relative",
            "max_steps": fake.max_steps,
            "eval_every": fake.eval_every,
        },
        "training": {"optimizer": "adam", "lr": 1e-3, "batch_size": fake.batch_size},
        "extractors": [
            {"plugin": "feature_stats", "label": "feature_stats", "params": {}},
            {"plugin": "lstm_state", "label": "lstm_state", "params": {}},
            {"plugin": "bottleneck", "label": "bottleneck", "params": {}},
        ],
        "probes": [{"plugin": "linear_svc", "label": "linear_svc", "params": {"folds": 4}}]
        + (
            [{"plugin": "tsne", "label": "tsne", "params": {"perplexity": 10.0}}]
            if fake.tsne
            else []
        ),
    }
    return {
        "run_id": content_hash(content),
        "label": f"{c.name}/{m.label}/seed{seed}",
        "suite": fake.name,
        "control": fake.conditions[0].name,
        "languages": sorted({TARGET, *PROBE_LANGUAGES, *([c.language] if c.language else [])}),
        **content,
    }


def _probe_clips(fake: FakeSuite) -> dict[str, list[str]]:
    ids, langs, speakers = [], [], []
    for lang in PROBE_LANGUAGES:
        for s in range(fake.speakers_per_language):
            for k in range(fake.clips_per_speaker):
                speaker = f"{lang}-spk{s}"
                ids.append(f"{speaker}-clip{k:03d}")
                langs.append(lang)
                speakers.append(speaker)
    return {"clip_id": ids, "language": langs, "speaker": speakers}


def _counts(fake: FakeSuite, c: FakeCondition) -> dict[str, dict[str, dict[str, int]]]:
    counts: dict[str, dict[str, dict[str, int]]] = {
        "train": {TARGET: {"speakers": 2, "clips": 40}},
        "heldout": {TARGET: {"speakers": 1, "clips": 20}},
        "probe": {
            lang: {
                "speakers": fake.speakers_per_language,
                "clips": fake.speakers_per_language * fake.clips_per_speaker,
            }
            for lang in PROBE_LANGUAGES
        },
    }
    if c.language:
        counts[f"pretrain/{c.language}"] = {c.language: {"speakers": 2, "clips": 40}}
    return counts


def _latents(
    rng: np.random.Generator, languages: np.ndarray, dim: int, separation: float
) -> np.ndarray:
    centres = {lang: rng.normal(0.0, 1.0, dim) for lang in PROBE_LANGUAGES}
    rows = [centres[lang] * separation + rng.normal(0.0, 1.0, dim) for lang in languages]
    return np.asarray(rows, dtype=np.float32)


def _curve(
    rng: np.random.Generator, fake: FakeSuite, crossing: int | None, stop: int, diverged: bool
) -> dict[str, list[float]]:
    initial, floor = 2.0, 0.3
    threshold = 0.5 * initial
    # decay rate chosen so the held-out loss crosses the threshold at ``crossing``
    target_step = crossing if crossing is not None else fake.max_steps * 1.6
    rate = np.log((initial - floor) / (threshold - floor)) / target_step
    steps = np.arange(0, stop + 1, fake.eval_every)
    heldout = floor + (initial - floor) * np.exp(-rate * steps)
    heldout = heldout * (1.0 + rng.normal(0.0, 0.004, steps.size))
    if crossing is not None:
        heldout[steps < crossing] = np.maximum(heldout[steps < crossing], threshold + 1e-3)
        heldout[steps == crossing] = threshold - 1e-3
    train: list[float | None] = (heldout * 0.95).tolist()
    held: list[float | None] = heldout.tolist()
    train[0] = None  # no training step before the first evaluation
    if diverged:
        # JSON has no NaN: the training loop writes a non-finite loss as null
        held[-1] = None
        train[-1] = None
    seconds = steps * 0.04 + rng.uniform(0, 0.2, steps.size)
    return {
        "step": steps.tolist(),
        "train_loss": train,
        "heldout_loss": held,
        "seconds": seconds.tolist(),
    }


def _record(
    fake: FakeSuite,
    c: FakeCondition,
    m: FakeModel,
    seed: int,
    run_dir: Path,
    rng: np.random.Generator,
) -> dict[str, Any]:
    spec = _spec(fake, c, m, seed)
    label = spec["label"]
    clips = _probe_clips(fake)
    record: dict[str, Any] = {
        "run_id": spec["run_id"],
        "label": label,
        "spec": spec,
        "data": {"counts": _counts(fake, c), "probe_clips": clips},
        "environment": {
            "python": "3.11.2",
            "torch": "2.13.0",
            "numpy": np.__version__,
            "sklearn": "1.7.0",
            "platform": "Linux-x86_64",
            "git_commit": "0123abc",
            "cpu_count": 4,
        },
        "started": f"2025-01-01T00:{seed:02d}:00Z",
        "wall_seconds": 30.0 + seed,
        "cpu_seconds": 28.0 + seed,
        "load_average": {
            "start": [fake.slowdown.get(c.name, 1.0), 1.0, 1.0],
            "end": [fake.slowdown.get(c.name, 1.0) + 0.5, 1.0, 1.0],
        },
        "error": None,
        "convergence": None,
        "curve": {"step": [], "train_loss": [], "heldout_loss": [], "seconds": []},
        "probes": [],
        "probe_details": [],
        "artifacts": {},
    }
    if label in fake.failed:
        try:
            raise RuntimeError("CUDA out of memory while building <LSTM> & friends")
        except RuntimeError as exc:
            error = {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exc(),
            }
        # what harness.output.run_results.failure_record writes: no convergence, curve or probes
        return {
            "run_id": spec["run_id"],
            "label": label,
            "status": "failed",
            "spec": spec,
            "error": error,
            "started": record["started"],
            "wall_seconds": 3.0,
            "environment": {"python": "3.11.2", "platform": "Linux-x86_64", "host": "node1"},
        }

    # seed i starts from the same weights in every condition: a seed effect
    # shared by its conditions (within-seed correlation ~0.8, as in real suites)
    seed_effect = np.random.default_rng(stable_seed("seed effect", m.label, seed)).normal(0.0, 0.3)
    steps_drawn = (
        m.median_steps * c.speed * float(np.exp(seed_effect + rng.normal(0.0, fake.run_noise)))
    )
    # evaluations happen every eval_every steps, so crossings land on that grid
    crossing = int(np.ceil(steps_drawn / fake.eval_every) * fake.eval_every)
    diverged = label in fake.diverged
    if diverged:
        status, stop, reached = "diverged", fake.max_steps // 4, False
    elif crossing <= fake.max_steps:
        status, stop, reached = "reached", crossing, True
    else:
        status, stop, reached = "censored", fake.max_steps, False
    curve = _curve(rng, fake, crossing if reached else None, stop, diverged)
    slowdown = fake.slowdown.get(c.name, 1.0)
    curve["seconds"] = [t * slowdown for t in curve["seconds"]]
    seconds = stop * m.seconds_per_step * float(rng.uniform(0.9, 1.1)) * slowdown
    examples = stop * fake.batch_size
    record["status"] = status
    record["curve"] = curve
    record["convergence"] = {
        "reached": reached,
        "threshold": 1.0,
        "initial_heldout_loss": 2.0,
        "reference_heldout_loss": 2.0,
        "reference_losses": [2.0] * len(fake.seeds),
        "steps": stop,
        "examples": examples,
        "epochs": examples / 640.0,
        "seconds": seconds,
        "pretrain_steps": 200 if c.language else 0,
        "pretrain_examples": 200 * fake.batch_size if c.language else 0,
        "pretrain_seconds": (200 * m.seconds_per_step) if c.language else 0.0,
        "train_seconds": seconds + 0.5,
        "final_train_loss": None if diverged else curve["train_loss"][-1],
        "final_heldout_loss": None if diverged else curve["heldout_loss"][-1],
        "diverged_step": stop if diverged else None,
        "diverged_phase": "target" if diverged else None,
    }
    languages = np.asarray(clips["language"])
    spaces = {BASELINE_SPACE: _latents(np.random.default_rng(99), languages, 20, 0.6)}
    # a diverged model has no usable latents; execute() still runs the model-free ones
    for space in () if diverged else m.spaces:
        spaces[space] = _latents(rng, languages, 16, 0.7 + 4.0 * c.separation)
    np.savez(run_dir / "latents.npz", **spaces)
    record["latent_spaces"] = {
        space: {
            "extractor": space.split("/")[0],
            "needs_model": space != BASELINE_SPACE,
            "stack": m.layers[space][0] if space in m.layers else None,
            "depth": m.layers[space][1] if space in m.layers else None,
        }
        for space in spaces
    }
    artifacts = {}
    for space in spaces:
        extractor = space.split("/")[0]
        gain = 0.0 if space == BASELINE_SPACE else c.separation
        gain += m.layer_gain.get(c.name, {}).get(space, 0.0)
        for task, chance, majority in (("target", 0.5, 2 / 3), ("multiclass", 1 / 3, 1 / 3)):
            base = (0.58 if space == BASELINE_SPACE else 0.62) if task == "target" else 0.5
            bal = float(np.clip(base + gain + rng.normal(0.0, 0.03), 0.0, 1.0))
            speaker_rows, bal = _speaker_details(fake, rng, space, task, bal, chance)
            for row in speaker_rows:
                record["probe_details"].append(
                    {"extractor": extractor, "latent_space": space, "probe": "linear_svc", **row}
                )
            control = chance + float(rng.normal(0.0, 0.01))
            rows = [
                (f"balanced_accuracy_{task}", bal, True),
                (f"accuracy_{task}", bal + 0.02, True),
                (f"chance_{task}", chance, True),
                (f"majority_rate_{task}", majority, True),
                (f"p_value_{task}", float(rng.uniform(0.001, 0.03)), False),
                (f"control_balanced_accuracy_{task}", control, False),
                (f"selectivity_{task}", bal - control, True),
            ]
            for metric, value, hib in rows:
                record["probes"].append(
                    _probe_row(extractor, space, "linear_svc", metric, value, hib)
                )
            record["probe_details"].append(
                {
                    "extractor": extractor,
                    "latent_space": space,
                    "probe": "linear_svc",
                    "name": f"balanced_accuracy_{task}_folds",
                    "values": [bal + d for d in (-0.02, 0.01, 0.0, 0.01)],
                }
            )
        if fake.tsne:
            agreement = float(np.clip(0.4 + gain + rng.normal(0, 0.02), 0, 1))
            tsne_rows = [
                ("trustworthiness", float(0.85 + rng.normal(0, 0.01)), True),
                ("neighbour_language_agreement", agreement, True),
                ("neighbour_language_agreement_latent", agreement + 0.05, True),
                ("neighbour_language_agreement_chance", 1 / 3, True),
            ]
            for metric, value, hib in tsne_rows:
                record["probes"].append(_probe_row(extractor, space, "tsne", metric, value, hib))
            coords = spaces[space][:, :2] + rng.normal(0, 0.1, (len(languages), 2))
            # the key execute() writes: <latent space>/<probe label>/<artifact name>
            artifacts[f"{space}/tsne/coords"] = coords.astype(np.float32)
    np.savez(run_dir / "probe_artifacts.npz", **artifacts)
    record["artifacts"] = {
        "weights": "weights.pt",
        "latents": "latents.npz",
        "probe_artifacts": "probe_artifacts.npz",
    }
    return record


def _speaker_details(
    fake: FakeSuite,
    rng: np.random.Generator,
    space: str,
    task: str,
    balanced: float,
    chance: float,
) -> tuple[list[dict[str, Any]], float]:
    """Per-speaker contributions to a balanced accuracy near ``balanced`` and its
    shared speaker-permutation null, as a speaker-level probe reports them;
    returns the detail rows and the balanced accuracy they add up to."""
    speakers = sorted(f"{lang}-spk{s}" for lang in PROBE_LANGUAGES
                      for s in range(fake.speakers_per_language))  # fmt: skip
    classes = [
        (s.split("-")[0] == TARGET) if task == "target" else s.split("-")[0] for s in speakers
    ]
    # each speaker is easier or harder whatever the run: a fixed effect per speaker
    fixed = np.random.default_rng(stable_seed("speakers", task)).normal(0.0, 0.08, len(speakers))
    accuracy = np.clip(balanced + fixed + rng.normal(0.0, 0.02, len(speakers)), 0.0, 1.0)
    size = {c: classes.count(c) for c in classes}
    contributions = np.array(
        [a / (size[c] * len(size)) for a, c in zip(accuracy, classes, strict=True)]
    )
    # relabelling k is the same in every run: its noise is seeded by space, task and k
    shared = np.random.default_rng(stable_seed(space, task))
    null = chance + shared.normal(0.0, 0.04, fake.n_permutations)
    null = null + rng.normal(0.0, 0.01, fake.n_permutations)
    metric = f"balanced_accuracy_{task}"
    rows = [
        {"name": f"{metric}/speakers", "values": contributions.tolist()},
        {"name": f"{metric}/null", "values": null.tolist()},
    ]
    return rows, float(contributions.sum())


def _probe_row(
    extractor: str, space: str, probe: str, metric: str, value: float, higher_is_better: bool
) -> dict[str, Any]:
    """A probe row as harness.run.execute writes it, with the metric's declaration."""
    declared = DECLARED[metric]
    return {
        "extractor": extractor,
        "latent_space": space,
        "probe": probe,
        "metric": metric,
        "value": value,
        "higher_is_better": higher_is_better,
        "role": declared.role,
        "chance": declared.chance,
        "headline": declared.headline,
        "bounds": list(declared.bounds) if declared.bounds is not None else None,
    }


def design(fake: FakeSuite) -> Design:
    """The resolved design harness.output.store writes into the manifest."""
    return Design(
        name=fake.name,
        description="Synthetic results for tests.",
        question=fake.question,
        target_language=TARGET,
        control=fake.conditions[0].name,
        conditions=tuple(
            ConditionInfo(
                c.name, c.label, c.language, c.filter, 1 if c.language else 0, bool(c.language)
            )
            for c in fake.conditions
        ),
        models=tuple(
            ModelInfo(m.label, m.plugin, 0.5, "relative", fake.max_steps) for m in fake.models
        ),
        seeds=tuple(fake.seeds),
        # what harness run copies from the installed plugins into the manifest
        facts=capture_facts(
            [("dataset", "espeak"), ("probe", "linear_svc"), ("probe", "tsne")]
            + [("pretrain_filter", c.filter) for c in fake.conditions]
            + [("model", m.plugin) for m in fake.models]
            + [("latent_extractor", e) for e in ("feature_stats", "lstm_state", "bottleneck")]
        ),
    )


def write_fake_results(output: str | Path, fake: FakeSuite | None = None) -> Path:
    """Write ``<output>/suite.toml``, ``runs/<run_id>/`` folders and ``manifest.json``."""
    fake = fake or FakeSuite()
    output = Path(output)
    (output / "runs").mkdir(parents=True, exist_ok=True)
    (output / "suite.toml").write_text(suite_toml(fake), encoding="utf-8")
    rng = np.random.default_rng(fake.random_seed)
    expected = []
    for c in fake.conditions:
        for m in fake.models:
            for seed in fake.seeds:
                spec = _spec(fake, c, m, seed)
                expected.append({"run_id": spec["run_id"], "label": spec["label"]})
                fake.run_ids[spec["label"]] = spec["run_id"]
                # draw even for missing runs, so leaving runs out changes nothing else
                run_rng = np.random.default_rng(rng.integers(2**32))
                if spec["label"] in fake.missing:
                    continue
                run_dir = output / "runs" / spec["run_id"]
                run_dir.mkdir(parents=True, exist_ok=True)
                record = _record(fake, c, m, seed, run_dir, run_rng)
                (run_dir / "record.json").write_text(json.dumps(record, indent=1), "utf-8")
    if fake.write_manifest:
        # the format harness.output.store.Store.write_suite writes
        ids = [e["run_id"] for e in expected]
        manifest = {
            "suite": fake.name,
            "fingerprint": content_hash(sorted(ids)),
            "written": "2025-01-01T00:00:00+00:00",
            "run_ids": ids,
            "labels": {e["run_id"]: e["label"] for e in expected},
            "design": design(fake).to_dict(),
            "history": [],
        }
        (output / "manifest.json").write_text(json.dumps(manifest, indent=1), "utf-8")
    # a run in progress: the store never reads folders named like this
    partial = output / "runs" / f"{expected[0]['run_id']}.partial-1a2b3c4d"
    partial.mkdir(exist_ok=True)
    (partial / "record.json").write_text('{"status": "reached"', "utf-8")
    return output


if __name__ == "__main__":
    print(write_fake_results(sys.argv[1] if len(sys.argv) > 1 else "reports/fake"))
