"""A sequential suite's looks, from its finished runs: which comparisons are
decided, which seeds each condition and model is asked to run next, and the
``sequential`` section of the manifest's design that says so.

Every look is replayed from the records each time (:func:`looks_from_records`),
so the decisions depend only on finished runs and a killed ``harness run``
resumes to the same looks, the same runs and identical results. Look ``k`` of
a comparison reads only the records of the suite's first ``n_k`` seeds, and
its runs table is built from those records alone (a diverged run's censoring
time depends on the runs it is tabled with).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.atomic import write_json
from harness.output.layout import MANIFEST
from harness.output.store import DONE_STATUSES, FAILED, Store
from harness.spec.design import Design
from harness.stats.between import contrast_pairs
from harness.stats.sequential import (
    DIFFERS,
    EQUIVALENT,
    Comparison,
    Outcome,
    log_ratios,
    replay,
)
from harness.stats.survival import analysable
from harness.tables.runs import runs_table

if TYPE_CHECKING:
    from harness.spec.expand import RunSpec
    from harness.spec.suite import Suite

VS_CONTROL, BETWEEN = "vs control", "between"


def comparisons(design: Design) -> list[Comparison]:
    """What the looks decide: every condition against the control, and every
    between-condition pair the report states (:func:`harness.stats.between.contrast_pairs`),
    per model; each kind is one family, as in the report."""
    out = []
    for model in design.model_labels:
        out += [Comparison(VS_CONTROL, model, c, str(design.control))
                for c in design.condition_names if c != design.control]  # fmt: skip
        out += [Comparison(BETWEEN, model, a, b) for a, b, _ in contrast_pairs(design)]
    return out


def looks_from_records(suite: Suite, store: Store, design: Design) -> Outcome:
    """Replay the looks of ``suite`` from the records in ``store``: a run with
    a record (finished or failed) counts as there, a failed one with no time."""
    assert suite.sequential is not None
    schedule = suite.sequential
    seeds = list(suite.seeds)
    statuses = store.statuses()
    there = {rid for rid, status in statuses.items() if status in (*DONE_STATUSES, FAILED)}
    records = [r for r in store.records(sorted(there)) if r.run_id in there]
    cell = {r.run_id: _cell(r.spec) for r in records}
    present = {cell[r.run_id] for r in records}
    chosen = comparisons(design)
    ratios: dict[Comparison, dict[int, np.ndarray]] = {c: {} for c in chosen}
    for n in schedule.looks:
        first = set(seeds[:n])
        table = runs_table([r for r in records if r.spec.get("seed") in first])
        if table.empty:
            break
        runs = analysable(table, suite.answer_measure)
        for c, by_look in log_ratios(runs, chosen, seeds, [n], present).items():
            ratios[c].update(by_look)
    return replay(ratios, schedule, math.log(1 + suite.equivalence_ratio))


def _cell(spec: Mapping[str, Any]) -> tuple[str, str, int]:
    model = spec.get("model") or {}
    condition = spec.get("condition") or {}
    label = str(model.get("label") or model.get("plugin"))
    return label, str(condition.get("name")), int(spec.get("seed", -1))


def asked(outcome: Outcome, suite: Suite) -> dict[tuple[str, str], int]:
    """Seeds each (model, condition) cell is asked to run: its decided
    comparisons' seeds, and the next look's for those still open; at least
    ``min``."""
    assert suite.sequential is not None
    need: dict[tuple[str, str], int] = {}
    for c, state in outcome.state.items():
        n = outcome.seeds[c]
        if state not in (DIFFERS, EQUIVALENT) and outcome.next_look is not None:
            n = outcome.next_look
        for key in ((c.model, c.condition), (c.model, c.other)):
            need[key] = max(need.get(key, suite.sequential.min), n)
    return need


def asked_specs(specs: Sequence[RunSpec], need: dict[tuple[str, str], int],
                seeds: Sequence[int]) -> list[RunSpec]:  # fmt: skip
    """The runs of ``specs`` the cells' seeds ask for."""
    rank = {s: i for i, s in enumerate(seeds)}
    return [s for s in specs
            if rank[s.seed] < need.get((s.model.label, s.condition.name), 0)]  # fmt: skip


def section(suite: Suite, outcome: Outcome, need: dict[tuple[str, str], int]) -> dict[str, Any]:
    """The design's ``sequential`` section: the schedule, the looks made,
    each comparison's decision and seeds, and the seeds asked per cell."""
    assert suite.sequential is not None
    done = outcome.next_look is None
    rows = []
    for c, state in outcome.state.items():
        final = state if state in (DIFFERS, EQUIVALENT) else ("undecided" if done else "open")
        rows.append({"family": c.family, "model": c.model, "condition": c.condition,
                     "other": c.other, "decision": final, "seeds": outcome.seeds[c]})  # fmt: skip
    by_condition: dict[str, dict[str, int]] = {}
    for (model, condition), n in need.items():
        by_condition.setdefault(condition, {})[model] = n
    return {
        "schedule": suite.sequential.to_dict(),
        "equivalence_ratio": suite.equivalence_ratio,
        "looks": outcome.looks,
        "next_look": outcome.next_look,
        "comparisons": rows,
        "asked": by_condition,
    }


def write_section(store: Store, data: dict[str, Any]) -> None:
    """Put the sequential section into the manifest's design (atomically)."""
    path = store.output / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("design") is not None:
        manifest["design"]["sequential"] = data
        write_json(path, manifest)


def look_line(outcome: Outcome) -> str:
    """What the last look decided, and what it asks for next."""
    last = outcome.looks[-1]
    decided = last["decided"]
    assert isinstance(decided, dict)
    said = "; ".join(f"{k} {v}" for k, v in decided.items()) or "nothing decided"
    after = (f"{len(outcome.open())} comparison(s) open: {outcome.next_look} seeds next"
             if outcome.next_look is not None else "every look made")  # fmt: skip
    return f"look at {last['seeds']} seeds: {said}; {after}"
