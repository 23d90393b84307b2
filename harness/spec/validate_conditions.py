"""The rules of a suite's [[conditions]]: each entry's keys, its filter and
checkpoint, its curriculum's [[conditions.stages]] (each stage with the rules a
condition's own language, filter, epochs or steps and objective have), its override tables of [features], [training] and [target] (each
checked as the section checks it, then with the section's rules), the
sections no condition may override, and which condition is the control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from harness.plugin.components import did_you_mean, resolve_params
from harness.spec.config import (
    CONDITION_PARAMS,
    CONDITION_SECTIONS,
    FIXED_SECTIONS,
    SECTIONS,
    STAGE_KEYS_OF_CONDITION,
    STAGE_PARAMS,
    section_params,
)
from harness.spec.suite_types import Condition, ConditionStage, resolved
from harness.spec.validate_tables import Reader

#: what a condition's override table of each section looks like, for messages
_EXAMPLES = {
    "features": "{sample_rate = 8000}",
    "training": "{lr = 0.01}",
    "target": "{class_weights = 'balanced'}",
}


class ConditionRules(Reader):
    """Reads [[conditions]] and the control."""

    def conditions(self, configs: Mapping[str, Any]) -> list[Condition]:
        """The [[conditions]]; ``configs``: the suite's sections that are valid."""
        out = []
        tables = self.array("conditions")
        if not tables:
            self.problem(
                "conditions", "missing required [[conditions]]: at least a no-pretraining control"
            )
        for i, table in enumerate(tables):
            condition = self.condition(table, configs, f"conditions[{i}]")
            if condition is not None:
                out.append(condition)
        names = [c.name for c in out]
        for dup in {n for n in names if names.count(n) > 1}:
            self.problem("conditions", f"two conditions are named {dup!r}")
        return out

    def condition(
        self, table: dict[str, Any], configs: Mapping[str, Any], where: str
    ) -> Condition | None:
        """One [[conditions]] entry at ``where``, or None when it cannot be built."""
        for key in FIXED_SECTIONS.keys() & table.keys():
            self.problem(
                f"{where}.{key}",
                f"a condition cannot override [{key}]: "
                f"{FIXED_SECTIONS[key]}; set it once for the suite",
            )
        overrides: dict[str, Any] = {
            section: self.overrides(section, table[section], configs, f"{where}.{section}")
            for section in CONDITION_SECTIONS
            if section in table
        }
        skip = {"filter", "checkpoint", "stages", *CONDITION_SECTIONS, *FIXED_SECTIONS}
        given = {k: v for k, v in table.items() if k not in skip}
        values, problems = resolve_params(CONDITION_PARAMS, given, where)
        self.problems += problems
        flt = self.select("pretrain_filter", table.get("filter", {}), f"{where}.filter", True)
        checkpoint = self.condition_checkpoint(table.get("checkpoint", ""), f"{where}.checkpoint")
        stages = self.curriculum(table, where)
        name = values.get("name")
        self.check_name(f"{where}.name", name)
        if flt is None or not isinstance(name, str) or stages is None:
            return None
        if problems:
            self.unsure_conditions.add(name)
        if stages:
            return self.staged(name, values, stages, checkpoint, overrides, where)
        language = values.get("language") or None
        if language is None and not self.registry.get(flt.kind, flt.plugin).default:
            self.problem(
                f"{where}.filter",
                "a condition without 'language' pretrains on "
                "nothing, so a filter has no effect; remove it or add a language",
            )
        if "epochs" in given and values.get("pretrain_steps"):
            self.problem(
                f"{where}.pretrain_steps",
                "give either epochs or pretrain_steps: "
                "a condition pretrains for a number of passes or of steps",
            )
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
        return condition

    def curriculum(self, table: dict[str, Any], where: str) -> list[ConditionStage] | None:
        """The condition's ``[[conditions.stages]]``, each read as a stage; []
        without them, None where one cannot be built (its problem reported)."""
        if "stages" not in table:
            return []
        both = [k for k in STAGE_KEYS_OF_CONDITION if k in table]
        for key in both:
            self.problem(
                f"{where}.{key}",
                f"a condition has either 'stages' or its own '{key}', not both: "
                f"move {key} into each [[conditions.stages]] table of {where}.stages",
            )
        tables = table["stages"]
        if isinstance(tables, dict):
            tables = [tables]
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            self.problem(
                f"{where}.stages",
                "expected an array of tables [[conditions.stages]], each with its language, "
                f"filter and epochs, got {tables!r}",
            )
            return None
        if not tables:
            self.problem(
                f"{where}.stages",
                "a curriculum needs at least one [[conditions.stages]] table; for no "
                "pretraining leave 'stages' and 'language' out",
            )
            return None
        stages = [self.stage(t, f"{where}.stages[{k}]", k) for k, t in enumerate(tables)]
        if both or any(s is None for s in stages):
            return None
        return [s for s in stages if s is not None]

    def stage(self, table: dict[str, Any], where: str, index: int) -> ConditionStage | None:
        """One [[conditions.stages]] table, with the rules a condition's own keys have."""
        given = {k: v for k, v in table.items() if k != "filter"}
        values, problems = resolve_params(STAGE_PARAMS, given, where)
        self.problems += problems
        flt = self.select("pretrain_filter", table.get("filter", {}), f"{where}.filter", True)
        if "epochs" in given and values.get("steps"):
            self.problem(
                f"{where}.steps",
                "give either epochs or steps: a stage pretrains for a number of passes or of steps",
            )
            return None
        if index == 0 and values.get("reset_optimizer"):
            self.problem(
                f"{where}.reset_optimizer",
                "the first stage starts with a fresh optimiser anyway; reset_optimizer "
                "belongs to a later stage",
            )
            return None
        if flt is None or problems:
            return None
        return ConditionStage(
            values["language"],
            flt,
            values["epochs"],
            values["steps"],
            values["objective"],
            values["reset_optimizer"],
        )

    def staged(
        self,
        name: str,
        values: Mapping[str, Any],
        stages: list[ConditionStage],
        checkpoint: dict[str, Any],
        overrides: dict[str, Any],
        where: str,
    ) -> Condition:
        """A condition written as a curriculum; one stage becomes the condition's
        own keys, so it is (and its run ids are) the condition written without
        stages."""
        label = values["label"] or name
        if len(stages) == 1:
            (one,) = stages
            condition = Condition(
                name, label, one.language, one.filter, one.epochs, checkpoint=checkpoint,
                **overrides, pretrain_steps=one.pretrain_steps,
                pretrain_objective=one.pretrain_objective,
            )  # fmt: skip
        else:
            condition = Condition(
                name, label, None, stages[0].filter, 0, checkpoint=checkpoint, **overrides,
                stages=tuple(stages),
            )  # fmt: skip
        for k in range(len(stages)):
            self.filter_of[f"{where}.stages[{k}].filter"] = condition
        return condition

    def overrides(
        self, section: str, given: Any, configs: Mapping[str, Any], where: str
    ) -> dict[str, Any]:
        """A condition's table of ``section`` keys, each checked as [section]
        checks it, then the section's rules on the suite's section with them
        (the suite's own problems are reported at the section already)."""
        if not isinstance(given, dict):
            self.problem(
                where,
                f"expected a table of [{section}] keys, such as "
                f"{_EXAMPLES[section]}, got {given!r}",
            )
            return {}
        fixed = CONDITION_SECTIONS[section]
        for key in fixed:
            if key in given:
                self.problem(
                    f"{where}.{key}",
                    "cannot differ between conditions: conditions are "
                    "compared by the time to one event on one budget and evaluation "
                    "grid; set it in [target] (threshold and max_steps also per model "
                    "in [[models]])",
                )
        # required keys of the section are given by it: none is missing here
        params = [
            replace(p, default=None)
            for p in section_params(SECTIONS[section])
            if p.name not in fixed
        ]
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
                self.problem(
                    "control",
                    f"no condition named {given!r}{did_you_mean(given, names)}; "
                    f"conditions: {', '.join(names)}",
                )
            return given
        # a condition that starts from its own checkpoint is not the scratch control
        plain = [c.name for c in conditions if not c.pretrains and not c.checkpoint]
        if len(plain) == 1:
            return plain[0]
        # a condition whose own keys are wrong may or may not pretrain: its problem
        # is reported, and guessing the control from it would add a wrong one
        if conditions and not self.unsure_conditions & set(names):
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
