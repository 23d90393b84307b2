"""Suite files: every class of error, reported together with its location."""

import textwrap
from typing import ClassVar

import pytest

from harness import Component, Param, ValidationContext, hookimpl
from harness.plugin.registry import Registry, load_registry
from harness.spec.suite import SuiteError, load_suite

from helpers import toy_plugins
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


def test_a_condition_with_a_wrong_key_adds_no_guess_about_the_control(tmp_path, toy_registry):
    text = VALID.replace("cutoff_hz = 400 }", "cutoff_hz = 400 }\nepochs = -1")
    problems, _ = problems_of(write(tmp_path, text), toy_registry)
    assert list(problems) == ["conditions[1].epochs"]


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("threshold = 0", "a loss of 0 is never reached, so every run would be censored"),
        ("threshold = 2", "expected a fraction below 1 of the untrained held-out loss, got 2.0"),
        ("threshold = 1", "runs would 'reach' it at step 0"),
    ],
)
def test_a_threshold_no_run_could_meaningfully_cross_is_refused(
    tmp_path, toy_registry, setting, fragment
):
    problems, _ = problems_of(
        write(tmp_path, VALID.replace("threshold = 0.5", setting)), toy_registry
    )
    assert fragment in problems["target.threshold"]
    absolute = VALID.replace("threshold = 0.5", f"{setting}\nthreshold_mode = 'absolute'")
    if setting != "threshold = 0":
        assert (
            load_suite(write(tmp_path, absolute, "abs.toml"), toy_registry).target.threshold
            > 1 - 1e-9
        )


def test_a_warm_up_longer_than_the_training_budget_is_refused(tmp_path, toy_registry):
    text = VALID.replace("threshold = 0.5", "threshold = 0.5\nmax_steps = 100")
    text += "[training]\nwarmup_steps = 150\n"
    problems, _ = problems_of(write(tmp_path, text), toy_registry)
    assert problems["training.warmup_steps"].startswith(
        "expected at most target.max_steps (100), got 150"
    )


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
    from harness.spec.expand import expand

    text = VALID + '[[models]]\nplugin = "cae"\nthreshold = 0.2\nmax_steps = 50\n'
    suite = load_suite(write(tmp_path, text), toy_registry)
    assert suite.models[1].target == {"threshold": 0.2, "max_steps": 50}
    assert suite.models[1].params == {"bottleneck": 32}
    targets = {
        (r.model.label, r.target.threshold, r.target.max_steps) for r in expand(suite, toy_registry)
    }
    assert targets == {("lstm", 0.5, 2000), ("cae", 0.2, 50)}

    bad = VALID + '[[models]]\nplugin = "cae"\nthreshold = "low"\n'
    problems, _ = problems_of(write(tmp_path, bad, "bad.toml"), toy_registry)
    assert problems["models[1].threshold"] == "expected number >= 0.0, got 'low'"


def test_feature_rules_are_reported_with_key_paths_as_the_extractor_raises_them(
    tmp_path, toy_registry
):
    from harness.data.features import FeatureExtractor
    from harness.spec.config import FeatureConfig

    features = "[features]\nkind = 'mfcc'\nn_mels = 10\nn_mfcc = 13\nn_fft = 128\n"
    problems, text = problems_of(write(tmp_path, VALID + features), toy_registry)
    assert problems == {
        "features.n_mfcc": "expected at most n_mels = 10 (MFCC are taken from the mel bands), "
        "got 13",
        "features.n_fft": "expected at least the window length, 400 samples (25.0 ms at "
        "16000 Hz), got 128",
    }
    assert "2 problem(s)" in text
    # one definition: the extractor refuses the same config with the same messages
    config = FeatureConfig(kind="mfcc", n_mels=10, n_mfcc=13, n_fft=128)
    with pytest.raises(ValueError) as info:
        FeatureExtractor(config, None)
    for where, message in problems.items():
        assert f"{where}: {message}" in str(info.value)


def test_mel_band_edges_must_fit_the_sample_rate(tmp_path, toy_registry):
    features = "[features]\nsample_rate = 8000\nfmin = 100.0\nfmax = 5000.0\n"
    problems, _ = problems_of(write(tmp_path, VALID + features), toy_registry)
    assert problems == {"features.fmax": "expected <= sample_rate / 2 = 4000.0, got 5000.0"}
    features = "[features]\nfmin = 3000.0\nfmax = 2000.0\n"
    problems, _ = problems_of(write(tmp_path, VALID + features), toy_registry)
    assert problems == {"features.fmin": "expected below fmax (2000.0), got 3000.0"}


def test_cross_field_rules_wait_for_valid_fields(tmp_path, toy_registry):
    features = "[features]\nkind = 'mfcc'\nn_mels = 'ten'\nn_mfcc = 13\n"
    problems, _ = problems_of(write(tmp_path, VALID + features), toy_registry)
    assert set(problems) == {"features.n_mels"}


def test_bare_string_dataset_is_one_problem_saying_what_to_write(tmp_path, toy_registry):
    text = 'dataset = "toy"\n' + VALID.replace('[dataset]\nplugin = "toy"\n', "")
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, text), toy_registry)
    assert info.value.problems == [
        ("dataset", "expected a table [dataset], got 'toy'; write [dataset] and plugin = \"toy\"")
    ]


class CheckedModel:
    """A model whose check relates a parameter to the suite and to another parameter."""

    seen: ClassVar[list] = []

    @staticmethod
    def check(params, context):
        CheckedModel.seen.append(context)
        if params["window"] > context.sample_rate:
            yield "window", f"expected at most features.sample_rate = {context.sample_rate}"
        if params["low"] >= params["high"]:
            yield "low", f"expected below high = {params['high']}, got {params['low']}"

    @hookimpl
    def harness_models(self):
        params = [Param(n, int, d, n, min=0) for n, d in (("window", 8), ("low", 1), ("high", 2))]
        return [Component("checked", dict, "model with a check", params, check=self.check)]


