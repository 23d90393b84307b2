"""Suite files: every class of error, reported together with its location."""

import textwrap

import pytest

from harness.suite import SuiteError, load_suite

from helpers.toy_plugins import VALID


def write(tmp_path, text, name="suite.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path, registry):
    with pytest.raises(SuiteError) as info:
        load_suite(path, registry)
    return dict(info.value.problems), str(info.value)


def test_valid_suite_resolves_defaults_and_control(tmp_path, toy_registry):
    suite = load_suite(write(tmp_path, VALID), toy_registry)
    assert suite.seeds == (0, 1, 2)
    assert suite.control == "scratch"
    assert suite.condition("ja-lowpass").filter.params == {"cutoff_hz": 400.0}
    assert suite.condition("scratch").filter.plugin == "full"
    assert suite.models[0].params == {"hidden": 32}
    assert suite.features.hop_ms == 10.0 and suite.training.optimizer == "adam"
    assert suite.executor.plugin == "local"
    # extractors and probes default to every installed one
    assert [p.plugin for p in suite.probes] == ["svc"]
    assert suite.languages() == ("es", "ja")
    assert suite.speakers_needed() == {"es": 2 + 1 + 3, "ja": 2 + 3}
    assert str(suite.output).endswith("reports/toy-suite")


def test_toml_syntax_error_gives_file_line_and_column(tmp_path, toy_registry):
    path = write(tmp_path, 'name = "x"\nseeds = 3\n[dataset\nplugin = "toy"\n')
    problems, _ = problems_of(path, toy_registry)
    (where,) = problems
    assert where == f"{path}:3:9"
    assert "TOML syntax error" in problems[where]


def test_unknown_plugin_lists_what_exists(tmp_path, toy_registry):
    path = write(tmp_path, VALID.replace('plugin = "lstm"', 'plugin = "lstn"'))
    problems, _ = problems_of(path, toy_registry)
    assert problems["models[0].plugin"] == (
        "unknown model plugin 'lstn' (did you mean 'lstm'?); available: cae, lstm"
    )


def test_unknown_parameter_gives_key_path_valid_keys_and_suggestion(tmp_path, toy_registry):
    path = write(tmp_path, VALID.replace("cutoff_hz = 400", "cutof_hz = 400"))
    problems, _ = problems_of(path, toy_registry)
    message = problems["conditions[1].filter.cutof_hz"]
    assert "did you mean 'cutoff_hz'?" in message and "valid keys: cutoff_hz" in message


def test_wrong_type_and_range_name_expectation_and_value(tmp_path, toy_registry):
    text = VALID.replace("hidden = 32", 'hidden = "big"').replace(
        "threshold = 0.5", "threshold = -2"
    )
    problems, _ = problems_of(write(tmp_path, text), toy_registry)
    assert problems["models[0].hidden"] == "expected integer >= 1, got 'big'"
    assert problems["target.threshold"] == "expected number >= 0.0, got -2"


def test_every_problem_is_reported_together(tmp_path, toy_registry):
    text = (
        VALID.replace('plugin = "lstm"', 'plugin = "lstn"')
        .replace("cutoff_hz = 400", "cutof_hz = 400")
        .replace('language = "es"\nthreshold', "language = 5\nthreshold")
        .replace("[splits]", "[splits]\nprobe_speakrs = 3")
    )
    problems, text = problems_of(write(tmp_path, text), toy_registry)
    assert set(problems) == {
        "models[0].plugin",
        "conditions[1].filter.cutof_hz",
        "target.language",
        "splits.probe_speakrs",
    }
    assert text.splitlines()[0].endswith("4 problem(s)")


def test_unknown_section_and_missing_required_sections(tmp_path, toy_registry):
    problems, _ = problems_of(write(tmp_path, 'name = "x"\n[trainig]\nlr = 1\n'), toy_registry)
    assert "did you mean 'training'?" in problems["trainig"]
    for key in ("dataset.plugin", "target.language", "target.threshold", "splits.probe_languages"):
        assert "missing required key" in problems[key], key
    assert "no-pretraining control" in problems["conditions"]
    assert "missing required [[models]]" in problems["models"]


def test_control_must_be_unambiguous(tmp_path, toy_registry):
    text = VALID + '[[conditions]]\nname = "scratch2"\n'
    problems, _ = problems_of(write(tmp_path, text), toy_registry)
    assert "several are without pretraining: scratch, scratch2" in problems["control"]
    suite = load_suite(write(tmp_path, 'control = "scratch2"\n' + text), toy_registry)
    assert suite.control == "scratch2"


def test_duplicate_condition_names_and_bad_seeds(tmp_path, toy_registry):
    text = VALID.replace('name = "ja-lowpass"', 'name = "scratch"').replace(
        "seeds = 3", "seeds = [1, 1]"
    )
    problems, _ = problems_of(write(tmp_path, text), toy_registry)
    assert "two conditions are named 'scratch'" in problems["conditions"]
    assert "distinct" in problems["seeds"]


def test_output_override(tmp_path, toy_registry):
    suite = load_suite(write(tmp_path, VALID), toy_registry, output=tmp_path / "elsewhere")
    assert suite.output == tmp_path / "elsewhere"


def test_unreadable_file_is_a_suite_error(tmp_path, toy_registry):
    problems, _ = problems_of(tmp_path / "missing.toml", toy_registry)
    assert "cannot read suite file" in next(iter(problems.values()))


def test_models_may_override_threshold_and_budget(tmp_path, toy_registry):
    from harness.expand import expand

    text = VALID + '[[models]]\nplugin = "cae"\nthreshold = 0.2\nmax_steps = 50\n'
    suite = load_suite(write(tmp_path, text), toy_registry)
    assert suite.models[1].target == {"threshold": 0.2, "max_steps": 50}
    assert suite.models[1].params == {"bottleneck": 32}
    targets = {(r.model.label, r.target.threshold, r.target.max_steps) for r in expand(suite)}
    assert targets == {("lstm", 0.5, 2000), ("cae", 0.2, 50)}

    bad = VALID + '[[models]]\nplugin = "cae"\nthreshold = "low"\n'
    problems, _ = problems_of(write(tmp_path, bad, "bad.toml"), toy_registry)
    assert problems["models[1].threshold"] == "expected number >= 0.0, got 'low'"
