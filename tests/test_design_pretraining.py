"""The design carries each condition's whole pretraining (stages with the
filter's parameters, checkpoint digests, overrides), and between-condition
pairs are chosen from all of it: a pair is stated only where exactly one
declared attribute differs, and named by it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.report.answer import paragraphs
from harness.spec.design import ConditionInfo, Design
from harness.spec.expand import expand
from harness.spec.stages import Stage
from harness.spec.suite import load_suite
from harness.stats.analysis import analyse
from harness.stats.between import contrast_pairs
from harness.tables.results import load_results
from harness.testing import write_tiny_suite

from helpers.fake_results import MODELS, FakeCondition, FakeSuite, design, write_fake_results


def _lowpass(name: str, language: str, cutoff: float, **more: object) -> dict[str, object]:
    return {
        "name": name,
        "language": language,
        "epochs": 1,
        "filter": {"plugin": "lowpass", "cutoff_hz": cutoff},
        **more,
    }


#: the issue's suite: es-lp500 and it-lp1000 differ in two attributes
CUTOFFS = [
    {"name": "none"},
    _lowpass("es-lp500", "es", 500.0),
    _lowpass("it-lp1000", "it", 1000.0),
    _lowpass("es-lp1000", "es", 1000.0),
]


@pytest.fixture
def cutoffs(tmp_path):
    return load_suite(write_tiny_suite(tmp_path, conditions=CUTOFFS))


def test_each_condition_records_its_stages_with_the_filters_resolved_parameters(cutoffs):
    design = Design.from_suite(cutoffs)
    (stage,) = design.condition("es-lp500").stages
    # the order is the lowpass plugin's default, resolved when the suite was read
    assert stage == Stage("es", "lowpass", {"cutoff_hz": 500.0, "order": 4}, 1, 0, "task")
    assert design.condition("none").stages == () and not design.condition("none").pretrains
    assert Design.from_dict(json.loads(json.dumps(design.to_dict()))) == design


def test_the_records_rebuild_the_same_conditions_as_the_suite(cutoffs):
    specs = [s.to_dict() for s in expand(cutoffs)]
    assert Design.from_specs(specs).conditions == Design.from_suite(cutoffs).conditions


def test_the_design_captures_the_plugins_facts_when_written(cutoffs):
    facts = Design.from_suite(cutoffs).facts
    assert facts is not None
    assert facts.component("pretrain_filter", "lowpass").title == "low-pass"
    assert facts.component("model", "lstm").loss
    label = facts.metric("balanced_accuracy_multiclass")
    assert label is not None and label.bounds == (0.0, 1.0)


def test_no_language_pair_across_cutoffs_and_the_cutoff_pair_is_named(cutoffs):
    pairs = contrast_pairs(Design.from_suite(cutoffs))
    assert ("es-lp500", "it-lp1000", "language") not in pairs
    assert [p for p in pairs if {"es-lp500", "it-lp1000"} == set(p[:2])] == []
    assert ("es-lp500", "es-lp1000", "filter.cutoff_hz") in pairs
    assert ("it-lp1000", "es-lp1000", "language") in pairs


def _steps(name: str, steps: int, **more: object) -> dict[str, object]:
    condition = _lowpass(name, "es", 500.0, pretrain_steps=steps, **more)
    del condition["epochs"]
    return condition


def test_steps_objective_and_overrides_are_attributes(tmp_path):
    conditions = [
        {"name": "none"},
        _lowpass("base", "es", 500.0),
        _lowpass("ssl", "es", 500.0, pretrain_objective="self_supervised"),
        _lowpass("fast", "es", 500.0, training={"lr": 0.01}),
        _steps("steps40", 40),
        _steps("steps80", 80),
        _steps("ssl40", 40, pretrain_objective="self_supervised"),
    ]
    suite = load_suite(write_tiny_suite(tmp_path, conditions=conditions))
    pairs = contrast_pairs(Design.from_suite(suite))
    assert ("base", "ssl", "objective") in pairs
    assert ("base", "fast", "training.lr") in pairs
    assert ("steps40", "steps80", "steps") in pairs
    assert ("steps40", "ssl40", "objective") in pairs
    # 40 self-supervised steps against an epoch on the task: three attributes, no pair
    assert not [p for p in pairs if {"base", "ssl40"} == set(p[:2])]
    assert not [p for p in pairs if {"fast", "ssl"} == set(p[:2])]


#: a manifest's design as harness run wrote it before stages and facts existed
OLD_MANIFEST_DESIGN = {
    "name": "pretrain",
    "description": "",
    "question": "",
    "answer_measure": "steps",
    "target_language": "es",
    "control": "none",
    "conditions": [
        {
            "name": "none",
            "label": "no pretraining",
            "language": None,
            "filter": "full",
            "epochs": 0,
            "pretrains": False,
            "overrides": {},
        },
        {
            "name": "es-lp500",
            "label": "Spanish",
            "language": "es",
            "filter": "lowpass",
            "epochs": 1,
            "pretrains": True,
            "overrides": {},
        },
        {
            "name": "it-lp500",
            "label": "Italian",
            "language": "it",
            "filter": "lowpass",
            "epochs": 1,
            "pretrains": True,
            "overrides": {},
        },
        {
            "name": "noise-lp500",
            "label": "noise",
            "language": "es",
            "filter": "noise",
            "epochs": 1,
            "pretrains": True,
            "overrides": {},
        },
    ],
    "models": [
        {
            "label": "lstm",
            "plugin": "lstm",
            "threshold": 0.06,
            "threshold_mode": "relative",
            "max_steps": 300,
        }
    ],
    "seeds": [0, 1, 2],
    "overridden": {},
}


def test_a_manifest_written_before_reads_with_unknown_filter_parameters():
    design = Design.from_dict(OLD_MANIFEST_DESIGN)
    (stage,) = design.condition("es-lp500").stages
    assert (stage.language, stage.filter, stage.filter_params, stage.epochs) == (
        "es",
        "lowpass",
        None,
        1,
    )
    assert design.facts is None and design.condition("none").stages == ()
    # unknown parameters are no difference: the pairs it always had
    assert contrast_pairs(design) == [
        ("es-lp500", "it-lp500", "language"),
        ("es-lp500", "noise-lp500", "filter"),
    ]


def _cutoff_results(tmp_path):
    """Fake runs of the issue's suite: every pretraining condition as fast."""
    fake = FakeSuite(
        conditions=(
            FakeCondition("none", "no pretraining", None, "full", 1.0, 0.0),
            FakeCondition("es-lp500", "Spanish, 500 Hz", "es", "lowpass", 0.6, 0.0),
            FakeCondition("it-lp1000", "Italian, 1000 Hz", "it", "lowpass", 0.6, 0.0),
            FakeCondition("es-lp1000", "Spanish, 1000 Hz", "es", "lowpass", 0.6, 0.0),
        ),
        models=MODELS[:1],
        seeds=tuple(range(10)),
        diverged=(),
        failed=(),
        tsne=False,
    )
    folder = write_fake_results(tmp_path / "cutoffs", fake)
    cutoff = {"es-lp500": 500.0, "it-lp1000": 1000.0, "es-lp1000": 1000.0}
    conditions = tuple(
        dataclasses.replace(
            c, stages=(Stage(c.language, c.filter, {"cutoff_hz": cutoff[c.name], "order": 4}, 1),)
        )
        if c.name in cutoff
        else c
        for c in design(fake).conditions
    )
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["design"] = dataclasses.replace(design(fake), conditions=conditions).to_dict()
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return load_results(folder)


