"""A component chosen by a suite: which plugin of which kind, with what parameters.

Its own module so the registry can build components from a selection
without importing the suite loader, which itself needs the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.spec.checkpoints import Checkpoint


@dataclass(frozen=True)
class Selection:
    """A component chosen by the suite, with its resolved parameters."""

    kind: str
    plugin: str
    params: Mapping[str, Any]
    label: str
    #: [target] keys this entry overrides (models only: threshold, max_steps)
    target: Mapping[str, Any] = field(default_factory=dict)
    #: (models only) the weights every condition's runs of this model start from;
    #: its hash, not its path, is part of a run's id (harness.spec.expand.RunSpec)
    checkpoint: Checkpoint | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"plugin": self.plugin, "label": self.label, "params": dict(self.params)}
        if self.target:
            out["target"] = dict(self.target)
        return out
