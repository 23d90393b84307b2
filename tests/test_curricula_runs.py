"""Curricula run: each stage on its own audio, the optimiser carried on across
stages, pretraining steps over every stage; a one-stage condition keeps the run
ids and numbers it had before curricula; the design round-trips through the
manifest and the records."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.hashing import content_hash
from harness.learning.pretraining import Pretraining, PretrainStage
from harness.learning.training import train
from harness.learning.training_data import StageSegments
from harness.output.layout import MANIFEST
from harness.spec.design import Design
from harness.spec.expand import expand
from harness.spec.stages import Stage
from harness.spec.suite import load_suite
from harness.testing import run_tiny_suite, tiny_registry, write_tiny_suite
from harness_plugins.models.lstm_model import LSTMModel

from helpers.sines import FEATURES, data, segments, target, training

SUITE = Path(__file__).parent / "fixtures" / "curriculum" / "suite.toml"
DOCS = Path(__file__).parent.parent / "docs"
LOWPASS = {"plugin": "lowpass", "cutoff_hz": 500.0}

#: the tiny suite's conditions written before curricula existed ...
FLAT = [
    {"name": "none"},
    {"name": "it-lp500", "language": "it", "filter": LOWPASS, "epochs": 2},
    {"name": "it-steps", "language": "it", "pretrain_steps": 5},
]
#: ... and each as a one-stage curriculum
STAGED = [
    {"name": "none"},
    {"name": "it-lp500", "stages": [{"language": "it", "filter": LOWPASS, "epochs": 2}]},
    {"name": "it-steps", "stages": [{"language": "it", "steps": 5}]},
]
#: computed with the code before curricula (commit 28aed97) on the tiny suite with
#: FLAT, seeds [0, 1] and [target] threshold 0.2: the hash of each run's identity
#: (its id without the code's provenance), its pretraining steps and held-out curve.
#: The identities were taken again when [training] gained `precision` and its
#: `device` default became "cpu" (d61a47a), and again when the espeak dataset
#: gained `voices` (its default is part of every espeak run's identity), each
#: of which changed every run's identity; the numbers are those of 28aed97
BEFORE = {
    "none/lstm/seed0": ("0d0e0d3afd090612", 0, [0.275042, 0.201377, 0.138994, 0.091867]),
    "none/lstm/seed1": ("78a6ca0aaac5c1d9", 0, [0.290891, 0.171632, 0.090009, 0.068888]),
    "it-lp500/lstm/seed0": ("3481d24cd2997174", 12, [0.234689, 0.155761, 0.094233, 0.080327]),
    "it-lp500/lstm/seed1": ("226fd5f36f7870c5", 12, [0.191358, 0.096453, 0.060831, 0.056234]),
    "it-steps/lstm/seed0": ("bf62ab941ae7a875", 5, [0.237428, 0.166403, 0.112945, 0.071995]),
    "it-steps/lstm/seed1": ("f5aa3fe53ef292c7", 5, [0.230707, 0.119179, 0.076498, 0.061175]),
}


def identities(tmp_path: Path, conditions: list[dict]) -> dict[str, str]:
    path = write_tiny_suite(
        tmp_path, conditions=conditions, seeds=[0, 1], target={"threshold": 0.2}
    )
    registry = tiny_registry()
    return {
        s.label: content_hash(s.identity()) for s in expand(load_suite(path, registry), registry)
    }


def test_conditions_written_before_curricula_keep_their_run_ids(tmp_path):
    ids = identities(tmp_path / "flat", FLAT)
    assert ids == {label: pinned[0] for label, pinned in BEFORE.items()}
    # the same conditions written as one-stage curricula are the same runs
    assert identities(tmp_path / "staged", STAGED) == ids


def test_a_one_stage_curriculum_gives_the_numbers_it_gave_before(tmp_path, _private_cache):
    results = run_tiny_suite(
        tmp_path, conditions=STAGED, seeds=[0, 1], target={"threshold": 0.2},
        cache_dir=_private_cache,
    )  # fmt: skip
    for record in results.records.values():
        _, steps, curve = BEFORE[record.label]
        assert record.convergence.pretrain_steps == steps
        assert list(record.curve.heldout_loss) == pytest.approx(curve, rel=1e-5)


def plan(*stages: PretrainStage) -> Pretraining:
    return Pretraining(tuple(stages))


def pretrained(pretraining: Pretraining, later: int = 1) -> dict:
    """Train the sines LSTM after ``pretraining``, its later stages hearing other segments."""
    torch.set_num_threads(1)
    base = data(pretrain=True)
    extra = tuple(StageSegments(segments(12, 4 + i, phase=2.0)) for i in range(later))
    _, outcome = train(
        LSTMModel(hidden_size=8), FEATURES, dataclasses.replace(base, later_stages=extra),
        target=target(), training=training(), seed=3, pretraining=pretraining, name="lstm",
    )  # fmt: skip
    out = outcome.convergence()
    out["curve"] = list(outcome.curve.heldout_loss)
    return out


def test_pretraining_steps_count_every_stage():
    out = pretrained(plan(PretrainStage(epochs=2), PretrainStage(steps=5)))
    # 20 first-stage segments in batches of 8: 3 a pass; then 5 steps
    assert out["pretrain_steps"] == 2 * math.ceil(20 / 8) + 5
    assert out["pretrain_examples"] == 2 * 20 + 5 * 8


def test_the_optimiser_carries_on_across_stages_unless_reset():
    carried = pretrained(plan(PretrainStage(epochs=1), PretrainStage(epochs=1)))
    reset = pretrained(plan(PretrainStage(epochs=1), PretrainStage(epochs=1, reset_optimizer=True)))
    swapped = pretrained(plan(PretrainStage(epochs=1), PretrainStage(epochs=1)), later=0)
    # 20 first-stage segments, then 12, in batches of 8
    assert carried["pretrain_steps"] == reset["pretrain_steps"] == 3 + 2
    assert carried["curve"] != reset["curve"]
    # the second stage hears its own segments, not the first stage's again
    assert swapped["pretrain_steps"] == 3 and carried["curve"] != swapped["curve"]


def test_a_stage_boundary_with_the_optimiser_carried_on_is_invisible():
    """Two one-epoch stages on the same segments are one two-epoch stage: the
    same optimiser, schedule and batch stream go on."""
    base = data(pretrain=True)
    same = (StageSegments(base.pretrain),)
    torch.set_num_threads(1)

    def curve(pretraining: Pretraining, later: tuple) -> list[float]:
        _, outcome = train(
            LSTMModel(hidden_size=8), FEATURES, dataclasses.replace(base, later_stages=later),
            target=target(), training=training(schedule="cosine"), seed=5,
            pretraining=pretraining, name="lstm",
        )  # fmt: skip
        return list(outcome.curve.heldout_loss)

    two = curve(plan(PretrainStage(epochs=1), PretrainStage(epochs=1)), same)
    one = curve(Pretraining.single(epochs=2), ())
    assert two == one


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The fixture suite run in this process: two seeds of three conditions."""
    import functools

    from harness.run.execute import execute
    from harness.running.runner import run_suite
    from harness.tables.results import load_results

    base = tmp_path_factory.mktemp("curriculum")
    registry = tiny_registry()
    suite = dataclasses.replace(load_suite(SUITE, registry), output=base / "out")
    outcome = run_suite(
        suite, execute=functools.partial(execute, registry=registry), registry=registry,
        progress=False,
    )  # fmt: skip
    assert outcome.ok, outcome.summary(tracebacks=3)
    return load_results(outcome.output)


