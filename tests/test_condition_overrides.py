"""Conditions that change settings: a [[conditions]] entry's `features`,
`training` and `target` tables (docs/suites.md, "Conditions that change
settings"): validation, run ids, resolved specs, and a run at two sample rates."""

from __future__ import annotations

import dataclasses
import functools
import re
import textwrap
import tomllib
from pathlib import Path

import pytest

from harness import Component, Metric, Param, hookimpl
from harness.hashing import content_hash
from harness.plugin.registry import load_registry
from harness.spec.config import FeatureConfig
from harness.spec.design import Design
from harness.spec.expand import PROTOCOL_VERSION, expand
from harness.spec.suite import SuiteError, load_suite

from helpers import toy_plugins
from helpers.toy_plugins import VALID

DOC = Path(__file__).parent.parent / "docs" / "suites.md"


def write(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path, registry) -> dict[str, str]:
    with pytest.raises(SuiteError) as info:
        load_suite(path, registry)
    return dict(info.value.problems)


def with_conditions(*tables: str, head: str = "") -> str:
    """The toy suite with its conditions replaced by ``tables`` (TOML bodies)."""
    base = VALID.split("[[conditions]]")[0]
    models = "[[models]]" + VALID.split("[[models]]")[1]
    conditions = "".join(f"[[conditions]]\n{textwrap.dedent(t)}\n" for t in tables)
    return head + base + conditions + models


RATES = with_conditions(
    'name = "8k"\nfeatures = { sample_rate = 8000 }',
    'name = "16k"\nfeatures = { sample_rate = 16000 }\ntraining = { lr = 0.01 }',
    head='control = "16k"\n',
)


# ---------------------------------------------------------------- validation


def test_an_unknown_key_names_the_condition_section_and_valid_keys(tmp_path, toy_registry):
    text = RATES.replace("features = { sample_rate = 16000 }", "features = { sample_rat = 16000 }")
    problems = problems_of(write(tmp_path, text), toy_registry)
    message = problems["conditions[1].features.sample_rat"]
    assert message.startswith("unknown key (did you mean 'sample_rate'?); valid keys: fmax, fmin")
    assert set(problems) == {"conditions[1].features.sample_rat"}


def test_a_bad_value_is_checked_as_its_section_checks_it(tmp_path, toy_registry):
    text = RATES.replace("sample_rate = 8000", "sample_rate = 100").replace(
        "lr = 0.01", 'optimizer = "adan"'
    )
    problems = problems_of(write(tmp_path, text), toy_registry)
    assert problems == {
        "conditions[0].features.sample_rate": "expected integer in [4000, 96000], got 100",
        "conditions[1].training.optimizer": (
            "expected string one of 'adam', 'adamw', 'sgd', got 'adan' (did you mean 'adam'?)"
        ),
    }


def test_the_sections_rules_apply_to_the_section_as_the_condition_resolves_it(
    tmp_path, toy_registry
):
    # fmax 6000 Hz is fine at the suite's 16 kHz, not in the 8 kHz condition
    text = RATES.replace("[splits]", "[features]\nfmax = 6000\n[splits]")
    problems = problems_of(write(tmp_path, text), toy_registry)
    assert problems == {
        "conditions[0].features.fmax": "expected <= sample_rate / 2 = 4000.0, got 6000.0"
    }
    # a rule across [target] keys: class weights need a classify task
    text = RATES.replace("training = { lr = 0.01 }", 'target = { class_weights = "balanced" }')
    problems = problems_of(write(tmp_path, text, "t.toml"), toy_registry)
    assert problems == {
        "conditions[1].target.class_weights": (
            "applies to task = 'classify' only (the task is each model's own objective)"
        )
    }


def test_a_problem_of_the_suite_itself_is_reported_once_at_the_suite(tmp_path, toy_registry):
    text = RATES.replace("[splits]", "[features]\nfmax = 9000\n[splits]")
    problems = problems_of(write(tmp_path, text), toy_registry)
    assert set(problems) == {"features.fmax", "conditions[0].features.fmax"}


