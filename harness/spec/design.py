"""The resolved design of a suite: what the analysis needs to know about it.

The suite file is validated once, by :mod:`harness.spec.suite`. What the tables,
statistics and report need from it — the control, the order and labels of
conditions and models, the seeds, each model's threshold — is resolved there
and written into the output folder's ``manifest.json`` as a :class:`Design`.
The analysis side reads that and never parses the suite file again, so the
two sides cannot disagree about which condition is the control or how many
runs a suite has.

An output folder written before the manifest carried a design gets one
rebuilt from its run records' specs (:meth:`Design.from_specs`): every record holds
its resolved spec. Each condition carries its whole pretraining as a tuple of
:class:`~harness.spec.stages.Stage` (with the filter's parameters), the checkpoint
digests its runs start from and the settings it overrides; the design carries
the plugins' declarations the report needs (:class:`~harness.plugin.plugin_facts.PluginFacts`),
taken from the registry when the suite is written. A manifest written before
either existed still reads: its stages have unknown filter parameters and it
has no facts (the report then humanises names).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from harness.plugin.plugin_facts import PluginFacts
from harness.spec.config import (
    ANSWER_MEASURE,
    CONDITION_SECTIONS,
    EQUIVALENCE_RATIO,
    EQUIVALENCE_SCORE,
)
from harness.spec.stages import Stage

if TYPE_CHECKING:
    from harness.plugin.registry import Registry
    from harness.spec.suite import Condition, Suite


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
    #: what it hears before the target, in order (empty: nothing); built from
    #: ``language``, ``filter`` and ``epochs`` (parameters unknown) when not given
    stages: tuple[Stage, ...] = ()
    #: sha256 of the checkpoint its runs start from, by model label
    checkpoints: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.stages and self.pretrains:
            stage = Stage(self.language, self.filter, None, self.epochs)
            object.__setattr__(self, "stages", (stage,))

    @classmethod
    def from_condition(
        cls, c: Mapping[str, Any], checkpoints: Mapping[str, str] | None = None
    ) -> ConditionInfo:
        """A condition as ``Condition.to_dict()`` writes it (so a run record's
        ``spec["condition"]``): the one place both the suite and the records
        become a :class:`ConditionInfo`."""
        stages = Stage.of_condition(c)
        # a curriculum's own keys are its first stage's (the stages hold the rest)
        first = stages[0] if c.get("stages") else Stage.from_condition(c)
        return cls(
            name=str(c["name"]),
            label=str(c.get("label") or c["name"]),
            language=first.language,
            filter=first.filter,
            epochs=first.epochs,
            pretrains=bool(stages),
            overrides={k: dict(c[k]) for k in CONDITION_SECTIONS if c.get(k)},
            stages=stages,
            checkpoints=dict(checkpoints or {}),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConditionInfo:
        """Inverse of ``asdict``; a manifest written before stages existed has a
        filter name and no stages."""
        stages = tuple(Stage.from_dict(s) for s in data.get("stages") or ())
        return cls(**{**data, "stages": stages, "checkpoints": dict(data.get("checkpoints") or {})})


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
    answer_measure: str = ANSWER_MEASURE
    #: the smallest effects the suite cares about (``[top] equivalence_ratio`` and
    #: ``equivalence_score``; the defaults for folders written before they existed)
    equivalence_ratio: float = EQUIVALENCE_RATIO
    equivalence_score: float = EQUIVALENCE_SCORE
    target_language: str | None = None
    control: str | None = None
    conditions: tuple[ConditionInfo, ...] = ()
    models: tuple[ModelInfo, ...] = ()
    seeds: tuple[int, ...] = ()
    #: ``{section: {key: value}}``: the suite's own value of each setting some
    #: condition overrides and another keeps (what that other one runs with)
    overridden: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the declarations of the components the suite used, as installed when it
    #: ran; None for a folder written before the design held them
    facts: PluginFacts | None = None
    #: a sequential suite's seeds (:mod:`harness.stats.sequential`): its
    #: ``schedule`` (min, max, step, spending), and once it ran, each look (its
    #: seeds, the level it spent, what it decided, what stayed open and so got
    #: more seeds), each comparison's ``decision`` and ``seeds``, and the seeds
    #: each condition and model was asked to run; None for fixed seeds
    sequential: dict[str, Any] | None = None
    #: [probing] as the suite gave it (:meth:`harness.spec.probing.Probing.to_dict`):
    #: the probe clips' filter as a selection's dict, the groups of probe languages
    probing: dict[str, Any] = field(default_factory=dict)
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
    def probe_filter(self) -> dict[str, Any] | None:
        """The filter the probe clips passed through (``plugin``, ``params``), or None."""
        return self.probing.get("filter")

    @property
    def probe_groups(self) -> dict[str, list[str]]:
        """The declared groups of probe languages (``[probing] groups``)."""
        return dict(self.probing.get("groups") or {})

    @property
    def pair_matrix(self) -> bool:
        """The suite asked for the language-pair matrix (``[probing] pairs`` or ``groups``)."""
        return bool(self.probing.get("pairs") or self.probing.get("groups"))

    @property
    def model_labels(self) -> list[str]:
        return [m.label for m in self.models]

    @property
    def n_runs(self) -> int:
        """The runs the suite asks for: conditions x models x seeds, or in a
        sequential suite the seeds its looks asked each of them to run."""
        asked = (self.sequential or {}).get("asked")
        if asked:
            return sum(int(n) for by_model in asked.values() for n in by_model.values())
        return len(self.conditions) * len(self.models) * len(self.seeds)

    def condition(self, name: str) -> ConditionInfo | None:
        return next((c for c in self.conditions if c.name == name), None)

    def differences(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(section, key, {condition: value})`` for each setting the conditions
        do not all share, conditions in :attr:`condition_names` order; empty when
        they differ only in what they hear first."""
        out = []
        for section, key in self._overridden_keys():
            values = {
                name: self._setting(info, section, key)
                for name in self.condition_names
                if (info := self.condition(name)) is not None
            }
            if len({json.dumps(v, sort_keys=True) for v in values.values()}) > 1:
                out.append((section, key, values))
        return out

    def attributes(self, name: str) -> dict[str, Any]:
        """Every declared attribute of the condition ``name`` a pair may differ
        in: each stage's (:meth:`Stage.attributes`; a curriculum's prefixed
        ``stage1.``, ``stage2.``..., a single stage's as they are),
        ``checkpoint`` (digests by model) and ``section.key`` of each setting
        some condition overrides (the suite's value where this one keeps it).
        Curricula of different lengths share only ``stages`` (the count) among
        their stage attributes: :func:`harness.stats.between.contrast` decides
        which of those pairs differ in one thing."""
        info = self.condition(name)
        if info is None:
            return {}
        out: dict[str, Any] = {"stages": len(info.stages)}
        several = len(info.stages) > 1
        for i, stage in enumerate(info.stages):
            out.update(stage.attributes(f"stage{i + 1}." if several else ""))
        out["checkpoint"] = dict(sorted(info.checkpoints.items()))
        for section, key in self._overridden_keys():
            out[f"{section}.{key}"] = self._setting(info, section, key)
        return out

    def _setting(self, info: ConditionInfo, section: str, key: str) -> Any:
        """The value ``info`` runs with: its own override, else the suite's."""
        default = self.overridden.get(section, {}).get(key)
        return info.overrides.get(section, {}).get(key, default)

    def _overridden_keys(self) -> list[tuple[str, str]]:
        keys = {(section, key) for section, values in self.overridden.items() for key in values}
        keys |= {
            (s, k) for c in self.conditions for s, values in c.overrides.items() for k in values
        }
        return sorted(keys)

    # ------------------------------------------------------------ building

    @classmethod
    def from_suite(cls, suite: Suite, registry: Registry | None = None) -> Design:
        """The design of a validated suite (what the manifest records), with the
        facts of its components taken from ``registry`` (default: the installed
        plugins)."""
        # imported here: the analysis imports this module and must not load the registry
        from harness.spec.facts_capture import capture_facts, suite_components, suite_filters

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
            ConditionInfo.from_condition(c.to_dict(), _digests(suite, c)) for c in suite.conditions
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
            equivalence_ratio=suite.equivalence_ratio,
            equivalence_score=suite.equivalence_score,
            target_language=suite.target.language,
            control=suite.control,
            conditions=conditions,
            models=tuple(models),
            seeds=tuple(suite.seeds),
            overridden=overridden,
            facts=capture_facts(suite_components(suite), registry, suite_filters(suite)),
            sequential=(
                {"schedule": suite.sequential.to_dict()} if suite.sequential is not None else None
            ),
            probing=suite.probing.to_dict(),
        )

    @classmethod
    def from_specs(cls, specs: Iterable[Mapping[str, Any]], name: str = "") -> Design:
        """A best-effort design from the specs of run records alone (``record.spec``),
        for folders whose manifest has none: conditions, models and seeds in the
        order the records name them."""
        conditions: dict[str, dict[str, Any]] = {}
        digests: dict[str, dict[str, str]] = {}
        models: dict[str, ModelInfo] = {}
        seeds: dict[int, None] = {}
        suite_values: dict[tuple[str, str], Any] = {}
        control = target_language = None
        probing: dict[str, Any] = {}
        for spec in specs:
            name = name or str(spec.get("suite") or "")
            control = control or spec.get("control")
            target = spec.get("target") or {}
            target_language = target_language or target.get("language")
            if spec.get("probe_filter") and not probing:
                probing = {"filter": dict(spec["probe_filter"])}
            c = spec.get("condition") or {}
            m = spec.get("model") or {}
            label = m.get("label") or m.get("plugin")
            if c.get("name"):
                conditions.setdefault(c["name"], c)
                if label and spec.get("checkpoint"):
                    digests.setdefault(c["name"], {})[str(label)] = str(spec["checkpoint"])
            for section in CONDITION_SECTIONS:  # the suite's value: where a condition keeps it
                for key, value in (spec.get(section) or {}).items():
                    if key not in (c.get(section) or {}):
                        suite_values.setdefault((section, key), value)
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
        infos = tuple(
            ConditionInfo.from_condition(c, digests.get(n)) for n, c in conditions.items()
        )
        overridden: dict[str, dict[str, Any]] = {}
        for info in infos:
            for section, values in info.overrides.items():
                for key in values:
                    if (section, key) in suite_values:
                        overridden.setdefault(section, {})[key] = suite_values[section, key]
        return cls(
            name=name,
            target_language=target_language,
            control=control,
            conditions=infos,
            models=tuple(models.values()),
            seeds=tuple(sorted(seeds)),
            overridden=overridden,
            probing=probing,
            from_manifest=False,
        )

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("from_manifest")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on a
        malformed one. Reads every manifest written before: one without stages
        or facts (see :meth:`ConditionInfo.from_dict`)."""
        facts = data.get("facts")
        return cls(
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            question=str(data.get("question") or ""),
            answer_measure=str(data.get("answer_measure") or ANSWER_MEASURE),
            equivalence_ratio=float(data.get("equivalence_ratio") or EQUIVALENCE_RATIO),
            equivalence_score=float(data.get("equivalence_score") or EQUIVALENCE_SCORE),
            target_language=data.get("target_language"),
            control=data.get("control"),
            conditions=tuple(ConditionInfo.from_dict(c) for c in data["conditions"]),
            models=tuple(ModelInfo(**m) for m in data["models"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            overridden={k: dict(v) for k, v in (data.get("overridden") or {}).items()},
            facts=PluginFacts.from_dict(facts) if facts is not None else None,
            sequential=dict(data["sequential"]) if data.get("sequential") else None,
            probing=dict(data.get("probing") or {}),
        )


def _digests(suite: Suite, condition: Condition) -> dict[str, str]:
    """sha256 of the checkpoint each model's runs of ``condition`` start from."""
    out = {}
    for model in suite.models:
        checkpoint = condition.checkpoint_for(model)
        if checkpoint is not None:
            out[model.label] = checkpoint.sha256
    return out
