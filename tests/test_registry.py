"""Plugin loading: built-ins and third-party plugins through one entry-point path."""

import textwrap

import pytest

from harness import Component, Metric, hookimpl
from harness.plugin.components import KINDS
from harness.plugin.registry import (
    PluginError,
    UnknownComponent,
    build_plugin_manager,
    collect,
    load_registry,
)
from harness.plugin.selection import Selection

from helpers.distributions import write_distribution

THIRD_PARTY = """
from harness import Component, Param, hookimpl

class Gru:
    def __init__(self, hidden):
        self.hidden = hidden

@hookimpl
def harness_models():
    return [Component("gru_test", Gru, "a GRU from another package",
                      [Param("hidden", int, 16, "units", min=1)])]
"""


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """An installed-looking distribution: a module plus dist-info with an entry point."""
    write_distribution(tmp_path, "gru_plugin_test", THIRD_PARTY, "gru-plugin-test", "0.3", "gru")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtins_cover_all_five_families():
    registry = load_registry(autoload=False)
    for kind in KINDS:
        assert registry.names(kind), f"no built-in {kind} component"
    for name in ("espeak", "commonvoice", "folder"):
        assert name in registry.names("dataset")
    for name in ("lowpass", "full"):
        assert name in registry.names("pretrain_filter")
    assert {"lstm", "conv_autoencoder"} <= set(registry.names("model"))
    assert {"lstm_state", "bottleneck", "feature_stats"} <= set(registry.names("latent_extractor"))
    assert {"linear_svc", "tsne"} <= set(registry.names("probe"))
    assert {"local", "dask"} <= set(registry.names("executor"))
    source = registry.get("model", "lstm").source
    assert "harness_plugins.models.lstm" in source and "speech-pretrain-harness" in source


def test_third_party_entry_point_registers_with_its_distribution(third_party):
    registry = load_registry(autoload=True)
    component = registry.get("model", "gru_test")
    assert component.source == "gru_plugin_test (gru-plugin-test 0.3)"
    assert component.create(hidden=4).hidden == 4
    # the built-ins arrive through the same path
    assert "lstm" in registry.names("model")


def test_autoload_switch_keeps_builtins_only(third_party, monkeypatch):
    monkeypatch.setenv("HARNESS_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = load_registry(autoload=None, extra_plugins=())
    assert "gru_test" not in registry.names("model")
    assert "lstm" in registry.names("model")


def test_duplicate_component_names_both_sources(third_party, tmp_path):
    (tmp_path / "clash_test.py").write_text(textwrap.dedent(THIRD_PARTY))
    import clash_test
    import gru_plugin_test

    with pytest.raises(PluginError) as info:
        load_registry([gru_plugin_test, clash_test], autoload=False)
    message = str(info.value)
    assert "two model components are named 'gru_test'" in message
    assert "gru_plugin_test" in message and "clash_test" in message


def test_misspelt_hook_fails_loudly(tmp_path, monkeypatch):
    (tmp_path / "typo_plugin_test.py").write_text(
        "from harness import hookimpl\n\n@hookimpl\ndef harness_model():\n    return []\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import typo_plugin_test

    with pytest.raises(PluginError, match="harness_model"):
        build_plugin_manager([typo_plugin_test], autoload=False)


def test_hook_must_return_components(tmp_path, monkeypatch):
    (tmp_path / "wrong_return_test.py").write_text(
        "from harness import hookimpl\n\n@hookimpl\ndef harness_probes():\n    return ['knn']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import wrong_return_test

    with pytest.raises(PluginError, match=r"returned 'knn', not a harness\.Component"):
        collect(build_plugin_manager([wrong_return_test], autoload=False))


def test_a_metric_whose_chance_is_no_reference_stops_loading():
    class BadChance:
        @hookimpl
        def harness_probes(self):
            return [
                Component(
                    "bad_chance_test",
                    object,
                    "a probe whose chance level is a score",
                    metrics=[
                        Metric("accuracy", "a score", chance="level"),
                        Metric("level", "declared as a score, not a reference"),
                    ],
                )
            ]

    with pytest.raises(PluginError, match=r"bad_chance_test.*chance='level'.*role='reference'"):
        load_registry([BadChance()], autoload=False)


def test_metric_roles_are_checked_when_declared():
    with pytest.raises(ValueError, match="role must be one of"):
        Metric("x", "doc", role="baseline")
    with pytest.raises(ValueError, match="only a score"):
        Metric("x", "doc", role="reference", chance="y")
    assert Metric("x", "doc").role == "score"
    with pytest.raises(ValueError, match="low < high"):
        Metric("x", "doc", bounds=(1.0, 0.0))
    assert Metric("x", "doc").bounds is None


def test_builtin_probes_declare_chance_levels_and_headlines():
    svc = load_registry(autoload=False).get("probe", "linear_svc")
    declared = {m.name: m for m in svc.metrics}
    assert declared["balanced_accuracy_multiclass"].chance == "chance_multiclass"
    assert declared["balanced_accuracy_multiclass"].headline
    assert declared["chance_multiclass"].role == "reference"
    assert declared["p_value_target"].role == "p_value"


def test_create_builds_the_selected_component_with_its_params(third_party):
    registry = load_registry(autoload=True)
    gru = registry.create(Selection("model", "gru_test", {"hidden": 7}, "GRU"))
    assert type(gru).__name__ == "Gru" and gru.hidden == 7
    with pytest.raises(UnknownComponent, match=r"unknown model plugin 'gru_tset'.*gru_test"):
        registry.create(Selection("model", "gru_tset", {"hidden": 7}, "GRU"))
    # the kind comes from the selection: a model's name is unknown among probes
    with pytest.raises(UnknownComponent, match="unknown probe plugin 'gru_test'"):
        registry.create(Selection("probe", "gru_test", {"hidden": 7}, "GRU"))


def test_selection_is_importable_from_the_suite_module():
    import harness.spec.suite

    assert harness.spec.suite.Selection is Selection