def test_splits_and_dataset_cannot_be_overridden(tmp_path, toy_registry):
    text = RATES.replace(
        'name = "8k"', 'name = "8k"\nsplits = { probe_speakers = 4 }\ndataset = { plugin = "toy" }'
    )
    problems = problems_of(write(tmp_path, text), toy_registry)
    assert problems == {
        "conditions[0].splits": (
            "a condition cannot override [splits]: probes must see the same speakers in "
            "every condition; set it once for the suite"
        ),
        "conditions[0].dataset": (
            "a condition cannot override [dataset]: every condition must read the same "
            "corpus (the same speakers); set it once for the suite"
        ),
    }


@pytest.mark.parametrize(
    "key", ["threshold", "threshold_mode", "metric", "max_steps", "eval_every"]
)
def test_what_counts_as_learnt_and_the_budget_cannot_differ_between_conditions(
    tmp_path, toy_registry, key
):
    value = {"threshold_mode": '"absolute"', "metric": '"loss"'}.get(key, "10")
    text = RATES.replace("training = { lr = 0.01 }", f"target = {{ {key} = {value} }}")
    problems = problems_of(write(tmp_path, text), toy_registry)
    assert list(problems) == [f"conditions[1].target.{key}"]
    assert problems[f"conditions[1].target.{key}"].startswith("cannot differ between conditions")


def test_an_override_that_is_not_a_table_says_what_to_write(tmp_path, toy_registry):
    text = RATES.replace("features = { sample_rate = 8000 }", "features = 8000")
    problems = problems_of(write(tmp_path, text), toy_registry)
    assert problems == {
        "conditions[0].features": (
            "expected a table of [features] keys, such as {sample_rate = 8000}, got 8000"
        )
    }


def test_two_conditions_without_pretraining_need_a_control(tmp_path, toy_registry):
    text = RATES.replace('control = "16k"\n', "")
    problems = problems_of(write(tmp_path, text), toy_registry)
    assert problems == {
        "control": (
            "give 'control', the condition the others are compared with, such as "
            'control = "8k": several are without pretraining: 8k, 16k'
        )
    }


# ---------------------------------------------------------------- component checks


class CheckedPlugins:
    """A low-pass filter whose cutoff must be below the Nyquist frequency (the
    real lowpass rule), and a probe that needs 16 kHz audio."""

    @hookimpl
    def harness_pretrain_filters(self):
        from harness_plugins.filters import check_cutoff

        cutoff = Param("cutoff_hz", float, 500.0, "cutoff", min=1.0)
        return [Component("nyquist", dict, "low-pass", [cutoff], check=check_cutoff)]

    @hookimpl
    def harness_probes(self):
        def check(params, context):
            if context.sample_rate < 16000:
                yield "", f"needs 16 kHz audio, got {context.sample_rate} Hz"

        metric = Metric("accuracy", "accuracy")
        return [Component("wideband", dict, "wideband audio", metrics=[metric], check=check)]


def test_a_check_reading_the_sample_rate_runs_for_each_conditions_rate(tmp_path):
    registry = load_registry([toy_plugins, CheckedPlugins()], autoload=False, builtins=False)
    text = with_conditions(
        'name = "8k"\nfeatures = { sample_rate = 8000 }',
        'name = "8k-lp"\nlanguage = "ja"\nfeatures = { sample_rate = 8000 }\n'
        'filter = { plugin = "nyquist", cutoff_hz = 5000 }',
        'name = "16k-lp"\nlanguage = "ja"\nfilter = { plugin = "nyquist", cutoff_hz = 5000 }',
    ).replace("hidden = 32", 'hidden = 32\n[[probes]]\nplugin = "wideband"')
    problems = problems_of(write(tmp_path, text), registry)
    assert problems == {
        # the filter of the 8 kHz condition only, located at it
        "conditions[1].filter.cutoff_hz": (
            "expected between 0 and 4000.0 Hz, the Nyquist frequency of 8000 Hz audio, got "
            "5000.0; the audio's rate is features.sample_rate"
        ),
        # a shared component: once, naming the conditions whose settings break it
        "probes[0]": "needs 16 kHz audio, got 8000 Hz (in conditions 8k, 8k-lp)",
    }


# ---------------------------------------------------------------- runs


