"""Shared test setup: hermetic plugin loading, a private cache, and the fixtures
more than one test module asks for. Shared code that is not a fixture is in
``tests/helpers/``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.plugin.registry import Registry
    from harness.tables.results import Results

# Only this distribution's built-in plugins load in tests, whatever else is installed.
os.environ.setdefault("HARNESS_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test session gets its own corpus and feature cache."""
    cache = tmp_path_factory.getbasetemp() / "harness-cache"
    monkeypatch.setenv("HARNESS_CACHE", str(cache))
    return cache


# The imports below are inside the fixtures, so collecting a test module that
# needs none of them never imports torch or pandas.


@pytest.fixture
def toy_registry() -> Registry:
    """The toy plugins of tests/helpers/toy_plugins.py and nothing else."""
    from harness.plugin.registry import load_registry

    from helpers import toy_plugins

    return load_registry([toy_plugins], autoload=False, builtins=False)


@pytest.fixture(scope="module")
def tones_registry() -> Registry:
    """The tones dataset and its fakes (tests/helpers/tones.py) with the real models."""
    from helpers import tones

    return tones.registry()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The output folder of the default fake suite (tests/helpers/fake_results.py);
    one per test module, so a module may write into it."""
    from helpers.fake_results import write_fake_results

    return write_fake_results(tmp_path_factory.mktemp("fake"))


@pytest.fixture(scope="module")
def results(folder) -> Results:
    """The tables of ``folder``."""
    from harness.tables.results import load_results

    return load_results(folder)
