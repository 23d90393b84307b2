"""The rules that relate a suite's sections to its models and dataset: the
target task against what each model can learn and the settings only a
classify task reads (for each condition's resolved settings), the label a
classify task predicts against the dataset's labels, the parameter groups
[training] names against each model's, probes against probe languages, and
a probe that needs phone alignments against the dataset's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from harness.plugin.components import did_you_mean
from harness.plugin.selection import Selection
from harness.spec.config import CLASSIFY, FeatureConfig, SplitConfig, TargetConfig
from harness.spec.probing import PROBING_PARAMS, Probing, along_problems, probe_at_problems
from harness.spec.sections import GROUP_KEYS
from harness.spec.suite_types import Condition, ConditionStage, resolved
from harness.spec.validate_tables import Reader


class TaskRules(Reader):
    """Checks of the task, labels, parameter groups and probing."""

    def probing_checks(
        self, configs: dict[str, Any], extractors: list[Selection], probes: list[Selection]
    ) -> None:
        """Probes need probe languages; a suite without probes needs none (``probes = []``)."""
        splits = configs.get("splits")
        if splits is None:
            return
        if probes and not splits.probe_languages:
            self.problem(
                "splits.probe_languages",
                "expected at least two languages for the probes "
                "to separate; a suite that probes nothing says probes = []",
            )
        if not probes and "probes" in self.data and extractors and "extractors" in self.data:
            self.problem(
                "extractors",
                "latents are extracted for the probes, and probes = [] "
                "asks for none: remove [[extractors]] or add [[probes]]",
            )

    def alignment_checks(self, probes: list[Selection]) -> None:
        """A probe that needs phone tiers (``Component.alignments``) with a dataset
        whose clips, with the suite's settings, carry none."""
        dataset = self.dataset
        if dataset is None or not probes:
            return
        if self.registry.get("dataset", dataset.plugin).provides_alignments(dataset.params):
            return
        # only named probes can need them: left out, [[probes]] implies none that do
        valid = {s.plugin for s in probes}
        for i, table in enumerate(self.array("probes")):
            name = table.get("plugin")
            if name in valid and self.registry.get("probe", name).alignments:
                self.problem(
                    f"probes[{i}].plugin",
                    f"probe {name!r} needs phone alignments; dataset {dataset.plugin!r} "
                    f"has none; datasets with alignments: {self._aligned_datasets()}",
                )

    def _aligned_datasets(self) -> str:
        names = []
        for name in self.registry.names("dataset"):
            param = self.registry.get("dataset", name).alignments
            if param:
                names.append(f"{name} (with {param} = ...)" if isinstance(param, str) else name)
        return ", ".join(names) or "none installed"

    def probing(
        self, configs: dict[str, Any], probes: list[Selection], models: Sequence[Selection] = ()
    ) -> Probing:
        """[probing]: the probe clips' filter (a filter plugin, checked as a
        condition's is), the groups of probe languages and the steps to probe at
        along training (within every model's budget)."""
        table = self.table("probing") or {}
        valid = [p.name for p in PROBING_PARAMS]
        for key in table.keys() - set(valid):
            self.problem(
                f"probing.{key}",
                f"unknown key{did_you_mean(key, valid)}; valid keys: {', '.join(valid)}",
            )
        given = table.get("groups", {})
        if not isinstance(given, dict):
            self.problem(
                "probing.groups",
                "expected a table of lists of probe languages, such as "
                f"{{stress = ['en', 'nl'], mora = ['ja']}}, got {given!r}",
            )
            given = {}
        selection = None
        if "filter" in table:
            selection = self.select("pretrain_filter", table["filter"], "probing.filter")
            if not probes and "probes" in self.data:
                self.problem(
                    "probing.filter",
                    "filters the probe clips, and probes = [] asks for no probes: "
                    "remove it or add [[probes]]",
                )
        pairs = table.get("pairs", False)
        if not isinstance(pairs, bool):
            self.problem("probing.pairs", f"expected true or false, got {pairs!r}")
        splits = configs.get("splits")
        languages = list(splits.probe_languages) if splits is not None else []
        groups = self._probe_groups(given, languages)
        probe_at = self._probe_at(table, configs, probes, models)
        along = list(along_problems(table, probes, self._runs_along))
        self.problems += along
        given = table.get("probe_at_probes") if probe_at and not along else None
        return Probing(
            filter=selection,
            pairs=pairs is True or bool(groups),
            groups=groups,
            probe_at=probe_at,
            probe_at_probes=tuple(given) if given is not None else None,
        )

    def _runs_along(self, probe: Selection) -> bool:
        return self.registry.get("probe", probe.plugin).along_training

    def _probe_at(
        self,
        table: dict[str, Any],
        configs: dict[str, Any],
        probes: list[Selection],
        models: Sequence[Selection],
    ) -> tuple[int | float, ...]:
        """``probe_at`` as given, when valid (:func:`probe_at_problems`), else ()."""
        if "probe_at" not in table:
            return ()
        given = table["probe_at"]
        budgets = {}
        if configs.get("target") is not None:
            budgets["target.max_steps"] = configs["target"].max_steps
        for i, model in enumerate(models):
            if "max_steps" in model.target:
                budgets[f"models[{i}].max_steps"] = model.target["max_steps"]
        found = list(probe_at_problems(given, budgets))
        if given and not probes and "probes" in self.data:
            found.append(
                ("probing.probe_at", "probes along training, and probes = [] asks for no "
                 "probes: remove it or add [[probes]]")
            )  # fmt: skip
        self.problems += found
        return () if found else tuple(given)

    def _probe_groups(
        self, given: dict[str, Any], languages: list[str]
    ) -> dict[str, tuple[str, ...]]:
        """Each group a list of distinct probe languages, no language in two groups,
        at least two groups and one with two languages (a pair within)."""
        groups: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for name, members in given.items():
            where = f"probing.groups.{name}"
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                self.problem(where, f"expected a list of language codes, got {members!r}")
                continue
            for lang in members:
                if lang not in languages:
                    self.problem(
                        where,
                        f"{lang!r} is not a probe language{did_you_mean(lang, languages)}; "
                        f"splits.probe_languages: {', '.join(languages) or 'none'}",
                    )
                elif lang in owner:
                    self.problem(where, f"{lang!r} is in group {owner[lang]!r} already")
                owner.setdefault(lang, name)
            groups[name] = tuple(dict.fromkeys(members))
        if groups and (len(groups) < 2 or all(len(m) < 2 for m in groups.values())):
            self.problem(
                "probing.groups",
                "expected at least two groups, one of them with two languages or more: "
                "the test compares pairs within a group with pairs across groups",
            )
        return groups

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
            if set(GROUP_KEYS) & condition.training.keys():
                where = f"conditions[{index[condition.name]}].training"
                given.append((where, resolved(configs["training"], condition.training)))
        for where, training in given:
            for key in GROUP_KEYS:
                names = list(getattr(training, key))
                inherited = where != "training" and names == list(getattr(configs["training"], key))
                if not names or inherited:  # the suite's own value is checked at its key
                    continue
                for j, selection in self.model_entries(models):
                    declared = list(self.registry.get("model", selection.plugin).groups)
                    unknown = [n for n in names if n not in declared]
                    if not unknown:
                        continue
                    has = (
                        f"its groups: {', '.join(declared)}"
                        if declared
                        else "it declares no parameter groups"
                    )
                    self.problem(
                        f"{where}.{key}",
                        f"the model {selection.plugin!r} "
                        f"(models[{j}]) has no parameter group {unknown[0]!r}; {has}",
                    )

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
            yield (
                "target.label",
                f"the dataset {dataset.plugin!r} does not provide the label "
                f"{target.label!r}; it provides: {', '.join(provided)}",
            )

    def _task_problems(
        self,
        target: TargetConfig,
        features: FeatureConfig,
        splits: SplitConfig,
        models: list[Selection],
        conditions: list[Condition],
    ) -> Iterator[tuple[str, str]]:
        for i, selection in self.model_entries(models):
            yield from self._model_problems(target, features, selection, i, conditions)
        unknown = sorted(set(splits.train_speakers_by_language) - set(target.target_languages))
        if unknown:
            yield (
                "splits.train_speakers_by_language",
                f"{unknown} are not target languages; the "
                f"target languages are {list(target.target_languages)}",
            )
        if features.silence_in_loss and not target.classify:
            yield (
                "features.silence",
                f"{features.silence!r} acts on a classify task's loss; with "
                "a model's own objective use 'keep' or 'remove'",
            )
        if target.classify and target.label == "language":
            for where, stage in _stages(conditions):
                if not stage.self_supervised and stage.language not in target.target_languages:
                    yield (
                        f"{where}language",
                        f"{stage.language!r} is not one of the classes (target.languages "
                        f"{list(target.target_languages)}): a classify task pretrains on the "
                        "same task, so pretraining clips must be labelled with a class",
                    )

    def _model_problems(
        self,
        target: TargetConfig,
        features: FeatureConfig,
        selection: Selection,
        i: int,
        conditions: list[Condition],
    ) -> Iterator[tuple[str, str]]:
        """What ``models[i]`` cannot do with these settings: its input, its task."""
        component = self.registry.get("model", selection.plugin)
        tasks = list(component.tasks)
        where = f"models[{i}].plugin"
        if component.input == "waveform" and features.silence != "keep":
            yield (
                "features.silence",
                f"{selection.plugin!r} reads the waveform, not feature "
                f"frames, so silence = {features.silence!r} has no frames "
                "to act on; use 'keep'",
            )
        own = [t for t in tasks if t != CLASSIFY] if tasks else ["its own loss"]
        for at, stage in _stages(conditions):
            if stage.self_supervised and not own:
                key = "objective" if ".stages[" in at else "pretrain_objective"
                yield (
                    f"{at}{key}",
                    f"'self_supervised' pretrains on the model's own loss, and "
                    f"{selection.plugin!r} has none (it learns: "
                    f"{', '.join(repr(t) for t in tasks)}); use 'task' or a model with its "
                    "own objective, such as wav2vec2",
                )
        if target.task is None and tasks and tasks[0] == CLASSIFY:
            yield (
                where,
                f"{selection.plugin!r} learns the task 'classify' only: "
                "set [target] task = 'classify' (and its label)",
            )
        elif target.task is not None and target.task not in tasks:
            can = ", ".join(repr(t) for t in tasks) or "its own objective only (no tasks declared)"
            yield (
                where,
                f"{selection.plugin!r} cannot learn the task {target.task!r} "
                f"(target.task); it learns: {can}",
            )


def _stages(conditions: list[Condition]) -> Iterator[tuple[str, ConditionStage]]:
    """Each stage a condition pretrains with and where its keys are:
    ``conditions[i].`` (its own keys) or ``conditions[i].stages[k].``."""
    for i, condition in enumerate(conditions):
        for k, stage in enumerate(condition.curriculum):
            at = f"conditions[{i}].stages[{k}]." if condition.stages else f"conditions[{i}]."
            yield at, stage
