"""[probing]: what the probe phase hears and how its languages are grouped.

``filter`` is a filter plugin (the pretraining filters' family) the probe clips
pass through before their features, the same clips through the same filter in
every run of a suite, so "probes heard the clips low-passed at 400 Hz" holds for
every condition. ``pairs`` asks for the matrix of every pair of probe
languages; ``groups`` declares classes of probe languages (rhythm classes,
say) for the test that pairs across groups separate better than pairs within
(:mod:`harness.stats.pair_matrix`). The table is read by
:meth:`harness.spec.validate_tasks.TaskRules.probing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.plugin.params import Param
from harness.plugin.selection import Selection

#: the keys of [probing], for validation messages and the suite reference
PROBING_PARAMS = (
    Param(
        "filter",
        str,
        "",
        "a filter plugin the probe clips pass through before their features, such as "
        "{plugin = 'lowpass', cutoff_hz = 400}; default: the clips as the dataset gives them",
    ),
    Param(
        "pairs",
        bool,
        False,
        "the report's language-pair matrix: separability of every pair of probe languages "
        "(implied by groups)",
    ),
    Param(
        "groups",
        dict,
        {},
        "classes of probe languages, such as {stress = ['en', 'nl'], mora = ['ja']}: the "
        "report tests whether pairs across groups separate better than pairs within",
    ),
)


@dataclass(frozen=True)
class Probing:
    """The [probing] table as validated."""

    filter: Selection | None = None
    #: the pair matrix is asked for (``pairs = true``, or groups declared)
    pairs: bool = False
    #: group name -> its probe languages, in the suite's order
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; empty for a suite without the table."""
        out: dict[str, Any] = {}
        if self.filter is not None:
            out["filter"] = self.filter.to_dict()
        if self.pairs or self.groups:
            out["pairs"] = True
        if self.groups:
            out["groups"] = {name: list(langs) for name, langs in self.groups.items()}
        return out
