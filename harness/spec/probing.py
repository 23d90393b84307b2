"""[probing]: what the probe phase hears and how its languages are grouped.

``filter`` is a filter plugin (the pretraining filters' family) the probe clips
pass through before their features, the same clips through the same filter in
every run of a suite, so "probes heard the clips low-passed at 400 Hz" holds for
every condition. ``pairs`` asks for the matrix of every pair of probe
languages; ``groups`` declares classes of probe languages (rhythm classes,
say) for the test that pairs across groups separate better than pairs within
(:mod:`harness.stats.pair_matrix`). ``probe_at`` asks for the probes along
target training too (:func:`probe_at_problems`, :meth:`Probing.steps`), by
every probe that declares it runs there (``Component.along_training``) or by
those ``probe_at_probes`` names (:func:`along_problems`, :meth:`Probing.along`).
The table is read by :meth:`harness.spec.validate_tasks.TaskRules.probing`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.plugin.params import Param, did_you_mean
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
    Param(
        "probe_at",
        list,
        [],
        "target-training steps at which the probes also run, such as [0, 50, 100] "
        "(integers), or fractions of target.max_steps, such as [0.0, 0.5, 1.0]",
    ),
    Param(
        "probe_at_probes",
        list,
        None,
        "the probes (their labels) that run along training, such as ['abx']; default: every "
        "probe of the suite whose plugin runs along training (tsne does not)",
        item=str,
        optional=True,
    ),
)

#: what probe_at may hold, for its messages
_PROBE_AT_FORMS = (
    "integer steps such as [0, 50, 100], or fractions of target.max_steps such as [0.0, 0.25, 1.0]"
)


@dataclass(frozen=True)
class Probing:
    """The [probing] table as validated."""

    filter: Selection | None = None
    #: the pair matrix is asked for (``pairs = true``, or groups declared)
    pairs: bool = False
    #: group name -> its probe languages, in the suite's order
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: target-training steps (ints) or fractions of the budget (floats) to probe at, as given
    probe_at: tuple[int | float, ...] = ()
    #: the labels of the probes that run along training, as given; None: every
    #: probe whose plugin declares it runs there (``Component.along_training``)
    probe_at_probes: tuple[str, ...] | None = None

    def along(
        self, probes: Sequence[Selection], runs_along: Callable[[Selection], bool]
    ) -> tuple[str, ...]:
        """The labels of the ``probes`` that run along training, in the suite's
        order: those ``probe_at_probes`` names, else every probe ``runs_along``
        says runs there; () without ``probe_at``."""
        if not self.probe_at:
            return ()
        if self.probe_at_probes is not None:
            return tuple(p.label for p in probes if p.label in self.probe_at_probes)
        return tuple(p.label for p in probes if runs_along(p))

    def steps(self, max_steps: int) -> tuple[int, ...]:
        """The steps of ``probe_at`` for a run of ``max_steps``: integers as they are,
        a fraction ``f`` as ``round(f * max_steps)`` (equal steps once)."""
        steps = (v if isinstance(v, int) else round(v * max_steps) for v in self.probe_at)
        return tuple(dict.fromkeys(steps))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; empty for a suite without the table."""
        out: dict[str, Any] = {}
        if self.filter is not None:
            out["filter"] = self.filter.to_dict()
        if self.pairs or self.groups:
            out["pairs"] = True
        if self.groups:
            out["groups"] = {name: list(langs) for name, langs in self.groups.items()}
        if self.probe_at:
            out["probe_at"] = list(self.probe_at)
        if self.probe_at_probes is not None:
            out["probe_at_probes"] = list(self.probe_at_probes)
        return out


def probe_at_problems(given: object, budgets: Mapping[str, int]) -> Iterator[tuple[str, str]]:
    """The problems of a ``probe_at`` value as ``(key, message)``: not a list of
    numbers, ints mixed with fractions, a negative step, a fraction outside
    [0, 1], a step beyond a budget, not increasing.

    :param budgets: where each target budget is set (``target.max_steps``,
        ``models[1].max_steps``) -> its steps; a step must fit every one.
    """
    key = "probing.probe_at"
    if not isinstance(given, list):
        yield key, f"expected a list: {_PROBE_AT_FORMS}; got {given!r}"
        return
    kinds: dict[type, int] = {}
    for i, value in enumerate(given):
        if isinstance(value, bool) or not isinstance(value, int | float):
            yield f"{key}[{i}]", f"expected a number: {_PROBE_AT_FORMS}; got {value!r}"
            return
        kinds.setdefault(type(value), i)
    if len(kinds) > 1:
        i, j = kinds[float], kinds[int]
        yield (
            f"{key}[{i}]",
            f"{given[i]!r} is a fraction and {key}[{j}] ({given[j]!r}) a step: give every "
            "point as an integer step, or every point as a fraction (write 0.0 and 1.0)",
        )
        return
    yield from _point_problems(key, given, budgets)


