"""The answer at the top of the report: a short paragraph per model.

Each paragraph says which conditions changed the learning speed against the
control and by how much (the paired time ratio with its CI), which did not
(with the change the design could have detected), what the pairs of
conditions that differ in one declared attribute imply (see
:mod:`harness.stats.between`), and, where the probes give speaker-level
tests, whether languages separate differently. Learning speed is counted in
the suite's ``answer_measure`` (target steps unless it says otherwise:
:func:`answer_measure`); wall seconds carry the machine load they ran under,
and where they point the other way from steps the answer says so, naming the
load.

Every :class:`Sentence` names the rows it was written from
(:class:`Source`: a CSV of the output folder and the key columns of a row),
which the HTML carries as a ``data-source`` attribute, so each number can be
looked up; tests check that the numbers equal the CSV values. The sentences
live in rooms of their own: :mod:`~harness.report.claims` (sources, sentence
types, number words), :mod:`~harness.report.speed`,
:mod:`~harness.report.pairs`, :mod:`~harness.report.separation_answer` and
:mod:`~harness.report.wall_clock`; this module puts them together.
"""

from __future__ import annotations

from harness.report.claims import (
    ANSWER_MEASURE,
    BETWEEN,
    MEASURE_WORDS,
    RUNS,
    SEPARABILITY,
    VS_CONTROL,
    Paragraph,
    Sentence,
    Source,
    amount,
    answer_measure,
    detectable,
    percent_change,
    ratio,
    ratio_ci,
    significant,
    source,
    vs_rows,
)
from harness.report.pairs import between_details, between_rows, between_sentences
from harness.report.separation_answer import separability_sentences
from harness.report.speed import nobody_learned, speed_details, speed_sentences
from harness.report.wall_clock import (
    cpu_share,
    load_note,
    measure_sentence,
    wall_clock_sentences,
)
from harness.stats.analysis import Analysis
from harness.tables.results import Results

__all__ = [
    "ANSWER_MEASURE",
    "BETWEEN",
    "MEASURE_WORDS",
    "RUNS",
    "SEPARABILITY",
    "VS_CONTROL",
    "Paragraph",
    "Sentence",
    "Source",
    "amount",
    "answer_measure",
    "cpu_share",
    "detectable",
    "load_note",
    "measure_sentence",
    "paragraphs",
    "percent_change",
    "ratio",
    "ratio_ci",
    "significant",
    "source",
]


def paragraphs(results: Results, analysis: Analysis) -> list[Paragraph]:
    """One paragraph per model with anything to say, then the measure."""
    out: list[Paragraph] = []
    if results.control is None:
        return out
    for model in results.models:
        measure = answer_measure(results)
        rows = vs_rows(analysis, model, measure)
        between = between_rows(analysis, model, measure)
        unlearnt = nobody_learned(results, model, rows)
        speed = (
            [unlearnt]
            if unlearnt
            else [
                *speed_sentences(results, model, rows, between),
                *between_sentences(results, model, rows, between),
            ]
        )
        sentences = [
            *speed,
            *separability_sentences(results, analysis, model),
            *([] if unlearnt else wall_clock_sentences(results, analysis, model)),
        ]
        details = [
            *speed_details(results, model, rows),
            *between_details(results, analysis, model, rows, measure),
            *separability_sentences(results, analysis, model, detail=True),
        ]
        if sentences:
            out.append(
                Paragraph(model, results.model_label(model), tuple(sentences), tuple(details))
            )
    counted = measure_sentence(results, analysis)
    if out and counted is not None:
        out.append(Paragraph("", "", (counted,)))
    return out