def test_the_answer_names_the_cutoff_and_draws_no_language_conclusion(tmp_path):
    results = _cutoff_results(tmp_path)
    analysis = analyse(results, n_resamples=999, km_resamples=0)
    between = analysis.convergence_between
    steps = between[between["measure"] == "steps"]
    assert set(
        zip(steps["condition_a"], steps["condition_b"], steps["differs_in"], strict=True)
    ) == {
        ("es-lp500", "es-lp1000", "filter.cutoff_hz"),
        ("it-lp1000", "es-lp1000", "language"),
    }
    said = [s for p in paragraphs(results, analysis) for s in (*p.sentences, *p.details)]
    text = " ".join(s.text for s in said)
    assert "cutoff: 500 vs 1000 Hz" in text
    for sentence in said:
        # no sentence states the two as a pair, nor a pair differing only in language
        assert "“Spanish, 500 Hz” and “Italian, 1000 Hz”" not in sentence.text
        if "differ only in the language" in sentence.text:
            assert sentence.text.startswith("“Italian, 1000 Hz” and “Spanish, 1000 Hz”")
    assert "(their pretraining differs in cutoff: 500 vs 1000 Hz and nothing else)" in text


def test_a_condition_info_built_positionally_still_has_its_stage():
    info = ConditionInfo("q1", "Q1", "es", "lowpass", 2, True)
    assert info.stages == (Stage("es", "lowpass", None, 2),)
