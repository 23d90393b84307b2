"""Suite files: load TOML, validate every key against the schema and the
plugins' declared parameters, and report every problem at once.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from harness.checkpoints import Checkpoint, CheckpointError, inspect_checkpoint
from harness.components import Check, ValidationContext, did_you_mean, resolve_params
from harness.config import (
    CACHE_ENV,
    CLASSIFY,
    CONDITION_PARAMS,
    CONDITION_SECTIONS,
    FIXED_SECTIONS,
    SECTIONS,
    TOP_PARAMS,
    FeatureConfig,
    SplitConfig,
    TargetConfig,
    TrainingConfig,
    section_params,
)
from harness.registry import PluginError, Registry, UnknownComponent, load_registry
from harness.selection import Selection
from harness.stages import pretrains

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

TABLES = ("dataset", "features", "splits", "target", "training", "executor")
ARRAYS = ("conditions", "models", "extractors", "probes")
#: [target] keys a [[models]] entry may override: models learn at different
#: rates and loss scales, and conditions are compared within a model.
MODEL_TARGET_KEYS = ("threshold", "max_steps")
#: a condition's ``checkpoint`` key for the checkpoint of every model
EVERY_MODEL = "*"
#: what a condition's override table of each section looks like, for messages
_EXAMPLES = {"features": "{sample_rate = 8000}", "training": "{lr = 0.01}",
             "target": "{class_weights = 'balanced'}"}  # fmt: skip
SECTION_KINDS = {"dataset": "dataset", "executor": "executor", "models": "model",
                 "extractors": "latent_extractor", "probes": "probe"}  # fmt: skip


class SuiteError(Exception):
    """Every problem found in a suite file, each with its location."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]) -> None:
        self.path = Path(path)
        self.problems = problems
        lines = [f"{self.path}: {len(problems)} problem(s)"]
        lines += [f"  {where}: {message}" for where, message in problems]
        super().__init__("\n".join(lines))


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
    #: (harness.expand.RunSpec), never its path
    checkpoint: Mapping[str, Checkpoint] = field(default_factory=dict)
    #: optimiser steps of pretraining; 0: ``epochs`` passes instead
    pretrain_steps: int = 0
    #: "task" (the target task) or "self_supervised" (the model's own loss)
    pretrain_objective: str = "task"

    @property
    def pretrains(self) -> bool:
        return pretrains(self.language, self.epochs, self.pretrain_steps)

    @property
    def self_supervised(self) -> bool:
        """Pretraining optimises the model's own loss, whatever the target task."""
        return self.pretrain_objective == "self_supervised"

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
class Suite:
    path: Path
    name: str
    description: str
    question: str
    seeds: tuple[int, ...]
    #: the time measure the report's answer states learning speed in
    answer_measure: str
    output: Path
    cache_dir: Path
    control: str
    dataset: Selection
    features: FeatureConfig
    splits: SplitConfig
    target: TargetConfig
    training: TrainingConfig
    conditions: tuple[Condition, ...]
    models: tuple[Selection, ...]
    extractors: tuple[Selection, ...]
    probes: tuple[Selection, ...]
    executor: Selection

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


def suite_languages(target: TargetConfig, splits: SplitConfig,
                    conditions: Iterable[Condition]) -> tuple[str, ...]:  # fmt: skip
    """Every language of every condition (with the target it resolves), the
    first condition's target first: one corpus serves every condition."""
    conditions = list(conditions)
    targets = _targets(target, conditions)
    return tuple(dict.fromkeys(x for t in targets for x in _languages(t, splits, conditions)))


def _targets(target: TargetConfig, conditions: list[Condition]) -> list[TargetConfig]:
    return [resolved(target, c.target) for c in conditions] or [target]


def suite_roles(target: TargetConfig, splits: SplitConfig,
                conditions: Iterable[Condition]) -> dict[str, dict[str, int]]:  # fmt: skip
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


def _languages(target: TargetConfig, splits: SplitConfig,
               conditions: Iterable[Condition]) -> tuple[str, ...]:  # fmt: skip
    langs = [*target.target_languages, *(c.language for c in conditions if c.language)]
    return tuple(dict.fromkeys(langs + list(splits.probe_languages)))