def test_a_condition_without_overrides_keeps_its_dict_and_run_ids(tmp_path, toy_registry):
    suite = load_suite(write(tmp_path, VALID), toy_registry)
    for condition in suite.conditions:
        assert set(condition.to_dict()) == {"name", "label", "language", "filter", "epochs"}
    for spec in expand(suite, toy_registry):
        # the id as it was computed before conditions could change settings
        before = {
            "protocol": PROTOCOL_VERSION,
            "condition": {
                "name": spec.condition.name,
                "label": spec.condition.label,
                "language": spec.condition.language,
                "filter": spec.condition.filter.to_dict(),
                "epochs": spec.condition.epochs,
            },
            "model": spec.model.to_dict(),
            "seed": spec.seed,
            "reference_seeds": list(suite.seeds),
            "dataset": suite.dataset.to_dict(),
            "features": dataclasses.asdict(suite.features),
            "splits": dataclasses.asdict(suite.splits),
            "target": dataclasses.asdict(suite.target),
            "training": dataclasses.asdict(suite.training),
            "extractors": [s.to_dict() for s in suite.extractors],
            "probes": [s.to_dict() for s in suite.probes],
            "provenance": dict(spec.provenance),
        }
        assert spec.run_id == content_hash(before)


def test_runs_get_their_conditions_settings_and_ids_follow_them(tmp_path, toy_registry):
    text = RATES.replace("hidden = 32", "hidden = 32\nthreshold = 0.25")
    suite = load_suite(write(tmp_path, text), toy_registry)
    specs = {s.condition.name: s for s in expand(suite, toy_registry) if s.seed == 0}
    assert specs["8k"].features == FeatureConfig(sample_rate=8000)
    assert specs["16k"].features.sample_rate == 16000
    assert (specs["8k"].training.lr, specs["16k"].training.lr) == (0.001, 0.01)
    # the model's threshold goes on top of the suite's [target] in every condition
    assert {s.target.threshold for s in specs.values()} == {0.25}
    assert specs["16k"].condition.to_dict()["training"] == {"lr": 0.01}
    assert specs["8k"].run_id != specs["16k"].run_id
    # only the sample rate apart: still different ids
    same_lr = load_suite(write(tmp_path, text.replace("\ntraining = { lr = 0.01 }", ""), "b.toml"),
                         toy_registry)  # fmt: skip
    ids = {s.condition.name: s.run_id for s in expand(same_lr, toy_registry) if s.seed == 0}
    assert ids["8k"] != ids["16k"]
    assert ids["8k"] == specs["8k"].run_id  # 8k's settings did not change


def test_a_condition_learning_another_language_adds_its_speakers(tmp_path, toy_registry):
    text = RATES.replace("training = { lr = 0.01 }", 'target = { language = "ja" }')
    suite = load_suite(write(tmp_path, text), toy_registry)
    assert suite.languages() == ("es", "ja")
    # ja: 3 probe speakers, and 2 train + 1 held-out for the 16k condition
    assert suite.speakers_needed() == {"es": 2 + 1 + 3, "ja": 2 + 1 + 3}
    targets = {s.condition.name: s.target.language for s in expand(suite, toy_registry)}
    assert targets == {"8k": "es", "16k": "ja"}
    # every run asks the dataset for the same corpus
    assert len({tuple(s.speakers_needed.items()) for s in expand(suite, toy_registry)}) == 1


def test_the_design_records_what_each_condition_overrides(tmp_path, toy_registry):
    suite = load_suite(write(tmp_path, RATES), toy_registry)
    design = Design.from_suite(suite)
    assert design.condition("8k").overrides == {"features": {"sample_rate": 8000}}
    # what 8k runs with where only 16k sets it; both set the sample rate
    assert design.overridden == {"training": {"lr": 0.001}}
    assert design.differences() == [
        ("features", "sample_rate", {"16k": 16000, "8k": 8000}),
        ("training", "lr", {"16k": 0.01, "8k": 0.001}),
    ]
    assert Design.from_dict(design.to_dict()) == design
    plain = Design.from_suite(load_suite(write(tmp_path, VALID, "v.toml"), toy_registry))
    assert plain.differences() == [] and plain.overridden == {}


def test_validate_prints_each_conditions_overrides(tmp_path, toy_registry):
    from harness.cli import describe_suite

    suite = load_suite(write(tmp_path, RATES), toy_registry)
    lines = describe_suite(suite, 6).splitlines()
    expected = (
        "  conditions: 8k (features.sample_rate=8000), "
        "16k (features.sample_rate=16000, training.lr=0.01)"
    )
    assert expected in lines


# ---------------------------------------------------------------- the docs' example


