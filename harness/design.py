"""The resolved design of a suite: what the analysis needs to know about it.

The suite file is validated once, by :mod:`harness.suite`. What the tables,
statistics and report need from it — the control, the order and labels of
conditions and models, the seeds, each model's threshold — is resolved there
and written into the output folder's ``manifest.json`` as a :class:`Design`.
The analysis side reads that and never parses the suite file again, so the
two sides cannot disagree about which condition is the control or how many
runs a suite has.

An output folder written before the manifest carried a design gets one
rebuilt from its run records (:meth:`Design.from_records`): every record holds
its resolved spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from harness.config import CONDITION_SECTIONS

if TYPE_CHECKING:
    from harness.suite import Suite


@dataclass(frozen=True)
class ConditionInfo:
    """A condition as the report shows it."""

    name: str
    label: str
    language: str | None = None
    filter: str | None = None
    epochs: int = 0
    #: False for a condition that hears nothing before the target
    pretrains: bool = False
    #: ``{section: {key: value}}``: the [features], [training] and [target]
    #: settings this condition overrides (the suite's for every other key)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """A model entry as the report shows it, with the target settings it ran under."""

    label: str
    plugin: str
    threshold: float | None = None
    threshold_mode: str | None = None
    max_steps: int | None = None


@dataclass(frozen=True)
class Design:
    """Conditions x models x seeds, resolved; the control first among conditions."""

    name: str
    description: str = ""
    question: str = ""
    #: the time measure the report's answer states learning speed in (``[top]
    #: answer_measure``; steps for folders written before it existed)
    answer_measure: str = "steps"
    target_language: str | None = None
    control: str | None = None
    conditions: tuple[ConditionInfo, ...] = ()
    models: tuple[ModelInfo, ...] = ()
    seeds: tuple[int, ...] = ()
    #: ``{section: {key: value}}``: the suite's own value of each setting some
    #: condition overrides and another keeps (what that other one runs with)
    overridden: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: True when read from a manifest; False when pieced together from records
    from_manifest: bool = field(default=True, compare=False)

    @property
    def condition_names(self) -> list[str]:
        """Condition names, the control first, then in suite order."""
        names = [c.name for c in self.conditions]
        if self.control in names:
            names.remove(self.control)
            names.insert(0, self.control)
        return names

    @property
    def model_labels(self) -> list[str]:
        return [m.label for m in self.models]

    @property
    def n_runs(self) -> int:
        return len(self.conditions) * len(self.models) * len(self.seeds)

    def condition(self, name: str) -> ConditionInfo | None:
        return next((c for c in self.conditions if c.name == name), None)

    def differences(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(section, key, {condition: value})`` for each setting the conditions
        do not all share, conditions in :attr:`condition_names` order; empty when
        they differ only in what they hear first."""
        keys = {(section, key) for section, values in self.overridden.items() for key in values}
        keys |= {
            (s, k) for c in self.conditions for s, values in c.overrides.items() for k in values
        }
        out = []
        for section, key in sorted(keys):
            default = self.overridden.get(section, {}).get(key)
            values = {
                name: info.overrides.get(section, {}).get(key, default)
                for name in self.condition_names
                if (info := self.condition(name)) is not None
            }
            if len({json.dumps(v, sort_keys=True) for v in values.values()}) > 1:
                out.append((section, key, values))
        return out

    # ------------------------------------------------------------ building

    @classmethod
    def from_suite(cls, suite: Suite) -> Design:
        """The design of a validated suite (what the manifest records)."""
        models = []
        for m in suite.models:
            target = {**asdict(suite.target), **dict(m.target)}
            models.append(
                ModelInfo(
                    label=m.label,
                    plugin=m.plugin,
                    threshold=target.get("threshold"),
                    threshold_mode=target.get("threshold_mode"),
                    max_steps=target.get("max_steps"),
                )
            )
        conditions = tuple(
            ConditionInfo(
                name=c.name,
                label=c.label,
                language=c.language,
                filter=c.filter.plugin,
                epochs=c.epochs,
                pretrains=c.pretrains,
                overrides=c.overrides(),
            )
            for c in suite.conditions
        )
        sections = {"features": suite.features, "training": suite.training, "target": suite.target}
        overridden: dict[str, dict[str, Any]] = {}
        for c in conditions:
            for section, keys in c.overrides.items():
                for key in keys:
                    if any(key not in other.overrides.get(section, {}) for other in conditions):
                        overridden.setdefault(section, {})[key] = getattr(sections[section], key)
        return cls(
            name=suite.name,
            description=suite.description,
            question=suite.question,
            answer_measure=suite.answer_measure,
            target_language=suite.target.language,
            control=suite.control,
            conditions=conditions,
            models=tuple(models),
            seeds=tuple(suite.seeds),
            overridden=overridden,
        )

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], name: str = "") -> Design:
        """A best-effort design from run records alone, for folders whose manifest
        has none: conditions, models and seeds in the order the records name them."""
        conditions: dict[str, ConditionInfo] = {}
        models: dict[str, ModelInfo] = {}
        seeds: dict[int, None] = {}
        overridden: dict[str, dict[str, Any]] = {}
        suite_values: dict[tuple[str, str], Any] = {}
        control = target_language = None
        for record in records:
            spec = record.get("spec") or {}
            name = name or str(spec.get("suite") or "")
            control = control or spec.get("control")
            target = spec.get("target") or {}
            target_language = target_language or target.get("language")
            c = spec.get("condition") or {}
            if c.get("name") and c["name"] not in conditions:
                epochs = int(c.get("epochs") or 0)
                conditions[c["name"]] = ConditionInfo(
                    name=str(c["name"]),
                    label=str(c.get("label") or c["name"]),
                    language=c.get("language"),
                    filter=(c.get("filter") or {}).get("plugin"),
                    epochs=epochs,
                    pretrains=bool(c.get("language"))
                    and (epochs > 0 or int(c.get("pretrain_steps") or 0) > 0),
                    overrides={k: dict(c[k]) for k in CONDITION_SECTIONS if c.get(k)},
                )
            for section in CONDITION_SECTIONS:  # the suite's value: where a condition keeps it
                for key, value in (spec.get(section) or {}).items():
                    if key not in (c.get(section) or {}):
                        suite_values.setdefault((section, key), value)
            m = spec.get("model") or {}
            label = m.get("label") or m.get("plugin")
            if label and label not in models:
                models[label] = ModelInfo(
                    label=str(label),
                    plugin=str(m.get("plugin") or label),
                    threshold=target.get("threshold"),
                    threshold_mode=target.get("threshold_mode"),
                    max_steps=target.get("max_steps"),
                )
            if isinstance(spec.get("seed"), int):
                seeds[spec["seed"]] = None
        for c in conditions.values():
            for section, values in c.overrides.items():
                for key in values:
                    if (section, key) in suite_values:
                        overridden.setdefault(section, {})[key] = suite_values[section, key]
        return cls(
            name=name,
            target_language=target_language,
            control=control,
            conditions=tuple(conditions.values()),
            models=tuple(models.values()),
            seeds=tuple(sorted(seeds)),
            overridden=overridden,
            from_manifest=False,
        )

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("from_manifest")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on a malformed one."""
        return cls(
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            question=str(data.get("question") or ""),
            answer_measure=str(data.get("answer_measure") or "steps"),
            target_language=data.get("target_language"),
            control=data.get("control"),
            conditions=tuple(ConditionInfo(**c) for c in data["conditions"]),
            models=tuple(ModelInfo(**m) for m in data["models"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            overridden={k: dict(v) for k, v in (data.get("overridden") or {}).items()},
        )
