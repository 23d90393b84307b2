"""The pytest plugin of the harness: the ``harness_suite`` fixture for plugin authors.

pytest loads this module through the ``pytest11`` entry point of
``speech-pretrain-harness``, so any test in an environment where the harness
is installed can ask for ``harness_suite`` without a ``conftest.py`` line.
With ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, load it with
``-p harness.pytest_plugin`` or ``pytest_plugins = ["harness.pytest_plugin"]``.

The helpers themselves live in :mod:`harness.testing`, which does not need pytest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.testing import Results

__all__ = ["harness_suite"]


@pytest.fixture
def harness_suite(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Results]:
    """:func:`harness.testing.run_tiny_suite` bound to this test's ``tmp_path``
    and a per-session corpus cache."""
    # imported here, not at the top: pytest loads this plugin in every session of
    # the environment, and most never ask for the fixture (harness.testing imports pandas)
    from harness.testing import run_tiny_suite

    cache = tmp_path_factory.getbasetemp() / "harness-cache"
    return functools.partial(run_tiny_suite, tmp_path, cache_dir=cache)
