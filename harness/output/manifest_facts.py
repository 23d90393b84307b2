"""Filling in the plugin facts of a results folder written before the
manifest's design held them.

``harness report`` calls :func:`fill_missing_facts` once per folder: where
``manifest.json`` has a design without ``facts``, the declarations of the
components its run records name are copied from the installed plugins
(:mod:`harness.spec.facts_capture`) and written into the manifest, so every later
report reads the same facts whatever is installed then. A folder whose
manifest already holds facts is left alone; one with no manifest or no
design keeps humanised names. The report modules never call this: they read
the facts from the design and stay free of the plugin registry.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.atomic import write_json
from harness.output.store import MANIFEST, Store
from harness.plugin.registry import Registry
from harness.spec.facts_capture import capture_facts, spec_components


def fill_missing_facts(output: Path, registry: Registry | None = None) -> str | None:
    """Write the installed plugins' facts into ``<output>/manifest.json`` where
    its design has none; returns what was done, for stderr, or None."""
    path = output / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    design = data.get("design") if isinstance(data, dict) else None
    if not isinstance(design, dict) or design.get("facts") is not None:
        return None
    facts = capture_facts(spec_components(r.spec for r in Store(output).records()), registry)
    design["facts"] = facts.to_dict()
    write_json(path, data)
    return (
        f"note: {path} was written before it recorded the plugins' declarations; filled in "
        f"those of {len(facts.components)} installed component(s) (titles, metric labels, "
        "whether a filter keeps speech), which every later report reads"
    )
