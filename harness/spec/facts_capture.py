"""Copying the declarations of the components a suite uses out of the plugin
registry, into :class:`~harness.plugin.plugin_facts.PluginFacts`.

Called when a suite's manifest is written (``harness run``, through
:meth:`harness.spec.design.Design.from_suite`) and, for a folder written before
the design held facts, once by ``harness report``. A component the registry
does not hold (its plugin not installed or switched off) is left out: the
report humanises its name. This is the only module of the design that reads
the registry; the report side never imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from harness.plugin.components import Component
from harness.plugin.plugin_facts import (
    ComponentFacts,
    MetricFacts,
    ParamFacts,
    PluginFacts,
    ResponseFacts,
)
from harness.plugin.registry import Registry, UnknownComponent, load_registry
from harness.plugin.selection import Selection

if TYPE_CHECKING:
    from harness.spec.suite import Suite

#: the spec keys of a run record that name one component, and its family
_ONE = {"dataset": "dataset", "model": "model", "executor": "executor"}
#: the spec keys that name a list of components
_MANY = {"extractors": "latent_extractor", "probes": "probe"}


def component_facts(kind: str, component: Component) -> ComponentFacts:
    """What the report needs of one component's declaration."""
    metrics = tuple(
        MetricFacts(
            name=m.name,
            label=m.label,
            bounds=tuple(m.bounds) if m.bounds is not None else None,  # type: ignore[arg-type]
            chance=m.chance,
            higher_is_better=m.higher_is_better,
            role=m.role,
            headline=m.headline,
        )
        for m in component.metrics
    )
    return ComponentFacts(
        kind=kind,
        name=component.name,
        title=component.title,
        loss=component.loss if kind == "model" else "",
        keeps_speech=component.keeps_speech if kind == "pretrain_filter" else None,
        limits=component.limits if kind == "dataset" else "",
        metrics=metrics,
        params=tuple(ParamFacts(p.name, p.doc) for p in component.params),
    )


def capture_facts(
    used: Iterable[tuple[str, str]],
    registry: Registry | None = None,
    filters: Iterable[Selection] = (),
) -> PluginFacts:
    """The facts of every ``(kind, name)`` in ``used`` the registry holds, in
    first-use order, and the declared response of each filter selection in
    ``filters`` that has one."""
    registry = registry or load_registry()
    out: dict[tuple[str, str], ComponentFacts] = {}
    for kind, name in used:
        if (kind, name) in out or not name:
            continue
        try:
            out[kind, name] = component_facts(kind, registry.get(kind, name))
        except (UnknownComponent, KeyError):
            continue
    return PluginFacts(tuple(out.values()), filter_responses(filters, registry))


def filter_responses(filters: Iterable[Selection], registry: Registry) -> tuple[ResponseFacts, ...]:
    """Each distinct filter selection's declared response (``Component.response``)."""
    out: dict[tuple[str, str], ResponseFacts] = {}
    for selection in filters:
        params = ", ".join(f"{k}={v}" for k, v in sorted(selection.params.items()))
        if (selection.plugin, params) in out:
            continue
        try:
            declare = registry.get("pretrain_filter", selection.plugin).response
        except (UnknownComponent, KeyError):
            continue
        if declare is None:
            continue
        given = declare(dict(selection.params))
        out[selection.plugin, params] = ResponseFacts.from_dict(
            {**given, "plugin": selection.plugin, "params": params}
        )
    return tuple(out.values())


def suite_components(suite: Suite) -> list[tuple[str, str]]:
    """``(kind, plugin)`` of every component a validated suite selects."""
    used = [("dataset", suite.dataset.plugin)]
    used += [("pretrain_filter", f.plugin) for c in suite.conditions for f in c.filters]
    used += [("model", m.plugin) for m in suite.models]
    used += [("latent_extractor", e.plugin) for e in suite.extractors]
    used += [("probe", p.plugin) for p in suite.probes]
    if suite.probing.filter is not None:
        used.append(("pretrain_filter", suite.probing.filter.plugin))
    return [*used, ("executor", suite.executor.plugin)]


def suite_filters(suite: Suite) -> list[Selection]:
    """Every filter selection a validated suite uses: its conditions' stages' and
    the probe clips'."""
    used = [f for c in suite.conditions for f in c.filters]
    return used + ([suite.probing.filter] if suite.probing.filter is not None else [])


def spec_components(specs: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(kind, plugin)`` of every component the run records' specs name."""
    used = []
    for spec in specs:
        filter_ = ((spec.get("condition") or {}).get("filter")) or {}
        used.append(("pretrain_filter", str(filter_.get("plugin") or "")))
        if spec.get("probe_filter"):
            used.append(("pretrain_filter", str(spec["probe_filter"].get("plugin") or "")))
        for key, kind in _ONE.items():
            used.append((kind, str((spec.get(key) or {}).get("plugin") or "")))
        for key, kind in _MANY.items():
            used += [(kind, str(s.get("plugin") or "")) for s in spec.get(key) or ()]
    return used
