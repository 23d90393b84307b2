"""The components' own checks (``Component.check``), run once the sections
they may read are valid, with the settings of each condition: a condition's
filter sees its own condition's, every other component each distinct context
once, and a problem only some conditions raise names them. Then each
checkpoint is loaded into the model it starts, built as the runs will build
it, so a checkpoint of another shape is a located problem before any run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.plugin.components import ValidationContext
from harness.plugin.selection import Selection
from harness.spec.checkpoints import Checkpoint, CheckpointError, apply_checkpoint, read_checkpoint
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

    def checkpoint_fits(
        self, configs: dict[str, Any], models: list[Selection], conditions: list[Condition]
    ) -> None:
        """Each checkpoint loaded into the model it starts, built with the settings
        of each condition it starts in (features, segment or crop length), as the
        runs will: a tensor of another shape (or none the model has) is found here,
        not when the runs start. A suite without checkpoints imports no torch."""
        if not {"features", "target", "training"} <= configs.keys():
            return
        seen: set[tuple[Any, ...]] = set()
        for checkpoint, model, condition in _starts(models, conditions):
            features, training, target = configs["features"], configs["training"], configs["target"]
            if condition is not None:
                features = resolved(features, condition.features)
                training = resolved(training, condition.training)
                target = resolved(target, condition.target)
            classify = target.classify
            if self.registry.get("model", model.plugin).input == "waveform":
                n_features, length = 1, training.crop_samples(features.sample_rate)
            else:
                n_features = features.n_mfcc if features.kind == "mfcc" else features.n_mels
                length = training.segment_frames
            key = (checkpoint.where, checkpoint.sha256, model.label, n_features, length, classify)
            if key in seen:
                continue
            seen.add(key)
            found = fit_problem(
                self.registry.create(model), checkpoint, model.label, n_features, length, classify
            )
            if found is not None:
                self.problem(checkpoint.where, found)


def _starts(
    models: list[Selection], conditions: list[Condition]
) -> list[tuple[Checkpoint, Selection, Condition | None]]:
    """Every (checkpoint, model, condition) a run starts from: a model's own
    checkpoint with the suite's settings (the untrained reference starts from it
    in every condition), each condition's with the condition's."""
    out: list[tuple[Checkpoint, Selection, Condition | None]] = []
    for model in models:
        if model.checkpoint is not None:
            out.append((model.checkpoint, model, None))
        for condition in conditions:
            checkpoint = condition.checkpoint_for(model)
            if checkpoint is not None:
                out.append((checkpoint, model, condition))
    return out


def fit_problem(
    model: Any, checkpoint: Checkpoint, label: str, n_features: int, length: int, classify: bool
) -> str | None:
    """Why ``checkpoint`` would not load into ``model`` (a model plugin's object)
    built as a suite builds it (``n_features``, ``length`` frames or samples);
    None when it loads. ``harness validate`` asks this, so a checkpoint of another
    shape is found before any run. A classify task's number of classes comes
    from the data: tensors whose shape follows it (a head) are left out here."""
    try:
        state = read_checkpoint(checkpoint)
        if classify:
            module = model.build(n_features, length, n_classes=2)
            other = model.build(n_features, length, n_classes=3).state_dict()
            follows = {k for k, v in module.state_dict().items() if other[k].shape != v.shape}
            state = {k: v for k, v in state.items() if k not in follows}
        else:
            module = model.build(n_features, length)
    except CheckpointError as exc:
        return exc.message
    except Exception:  # a build that fails here fails its runs, which say why
        return None
    try:
        apply_checkpoint(model, module, state, label, checkpoint.where)
    except Exception as exc:  # the loader's or a model hook's refusal
        message = exc.message if isinstance(exc, CheckpointError) else str(exc)
        return f"{checkpoint.path} does not fit model {label!r} as this suite builds it: {message}"
    return None
