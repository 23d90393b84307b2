"""What the report needs to know about the components a suite used, as declared
when the suite ran.

``harness run`` copies these declarations from the plugins into the manifest's
design (:func:`harness.spec.facts_capture.capture_facts`): each component's title,
a model's loss name, a probe's metrics (label, bounds, chance, direction,
role, headline), a filter's ``keeps_speech`` and its parameters' docs. The
report reads them from here, never from the installed plugins, so upgrading
or uninstalling a plugin after the runs cannot change what a finished folder
says. Plain data: nothing in this module imports the plugin registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class MetricFacts:
    """A probe's declared metric (:class:`harness.plugin.components.Metric`)."""

    name: str
    label: str = ""
    bounds: tuple[float, float] | None = None
    chance: str | None = None
    higher_is_better: bool = True
    role: str = "score"
    headline: bool = False


@dataclass(frozen=True)
class ParamFacts:
    """A component's declared parameter: its name and one-line doc."""

    name: str
    doc: str = ""


@dataclass(frozen=True)
class ResponseFacts:
    """A filter's declared frequency response with the parameters it was given
    (``Component.response``): gain in dB on a frequency grid, the measured
    points it was built from and their source."""

    plugin: str
    #: the parameters, as ``key=value`` joined by ", " (sorted by key)
    params: str
    hz: tuple[float, ...]
    gain_db: tuple[float, ...]
    cited: tuple[tuple[float, float], ...] = ()
    source: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResponseFacts:
        return cls(
            plugin=str(data["plugin"]),
            params=str(data.get("params") or ""),
            hz=tuple(float(x) for x in data["hz"]),
            gain_db=tuple(float(x) for x in data["gain_db"]),
            cited=tuple((float(h), float(g)) for h, g in data.get("cited") or ()),
            source=str(data.get("source") or ""),
        )


@dataclass(frozen=True)
class ComponentFacts:
    """One component of one family (``kind``) as its plugin declared it."""

    kind: str
    name: str
    title: str = ""
    #: models: what the loss measures ("" where not declared)
    loss: str = ""
    #: filters: whether the output still carries the speech
    keeps_speech: bool | None = None
    #: datasets: what the data is and what it cannot show ("" where not declared)
    limits: str = ""
    metrics: tuple[MetricFacts, ...] = ()
    params: tuple[ParamFacts, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComponentFacts:
        metrics = []
        for m in data.get("metrics") or ():
            bounds = m.get("bounds")
            metrics.append(
                MetricFacts(**{**m, "bounds": tuple(bounds) if bounds is not None else None})
            )
        return cls(
            kind=str(data["kind"]),
            name=str(data["name"]),
            title=str(data.get("title") or ""),
            loss=str(data.get("loss") or ""),
            keeps_speech=data.get("keeps_speech"),
            limits=str(data.get("limits") or ""),
            metrics=tuple(metrics),
            params=tuple(ParamFacts(**p) for p in data.get("params") or ()),
        )


@dataclass(frozen=True)
class PluginFacts:
    """The declarations of every component a suite used."""

    components: tuple[ComponentFacts, ...] = ()
    #: the declared frequency responses of the filters the suite used
    responses: tuple[ResponseFacts, ...] = ()

    def component(self, kind: str, name: str | None) -> ComponentFacts | None:
        return next((c for c in self.components if c.kind == kind and c.name == name), None)

    def metric(self, name: str) -> MetricFacts | None:
        """The first probe's declaration of the metric ``name``."""
        for c in self.components:
            for m in c.metrics:
                if m.name == name:
                    return m
        return None

    def param(self, kind: str, plugin: str | None, name: str) -> ParamFacts | None:
        component = self.component(kind, plugin)
        if component is None:
            return None
        return next((p for p in component.params if p.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"components": [asdict(c) for c in self.components]}
        if self.responses:
            out["responses"] = [asdict(r) for r in self.responses]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PluginFacts:
        return cls(
            tuple(ComponentFacts.from_dict(c) for c in data.get("components") or ()),
            tuple(ResponseFacts.from_dict(r) for r in data.get("responses") or ()),
        )
