"""``harness plugins``: every component of each family with its parameters,
metrics, labels, tasks and parameter groups, and the broken plugins.
"""

from __future__ import annotations

import textwrap

from harness.cli.common import EXIT_OK
from harness.plugin.components import KINDS, Component
from harness.plugin.registry import load_registry


def format_component(kind: str, component: Component) -> str:
    # the family's choice when a suite names none (Component.default)
    marker = " (default)" if component.default else ""
    lines = [f"  {component.name}{marker}  [{component.source}]"]
    lines += textwrap.wrap(component.doc, 88, initial_indent="      ", subsequent_indent="      ")
    if kind == "dataset":
        labels = ", ".join(component.provided_labels(component.defaults()))
        settings = (
            " (with its default settings; more with others)" if callable(component.labels) else ""
        )
        lines.append(f"      labels: {labels}{settings}")
        if component.limits:  # what the report says beside its answer
            lines += textwrap.wrap(
                f"limits: {component.limits}",
                88,
                initial_indent="      ",
                subsequent_indent="          ",
            )
    if kind in ("latent_extractor", "probe"):
        lines.append(f"      runs: {_where_it_runs(kind, component)}")
    if component.tasks:
        lines.append(f"      tasks: {', '.join(component.tasks)}")
    if component.groups:  # what [training] lr_groups and freeze may name
        lines.append(f"      parameter groups: {', '.join(component.groups)}")
    for p in component.params:
        default = "required" if p.required else f"default {p.default!r}"
        lines.append(f"      {p.name} ({p.describe()}; {default})")
        lines += textwrap.wrap(
            p.doc, 84, initial_indent="          ", subsequent_indent="          "
        )
    for m in component.metrics:
        direction = "higher is better" if m.higher_is_better else "lower is better"
        declared = [m.role.replace("_", "-")]
        declared += [f"chance level: {m.chance}"] if m.chance else []
        declared += ["headline"] if m.headline else []
        declared += [f"range {m.bounds[0]:g} to {m.bounds[1]:g}"] if m.bounds else []
        lines.append(f"      metric {m.name} ({direction}) [{'; '.join(declared)}]: {m.doc}")
    return "\n".join(lines)


def _where_it_runs(kind: str, component: Component) -> str:
    """When an extractor or probe runs (Component.named_only, .along_training)."""
    where = (
        "only where a suite names it"
        if component.named_only
        else "implied where a suite names no [[extractors]]"
        if kind == "latent_extractor"
        else "implied where a suite names no [[probes]]"
    )
    if kind == "probe":
        along = "also" if component.along_training else "never"
        where += f"; {along} at [probing] probe_at points"
    return where


def cmd_plugins(kind: str | None) -> int:
    registry = load_registry()
    for family in [kind] if kind else KINDS:
        print(f"{family}:")
        components = registry.all(family)
        if not components:
            print("  (none installed)")
        for _, component in components:
            print(format_component(family, component))
        print()
    if registry.broken:
        print("broken (their components are not available):")
        for broken in registry.broken:
            print(f"  {broken.name}  [{broken.value} from {broken.distribution}]")
            print(f"      {broken.stage} failed: {broken.error}")
            print(f"      {broken.hint()}")
    return EXIT_OK