def test_the_docs_curricula_example_is_the_suite_run_here():
    import tomllib

    section = (DOCS / "suites.md").read_text().split("## Curricula", 1)[1]
    example = tomllib.loads(section.split("```toml\n", 1)[1].split("```", 1)[0])
    suite = tomllib.loads(SUITE.read_text())
    assert example["conditions"] == suite["conditions"]
    assert example["splits"] == suite["splits"] and example["target"] == suite["target"]


def test_a_two_stage_curriculum_runs_end_to_end(finished):
    runs = finished.runs.set_index(["condition", "seed"])
    assert set(runs["status"]) <= {"reached", "censored"}
    # 3 English clips of 1.5 s: each stage's pass is the same number of batches
    air = runs.loc[("air", 0), "pretrain_steps"]
    assert air > 0 and runs.loc[("womb_then_air", 0), "pretrain_steps"] == 3 * air
    assert runs.loc[("none", 0), "pretrain_steps"] == 0
    assert not np.isnan(runs.loc[("womb_then_air", 1), "steps_to_threshold"])
    # runs.csv says what each stage heard
    womb = runs.loc[("womb_then_air", 0)]
    assert (womb["pretrain_language"], womb["pretrain_filter"], womb["pretrain_epochs"]) == (
        "en then en", "lowpass then full", "2 then 1",
    )  # fmt: skip


def test_the_design_holds_every_stage_through_manifest_and_records(finished):
    manifest = json.loads((finished.output_dir / MANIFEST).read_text())
    design = Design.from_dict(manifest["design"])
    first, second = design.condition("womb_then_air").stages
    assert first == Stage("en", "lowpass", {"cutoff_hz": 500.0, "order": 4}, 2)
    assert second == Stage("en", "full", {}, 1)
    assert Design.from_dict(design.to_dict()) == design
    # the records' specs rebuild the same stages (a folder without a manifest)
    rebuilt = Design.from_specs(r.spec for r in finished.records.values())
    assert rebuilt.condition("womb_then_air").stages == (first, second)
    assert rebuilt.condition("air").stages == (Stage("en", "full", {}, 1),)
    # the record's condition holds both stages, so its run id does
    spec = next(r.spec for r in finished.records.values() if r.condition_name == "womb_then_air")
    assert [s["filter"]["plugin"] for s in spec["condition"]["stages"]] == ["lowpass", "full"]


