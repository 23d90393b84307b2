"""The suite file's tables and plugin selections, read for validation:
:class:`Reader` holds what a validation collects (every problem with its key
path, the components' own checks to run later) and reads tables, arrays of
tables, ``plugin = ...`` selections with their parameters, and checkpoints.
The rules over what it read are in :mod:`harness.spec.validate_conditions`,
:mod:`harness.spec.validate_tasks` and :mod:`harness.spec.validate_components`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.plugin.components import Check, did_you_mean, resolve_params
from harness.plugin.registry import PluginError, Registry, UnknownComponent
from harness.plugin.selection import Selection
from harness.spec.checkpoints import Checkpoint, CheckpointError, inspect_checkpoint
from harness.spec.config import TargetConfig, section_params
from harness.spec.suite_types import EVERY_MODEL, MODEL_TARGET_KEYS, Condition

#: what a suite's and a condition's name may hold
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TABLES = ("dataset", "features", "splits", "target", "training", "executor", "probing")
ARRAYS = ("conditions", "models", "extractors", "probes")
SECTION_KINDS = {
    "dataset": "dataset",
    "executor": "executor",
    "models": "model",
    "extractors": "latent_extractor",
    "probes": "probe",
}


class Reader:
    """Reads a suite file's parsed TOML, collecting every problem."""

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
        #: conditions whose own keys had problems: whether they pretrain is unknown
        self.unsure_conditions: set[str] = set()

    def problem(self, where: str, message: str) -> None:
        self.problems.append((where, message))

    def check_name(self, where: str, name: Any) -> None:
        """A suite's or a condition's name holds letters, digits, '-', '_' or '.'."""
        if isinstance(name, str) and not NAME_RE.match(name):
            self.problem(where, f"expected letters, digits, '-', '_' or '.', got {name!r}")

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

    def model_entries(self, models: list[Selection]) -> Iterator[tuple[int, Selection]]:
        """Each [[models]] entry's index with its selection, where it was valid."""
        for i, table in enumerate(self.array("models")):
            selection = next((m for m in models if m.plugin == table.get("plugin")), None)
            if selection is not None:
                yield i, selection

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

    def selections(self, key: str, required: bool = False) -> list[Selection]:
        tables = self.array(key)
        if not tables and not required and key in self.data:  # `probes = []`: none at all
            return []
        if not tables and not required:  # left out: every installed one, with its defaults
            return self.default_all(SECTION_KINDS[key], key)
        if required and not tables and key not in self.data:
            self.problem(
                key,
                f"missing required [[{key}]]; available: "
                f"{', '.join(self.registry.names(SECTION_KINDS[key]))}",
            )
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

    def default_all(self, kind: str, key: str) -> list[Selection]:
        """Every installed component of ``kind`` with its defaults, but for the
        probes that need phone alignments (``abx``) and the components declared
        ``named_only`` (``input_gradient``): those are named, never implied,
        since they need a dataset with phone tiers or one kind of model and cost more."""
        out = []
        for name in self.registry.names(kind):
            component = self.registry.get(kind, name)
            if (kind == "probe" and component.alignments) or component.named_only:
                continue
            if component.check is not None:
                self.checks.append((component.check, component.defaults(), f"{key} ({name})"))
            out.append(Selection(kind, name, component.defaults(), name))
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
                    self.problem(
                        f"{where}.{label}",
                        f"no model is labelled {label!r}"
                        f"{did_you_mean(label, labels)}; the models: {', '.join(labels)} "
                        "(a path without a table applies to every model)",
                    )
