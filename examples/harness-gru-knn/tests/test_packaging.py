"""Installed, the package registers through the ``harness`` entry-point group."""

import importlib.metadata as md

import pytest
from harness.plugin.registry import load_registry

try:
    VERSION = md.version("harness-gru-knn")
except md.PackageNotFoundError:
    VERSION = None


@pytest.mark.skipif(VERSION is None, reason="harness-gru-knn is not installed")
def test_entry_points_register_both_components_with_their_distribution():
    registry = load_registry(autoload=True)
    gru = registry.get("model", "gru")
    knn = registry.get("probe", "knn")
    assert gru.source == f"harness_gru_knn.gru (harness-gru-knn {VERSION})"
    assert knn.source == f"harness_gru_knn.knn (harness-gru-knn {VERSION})"
    # the built-ins arrive through the same path
    assert "lstm" in registry.names("model")


@pytest.mark.skipif(VERSION is None, reason="harness-gru-knn is not installed")
def test_harness_plugins_names_the_package_and_version(monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.delenv("HARNESS_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    assert main(["plugins"]) == 0
    listing = capsys.readouterr().out
    assert f"  gru  [harness_gru_knn.gru (harness-gru-knn {VERSION})]" in listing
    assert f"  knn  [harness_gru_knn.knn (harness-gru-knn {VERSION})]" in listing
    assert "      metric balanced_accuracy (higher is better)" in listing
