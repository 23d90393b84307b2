"""What a suite file resolves to: :class:`Suite` and its :class:`Condition`
entries, a section with a condition's overrides (:func:`resolved`), the
languages and speakers per role a suite needs (:func:`suite_languages`,
:func:`suite_roles`, :func:`roles_needed`), the cache root, and
:class:`SuiteError`, every problem found in a suite file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from harness.plugin.selection import Selection
from harness.spec.checkpoints import Checkpoint
from harness.spec.config import (
    CONDITION_SECTIONS,
    SELF_SUPERVISED,
    FeatureConfig,
    SplitConfig,
    TargetConfig,
    TrainingConfig,
)
from harness.spec.probing import Probing
from harness.spec.stages import pretrains

#: [target] keys a [[models]] entry may override: models learn at different
#: rates and loss scales, and conditions are compared within a model.
MODEL_TARGET_KEYS = ("threshold", "max_steps")
#: a condition's ``checkpoint`` key for the checkpoint of every model
EVERY_MODEL = "*"


class SuiteError(Exception):
    """Every problem found in a suite file, each with its location."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]) -> None:
        self.path = Path(path)
        self.problems = problems
        lines = [f"{self.path}: {len(problems)} problem(s)"]
        lines += [f"  {where}: {message}" for where, message in problems]
        super().__init__("\n".join(lines))


#: the boundaries of a sequential seeds table: Pocock's on the looks' joint
#: null (:mod:`harness.stats.sequential_joint`, the default) or an alpha
#: spending function (:func:`harness.stats.sequential.spending`)
SPENDING = ("joint-pocock", "haybittle-peto", "obrien-fleming", "pocock")
#: the fewest seeds a sequential suite may start with: the exact signed-rank
#: test's smallest two-sided p at n pairs is 2 / 2**n, so below 6 seeds
#: (1/32) no look could show anything at 5% even without Holm
MIN_SEEDS = 6
#: the most seeds a sequential suite may reach: beyond 60 pairs the report's
#: signed-rank test switches to its normal limit (harness.stats.signed_rank)
MAX_SEEDS = 60


@dataclass(frozen=True)
class SeedSchedule:
    """A sequential suite's seeds (``seeds = { min = 6, max = 40, step = 2 }``):
    it looks after ``min`` seeds, then after every ``step`` more, and at
    ``max`` (:mod:`harness.stats.sequential` decides at each look)."""

    min: int
    max: int
    step: int = 2
    spending: str = SPENDING[0]

    @property
    def looks(self) -> tuple[int, ...]:
        """The number of seeds at each look; ``max`` is always the last."""
        out = list(range(self.min, self.max + 1, self.step))
        if out[-1] != self.max:
            out.append(self.max)
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "step": self.step, "spending": self.spending}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeedSchedule:
        return cls(int(data["min"]), int(data["max"]), int(data.get("step") or 2),
                   str(data.get("spending") or SPENDING[0]))  # fmt: skip


@dataclass(frozen=True)
class ConditionStage:
    """One ``[[conditions.stages]]`` table of a curriculum, validated."""

    language: str
    filter: Selection
    epochs: int = 1
    #: optimiser steps of this stage; 0: ``epochs`` passes instead
    pretrain_steps: int = 0
    #: "task" or "self_supervised"
    pretrain_objective: str = "task"
    #: a fresh optimiser for this stage instead of the one before carried on
    reset_optimizer: bool = False

    @property
    def pretrains(self) -> bool:
        return pretrains(self.language, self.epochs, self.pretrain_steps)

    @property
    def self_supervised(self) -> bool:
        return self.pretrain_objective == SELF_SUPERVISED

    def to_dict(self) -> dict[str, Any]:
        """The stage in a condition's own keys (so one reader serves both forms)."""
        return {
            "language": self.language,
            "filter": self.filter.to_dict(),
            "epochs": self.epochs,
            **({"pretrain_steps": self.pretrain_steps} if self.pretrain_steps else {}),
            **({"pretrain_objective": self.pretrain_objective} if self.self_supervised else {}),
            **({"reset_optimizer": True} if self.reset_optimizer else {}),
        }


