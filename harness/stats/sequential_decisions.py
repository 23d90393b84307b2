"""A sequential suite's decisions in the tables the report's answer reads.

Once a sequential suite has stopped, its runs were collected by looking: the
fixed design's tests over all its seeds (the ``p_holm`` and ``equivalent``
columns) no longer carry their error rates, since the suite stopped where
they looked good. What holds its level is the decision the looks made
(:mod:`harness.stats.sequential`). :func:`with_decisions` adds it to the rows
of the suite's answer measure as ``sequential_decision`` (``differs``,
``equivalent``, ``undecided``, or ``open`` while looks remain), and the
report's claims (:func:`harness.report.claims.significant`,
:func:`~harness.report.claims.equivalent`) read that column where it is set.
"""

from __future__ import annotations

import pandas as pd

from harness.spec.design import Design

DECISION = "sequential_decision"
VS_CONTROL, BETWEEN = "vs control", "between"


def decisions(design: Design | None, family: str) -> dict[tuple[str, str, str], str]:
    """``(model, condition, other) -> decision`` of one family's comparisons."""
    section = (design.sequential or {}) if design is not None else {}
    rows = section.get("comparisons") or []
    return {
        (str(r["model"]), str(r["condition"]), str(r["other"])): str(r["decision"])
        for r in rows
        if r.get("family") == family
    }


def with_decisions(
    table: pd.DataFrame, design: Design | None, family: str, condition: str, other: str
) -> pd.DataFrame:
    """``table`` with the ``sequential_decision`` of each row of the answer
    measure that a look decided (empty elsewhere, and for a fixed suite)."""
    found = decisions(design, family)
    out = table.copy()
    if not found or table.empty or design is None:
        out[DECISION] = pd.Series("", index=out.index, dtype=object)
        return out
    keys = zip(out["model"], out[condition], out[other], strict=True)
    mine = out["measure"] == design.answer_measure
    out[DECISION] = [
        found.get((str(m), str(a), str(b)), "") if is_answer else ""
        for (m, a, b), is_answer in zip(keys, mine, strict=True)
    ]
    return out
