"""The answer's between-condition sentences: what the pairs of pretraining
conditions that differ in exactly one declared attribute imply
(:mod:`harness.stats.between`). Only a pair differing in the language heard
or the filter leads to a conclusion about language or filter; a pair
differing in any other attribute (a filter parameter, epochs, steps, the
objective, the checkpoint, an overridden setting) is named as it is:
"differs in cutoff: 500 vs 1000 Hz", and a curriculum's with its stage:
"differs in stage 1's cutoff: 400 vs 500 Hz". Two curricula that hear the same
stages in another order, or differ in one stage only one of them has, are
named so, with the stages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.plugin.names import component_title, filter_keeps_speech, param_words
from harness.report.claims import (
    BETWEEN,
    Sentence,
    Source,
    amount,
    answer_measure,
    detectable,
    equivalence_ci,
    equivalence_clause,
    equivalence_holm,
    equivalent,
    holm_clause,
    margin_words,
    quoted_names,
    ratio,
    ratio_ci,
    row_source,
    significant,
    smallest_holm,
    source,
    span,
    vs_source,
)
from harness.report.numbers import fmt_p, series
from harness.stats.analysis import Analysis
from harness.stats.between import EXTRA_STAGE, STAGE_ORDER
from harness.tables.results import Results

#: what a pair differing in one of these attributes differs in, for readers
WORDS = {
    "language": "the language heard",
    "filter": "the filter",
    "epochs": "the pretraining epochs",
    "steps": "the pretraining steps",
    "objective": "the pretraining objective",
    "stages": "the number of pretraining stages",
    "reset_optimizer": "the optimiser reset",
    "checkpoint": "the checkpoint",
    STAGE_ORDER: "the order of the stages",
    EXTRA_STAGE: "the extra stage",
}


def _split(attribute: str) -> tuple[str, str]:
    """``stage2.filter.cutoff_hz`` -> ("stage 2's ", "filter.cutoff_hz")."""
    head, _, rest = attribute.partition(".")
    if head.startswith("stage") and head[5:].isdigit() and rest:
        return f"stage {head[5:]}'s ", rest
    return "", attribute


def attribute_words(results: Results, row: pd.Series) -> tuple[str, str]:
    """What a pair differs in, for readers, and the unit of its values:
    ("the language heard", ""), ("the cutoff", "Hz"), ("stage 1's cutoff", "Hz"),
    ("[training] lr", "")."""
    stage, attribute = _split(str(row["differs_in"]))
    if attribute in WORDS:
        words = WORDS[attribute]
        return (stage + words.removeprefix("the ") if stage else words), ""
    section, _, key = attribute.partition(".")
    if section == "filter":
        label, unit = param_words(key)
        return (f"{stage}{label}" if stage else f"the {label}"), unit
    return f"[{section}] {key}", ""


def attribute_name(results: Results, row: pd.Series) -> str:
    return attribute_words(results, row)[0]


def _value(value: object) -> str:
    try:
        return f"{float(value):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def differs(results: Results, row: pd.Series) -> str:
    """ "cutoff: 500 vs 1000 Hz": the attribute and the two values."""
    name, unit = attribute_words(results, row)
    name = name.removeprefix("the ")
    values = f"{_value(row['value_a'])} vs {_value(row['value_b'])}"
    return f"{name}: {values} {unit}".rstrip()


def pair_words(results: Results, row: pd.Series) -> str:
    """The two conditions of a pair and what alone tells them apart."""
    a, b = (
        results.condition_label(str(row["condition_a"])),
        results.condition_label(str(row["condition_b"])),
    )
    if row["differs_in"] == "language":
        return f"“{a}” and “{b}”, which differ only in the language heard,"
    if row["differs_in"] == "filter":
        facts = results.design.facts
        title_a = component_title("pretrain_filter", str(row["value_a"]), facts)
        title_b = component_title("pretrain_filter", str(row["value_b"]), facts)
        return f"“{a}” and “{b}”, which differ only in the filter ({title_a} against {title_b}),"
    if row["differs_in"] == EXTRA_STAGE:
        longer, extra = (a, row["value_a"]) if row["value_a"] != "none" else (b, row["value_b"])
        return f"“{a}” and “{b}” (only “{longer}” hears {extra}, and nothing else differs)"
    if row["differs_in"] == STAGE_ORDER:
        return (
            f"“{a}” and “{b}” (the same stages in another order: {row['value_a']} against "
            f"{row['value_b']})"
        )
    return (
        f"“{a}” and “{b}” (their pretraining differs in {differs(results, row)} and nothing else)"
    )


def _keeps_speech(results: Results, row: pd.Series) -> dict[str, bool | None]:
    """Whether each filter of a filter pair still carries the speech, by condition."""
    facts = results.design.facts
    return {
        str(row["condition_a"]): filter_keeps_speech(str(row["value_a"]), facts),
        str(row["condition_b"]): filter_keeps_speech(str(row["value_b"]), facts),
    }


def meaning(results: Results, row: pd.Series) -> str:
    """What two conditions shown equivalent (:func:`equivalent`) imply, from
    what they differ in; never said of a pair that merely was not told apart."""
    margin = margin_words(row)
    if row["differs_in"] == "language":
        return f"the speed-up does not depend on which language was heard, to within {margin}"
    if row["differs_in"] != "filter":
        return f"{attribute_name(results, row)} changed the speed by no more than {margin}"
    speech = _keeps_speech(results, row)
    without = [c for c, keeps in speech.items() if keeps is False]
    with_speech = [c for c, keeps in speech.items() if keeps is True]
    if len(without) == 1 and len(with_speech) == 1:
        return (
            f"“{results.condition_label(without[0])}”, which carries no speech, gave a speed-up "
            f"within {margin} of “{results.condition_label(with_speech[0])}”'s: the effect is not "
            "specific to language"
        )
    return f"which of the two filters was used changed the speed by no more than {margin}"


def open_question(results: Results, row: pd.Series) -> str:
    """What a pair that was not told apart, nor shown equivalent, leaves open."""
    return f"whether {attribute_name(results, row)} matters is open"


def between_details(
    results: Results, analysis: Analysis, model: str, rows: dict[str, pd.Series], measure: str
) -> list[Sentence]:
    """One sentence per pair test of ``model`` in ``measure``, read beside the
    two conditions' tests against the control (``rows``)."""
    out = []
    for row in between_rows(analysis, model, measure):
        sentence = _pair_sentence(results, row, rows, measure)
        if sentence is not None:
            out.append(sentence)
    return out