def test_every_stage_is_in_the_run_id(tmp_path):
    def ids(cutoff: float, order: tuple[int, int] = (0, 1)) -> set[str]:
        stages = [{"language": "it", "filter": {"plugin": "lowpass", "cutoff_hz": cutoff}},
                  {"language": "it", "epochs": 2}]  # fmt: skip
        conditions = [{"name": "none"}, {"name": "c", "stages": [stages[i] for i in order]}]
        path = write_tiny_suite(tmp_path / f"{cutoff}{order}", conditions=conditions)
        return {
            s.run_id for s in expand(load_suite(path, tiny_registry())) if s.condition.name == "c"
        }

    assert ids(500.0) == ids(500.0)
    assert ids(500.0) != ids(400.0)
    assert ids(500.0) != ids(500.0, (1, 0))
    assert all(len(run_id) == 16 for run_id in ids(500.0))


def test_the_methods_list_each_stage_and_figures_keep_short_labels(finished):
    from harness.report.methods import _conditions_frame
    from harness.report.plotting import short_labels

    frame = _conditions_frame(finished)
    womb = frame.index[frame["name"] == "womb_then_air"][0]
    first, second = frame.iloc[womb], frame.iloc[womb + 1]
    assert (first["language"], first["epochs"]) == ("1. en", 2)
    assert first["filter"] == 'lowpass {"cutoff_hz": 500.0, "order": 4}'
    assert (second["name"], second["language"], second["filter"], second["epochs"]) == (
        "", "2. en", "full", 1,
    )  # fmt: skip
    # a one-stage condition keeps its one line, unnumbered
    assert frame.loc[frame["name"] == "air", "language"].tolist() == ["en"]
    assert short_labels(finished)["womb_then_air"] == "womb_then_air"


def test_the_extra_stage_pair_is_tested_and_named(finished):
    from harness.stats.between import between_conditions

    between = between_conditions(finished.runs, finished.design, measures=["steps"], n_resamples=99)
    (row,) = between.itertuples()
    assert (row.condition_a, row.condition_b, row.differs_in) == (
        "air",
        "womb_then_air",
        "extra_stage",
    )
    assert row.value_a == "none"
    assert row.value_b == "stage 1 (en, lowpass(cutoff_hz=500.0, order=4), 2 epochs)"


#: a wav2vec2 small enough for a test on two cores
TINY_WAV2VEC2 = dict(conv_dim=[8, 8, 8], conv_kernel=[10, 4, 4], conv_stride=[5, 4, 4],
                     hidden_size=16, num_layers=2, num_heads=2, intermediate_size=16,
                     pos_conv_kernel=4, pos_conv_groups=2, codevectors_per_group=8,
                     codevector_dim=16, proj_codevector_dim=16, num_negatives=4,
                     mask_length=2)  # fmt: skip
CLASSIFY = {"task": "classify", "languages": ["it"], "metric": "accuracy", "threshold": 0.99,
            "max_steps": 4, "eval_every": 2}  # fmt: skip


def test_a_classify_curriculum_labels_each_stage_with_its_silent_frames(tmp_path, _private_cache):
    stages = [{"language": "it", "filter": LOWPASS, "epochs": 1}, {"language": "es", "epochs": 1}]
    results = run_tiny_suite(
        tmp_path, cache_dir=_private_cache, probes=[], target=CLASSIFY,
        models=[{"plugin": "rnn_classifier", "hidden_size": 8}],
        features={"n_mels": 16, "silence": "mask"},
        conditions=[{"name": "none"}, {"name": "cur", "stages": stages},
                    {"name": "es", "language": "es"}],
    )  # fmt: skip
    runs = results.runs.set_index("condition")
    assert set(runs["status"]) <= {"reached", "censored"}
    # the Spanish stage is the one-stage condition's pretraining, after the Italian one
    assert runs.loc["cur", "pretrain_steps"] > runs.loc["es", "pretrain_steps"] > 0


def test_a_self_supervised_stage_then_the_task(tmp_path, _private_cache):
    pytest.importorskip("transformers")

    stages = [{"language": "it", "objective": "self_supervised", "steps": 2},
              {"language": "es", "steps": 3}]  # fmt: skip
    results = run_tiny_suite(
        tmp_path, cache_dir=_private_cache, probes=[], target=CLASSIFY,
        models=[{"plugin": "wav2vec2", **TINY_WAV2VEC2}], training={"crop_seconds": 0.2, "batch_size": 4},
        conditions=[{"name": "none"}, {"name": "cur", "stages": stages}],
    )  # fmt: skip
    record = next(r for r in results.records.values() if r.condition_name == "cur")
    assert record.convergence.pretrain_steps == 5
    # the model's own measures after pretraining, since a stage optimised them
    assert set(record.convergence.pretrain_heldout) == {"loss", "codebook_perplexity"}