@dataclass(frozen=True)
class Condition:
    """What a model hears before the target language (or nothing), and the
    settings it changes: ``features``, ``training`` and ``target`` hold the keys
    of those sections this condition overrides (validated; never mutated)."""

    name: str
    label: str
    language: str | None
    filter: Selection
    epochs: int
    features: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    target: Mapping[str, Any] = field(default_factory=dict)
    #: the weights its runs start from, by model label (:data:`EVERY_MODEL`: every
    #: model); not in :meth:`to_dict`: a run's id holds the checkpoint's hash
    #: (harness.spec.expand.RunSpec), never its path
    checkpoint: Mapping[str, Checkpoint] = field(default_factory=dict)
    #: optimiser steps of pretraining; 0: ``epochs`` passes instead
    pretrain_steps: int = 0
    #: "task" (the target task) or "self_supervised" (the model's own loss)
    pretrain_objective: str = "task"
    #: a curriculum of two or more stages, heard in order (the own keys above
    #: are then unused: language None, epochs 0); a curriculum of one stage is
    #: read into the own keys, so it is the condition it always was
    stages: tuple[ConditionStage, ...] = ()

    @property
    def curriculum(self) -> tuple[ConditionStage, ...]:
        """Every stage it hears before the target, in order: a curriculum's, or
        the own keys' one stage where they pretrain; () for none."""
        if self.stages:
            return self.stages
        if not self.language or not self.pretrains:
            return ()
        own = ConditionStage(
            self.language, self.filter, self.epochs, self.pretrain_steps, self.pretrain_objective
        )
        return (own,)

    @property
    def filters(self) -> tuple[Selection, ...]:
        """The filter selections its runs use (the own ``filter`` without a curriculum)."""
        return tuple(s.filter for s in self.stages) if self.stages else (self.filter,)

    @property
    def pretrain_languages(self) -> tuple[str, ...]:
        """The languages its stages hear, each once, in order."""
        return tuple(dict.fromkeys(s.language for s in self.curriculum))

    @property
    def pretrains(self) -> bool:
        if self.stages:
            return any(s.pretrains for s in self.stages)
        return pretrains(self.language, self.epochs, self.pretrain_steps)

    @property
    def self_supervised(self) -> bool:
        """Pretraining optimises the model's own loss, whatever the target task
        (a curriculum: every stage does)."""
        if self.stages:
            return all(s.self_supervised for s in self.stages)
        return self.pretrain_objective == SELF_SUPERVISED

    def checkpoint_for(self, model: Selection) -> Checkpoint | None:
        """The weights this condition's runs of ``model`` start from: its own for
        the model, else the model's (``[[models]] checkpoint``), else None."""
        own = self.checkpoint.get(model.label, self.checkpoint.get(EVERY_MODEL))
        return own or model.checkpoint

    def overrides(self) -> dict[str, dict[str, Any]]:
        """``{section: {key: value}}`` of the sections this condition overrides."""
        given = {name: dict(getattr(self, name)) for name in CONDITION_SECTIONS}
        return {name: values for name, values in given.items() if values}

    def to_dict(self) -> dict[str, Any]:
        # a condition without overrides keeps the dict (so the run ids) it always had
        if self.stages:
            return {
                "name": self.name,
                "label": self.label,
                "stages": [s.to_dict() for s in self.stages],
                **self.overrides(),
            }
        return {
            "name": self.name,
            "label": self.label,
            "language": self.language,
            "filter": self.filter.to_dict(),
            "epochs": self.epochs,
            **({"pretrain_steps": self.pretrain_steps} if self.pretrain_steps else {}),
            **({"pretrain_objective": self.pretrain_objective} if self.self_supervised else {}),
            **self.overrides(),
        }


S = TypeVar("S", FeatureConfig, TrainingConfig, TargetConfig)


def resolved(section: S, overrides: Mapping[str, Any]) -> S:
    """``section`` (the suite's) with a condition's ``overrides`` of it."""
    return replace(section, **overrides) if overrides else section


@dataclass(frozen=True)
class SuiteSettings:
    """What a suite and each of its runs hold alike: the dataset, the core
    sections (a suite's as written, a run's as its condition resolves them) and
    the extractors and probes of the latents."""

    dataset: Selection
    features: FeatureConfig
    splits: SplitConfig
    target: TargetConfig
    training: TrainingConfig
    extractors: tuple[Selection, ...]
    probes: tuple[Selection, ...]


