"""Installed-looking third-party plugin distributions, written into a folder
that a test puts on ``sys.path``: one module plus the ``.dist-info`` that
``importlib.metadata`` reads (METADATA and a ``harness`` entry point)."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_distribution(
    site: Path, module: str, source: str, dist: str, version: str, entry_point: str
) -> None:
    """``<site>/<module>.py`` holding ``source``, and distribution ``dist``
    ``version`` whose entry point ``entry_point`` in group ``harness`` loads it."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[harness]\n{entry_point} = {module}\n")
