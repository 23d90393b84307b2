"""Pairs of pretraining conditions compared with each other, not with the control.

The control tells whether a condition speeds learning up; the other
conditions tell *why*. Two pretraining conditions that differ in exactly one
declared attribute of their whole pretraining and agree on every other
isolate that attribute. The attributes (:meth:`harness.spec.design.Design.attributes`)
are each stage's language, filter plugin, each filter parameter
(``filter.cutoff_hz``; compared only between two conditions with the same
filter plugin: another plugin's parameters belong to it), epochs, steps and
objective, the checkpoint the runs start from, and each overridden setting
(``training.lr``). Spanish and Italian low-passed at 500 Hz differ only in the
language; low-passed Spanish and noise with Spanish's spectrum differ only in
the filter; Spanish low-passed at 500 Hz and Italian at 1000 Hz differ in two
attributes and make no pair. A filter parameter the folder did not record
(a manifest written before stages existed) is unknown, never a difference.
Curricula (several stages) pair when they differ in one stage's one attribute
(``stage1.filter.cutoff_hz``), in the order of the same stages, or in one
stage only the longer has (low-pass then full band against full band alone);
any other difference in their number of stages is more than one thing and
makes no pair. Which pairs qualify is read from the resolved design, never
from names.

Each stated pair is tested as a condition against the control is
(:func:`harness.stats.convergence.compare`): paired over shared seeds, the
Hodges-Lehmann time ratio ``a / b`` with the exact signed-rank test and its
CI, and the two one-sided tests of equivalence within the suite's
``equivalence_ratio`` (:mod:`harness.stats.paired`); Holm's correction runs
over the stated pairs of one time measure (every model), for the difference
and the equivalence tests alike, and the detectable ratio is the change the
pair had 80% power to detect at Holm's first step
(:func:`harness.stats.convergence.families`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from harness.spec.design import Design
from harness.spec.stages import Stage
from harness.stats.convergence import EQUIVALENCE_COLUMNS, compare, families
from harness.stats.paired import DEFAULT_TEST
from harness.stats.survival import MEASURES

#: the attributes whose pairs the answer draws its language and filter
#: conclusions from; every other attribute is named as it is
ATTRIBUTES = ("language", "filter")

BETWEEN_COLUMNS = ["measure", "model", "condition_a", "condition_b", "differs_in", "value_a",
                   "value_b", "design", "test", "exact", "n_permutations", "n", "n_b", "n_pairs",
                   "n_informative", "n_reached", "n_reached_b", "median", "median_b",
                   "time_ratio", "time_ratio_ci_low", "time_ratio_ci_high", "log_ratio_sd",
                   "detectable_ratio", "p_value", "p_holm", *EQUIVALENCE_COLUMNS]  # fmt: skip


def differing(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The attributes two conditions' :meth:`~harness.spec.design.Design.attributes`
    differ in. One only one side knows is unknown, not a difference; a
    filter's parameters count only where both stages use the same filter."""
    out = [k for k in a if k in b and a[k] != b[k]]
    return [k for k in out if not _parameter_of(k, out)]


def _parameter_of(key: str, differing: list[str]) -> bool:
    """``key`` is a parameter of a filter that itself differs."""
    parent = key.rpartition(".")[0]
    return parent.endswith("filter") and parent in differing


#: what a pair of curricula differs in when it is the order of the same stages,
#: or one stage that only one of them has
STAGE_ORDER, EXTRA_STAGE = "stage_order", "extra_stage"
#: a stage's own attributes (:meth:`Stage.attributes`), unprefixed for a one-stage condition
_STAGE_ATTRIBUTES = {"language", "filter", "epochs", "steps", "objective", "reset_optimizer"}


def _of_stages(key: str) -> bool:
    """``key`` is an attribute of the stages (not the checkpoint or a setting)."""
    head = key.partition(".")[0]
    return (
        key == "stages"
        or head in _STAGE_ATTRIBUTES
        or (head.startswith("stage") and head[5:].isdigit())
    )


