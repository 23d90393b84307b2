"""Validation of a whole suite file: :class:`Validator` reads the top-level
keys and the sections, then each part in a fixed order (dataset, executor,
conditions, models, extractors, probes, control, then the rules that relate
them and the components' own checks) and returns the :class:`Suite`, or raises
:class:`SuiteError` with every problem at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.plugin.components import did_you_mean, resolve_params
from harness.spec.config import SECTIONS, TOP_PARAMS, default_cache_dir, section_params
from harness.spec.suite_types import (
    MAX_SEEDS,
    MIN_SEEDS,
    SPENDING,
    SeedSchedule,
    Suite,
    SuiteError,
)
from harness.spec.validate_components import ComponentRules
from harness.spec.validate_conditions import ConditionRules
from harness.spec.validate_tables import ARRAYS, TABLES
from harness.spec.validate_tasks import TaskRules


class Validator(ConditionRules, TaskRules, ComponentRules):
    """Validates one parsed suite file; :meth:`build` once."""

    def build(self, output: str | Path | None) -> Suite:
        top = self.top_level()
        seeds = self.seeds(top)
        configs = self.sections()
        dataset = self.select("dataset", self.table("dataset"), "dataset")
        executor = self.select("executor", self.table("executor"), "executor", default=True)
        conditions = self.conditions(configs)
        models = self.selections("models", required=True)
        self.checkpoint_labels(models)
        extractors = self.selections("extractors")
        probes = self.selections("probes")
        self.probing_checks(configs, extractors, probes)
        probing = self.probing(configs, probes, models)
        control = self.control(top.get("control", ""), conditions)
        self.dataset = dataset
        self.alignment_checks(probes)
        self.task_checks(configs, models, conditions)
        self.group_checks(configs, models, conditions)
        self.component_checks(configs, conditions, default_cache_dir(top.get("cache") or ""))
        self.checkpoint_fits(configs, models, conditions)

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
            equivalence_ratio=float(top["equivalence_ratio"]),
            equivalence_score=float(top["equivalence_score"]),
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
            sequential=self.schedule,
            probing=probing,
        )

    def top_level(self) -> dict[str, Any]:
        """The top-level keys resolved (a count of seeds as a list); unknown keys reported."""
        top_names = {p.name for p in TOP_PARAMS}
        valid = sorted(top_names | set(TABLES) | set(ARRAYS))
        for key in self.data:
            if key not in valid:
                self.problem(
                    key, f"unknown key{did_you_mean(key, valid)}; valid keys: {', '.join(valid)}"
                )
        top_given = {k: v for k, v in self.data.items() if k in top_names}
        if isinstance(top_given.get("seeds"), dict):
            self.schedule = self.seed_schedule(top_given["seeds"])
            top_given["seeds"] = list(range(self.schedule.max if self.schedule else 1))
        if isinstance(top_given.get("seeds"), int) and not isinstance(top_given["seeds"], bool):
            count = top_given["seeds"]
            if count < 1:
                self.problem("seeds", f"expected a count >= 1 or a list of seeds, got {count}")
            top_given["seeds"] = list(range(max(count, 1)))
        if "seeds" in top_given and not isinstance(top_given["seeds"], list):
            self.problem(
                "seeds",
                f"expected a count >= 1, a list of integers or a table such as "
                f"{{ min = 6, max = 40, step = 2 }}, got {top_given.pop('seeds')!r}",
            )
        top, problems = resolve_params(TOP_PARAMS, top_given, "")
        self.problems += problems
        self.check_name("name", top.get("name"))
        return top

    schedule: SeedSchedule | None = None

    def seed_schedule(self, table: dict[str, Any]) -> SeedSchedule | None:
        """``seeds = { min = 6, max = 40, step = 2 }`` checked: whole numbers,
        ``MIN_SEEDS <= min <= max <= MAX_SEEDS``, ``step >= 1``, a known
        ``spending``; None (with the problems) when it is not valid."""
        known = ("min", "max", "step", "spending")
        for key in table:
            if key not in known:
                self.problem(f"seeds.{key}", f"unknown key{did_you_mean(key, list(known))}; "
                             f"valid keys: {', '.join(known)}")  # fmt: skip
        values: dict[str, Any] = {"step": 2, "spending": SPENDING[0], **table}
        before = len(self.problems)
        for key in ("min", "max", "step"):
            value = values.get(key)
            if value is None:
                self.problem(f"seeds.{key}", f"missing; write seeds = {{ min = {MIN_SEEDS}, "
                             "max = 40, step = 2 }")  # fmt: skip
            elif not isinstance(value, int) or isinstance(value, bool):
                self.problem(f"seeds.{key}", f"expected a whole number, got {value!r}")
        if values["spending"] not in SPENDING:
            self.problem("seeds.spending", f"expected one of {', '.join(SPENDING)}, "
                         f"got {values['spending']!r}")  # fmt: skip
        if len(self.problems) > before:
            return None
        low, high, step = values["min"], values["max"], values["step"]
        if low < MIN_SEEDS:
            self.problem("seeds.min", f"expected at least {MIN_SEEDS}, got {low}: with fewer "
                         "seed pairs the exact signed-rank test cannot reach p < 0.05 at all")  # fmt: skip
        if high < low:
            self.problem("seeds.max", f"expected at least seeds.min ({low}), got {high}")
        if high > MAX_SEEDS:
            self.problem("seeds.max", f"expected at most {MAX_SEEDS}, got {high}: beyond that "
                         "the report's signed-rank test is no longer exact")  # fmt: skip
        if step < 1:
            self.problem("seeds.step", f"expected at least 1, got {step}")
        if len(self.problems) > before:
            return None
        return SeedSchedule(low, high, step, values["spending"])

    def seeds(self, top: dict[str, Any]) -> Any:
        """The seeds, checked: distinct, at least one, none negative."""
        seeds = top.get("seeds") or []
        if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
            self.problem("seeds", f"seeds must be distinct, got {seeds}")
        if top.get("seeds") == []:
            self.problem(
                "seeds",
                "expected at least one seed, got []; write a count such as "
                "seeds = 3 or a list such as seeds = [0, 1, 2]",
            )
        negative = (
            [s for s in seeds if isinstance(s, int) and s < 0] if isinstance(seeds, list) else []
        )
        if negative:
            self.problem("seeds", f"expected seeds >= 0, got {negative[0]} in {seeds}")
        return seeds

    def sections(self) -> dict[str, Any]:
        """The core sections that are valid, each as its dataclass; the rules
        relating a section's fields are checked once each field is valid."""
        configs: dict[str, Any] = {}
        for key, cls in SECTIONS.items():
            values, problems = resolve_params(section_params(cls), self.table(key) or {}, key)
            self.problems += problems
            if not problems:
                configs[key] = cls(**values)
                self.problems += [(f"{key}.{k}", m) for k, m in configs[key].problems()]
        training, target = configs.get("training"), configs.get("target")
        if training is not None and target is not None and training.warmup_steps > target.max_steps:
            self.problem(
                "training.warmup_steps",
                f"expected at most target.max_steps ({target.max_steps}), got "
                f"{training.warmup_steps}: the learning rate would never reach its full "
                "value in target training",
            )
        return configs
