"""Declared metrics: :class:`Metric`, what a number a probe reports is (its
direction, role, chance level, bounds), so reports orient comparisons without
special cases, and :func:`check_metrics`, the rules over a probe's metrics as
a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: What a probe's number is, as far as the tables and statistics care:
#: ``score`` is averaged over seeds and compared between conditions;
#: ``reference`` is a level a score is compared with (a chance level, a
#: majority rate), never averaged or compared itself; ``p_value`` is a per-run
#: test result, kept in the tables and never averaged.
METRIC_ROLES = ("score", "reference", "p_value")


@dataclass(frozen=True)
class Metric:
    """Metadata of a number a probe reports, so reports orient comparisons.

    :param name: the key in :class:`~harness.plugin.contracts.ProbeResult` ``metrics``.
    :param doc: one line: what the number is.
    :param higher_is_better: the direction of a better latent space.
    :param role: one of :data:`METRIC_ROLES`.
    :param chance: for a score, the name of the ``reference`` metric (declared
        by the same probe) that is its chance level; the tables put that value
        beside the score and the statistics test the score against it.
    :param headline: the score the report's answer leads with (a probe marks
        one per task, such as its balanced accuracy); without any, the report
        leads with the scores that have a chance level.
    :param label: a short name for readers (report headings, axes, prose),
        such as "balanced accuracy (all languages)"; empty: the report
        humanises ``name`` (see :mod:`harness.plugin.names`).
    :param bounds: the smallest and largest value the metric can take, such as
        ``(0.0, 1.0)`` for an accuracy; the statistics keep a score's
        confidence interval inside them and a difference's within their
        width, and say when no difference inside the range was detectable.
        None: unbounded.
    """

    name: str
    doc: str
    higher_is_better: bool = True
    role: str = "score"
    chance: str | None = None
    headline: bool = False
    label: str = ""
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.role not in METRIC_ROLES:
            raise ValueError(
                f"metric {self.name!r}: role must be one of {METRIC_ROLES}, got {self.role!r}"
            )
        if (self.chance is not None or self.headline) and self.role != "score":
            raise ValueError(
                f"metric {self.name!r}: only a score has a chance level or is a headline"
            )
        if self.bounds is not None:
            low, high = (float(b) for b in self.bounds)
            if not low < high:
                raise ValueError(
                    f"metric {self.name!r}: bounds must be (low, high) with low < high, "
                    f"got {self.bounds!r}"
                )


def check_metrics(metrics: Sequence[Metric]) -> list[str]:
    """Problems with a probe's metric declarations as a whole: empty or
    duplicate names, a ``chance`` that names no declared ``reference`` metric."""
    problems = []
    unnamed = [m for m in metrics if not isinstance(m.name, str) or not m.name]
    if unnamed:
        problems.append(f"a metric has an empty name ({unnamed[0].doc!r}); name each metric")
    by_name = {m.name: m for m in metrics}
    if len(by_name) != len(metrics):
        names = [m.name for m in metrics]
        problems.append(
            f"metrics declared twice: {sorted({n for n in names if names.count(n) > 1})}"
        )
    for m in metrics:
        if m.chance is None:
            continue
        ref = by_name.get(m.chance)
        if ref is None or ref.role != "reference":
            problems.append(
                f"metric {m.name!r} names chance={m.chance!r}, which is not a metric of "
                "this probe declared with role='reference'"
            )
    return problems