def test_the_docs_example_loads_and_its_rule_reads_as_documented(tmp_path):
    from harness.testing import tiny_registry, tiny_suite, to_toml

    section = DOC.read_text().split("## Conditions that change settings", 1)[1]
    example, expected = re.search(
        r"```toml\n(.*?)```.*?```text\n(.*?)\n```", section, re.S
    ).groups()
    given = tomllib.loads(example)
    registry = tiny_registry()
    path = tmp_path / "suite.toml"
    path.write_text(to_toml(tiny_suite(cache=str(tmp_path / "cache"), **given)))
    suite = load_suite(path, registry)
    rates = {c.name: suite.features_for(c).sample_rate for c in suite.conditions}
    assert rates == {"8k": 8000, "16k": 16000} and suite.control == "16k"
    fmax = {**given, "features": {**given["features"], "fmax": 6000.0}}
    path.write_text(to_toml(tiny_suite(cache=str(tmp_path / "cache"), **fmax)))
    with pytest.raises(SuiteError) as info:
        load_suite(path, registry)
    assert [f"{where}: {message}" for where, message in info.value.problems] == [expected]


# ---------------------------------------------------------------- end to end

TONES = """
name = "rates"
seeds = [0, 1]
control = "8k"
[dataset]
plugin = "tones"
[features]
n_mels = 12
[splits]
probe_languages = ["aa", "bb"]
train_speakers = 2
heldout_speakers = 1
probe_speakers = 2
[target]
language = "aa"
threshold = 0.7
max_steps = 40
eval_every = 10
[training]
lr = 0.01
batch_size = 8
segment_frames = 20
device = "cpu"
[[conditions]]
name = "8k"
label = "8 kHz audio"
features = { sample_rate = 8000 }
[[conditions]]
name = "16k"
features = { sample_rate = 16000, n_mels = 24 }
[[models]]
plugin = "lstm"
hidden_size = 8
[[extractors]]
plugin = "lstm_state"
[[extractors]]
plugin = "feature_stats"
[[probes]]
plugin = "centroid"
"""


def test_two_sample_rates_run_and_are_compared(tmp_path, tones_registry):
    from harness.report.methods import differences_sentence
    from harness.run.execute import execute
    from harness.running.runner import run_suite
    from harness.stats.analysis import analyse
    from harness.tables.results import load_results

    path = write(tmp_path, TONES.replace('name = "rates"', f'name = "rates"\ncache = "{tmp_path}"'))
    suite = load_suite(path, tones_registry, output=tmp_path / "out")
    outcome = run_suite(
        suite,
        execute=functools.partial(execute, registry=tones_registry),
        registry=tones_registry,
        progress=False,
    )
    assert outcome.ok, outcome.summary()
    results = load_results(outcome.output)
    records = {r["spec"]["condition"]["name"]: r for r in results.records.values()}
    assert set(results.runs["status"]) <= {"reached", "censored"}
    assert len(results.runs) == 4
    assert records["8k"]["spec"]["features"]["sample_rate"] == 8000
    assert records["16k"]["spec"]["features"]["sample_rate"] == 16000
    assert (records["8k"]["n_features"], records["16k"]["n_features"]) == (12, 24)
    # a relative threshold: each condition's own untrained loss under its features
    references = {name: r["convergence"]["reference_heldout_loss"] for name, r in records.items()}
    assert references["8k"] != references["16k"]
    # the same probe clips in both conditions
    assert records["8k"]["data"]["probe_clips"] == records["16k"]["data"]["probe_clips"]

    assert results.design.condition("16k").overrides == {
        "features": {"sample_rate": 16000, "n_mels": 24}
    }
    assert differences_sentence(results) == (
        "Conditions differ in: n_mels 12 (8k) vs 24 (16k); "
        "sample rate 8000 Hz (8k) vs 16000 Hz (16k)."
    )
    # a folder without a manifest rebuilds the same differences from its records
    rebuilt = Design.from_specs(r.spec for r in results.records.values())
    assert rebuilt.overridden == results.design.overridden
    assert rebuilt.differences() == results.design.differences()
    analysis = analyse(results, n_resamples=99, km_resamples=19)
    compared = analysis.convergence_vs_control
    assert set(compared["condition"]) == {"16k"} and set(compared["control"]) == {"8k"}
    assert set(analysis.survival_summary["condition"]) == {"8k", "16k"}