def _pair_sentence(
    results: Results, row: pd.Series, rows: dict[str, pd.Series], measure: str
) -> Sentence | None:
    a, b = str(row["condition_a"]), str(row["condition_b"])
    label = results.condition_label
    # which of the two the tests against the control show changing the speed
    changed = [c for c in (a, b) if significant(rows.get(c))]
    sped = [c for c in changed if float(rows[c]["time_ratio"]) < 1]
    sources = (
        source(BETWEEN, measure=measure, model=row["model"], condition_a=a, condition_b=b),
        *(vs_source(rows[c]) for c in (a, b) if c in rows),
    )
    stats = (
        f"time ratio {ratio(float(row['time_ratio']))}, {ratio_ci(row)}; "
        f"Holm-corrected {fmt_p(float(row['p_holm']))}"
    )
    pair, attribute = pair_words(results, row), attribute_name(results, row)
    same = equivalent(row)
    if same:
        apart = f"{pair} are {equivalence_clause(row, with_ratio=True)}"
    else:
        apart = f"{pair} could not be told apart ({stats}); {detectable(row)}"
    if significant(row):
        way = amount(measure, float(row["time_ratio"]) < 1)
        text = (
            f"{pair} do not give the same speed: the {results.model_label(str(row['model']))} "
            f"needed {way} after “{label(a)}” ({stats}), so {attribute} matters"
            + (
                f", though by less than {margin_words(row)} ({equivalence_ci(row)})."
                if same
                else "."
            )
        )
    elif len(sped) == 2:
        text = f"{apart}: {meaning(results, row) if same else open_question(results, row)}."
    elif len(changed) == 2:
        tail = (
            f"what they do to the learning speed does not depend on {attribute}, to within "
            f"{margin_words(row)}"
            if same
            else open_question(results, row)
        )
        text = f"{apart}: {tail}."
    elif len(changed) == 1:
        text = (
            f"{apart}, but only “{label(changed[0])}” is evidenced to differ from the control, "
            f"so whether {attribute} matters is open."
        )
    else:
        return None
    return Sentence(text, sources)


def between_rows(analysis: Analysis, model: str, measure: str) -> list[pd.Series]:
    between = analysis.convergence_between
    if between.empty:
        return []
    mine = between[(between["measure"] == measure) & (between["model"] == model)]
    return [r for _, r in mine.iterrows() if np.isfinite(r["p_value"])]


def between_source(row: pd.Series) -> Source:
    return row_source(BETWEEN, row, "measure", "model", "condition_a", "condition_b")


