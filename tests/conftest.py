"""Shared test setup: hermetic plugin loading and a private cache."""

import os

import pytest

# Only this distribution's built-in plugins load in tests, whatever else is installed.
os.environ.setdefault("HARNESS_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test session gets its own corpus and feature cache."""
    cache = tmp_path_factory.getbasetemp() / "harness-cache"
    monkeypatch.setenv("HARNESS_CACHE", str(cache))
    return cache