def _point_problems(
    key: str, given: Sequence[int | float], budgets: Mapping[str, int]
) -> Iterator[tuple[str, str]]:
    """Each point in range and after the one before (all steps, or all fractions);
    one problem per point."""
    for i, value in enumerate(given):
        problem = _range_problem(value, budgets)
        if problem is None and i and value <= given[i - 1]:
            problem = f"expected points in increasing order, got {value!r} after {given[i - 1]!r}"
        if problem is not None:
            yield f"{key}[{i}]", problem


def _range_problem(value: int | float, budgets: Mapping[str, int]) -> str | None:
    if isinstance(value, float):
        if not 0.0 <= value <= 1.0:
            return f"expected a fraction of target.max_steps in [0, 1], got {value!r}"
        return None
    if value < 0:
        return f"expected a step >= 0 (0: the model as target training starts), got {value}"
    over = [f"{name} ({n})" for name, n in budgets.items() if value > n]
    if over:
        return (
            f"step {value} is beyond {', '.join(over)}: no run trains that long "
            "(fractions, such as 0.5, fit every model's budget)"
        )
    return None


def along_problems(
    table: Mapping[str, object],
    probes: Sequence[Selection],
    runs_along: Callable[[Selection], bool],
) -> Iterator[tuple[str, str]]:
    """The problems of which probes run along training, as ``(key, message)``:
    ``probe_at_probes`` without ``probe_at``, not a non-empty list of labels, a
    label that is no probe of the suite or named twice, a probe whose plugin
    does not run along training; and ``probe_at`` where no probe of the suite
    runs along training.

    :param runs_along: whether a probe's plugin declares it runs along training.
    """
    key = "probing.probe_at_probes"
    able = [p.label for p in probes if runs_along(p)]
    unable = [p for p in probes if not runs_along(p)]
    if "probe_at_probes" not in table:
        if table.get("probe_at") and probes and not able:
            names = ", ".join(sorted({p.plugin for p in unable}))
            yield (
                "probing.probe_at",
                f"no probe of this suite runs along training (plugin(s) {names} declare "
                "along_training = False: they run in the final probing only); remove "
                "probe_at or add a probe that runs along training, such as ridge or abx",
            )
        return
    given = table["probe_at_probes"]
    if not table.get("probe_at"):
        yield key, "names the probes of probe_at, which this suite does not set: add probe_at"
        return
    if not isinstance(given, list) or not given or not all(isinstance(g, str) for g in given):
        yield (
            key,
            (
                f"expected a non-empty list of probe labels, such as {able[:2] or ['ridge']!r} "
                f"(to probe nothing along training, remove probe_at); got {given!r}"
            ),
        )
        return
    labels = {p.label: p for p in probes}
    for i, label in enumerate(given):
        yield from _along_label_problems(f"{key}[{i}]", label, given[:i], labels, able)


def _along_label_problems(
    where: str,
    label: str,
    before: Sequence[str],
    labels: Mapping[str, Selection],
    able: Sequence[str],
) -> Iterator[tuple[str, str]]:
    """One label of ``probe_at_probes``: a probe of the suite that runs along
    training, named once."""
    choices = f"probes that run along training: {', '.join(able) or 'none'}"
    if label not in labels:
        hint = did_you_mean(label, list(labels))
        yield where, f"{label!r} is not a probe of this suite{hint}; {choices}"
    elif label not in able:
        plugin = labels[label].plugin
        yield (
            where,
            (
                f"probe {label!r} does not run along training (plugin {plugin!r} declares "
                f"along_training = False: it runs in the final probing only); {choices}"
            ),
        )
    elif label in before:
        yield where, f"{label!r} is named twice"
