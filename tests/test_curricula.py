"""Curricula in a suite file: ``[[conditions.stages]]`` read, each stage checked
with the rules a condition's own keys have, errors located at the stage."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.spec.config import STAGE_PARAMS
from harness.spec.suite import SuiteError, load_suite
from harness.testing import tiny_registry, write_tiny_suite

DOCS = Path(__file__).parent.parent / "docs"

LOWPASS = {"plugin": "lowpass", "cutoff_hz": 500.0}


def curriculum(*stages, **keys):
    return {"name": "womb_then_air", **keys, "stages": list(stages)}


def problems_of(tmp_path, *conditions, **suite):
    path = write_tiny_suite(tmp_path, conditions=[{"name": "none"}, *conditions], **suite)
    with pytest.raises(SuiteError) as info:
        load_suite(path, tiny_registry())
    return dict(info.value.problems)


def test_a_curriculum_is_read_stage_by_stage(tmp_path):
    stages = ({"language": "it", "filter": LOWPASS, "epochs": 2},
              {"language": "it", "steps": 5, "reset_optimizer": True})  # fmt: skip
    path = write_tiny_suite(tmp_path, conditions=[{"name": "none"}, curriculum(*stages)])
    suite = load_suite(path, tiny_registry())
    condition = suite.condition("womb_then_air")
    first, second = condition.stages
    assert (first.language, first.filter.plugin, first.epochs) == ("it", "lowpass", 2)
    assert first.filter.params["cutoff_hz"] == 500.0 and first.filter.params["order"] == 4
    assert second.filter.plugin == "full" and second.pretrain_steps == 5 and second.reset_optimizer
    assert condition.pretrains and condition.language is None
    assert suite.control == "none"
    # both stages' languages need pretraining speakers
    assert "it" in suite.languages()


def test_a_condition_with_stages_and_its_own_keys_names_both(tmp_path):
    problems = problems_of(
        tmp_path, curriculum({"language": "it"}, {"language": "it"}, language="it", epochs=2)
    )
    for key in ("language", "epochs"):
        message = problems[f"conditions[1].{key}"]
        assert f"either 'stages' or its own '{key}'" in message
        assert "conditions[1].stages" in message


def test_each_stage_is_checked_like_a_condition_and_located(tmp_path):
    problems = problems_of(
        tmp_path,
        curriculum({"language": "it", "epoch": 2}, {"language": "it"}),
        curriculum(
            {"language": "it", "epochs": 1, "steps": 3},
            {"language": "it", "filter": {"plugin": "lowpass", "cutoff_hz": 9000.0}},
            name="cutoffs",
        ),
    )
    assert re.match(
        r"unknown key \(did you mean 'epochs'\?\)", problems["conditions[1].stages[0].epoch"]
    )
    assert "give either epochs or steps" in problems["conditions[2].stages[0].steps"]
    assert "Nyquist" in problems["conditions[2].stages[1].filter.cutoff_hz"]


def test_a_stage_needs_a_language_and_stages_need_tables(tmp_path):
    problems = problems_of(
        tmp_path,
        curriculum({"filter": LOWPASS}, {"language": "it"}),
        {"name": "empty", "stages": []},
        {"name": "words", "stages": ["it", "es"]},
        curriculum(
            {"language": "it"}, {"language": "it", "objective": "selfsupervised"}, name="obj"
        ),
    )
    assert "missing required" in problems["conditions[1].stages[0].language"]
    assert "at least one [[conditions.stages]]" in problems["conditions[2].stages"]
    assert "expected an array of tables" in problems["conditions[3].stages"]
    assert "self_supervised" in problems["conditions[4].stages[1].objective"]


def test_the_first_stage_has_no_optimiser_to_reset(tmp_path):
    problems = problems_of(
        tmp_path, curriculum({"language": "it", "reset_optimizer": True}, {"language": "it"})
    )
    assert (
        "starts with a fresh optimiser anyway"
        in problems["conditions[1].stages[0].reset_optimizer"]
    )


def test_a_stage_language_the_dataset_lacks_is_refused(tmp_path):
    problems = problems_of(tmp_path, curriculum({"language": "it"}, {"language": "qq"}))
    assert "no voice for language 'qq'" in problems["dataset"]


def test_a_stage_objective_is_checked_against_each_model(tmp_path):
    problems = problems_of(
        tmp_path,
        curriculum({"language": "it"}, {"language": "es", "objective": "self_supervised"}),
        models=[{"plugin": "mel_cnn"}],
        target={"task": "classify", "languages": ["it", "es"], "metric": "accuracy",
                "threshold": 0.9},
    )  # fmt: skip
    assert "'mel_cnn' has none" in problems["conditions[1].stages[1].objective"]


def test_a_classify_stage_must_hear_a_class(tmp_path):
    problems = problems_of(
        tmp_path,
        curriculum({"language": "it"}, {"language": "fr"}),
        models=[{"plugin": "mel_cnn"}],
        target={"task": "classify", "languages": ["it"], "metric": "accuracy", "threshold": 0.9},
    )
    assert "not one of the classes" in problems["conditions[1].stages[1].language"]


def test_harness_validate_reports_stage_problems_with_exit_2(tmp_path):
    path = write_tiny_suite(
        tmp_path,
        conditions=[
            {"name": "none"},
            curriculum({"language": "it", "epoch": 2}, {"language": "it"}),
        ],
    )
    result = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "conditions[1].stages[0].epoch: unknown key (did you mean 'epochs'?)" in (
        result.stdout + result.stderr
    )


def test_the_curricula_section_documents_every_stage_key():
    text = (DOCS / "suites.md").read_text().split("## Curricula", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))
    assert documented == {p.name for p in STAGE_PARAMS}