@dataclass(frozen=True)
class Suite(SuiteSettings):
    path: Path
    name: str
    description: str
    question: str
    seeds: tuple[int, ...]
    #: the time measure the report's answer states learning speed in
    answer_measure: str
    #: the smallest effects the suite cares about (a time-ratio fraction, a score difference)
    equivalence_ratio: float
    equivalence_score: float
    output: Path
    cache_dir: Path
    control: str
    conditions: tuple[Condition, ...]
    models: tuple[Selection, ...]
    executor: Selection
    #: a sequential suite's schedule (``seeds`` is then 0 .. max - 1, run as
    #: the looks ask); None for a fixed number of seeds
    sequential: SeedSchedule | None = None
    #: [probing]: the probe clips' filter and the groups of probe languages
    probing: Probing = field(default_factory=Probing)

    def languages(self) -> tuple[str, ...]:
        """Every language the suite touches, target first."""
        return suite_languages(self.target, self.splits, self.conditions)

    def speakers_needed(self) -> dict[str, int]:
        """Per language, the speakers its roles need (roles never share a speaker)."""
        roles = suite_roles(self.target, self.splits, self.conditions)
        return {lang: sum(roles[lang].values()) for lang in self.languages()}

    def condition(self, name: str) -> Condition:
        return next(c for c in self.conditions if c.name == name)

    def features_for(self, condition: Condition) -> FeatureConfig:
        """[features] as ``condition`` resolves it (the suite's, with its overrides)."""
        return resolved(self.features, condition.features)

    def training_for(self, condition: Condition) -> TrainingConfig:
        """[training] as ``condition`` resolves it."""
        return resolved(self.training, condition.training)

    def target_for(self, condition: Condition) -> TargetConfig:
        """[target] as ``condition`` resolves it; a model's threshold and
        max_steps go on top (:data:`MODEL_TARGET_KEYS`, never a condition's)."""
        return resolved(self.target, condition.target)


def suite_languages(
    target: TargetConfig, splits: SplitConfig, conditions: Iterable[Condition]
) -> tuple[str, ...]:
    """Every language of every condition (with the target it resolves), the
    first condition's target first: one corpus serves every condition."""
    conditions = list(conditions)
    targets = _targets(target, conditions)
    return tuple(dict.fromkeys(x for t in targets for x in _languages(t, splits, conditions)))


def _targets(target: TargetConfig, conditions: list[Condition]) -> list[TargetConfig]:
    return [resolved(target, c.target) for c in conditions] or [target]


def suite_roles(
    target: TargetConfig, splits: SplitConfig, conditions: Iterable[Condition]
) -> dict[str, dict[str, int]]:
    """:func:`roles_needed` over every condition's resolved target, each role
    with the most speakers any condition needs: one corpus (the same speakers,
    so the same probe clips) serves every condition."""
    conditions = list(conditions)
    need: dict[str, dict[str, int]] = {}
    for each in _targets(target, conditions):
        for lang, roles in roles_needed(each, splits, conditions).items():
            for role, n in roles.items():
                need.setdefault(lang, {})[role] = max(n, need.get(lang, {}).get(role, 0))
    return need


def _languages(
    target: TargetConfig, splits: SplitConfig, conditions: Iterable[Condition]
) -> tuple[str, ...]:
    # a condition's own language counts even where it pretrains for no epochs
    named = [(c.language,) if c.language else c.pretrain_languages for c in conditions]
    langs = [*target.target_languages, *(x for each in named for x in each)]
    return tuple(dict.fromkeys(langs + list(splits.probe_languages)))


def roles_needed(
    target: TargetConfig, splits: SplitConfig, conditions: Iterable[Condition]
) -> dict[str, dict[str, int]]:
    """Per language, the speakers each role needs (harness/data/splits.py deals them out)."""
    conditions = list(conditions)
    pretrain = [x for c in conditions for x in c.pretrain_languages]
    need = splits.speakers_per_role(target.target_languages, pretrain)
    return {lang: need.get(lang, {}) for lang in _languages(target, splits, conditions)}
