"""A broken installed plugin is set aside, named, and the rest keeps working."""

from __future__ import annotations

import pytest

from harness import Component, Metric, Param, hookimpl
from harness.cli import main
from harness.plugin.registry import DISABLE_ENV, PluginError, _default_registry, load_registry
from harness.testing import write_tiny_suite

from helpers.distributions import write_distribution

GOOD = """
from harness import Component, Param, hookimpl

class Gru:
    def __init__(self, hidden):
        self.hidden = hidden

@hookimpl
def harness_models():
    return [Component("gru_iso", Gru, "a GRU", [Param("hidden", int, 16, "units", min=1)])]
"""

FAILS_TO_IMPORT = "import a_module_that_is_not_installed_anywhere\n"

HOOK_RAISES = """
from harness import hookimpl

@hookimpl
def harness_models():
    raise RuntimeError("no GPU driver found")
"""

EMPTY_METRIC = """
from harness import Component, Metric, hookimpl

class Knn:
    def run(self, latents, labels, groups, target, seed):
        raise AssertionError("never built")

@hookimpl
def harness_probes():
    return [Component("knn_iso", Knn, "a kNN probe", metrics=[Metric("", "accuracy")])]
"""


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(entry_point, module_source)``: an installed-looking distribution
    ``<entry_point>-dist 1.2`` whose entry point loads a fresh module."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("HARNESS_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    _default_registry.cache_clear()

    def make(name: str, source: str) -> None:
        write_distribution(tmp_path, f"{name}_iso_plugin", source, f"{name}-dist", "1.2", name)

    yield make
    _default_registry.cache_clear()


def test_a_plugin_that_fails_to_import_is_named_and_the_others_load(install):
    install("gru", GOOD)
    install("broken", FAILS_TO_IMPORT)
    registry = load_registry(autoload=True)
    assert "gru_iso" in registry.names("model") and "lstm" in registry.names("model")
    [broken] = registry.broken
    assert (broken.name, broken.value, broken.distribution) == (
        "broken",
        "broken_iso_plugin",
        "broken-dist 1.2",
    )
    assert broken.stage == "import"
    assert "ModuleNotFoundError" in broken.error and "a_module_that_is_not" in broken.error
    assert "HARNESS_DISABLE_PLUGINS=broken" in broken.hint()


def test_harness_plugins_lists_the_rest_and_shows_the_broken_one(install, capsys):
    install("gru", GOOD)
    install("broken", FAILS_TO_IMPORT)
    assert main(["plugins", "--kind", "model"]) == 0
    out, err = capsys.readouterr()
    assert "gru_iso" in out and "lstm" in out
    assert "broken (their components are not available):" in out
    assert "broken  [broken_iso_plugin from broken-dist 1.2]" in out
    assert "import failed: ModuleNotFoundError" in out
    assert "warning: plugin 'broken' (entry point broken = broken_iso_plugin, from " in err
    assert "Traceback" not in out + err


def test_a_hook_that_raises_sets_its_plugin_aside(install, tmp_path, capsys):
    install("gpu", HOOK_RAISES)
    registry = load_registry(autoload=True)
    [broken] = registry.broken
    assert broken.stage == "hook harness_models"
    assert broken.error == "RuntimeError: no GPU driver found"
    assert "no GPU driver found" in broken.traceback
    # a suite that does not use it validates
    suite = write_tiny_suite(tmp_path / "fine")
    assert main(["validate", str(suite)]) == 0
    assert "warning: plugin 'gpu'" in capsys.readouterr().err


def test_located_error_names_the_broken_plugin_and_the_switch(install, tmp_path, capsys):
    install("gpu", HOOK_RAISES)
    suite = write_tiny_suite(tmp_path / "uses", models=[{"plugin": "gpu_lstm", "label": "g"}])
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "models[0].plugin" in err and "unknown model plugin 'gpu_lstm'" in err
    assert (
        "it may come from a plugin 'gpu' (entry point gpu = gpu_iso_plugin, from gpu-dist 1.2)"
        in err
    )
    assert "disable it with HARNESS_DISABLE_PLUGINS=gpu" in err
    assert "Traceback" not in err


def test_the_disable_switch_skips_one_named_plugin(install, monkeypatch):
    install("gru", GOOD)
    install("broken", FAILS_TO_IMPORT)
    monkeypatch.setenv(DISABLE_ENV, "broken")
    registry = load_registry()
    assert not registry.broken and "gru_iso" in registry.names("model")
    monkeypatch.setenv(DISABLE_ENV, "broken,gru")
    registry = load_registry()
    assert "gru_iso" not in registry.names("model") and "lstm" in registry.names("model")


def test_the_cli_option_disables_a_plugin(install, capsys):
    install("broken", FAILS_TO_IMPORT)
    assert main(["--disable-plugin", "broken", "plugins", "--kind", "model"]) == 0
    out, err = capsys.readouterr()
    assert "broken" not in out + err


def test_disabling_an_unknown_plugin_lists_the_installed_ones(install, capsys):
    assert main(["--disable-plugin", "nosuch", "plugins"]) == 2
    err = capsys.readouterr().err
    assert "--disable-plugin 'nosuch': no plugin entry point has that name; installed:" in err
    assert "lstm" in err


def test_a_declaration_mistake_in_an_installed_plugin_sets_it_aside(install):
    install("knn", EMPTY_METRIC)
    registry = load_registry(autoload=True)
    [broken] = registry.broken
    assert broken.stage == "declaration"
    assert (
        "probe component 'knn_iso'" in broken.error and "a metric has an empty name" in broken.error
    )
    assert "knn_iso" not in registry.names("probe") and "linear_svc" in registry.names("probe")


class Probe:
    def __init__(self, folds: int = 5) -> None:
        self.folds = folds


def declared(**fields):
    class Plugin:
        @hookimpl
        def harness_probes(self):
            base = {"name": "decl_test", "factory": Probe, "doc": "a probe",
                    "metrics": [Metric("accuracy", "share right")]}  # fmt: skip
            return [Component(**{**base, **fields})]

    return Plugin()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metrics": [Metric("", "share right")]}, "a metric has an empty name ('share right')"),
        ({"metrics": []}, "a probe must declare the metrics it reports in Component.metrics"),
        (
            {"params": [Param("folds", int, "5", "folds")]},
            "parameter 'folds': its default does not fit it (expected integer, got '5')",
        ),
        (
            {"params": [Param("folds", int, 5, "folds", min=2), Param("shuffle", bool, True, "s")]},
            "its factory Probe does not accept the declared parameter(s) shuffle (it takes: folds)",
        ),
        (
            {
                "factory": lambda folds, depth: Probe(folds),
                "params": [Param("folds", int, 5, "folds")],
            },
            "requires depth, which no Param declares",
        ),
    ],
)
def test_declaration_mistakes_are_reported_when_the_manager_is_built(fields, message):
    with pytest.raises(PluginError) as info:
        load_registry([declared(**fields)], autoload=False)
    assert "probe component 'decl_test'" in str(info.value)
    assert message in str(info.value)


def test_a_correct_declaration_loads():
    registry = load_registry([declared(params=[Param("folds", int, 5, "folds")])], autoload=False)
    assert registry.create(registry_selection()).folds == 5


def registry_selection():
    from harness.plugin.selection import Selection

    return Selection("probe", "decl_test", {"folds": 5}, "decl_test")