def group_meaning(results: Results, group: list[str], pairs: list[pd.Series]) -> str:
    """What conditions shown pairwise equivalent imply, from what their pairs differ in."""
    margin = series(sorted({margin_words(row) for row in pairs}), " and ")
    speech: dict[str, bool | None] = {}
    for row in pairs:
        if row["differs_in"] == "filter":
            speech.update(_keeps_speech(results, row))
    if False in speech.values() and True in speech.values():
        return f"the effect is not specific to language (to within {margin})"
    if all(row["differs_in"] == "language" for row in pairs):
        return f"it does not depend on which language was heard (to within {margin})"
    named = _named(results, pairs)
    if len(named) == 1:
        return f"{named[0]} changed the speed by no more than {margin}"
    return (
        f"neither {', '.join(named[:-1])} nor {named[-1]} changed the speed by more than {margin}"
    )


def _named(results: Results, pairs: list[pd.Series]) -> list[str]:
    """What the pairs differ in, for readers: language and filter first."""
    order = {"language": 0, "filter": 1}
    attributes = sorted({str(r["differs_in"]) for r in pairs}, key=lambda a: (order.get(a, 2), a))
    first = {str(r["differs_in"]): r for r in pairs}
    return [attribute_name(results, first[a]) for a in attributes]


def alike_sentence(
    results: Results, group: list[str], alike: list[pd.Series], these: bool
) -> Sentence:
    """A group of conditions no pair test tells apart: shown equivalent pair by
    pair (and what that implies, citing the 90% CIs), or only not told apart
    (and what could have been detected: no conclusion about what they differ in)."""
    pairs = [r for r in alike if str(r["condition_a"]) in group]
    ratios = [float(r["time_ratio"]) for r in pairs]
    many = len(pairs) > 1
    who = "These" if these else quoted_names(results, group)
    shown = f"{'pairwise ' if many else ''}ratio{'s' if many else ''} {span(ratios)}"
    if all(equivalent(r) for r in pairs):
        lows = [float(r["equivalence_ci_low"]) for r in pairs]
        highs = [float(r["equivalence_ci_high"]) for r in pairs]
        ci = f"90% CI{'s within' if many else ''} {ratio(min(lows))} to {ratio(max(highs))}"
        text = (
            f"{who} are equivalent within {series(sorted({margin_words(r) for r in pairs}))} "
            f"({shown}, {ci}; {equivalence_holm(pairs)}): {group_meaning(results, group, pairs)}."
        )
    else:
        found = [float(r["detectable_ratio"]) for r in pairs]
        found = [x for x in found if np.isfinite(x) and x > 0 and ratio(x) != ratio(1.0)]
        could = f"; ratios of {span(found)} were detectable" if found else ""
        text = f"{who} could not be told apart ({shown}, {smallest_holm(pairs)}) nor shown equivalent{could}."
    return Sentence(text, tuple(between_source(r) for r in pairs))


def between_sentences(
    results: Results, model: str, rows: dict[str, pd.Series], between: list[pd.Series]
) -> list[Sentence]:
    """The conclusions of the pairs of conditions: which sets cannot be told
    apart though they changed the speed, and which differ."""
    out = []
    differ = [r for r in between if significant(r)]
    while differ:
        count: dict[str, int] = {}
        for r in differ:
            for c in (str(r["condition_a"]), str(r["condition_b"])):
                count[c] = count.get(c, 0) + 1
        hub = max(count, key=lambda c: count[c])
        mine = [r for r in differ if hub in (str(r["condition_a"]), str(r["condition_b"]))]
        differ = [r for r in differ if not any(r is m for m in mine)]
        # the hub's time ratio against each other condition: below 1, the hub was faster
        oriented = [
            (
                r,
                float(r["time_ratio"])
                if str(r["condition_a"]) == hub
                else 1 / float(r["time_ratio"]),
            )
            for r in mine
        ]
        for faster in (True, False):
            these = [(r, x) for r, x in oriented if (x < 1) == faster]
            if not these:
                continue
            others = [
                str(r["condition_b"]) if str(r["condition_a"]) == hub else str(r["condition_a"])
                for r, _ in these
            ]
            attrs = {str(r["differs_in"]): r for r, _ in these}
            matters = " and ".join(attribute_name(results, attrs[a]) for a in sorted(attrs))
            out.append(
                Sentence(
                    f"“{results.condition_label(hub)}” needed {amount(answer_measure(results), faster)} "
                    f"than {quoted_names(results, others)} "
                    f"(ratio{'s' if len(these) > 1 else ''} {span([x for _, x in these])}, "
                    f"{holm_clause([r for r, _ in these], 'Holm')}): {matters} "
                    f"{'matter' if len(attrs) > 1 else 'matters'}.",
                    tuple(between_source(r) for r, _ in these),
                )
            )
    return out