def roles_needed(target: TargetConfig, splits: SplitConfig,
                 conditions: Iterable[Condition]) -> dict[str, dict[str, int]]:  # fmt: skip
    """Per language, the speakers each role needs (harness/splits.py deals them out)."""
    conditions = list(conditions)
    need: dict[str, dict[str, int]] = {lang: {} for lang in _languages(target, splits, conditions)}
    for lang in splits.probe_languages:
        need[lang]["probe"] = splits.probe_speakers
    for lang in target.target_languages:
        need[lang]["heldout"] = splits.heldout_speakers
        need[lang]["train"] = splits.train_speakers_of(lang)
    for lang in {c.language for c in conditions if c.language and c.pretrains}:
        need[lang]["pretrain"] = splits.pretrain_speakers
    return need


def default_cache_dir(configured: str = "") -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "harness"


def _toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> tuple[str, str]:
    """``file:line:column`` and the parser's message without its position suffix."""
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
    elif "(at end of document)" in message:
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    else:
        return str(path), f"TOML syntax error: {message}"
    message = re.sub(r"\s*\((at line \d+, column \d+|at end of document)\)", "", message)
    return f"{path}:{line}:{column}", f"TOML syntax error: {message or 'invalid TOML'}"


def load_suite(
    path: str | Path, registry: Registry | None = None, output: str | Path | None = None
) -> Suite:
    """Read and validate a suite file; raise :class:`SuiteError` listing every problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteError(path, [(str(path), f"cannot read suite file: {exc.strerror}")]) from exc
    text = _decode(path, raw)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(path, [_toml_error(path, text, exc)]) from exc
    return _Validator(path, data, registry or load_registry()).build(output)


def _decode(path: Path, raw: bytes) -> str:
    """The suite file as text; a binary or non-UTF-8 file is one located problem."""
    if b"\0" in raw:
        where = f"byte {raw.index(bytes(1))}"
        raise SuiteError(path, [(str(path), f"not a text file (a NUL byte at {where}); a suite "
                                 "file is TOML text, such as suites/quick.toml")])  # fmt: skip
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SuiteError(path, [(f"{path}:{line}", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                                 f"at offset {exc.start}); save the suite file as UTF-8")]) from exc  # fmt: skip


class _Validator:
    def __init__(self, path: Path, data: dict[str, Any], registry: Registry) -> None:
        self.path = path
        self.data = data
        self.registry = registry
        self.problems: list[tuple[str, str]] = []
        #: component checks to run once the context is known: (check, params, key path)
        self.checks: list[tuple[Check, Mapping[str, Any], str]] = []
        #: a condition's filter (key path) -> the condition, whose settings its check sees
        self.filter_of: dict[str, Condition] = {}
        #: the dataset selection, once read (its labels are checked against the target's)
        self.dataset: Selection | None = None
        #: a condition's checkpoint table (key path) -> the model labels it names
        self.checkpoint_tables: dict[str, list[str]] = {}

    def problem(self, where: str, message: str) -> None:
        self.problems.append((where, message))

    def table(self, key: str) -> dict[str, Any] | None:
        """The table ``key`` ({} when absent), or None when it is something else (reported)."""
        value = self.data.get(key, {})
        if isinstance(value, dict):
            return value
        named = isinstance(value, str) and key in SECTION_KINDS
        hint = f'; write [{key}] and plugin = "{value}"' if named else ""
        self.problem(key, f"expected a table [{key}], got {value!r}{hint}")
        return None

    def array(self, key: str) -> list[dict[str, Any]]:
        value = self.data.get(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(key, f"expected an array of tables [[{key}]], got {value!r}")
            return []
        return value

    def select(self, kind: str, given: Any, where: str, default: bool = False) -> Selection | None:
        """A ``plugin = name`` table (or a bare name) with the plugin's parameters;
        without a name, the family's declared default if ``default``."""
        if isinstance(given, str):
            given = {"plugin": given}
        if given is None:  # not a table: reported by table()
            return None
        if not isinstance(given, dict):
            self.problem(where, f"expected a plugin name or a table with 'plugin', got {given!r}")
            return None
        name = given.get("plugin")
        if name is None and default:
            try:
                name = self.registry.default(kind)
            except PluginError as exc:
                self.problem(f"{where}.plugin", f"missing: {exc}")
                return None
        if name is None:
            names = ", ".join(self.registry.names(kind)) or "none installed"
            self.problem(f"{where}.plugin", f"missing required key: the {kind} plugin ({names})")
            return None
        if not isinstance(name, str):
            self.problem(f"{where}.plugin", f"expected a plugin name (string), got {name!r}")
            return None
        try:
            component = self.registry.get(kind, name)
        except UnknownComponent as exc:
            self.problem(f"{where}.plugin", exc.message)
            return None
        label = given.get("label", name)
        if not isinstance(label, str):
            self.problem(f"{where}.label", f"expected string, got {label!r}")
            label = name
        params, problems = resolve_params(component.params, given, where, ("plugin", "label"))
        self.problems += problems
        if component.check is not None and not problems:
            self.checks.append((component.check, params, where))
        return Selection(kind, name, params, label)

    def build(self, output: str | Path | None) -> Suite:
        data = self.data
        for key in data:
            if key not in {p.name for p in TOP_PARAMS} | set(TABLES) | set(ARRAYS):
                valid = sorted({p.name for p in TOP_PARAMS} | set(TABLES) | set(ARRAYS))
                self.problem(
                    key, f"unknown key{did_you_mean(key, valid)}; valid keys: {', '.join(valid)}"
                )
        top_given = {k: v for k, v in data.items() if k in {p.name for p in TOP_PARAMS}}
        if isinstance(top_given.get("seeds"), int) and not isinstance(top_given["seeds"], bool):
            count = top_given["seeds"]
            if count < 1:
                self.problem("seeds", f"expected a count >= 1 or a list of seeds, got {count}")
            top_given["seeds"] = list(range(max(count, 1)))
        if "seeds" in top_given and not isinstance(top_given["seeds"], list):
            self.problem(
                "seeds",
                f"expected a count >= 1 or a list of integers, got {top_given.pop('seeds')!r}",
            )
        top, problems = resolve_params(TOP_PARAMS, top_given, "")
        self.problems += problems
        name = top.get("name")
        if isinstance(name, str) and not _NAME_RE.match(name):
            self.problem("name", f"expected letters, digits, '-', '_' or '.', got {name!r}")
        seeds = top.get("seeds") or []
        if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
            self.problem("seeds", f"seeds must be distinct, got {seeds}")
        if top.get("seeds") == []:
            self.problem("seeds", "expected at least one seed, got []; write a count such as "
                         "seeds = 3 or a list such as seeds = [0, 1, 2]")  # fmt: skip
        negative = (
            [s for s in seeds if isinstance(s, int) and s < 0] if isinstance(seeds, list) else []
        )
        if negative:
            self.problem("seeds", f"expected seeds >= 0, got {negative[0]} in {seeds}")

        configs: dict[str, Any] = {}
        for key, cls in SECTIONS.items():
            values, problems = resolve_params(section_params(cls), self.table(key) or {}, key)
            self.problems += problems
            if not problems:  # the rules relating fields need each field valid
                configs[key] = cls(**values)
                self.problems += [(f"{key}.{k}", m) for k, m in configs[key].problems()]
        dataset = self.select("dataset", self.table("dataset"), "dataset")
        executor = self.select("executor", self.table("executor"), "executor", default=True)
        conditions = self.conditions(configs)
        models = self.selections("models", required=True)
        self.checkpoint_labels(models)
        extractors = self.selections("extractors")
        probes = self.selections("probes")
        self.probing_checks(configs, extractors, probes)
        control = self.control(top.get("control", ""), conditions)
        self.dataset = dataset
        self.task_checks(configs, models, conditions)
        self.group_checks(configs, models, conditions)
        self.component_checks(configs, conditions, default_cache_dir(top.get("cache") or ""))

        if self.problems:
            raise SuiteError(self.path, self.problems)
        assert dataset is not None and executor is not None and control is not None
        # relative folders are relative to where `harness` runs, as in any CLI
        out = Path(output or top["output"] or Path("reports") / top["name"])
        return Suite(
            path=self.path,
            name=top["name"],
            description=top["description"],
            question=top["question"],
            seeds=tuple(seeds),
            answer_measure=top["answer_measure"],
            output=out,
            cache_dir=default_cache_dir(top["cache"]),
            control=control,
            dataset=dataset,
            features=configs["features"],
            splits=configs["splits"],
            target=configs["target"],
            training=configs["training"],
            conditions=tuple(conditions),
            models=tuple(models),
            extractors=tuple(extractors),
            probes=tuple(probes),
            executor=executor,
        )

    def selections(self, key: str, required: bool = False) -> list[Selection]:
        tables = self.array(key)
        if not tables and not required and key in self.data:  # `probes = []`: none at all
            return []
        if not tables and not required:  # left out: every installed one, with its defaults
            return self.default_all(SECTION_KINDS[key], key)
        if required and not tables and key not in self.data:
            self.problem(key, f"missing required [[{key}]]; available: "
                         f"{', '.join(self.registry.names(SECTION_KINDS[key]))}")  # fmt: skip
        chosen = []
        for i, table in enumerate(tables):
            where = f"{key}[{i}]"
            overrides = (
                {k: table[k] for k in MODEL_TARGET_KEYS if k in table} if key == "models" else {}
            )
            own = key == "models" and "checkpoint" in table
            rest = {
                k: v
                for k, v in table.items()
                if k not in overrides and not (own and k == "checkpoint")
            }
            selection = self.select(SECTION_KINDS[key], rest, where)
            if own:
                checkpoint = self.checkpoint(table["checkpoint"], f"{where}.checkpoint")
                if selection is not None and checkpoint is not None:
                    selection = replace(selection, checkpoint=checkpoint)
            if selection is not None and overrides:
                params = [p for p in section_params(TargetConfig) if p.name in MODEL_TARGET_KEYS]
                resolved, problems = resolve_params(params, overrides, where)
                self.problems.extend(problems)
                selection = replace(selection, target={k: resolved[k] for k in overrides})
            chosen.append(selection)
        out = [s for s in chosen if s is not None]
        labels = [s.label for s in out]
        for label in {x for x in labels if labels.count(x) > 1}:
            self.problem(key, f"two entries are labelled {label!r}; give each a distinct 'label'")
        return out

    def probing_checks(
        self, configs: dict[str, Any], extractors: list[Selection], probes: list[Selection]
    ) -> None:
        """Probes need probe languages; a suite without probes needs none (``probes = []``)."""
        splits = configs.get("splits")
        if splits is None:
            return
        if probes and not splits.probe_languages:
            self.problem("splits.probe_languages", "expected at least two languages for the probes "
                         "to separate; a suite that probes nothing says probes = []")  # fmt: skip
        if not probes and "probes" in self.data and extractors and "extractors" in self.data:
            self.problem("extractors", "latents are extracted for the probes, and probes = [] "
                         "asks for none: remove [[extractors]] or add [[probes]]")  # fmt: skip

    def default_all(self, kind: str, key: str) -> list[Selection]:
        out = []
        for name in self.registry.names(kind):
            component = self.registry.get(kind, name)
            if component.check is not None:
                self.checks.append((component.check, component.defaults(), f"{key} ({name})"))
            out.append(Selection(kind, name, component.defaults(), name))
        return out

    def conditions(self, configs: Mapping[str, Any]) -> list[Condition]:
        """The [[conditions]]; ``configs``: the suite's sections that are valid."""
        out = []
        tables = self.array("conditions")
        if not tables:
            self.problem(
                "conditions", "missing required [[conditions]]: at least a no-pretraining control"
            )
        for i, table in enumerate(tables):
            where = f"conditions[{i}]"
            for key in FIXED_SECTIONS.keys() & table.keys():
                self.problem(f"{where}.{key}", f"a condition cannot override [{key}]: "
                             f"{FIXED_SECTIONS[key]}; set it once for the suite")  # fmt: skip
            overrides = {
                section: self.overrides(section, table[section], configs, f"{where}.{section}")
                for section in CONDITION_SECTIONS
                if section in table
            }
            skip = {"filter", "checkpoint", *CONDITION_SECTIONS, *FIXED_SECTIONS}
            given = {k: v for k, v in table.items() if k not in skip}
            values, problems = resolve_params(CONDITION_PARAMS, given, where)
            self.problems += problems
            flt = self.select("pretrain_filter", table.get("filter", {}), f"{where}.filter", True)
            checkpoint = self.condition_checkpoint(
                table.get("checkpoint", ""), f"{where}.checkpoint"
            )
            name = values.get("name")
            if isinstance(name, str) and not _NAME_RE.match(name):
                self.problem(
                    f"{where}.name", f"expected letters, digits, '-', '_' or '.', got {name!r}"
                )
            if flt is None or not isinstance(name, str):
                continue
            language = values.get("language") or None
            if language is None and not self.registry.get(flt.kind, flt.plugin).default:
                self.problem(f"{where}.filter", "a condition without 'language' pretrains on "
                             "nothing, so a filter has no effect; remove it or add a language")  # fmt: skip
            if "epochs" in given and values.get("pretrain_steps"):
                self.problem(f"{where}.pretrain_steps", "give either epochs or pretrain_steps: "
                             "a condition pretrains for a number of passes or of steps")  # fmt: skip
            condition = Condition(
                name,
                values["label"] or name,
                language,
                flt,
                values["epochs"],
                checkpoint=checkpoint,
                **overrides,
                pretrain_steps=values["pretrain_steps"],
                pretrain_objective=values["pretrain_objective"],
            )
            self.filter_of[f"{where}.filter"] = condition
            out.append(condition)
        names = [c.name for c in out]
        for dup in {n for n in names if names.count(n) > 1}:
            self.problem("conditions", f"two conditions are named {dup!r}")
        return out

    def checkpoint(self, given: Any, where: str) -> Checkpoint | None:
        """The checkpoint at path ``given`` ("": none), located and hashed."""
        if not isinstance(given, str):
            self.problem(where, f"expected the path of a checkpoint (a string), got {given!r}")
            return None
        if not given:
            return None
        try:
            return inspect_checkpoint(given, where)
        except CheckpointError as exc:
            self.problem(where, exc.message)
            return None

    def condition_checkpoint(self, given: Any, where: str) -> dict[str, Checkpoint]:
        """A condition's ``checkpoint``: a path for every model, or a table of
        model label -> path (checked against the model labels in :meth:`build`)."""
        if isinstance(given, dict):
            out = {}
            for label, path in given.items():
                found = self.checkpoint(path, f"{where}.{label}")
                if found is not None:
                    out[label] = found
            self.checkpoint_tables[where] = list(given)
            return out
        found = self.checkpoint(given, where)
        return {EVERY_MODEL: found} if found is not None else {}

    def checkpoint_labels(self, models: list[Selection]) -> None:
        """A condition's table of checkpoints names models the suite has."""
        labels = [m.label for m in models]
        for where, named in self.checkpoint_tables.items():
            for label in named:
                if label not in labels:
                    self.problem(f"{where}.{label}", f"no model is labelled {label!r}"
                                 f"{did_you_mean(label, labels)}; the models: {', '.join(labels)} "
                                 "(a path without a table applies to every model)")  # fmt: skip

    def overrides(
        self, section: str, given: Any, configs: Mapping[str, Any], where: str
    ) -> dict[str, Any]:
        """A condition's table of ``section`` keys, each checked as [section]
        checks it, then the section's rules on the suite's section with them
        (the suite's own problems are reported at the section already)."""
        if not isinstance(given, dict):
            self.problem(where, f"expected a table of [{section}] keys, such as "
                         f"{_EXAMPLES[section]}, got {given!r}")  # fmt: skip
            return {}
        fixed = CONDITION_SECTIONS[section]
        for key in fixed:
            if key in given:
                self.problem(f"{where}.{key}", "cannot differ between conditions: conditions are "
                             "compared by the time to one event on one budget and evaluation "
                             "grid; set it in [target] (threshold and max_steps also per model "
                             "in [[models]])")  # fmt: skip
        # required keys of the section are given by it: none is missing here
        params = [replace(p, default=None) for p in section_params(SECTIONS[section])
                  if p.name not in fixed]  # fmt: skip
        rest = {k: v for k, v in given.items() if k not in fixed}
        values, problems = resolve_params(params, rest, where)
        self.problems += problems
        bad = {path.rsplit(".", 1)[-1] for path, _ in problems}
        out = {k: values[k] for k in rest if k in values and k not in bad}
        if section in configs and not problems and len(out) == len(given):
            base = configs[section]
            already = set(base.problems())
            for key, message in resolved(base, out).problems():
                if (key, message) not in already:
                    self.problem(f"{where}.{key}", message)
        return out

    def control(self, given: str, conditions: list[Condition]) -> str | None:
        names = [c.name for c in conditions]
        if given:
            if given not in names and conditions:
                self.problem("control", f"no condition named {given!r}{did_you_mean(given, names)}; "
                             f"conditions: {', '.join(names)}")  # fmt: skip
            return given
        # a condition that starts from its own checkpoint is not the scratch control
        plain = [c.name for c in conditions if not c.pretrains and not c.checkpoint]
        if len(plain) == 1:
            return plain[0]
        if conditions:
            self.problem(
                "control",
                f"give 'control', the condition the others are compared with, such as "
                f'control = "{(plain or names)[0]}": '
                + (
                    "no condition is without pretraining"
                    + (" and a checkpoint" if any(c.checkpoint for c in conditions) else "")
                    if not plain
                    else f"several are without pretraining: {', '.join(plain)}"
                ),
            )
        return None

    def task_checks(
        self, configs: dict[str, Any], models: list[Selection], conditions: list[Condition]
    ) -> None:
        """The target task against what each model can learn, and the settings
        that only a classify task reads, for each condition's resolved settings
        (a problem every condition shares is reported once)."""
        if not {"features", "splits", "target"} <= configs.keys():
            return
        found: list[tuple[str, str]] = []
        each: list[Condition | None] = [*conditions] or [None]
        for i, condition in enumerate(each):
            target, features = configs["target"], configs["features"]
            if condition is not None:
                target = resolved(target, condition.target)
                features = resolved(features, condition.features)
            problems = [
                *self._task_problems(target, features, configs["splits"], models, conditions)
            ]
            for key, message in self.label_problems(target, self.dataset):
                if condition is not None and "label" in condition.target:
                    key = f"conditions[{i}].target.label"
                problems.append((key, message))
            for problem in problems:
                if problem not in found:
                    found.append(problem)
        self.problems += found

    def group_checks(
        self, configs: dict[str, Any], models: list[Selection], conditions: list[Condition]
    ) -> None:
        """The parameter groups ``[training]`` names (``lr_groups``, ``freeze``) against
        those each model declares (``Component.groups``), at the suite's keys and at
        each condition's ``training`` table that sets them."""
        if "training" not in configs:
            return
        given = [("training", configs["training"])]
        index = {table.get("name"): i for i, table in enumerate(self.array("conditions"))}
        for condition in conditions:
            # a condition's valid overrides only (conditions() reported the others)
            if {"lr_groups", "freeze"} & condition.training.keys():
                where = f"conditions[{index[condition.name]}].training"
                given.append((where, resolved(configs["training"], condition.training)))
        for where, training in given:
            for key in ("lr_groups", "freeze"):
                names = list(getattr(training, key))
                inherited = where != "training" and names == list(getattr(configs["training"], key))
                if not names or inherited:  # the suite's own value is checked at its key
                    continue
                for j, model in enumerate(self.array("models")):
                    selection = next((m for m in models if m.plugin == model.get("plugin")), None)
                    if selection is None:
                        continue
                    declared = list(self.registry.get("model", selection.plugin).groups)
                    unknown = [n for n in names if n not in declared]
                    if not unknown:
                        continue
                    has = (f"its groups: {', '.join(declared)}" if declared
                           else "it declares no parameter groups")  # fmt: skip
                    self.problem(f"{where}.{key}", f"the model {selection.plugin!r} "
                                 f"(models[{j}]) has no parameter group {unknown[0]!r}; {has}")  # fmt: skip

    def label_problems(
        self, target: TargetConfig, dataset: Selection | None
    ) -> Iterator[tuple[str, str]]:
        """A classify target's label that the dataset's clips do not carry, naming the
        labels the dataset declares (``Component.provided_labels`` with its settings)."""
        if dataset is None or not target.classify:
            return
        component = self.registry.get("dataset", dataset.plugin)
        provided = component.provided_labels(dataset.params)
        if target.label not in provided:
            yield "target.label", (f"the dataset {dataset.plugin!r} does not provide the label "
                                   f"{target.label!r}; it provides: {', '.join(provided)}")  # fmt: skip

    def _task_problems(
        self,
        target: TargetConfig,
        features: FeatureConfig,
        splits: SplitConfig,
        models: list[Selection],
        conditions: list[Condition],
    ) -> Iterator[tuple[str, str]]:
        for i, model in enumerate(self.array("models")):
            selection = next((m for m in models if m.plugin == model.get("plugin")), None)
            if selection is None:
                continue
            component = self.registry.get("model", selection.plugin)
            tasks = list(component.tasks)
            where = f"models[{i}].plugin"
            if component.input == "waveform" and features.silence != "keep":
                yield "features.silence", (f"{selection.plugin!r} reads the waveform, not feature "
                                           f"frames, so silence = {features.silence!r} has no frames "
                                           "to act on; use 'keep'")  # fmt: skip
            own = [t for t in tasks if t != CLASSIFY] if tasks else ["its own loss"]
            for j, condition in enumerate(conditions):
                if condition.self_supervised and condition.pretrains and not own:
                    yield f"conditions[{j}].pretrain_objective", (
                        f"'self_supervised' pretrains on the model's own loss, and "
                        f"{selection.plugin!r} has none (it learns: "
                        f"{', '.join(repr(t) for t in tasks)}); use 'task' or a model with its "
                        "own objective, such as wav2vec2")  # fmt: skip
            if target.task is None and tasks and tasks[0] == CLASSIFY:
                yield where, (f"{selection.plugin!r} learns the task 'classify' only: "
                              "set [target] task = 'classify' (and its label)")  # fmt: skip
            elif target.task is not None and target.task not in tasks:
                can = (
                    ", ".join(repr(t) for t in tasks)
                    or "its own objective only (no tasks declared)"
                )
                yield where, (f"{selection.plugin!r} cannot learn the task {target.task!r} "
                              f"(target.task); it learns: {can}")  # fmt: skip
        unknown = sorted(set(splits.train_speakers_by_language) - set(target.target_languages))
        if unknown:
            yield "splits.train_speakers_by_language", (f"{unknown} are not target languages; the "
                                                        f"target languages are {list(target.target_languages)}")  # fmt: skip
        if features.silence in ("mask", "label") and not target.classify:
            yield "features.silence", (f"{features.silence!r} acts on a classify task's loss; with "
                                       "a model's own objective use 'keep' or 'remove'")  # fmt: skip
        if target.classify and target.label == "language":
            for i, condition in enumerate(conditions):
                if (
                    condition.pretrains
                    and not condition.self_supervised
                    and condition.language not in target.target_languages
                ):
                    yield f"conditions[{i}].language", (
                        f"{condition.language!r} is not one of the classes (target.languages "
                        f"{list(target.target_languages)}): a classify task pretrains on the same "
                        "task, so pretraining clips must be labelled with a class")  # fmt: skip

    def component_checks(
        self, configs: dict[str, Any], conditions: list[Condition], cache_dir: Path
    ) -> None:
        """Each component's own rules, once the sections they may read are valid.

        A check sees the settings of each condition (its sample rate, target
        task and language...): a condition's filter its own condition's, every
        other component each distinct context once. A problem that only some
        conditions' settings raise names them.
        """
        if not {"features", "splits", "target"} <= configs.keys():
            return
        target, splits = configs["target"], configs["splits"]
        suite_wide = ValidationContext(
            configs["features"].sample_rate,
            target.language,
            suite_languages(target, splits, conditions),
            tuple(splits.probe_languages),
            splits.probe_speakers,
            roles=suite_roles(target, splits, conditions),
            probe_clips=splits.probe_clips_per_language,
            cache_dir=cache_dir,
            task=target.task,
            label=target.label,
            silence=configs["features"].silence,
        )

        def context(condition: Condition) -> ValidationContext:
            features = resolved(configs["features"], condition.features)
            aim = resolved(target, condition.target)
            return replace(suite_wide, sample_rate=features.sample_rate, target_language=aim.language,
                           task=aim.task, label=aim.label, silence=features.silence)  # fmt: skip

        contexts = {c.name: context(c) for c in conditions}
        distinct: list[ValidationContext] = []
        for each in contexts.values() or [suite_wide]:
            if each not in distinct:  # contexts hold dicts: compared, not hashed
                distinct.append(each)
        for check, params, where in self.checks:
            owner = self.filter_of.get(where)
            found: dict[tuple[str, str], list[ValidationContext]] = {}
            for each in [contexts[owner.name]] if owner else distinct:
                for key, message in check(params, each):
                    found.setdefault((key, message), []).append(each)
            for (key, message), raised_in in found.items():
                if owner is None and len(raised_in) < len(distinct):
                    names = [name for name, c in contexts.items() if c in raised_in]
                    message += f" (in {'condition' if len(names) == 1 else 'conditions'} "
                    message += f"{', '.join(names)})"
                self.problem(f"{where}.{key}" if key else where, message)
