"""The components' own checks (``Component.check``), run once the sections
they may read are valid, with the settings of each condition: a condition's
filter sees its own condition's, every other component each distinct context
once, and a problem only some conditions raise names them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.plugin.components import ValidationContext
from harness.spec.suite_types import Condition, resolved, suite_languages, suite_roles
from harness.spec.validate_tables import Reader


class ComponentRules(Reader):
    """Runs the checks the :class:`Reader` collected."""

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
            return replace(
                suite_wide,
                sample_rate=features.sample_rate,
                target_language=aim.language,
                task=aim.task,
                label=aim.label,
                silence=features.silence,
            )

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