def contrast(design: Design, a: str, b: str) -> tuple[str, Any, Any] | None:
    """``(attribute, value_a, value_b)`` of the one thing conditions ``a`` and
    ``b`` differ in, or None where it is not one thing.

    One thing is one declared attribute (:func:`differing`; a stage's as
    ``stage2.filter.cutoff_hz`` in a curriculum), or between curricula of equal
    length the order of the same stages (:data:`STAGE_ORDER`), or one stage the
    longer has and the shorter lacks, the rest in the same order
    (:data:`EXTRA_STAGE`; its value names the stage, "none" on the shorter
    side). Any other difference in the number of stages is several things.
    """
    info_a, info_b = design.condition(a), design.condition(b)
    if info_a is None or info_b is None:
        return None
    attrs_a, attrs_b = design.attributes(a), design.attributes(b)
    found = differing(attrs_a, attrs_b)
    stages_a, stages_b = info_a.stages, info_b.stages
    if len(stages_a) == len(stages_b) and len(found) == 1:
        return found[0], attrs_a[found[0]], attrs_b[found[0]]
    if any(not _of_stages(k) for k in found):
        return None
    if len(stages_a) == len(stages_b) and _reordered(stages_a, stages_b):
        return STAGE_ORDER, stages_text(stages_a), stages_text(stages_b)
    if abs(len(stages_a) - len(stages_b)) == 1:
        longer, shorter = (
            (stages_a, stages_b) if len(stages_a) > len(stages_b) else (stages_b, stages_a)
        )
        extra = _extra_stage(longer, shorter)
        if extra is not None:
            named = f"stage {extra + 1} ({longer[extra].summary()})"
            return (
                (EXTRA_STAGE, named, "none") if longer is stages_a else (EXTRA_STAGE, "none", named)
            )
    return None


def stages_text(stages: Sequence[Stage]) -> str:
    """A curriculum in one line: each stage's summary, "then" between."""
    return ", then ".join(s.summary() for s in stages)


def _reordered(a: Sequence[Stage], b: Sequence[Stage]) -> bool:
    """The same stages in another order (each matched once)."""
    if len(a) < 2 or all(x.same_exposure(y) for x, y in zip(a, b, strict=True)):
        return False
    left = list(b)
    for stage in a:
        match = next((i for i, other in enumerate(left) if stage.same_exposure(other)), None)
        if match is None:
            return False
        del left[match]
    return True


def _extra_stage(longer: Sequence[Stage], shorter: Sequence[Stage]) -> int | None:
    """The index of the one stage of ``longer`` without which it is ``shorter``."""
    for i in range(len(longer)):
        rest = [*longer[:i], *longer[i + 1 :]]
        if all(x.same_exposure(y) for x, y in zip(rest, shorter, strict=True)):
            return i
    return None


def contrast_pairs(design: Design) -> list[tuple[str, str, str]]:
    """``(condition_a, condition_b, attribute)`` for every pair of pretraining
    conditions (not the control) whose whole pretraining differs in exactly
    one thing (:func:`contrast`), in suite order."""
    conditions = [
        design.condition(name) for name in design.condition_names if name != design.control
    ]
    pretraining = [c.name for c in conditions if c is not None and c.pretrains]
    out = []
    for a, b in itertools.combinations(pretraining, 2):
        found = contrast(design, a, b)
        if found is not None:
            out.append((a, b, found[0]))
    return out


def shown(value: Any) -> Any:
    """An attribute's value as the table holds it: a mapping as sorted JSON."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def between_conditions(
    runs: pd.DataFrame,
    design: Design,
    measures: Sequence[str] = MEASURES,
    n_resamples: int = 9999,
    seed: int = 0,
    test: str = DEFAULT_TEST,
) -> pd.DataFrame:
    """One row per model, time measure and pair of :func:`contrast_pairs`:
    ``time_ratio`` below 1 means ``condition_a`` reached the threshold sooner
    than ``condition_b``; equivalence is judged against the design's
    ``equivalence_ratio``."""
    pairs = contrast_pairs(design)
    values = {
        (a, b): (found[1], found[2]) for a, b, _ in pairs if (found := contrast(design, a, b))
    }

    def rows(measure: str, data: pd.DataFrame) -> list[dict[str, Any]]:
        family = []
        for model, by_model in data.groupby("model", sort=False):
            for a, b, attribute in pairs:
                group = by_model[by_model["condition"] == a]
                other = by_model[by_model["condition"] == b]
                if group.empty or other.empty:
                    continue
                # the RMST bootstrap is the control comparison's; a pair needs none
                row = compare(
                    measure, str(model), a, b, group, other, n_resamples, 0, seed,
                    test, design.equivalence_ratio,
                )  # fmt: skip
                row.update(
                    condition_a=a,
                    condition_b=b,
                    differs_in=attribute,
                    value_a=shown(values[a, b][0]),
                    value_b=shown(values[a, b][1]),
                    n_b=row["n_control"],
                    n_reached_b=row["n_reached_control"],
                    median_b=row["median_control"],
                )
                family.append(row)
        return family

    return families(runs, measures, BETWEEN_COLUMNS, rows)