def test_component_check_sees_the_suite_and_reports_under_the_key_path(tmp_path):
    registry = load_registry([toy_plugins, CheckedModel()], autoload=False, builtins=False)
    models = '[[models]]\nplugin = "checked"\nwindow = 20000\n[[models]]\nplugin = "checked"\n'
    models += 'label = "b"\nlow = 5\n[[models]]\nplugin = "checked"\nlabel = "c"\nhigh = "x"\n'
    CheckedModel.seen.clear()
    problems, _ = problems_of(write(tmp_path, VALID + models), registry)
    assert problems == {
        "models[1].window": "expected at most features.sample_rate = 16000",
        "models[2].low": "expected below high = 2, got 5",
        "models[3].high": "expected integer >= 0, got 'x'",  # no check on unresolved params
    }
    context = CheckedModel.seen[0]
    roles = {"es": {"probe": 3, "heldout": 1, "train": 2}, "ja": {"probe": 3, "pretrain": 2}}
    assert context == ValidationContext(16000, "es", ("es", "ja"), ("es", "ja"), 3, roles=roles,
                                        cache_dir=context.cache_dir)  # fmt: skip
    assert context.speakers_needed("es") == 6 and context.cache_dir is not None
    assert len(CheckedModel.seen) == 2


def test_defaults_come_from_the_registry_not_the_core(tmp_path, toy_registry):
    class AnotherDefault:
        @hookimpl
        def harness_executors(self):
            return [Component("remote", dict, "declares itself the default too", default=True)]

    assert (toy_registry.default("pretrain_filter"), toy_registry.default("executor")) == (
        "full",
        "local",
    )
    two = load_registry([toy_plugins, AnotherDefault()], autoload=False, builtins=False)
    problems, _ = problems_of(write(tmp_path, VALID), two)
    (message,) = problems.values()
    assert message.startswith("missing: several executor plugins are declared the default")
    assert "local from" in message and "remote from" in message and message.endswith("name one")
    named = load_suite(write(tmp_path, VALID + '[executor]\nplugin = "remote"\n'), two)
    assert named.executor.plugin == "remote"

    lowpass_only = {"lowpass": toy_registry.get("pretrain_filter", "lowpass")}
    none = Registry({**toy_registry.components, "pretrain_filter": lowpass_only})
    problems, _ = problems_of(write(tmp_path, VALID), none)
    assert problems["conditions[0].filter.plugin"] == (
        "missing: no pretrain_filter plugin is declared the default; name one (lowpass)"
    )


def test_a_filter_on_a_condition_without_language_is_refused_unless_the_default(
    tmp_path, toy_registry
):
    text = VALID.replace('name = "scratch"', 'name = "scratch"\nfilter = "lowpass"')
    problems, _ = problems_of(write(tmp_path, text), toy_registry)
    assert "a filter has no effect" in problems["conditions[0].filter"]
    text = VALID.replace('name = "scratch"', 'name = "scratch"\nfilter = "full"')
    assert load_suite(write(tmp_path, text), toy_registry).control == "scratch"


def test_builtin_lowpass_cutoff_must_be_below_nyquist_of_the_feature_rate(tmp_path):
    from harness.testing import write_tiny_suite

    conditions = [
        {"name": "none"},
        {"name": "it-lp", "language": "it", "filter": {"plugin": "lowpass", "cutoff_hz": 5000}},
        {"name": "it-noise", "language": "it", "filter": {"plugin": "noise", "cutoff_hz": 4000}},
    ]
    path = write_tiny_suite(tmp_path, conditions=conditions, features={"sample_rate": 8000})
    problems, _ = problems_of(path, load_registry(autoload=False))
    nyquist = "expected between 0 and 4000.0 Hz, the Nyquist frequency of 8000 Hz audio"
    assert problems == {
        "conditions[1].filter.cutoff_hz": f"{nyquist}, got 5000.0; the audio's rate is "
        "features.sample_rate",
        "conditions[2].filter.cutoff_hz": f"{nyquist}, got 4000.0; the audio's rate is "
        "features.sample_rate",
    }
    # at 16 kHz both cutoffs are fine
    load_suite(write_tiny_suite(tmp_path, conditions=conditions), load_registry(autoload=False))


def test_builtin_model_and_probe_checks(tmp_path):
    from harness.testing import write_tiny_suite

    path = write_tiny_suite(
        tmp_path,
        models=[{"plugin": "conv_autoencoder", "channels": []}],
        probes=[{"plugin": "linear_svc", "C_grid": [], "task": "target"}],
        splits={"probe_languages": ["it", "ja"]},
    )
    problems, _ = problems_of(path, load_registry(autoload=False))
    assert problems["models[0].channels"] == "expected a non-empty list of positive sizes, got []"
    assert problems["probes[0].C_grid"] == "C_grid is empty and no fixed C is given"
    assert "splits.probe_languages (it, ja) lacks it" in problems["probes[0].task"]
    # left out, [[probes]] means every probe with its defaults: checked too
    path = write_tiny_suite(tmp_path, splits={"probe_languages": ["it", "ja"]}, probes=[])
    # `probes = []` asks for no probes at all: leave the key out instead
    path.write_text(path.read_text().replace("probes = []\n", ""))
    problems, _ = problems_of(path, load_registry(autoload=False))
    assert "target language 'es'" in problems["probes (linear_svc).task"]
