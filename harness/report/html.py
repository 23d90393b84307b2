"""The self-contained HTML report: its frame, header, answer and synthesis.

One file: CSS inlined, figures as base64 PNG, no script, and a Content
Security Policy that forbids fetching anything, so it opens the same offline,
attached to an email or years later. Every string that comes from a suite file
or a run record passes through :func:`esc`. The sections are in
:mod:`harness.report.convergence_section`, :mod:`harness.report.separability_section`,
:mod:`harness.report.problems_section`, :mod:`harness.report.classification` and
:mod:`harness.report.methods`.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

import harness
from harness.atomic import write_text
from harness.output.layout import REPORT
from harness.plugin.names import dataset_limits
from harness.report import (
    answer,
    classification,
    figures,
    layers,
    methods,
    regimen_section,
    sentences,
    separation,
)
from harness.report.attunement_section import attunement_section
from harness.report.convergence_section import convergence_section, sensitivity_section
from harness.report.markup import FIGURE_DONE, PNG_JOBS, esc, figure, figure_placeholder, para
from harness.report.pair_section import pair_section
from harness.report.problems_section import data_section, problems_section
from harness.report.separability_section import probes_nothing, separability_section
from harness.report.trajectory_section import trajectory_section
from harness.stats.analysis import STEPS as ANALYSIS_STEPS
from harness.stats.analysis import Analysis, analyse
from harness.tables.export import write_analysis
from harness.tables.results import Results, load_results

#: what :func:`build_report`'s ``on_step`` hears, in order (and FIGURE_STEP lines in the last)
FIGURE_STEP = "figure"
REPORT_STEPS = (
    "reading the runs",
    *ANALYSIS_STEPS,
    "writing the tables",
    "figures and report.html",
)


def build_report(
    output_dir: str | Path,
    *,
    n_resamples: int = 9999,
    km_resamples: int = 999,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> Path:
    """Write runs.csv, curves.csv, probes.csv, stats/*.csv and report.html
    into ``output_dir``; return the report's path. ``on_step`` hears each step
    as it starts (:data:`REPORT_STEPS`) and, during the last, each figure as it
    is placed (``"figure 3: <its alt text>"``), to show progress; it changes nothing."""
    step = on_step or (lambda name: None)
    step(REPORT_STEPS[0])
    results = load_results(output_dir)
    analysis = analyse(
        results, n_resamples=n_resamples, km_resamples=km_resamples, seed=seed, on_step=step
    )
    step(REPORT_STEPS[-2])
    write_analysis(results, analysis)
    step(REPORT_STEPS[-1])
    drawn = 0

    def placed(alt: str) -> None:
        nonlocal drawn
        drawn += 1
        step(f"{FIGURE_STEP} {drawn}: {alt}")

    # figures are drawn in forked processes while the page is built, then put in place
    jobs = figures.PngJobs()
    token, jobs_token = FIGURE_DONE.set(placed), PNG_JOBS.set(jobs)
    try:
        text = render(results, analysis)
    finally:
        PNG_JOBS.reset(jobs_token)
        FIGURE_DONE.reset(token)
    for index, data in enumerate(jobs.results()):
        text = text.replace(figure_placeholder(index), figures.data_uri(data), 1)
    path = results.output_dir / REPORT
    write_text(path, text)
    return path


def render(results: Results, analysis: Analysis) -> str:
    """The report as one HTML string."""
    title = results.design.name or results.output_dir.name
    sections = [
        _header(results, title),
        _answer(results, analysis),
        convergence_section(results, analysis),
        sensitivity_section(results, analysis),
        classification.section(results),
        regimen_section.section(results, analysis),
        separability_section(results, analysis),
        pair_section(results, analysis),
        attunement_section(results, analysis),
        trajectory_section(results),
        problems_section(results),
        data_section(results),
        methods.section(results, analysis),
    ]
    template = string.Template(
        resources.files("harness.report").joinpath("report.html").read_text("utf-8")
    )
    css = resources.files("harness.report").joinpath("report.css").read_text("utf-8")
    return template.substitute(
        title=esc(f"{title}: harness report"),
        css=css,
        body="\n".join(s for s in sections if s),
        version=esc(harness.__version__),
    )


# ---------------------------------------------------------------- pieces


# ---------------------------------------------------------------- sections


def _header(results: Results, title: str) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    links = [("answer", "Answer"), ("convergence", "Convergence"), ("separability", "Separability"),
             ("problems", "Failed and diverged runs"), ("methods", "Methods")]  # fmt: skip
    if probes_nothing(results):
        links = [link for link in links if link[0] != "separability"]
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in links)
    description = results.design.description
    return (
        f"<header><h1>{esc(title)}</h1>"
        f'<p class="subtitle">Harness report, generated {esc(when)} from '
        f"<code>{esc(results.output_dir)}</code> by harness {esc(harness.__version__)}.</p>"
        + (para(description) if description else "")
        + f'<nav class="toc">{nav}</nav></header>'
    )


def _question(results: Results) -> str:
    if results.design.question:
        return results.design.question
    target = results.design.target_language or "the target language"
    return (
        f"Does pretraining on each condition make a model learn {target} from audio faster than the "
        "control, and does it change how languages separate in its latent space?"
    )


def _answer(results: Results, analysis: Analysis) -> str:
    parts = ['<section id="answer"><h2>Question and answer</h2>']
    parts.append(para(_question(results), "question"))
    status = sentences.status_sentence(results)
    parts.append(para(status, "warning" if results.n_missing or results.problems else ""))
    limits = dataset_limits(results.design.facts)
    if limits:
        parts.append(para(f"About the data: {limits}", "limits"))
    parts.append(_synthesis(results, analysis))
    parts.append(_key_figure(results, analysis))
    # the sentences behind the answer, one per condition and question: folded
    # (the synthesis above says it in short), so the page stays a page
    parts.append(
        '<details class="answer-more"><summary><h3>Details</h3> one sentence per '
        "condition and question, with its numbers</summary>"
    )
    parts.append('<div class="answer">')
    headline = sentences.headline_sentences(results, analysis)
    if headline:
        parts.append("<h3>Each condition in short (Holm-corrected tests at the 5% level)</h3><ul>")
        parts.extend(f"<li>{esc(text)}</li>" for text in headline)
        parts.append("</ul>")
    parts.append(
        "<h3>Learning speed (target steps to the held-out threshold; pretraining not counted)</h3>"
    )
    for text in (
        sentences.convergence_sentences(results, analysis)
        + sentences.overall_sentences(results, analysis)
        + sentences.cost_sentences(results, analysis)
    ):
        parts.append(para(text))
    parts.append("<h3>Language separation in latent space</h3>")
    for text in separation.separability_sentences(results, analysis) + separation.cka_sentences(
        results, analysis
    ):
        parts.append(para(text))
    parts.extend(_claim(s) for s in layers.best_layer_sentences(results, analysis))
    parts.append("</div></details>")
    for text in sentences.caveats(results, analysis):
        parts.append(para(text, "note"))
    parts.append("</section>")
    return "".join(parts)


def _claim(sentence: answer.Sentence) -> str:
    """A paragraph of one sentence that names the CSV rows it comes from."""
    return (
        f'<p><span class="claim" data-source="{esc(sentence.cited)}" '
        f'title="{esc(sentence.cited)}">{esc(sentence.text)}</span></p>'
    )


def _synthesis(results: Results, analysis: Analysis) -> str:
    """The answer paragraphs; each sentence names the CSV rows it comes from."""
    paragraphs = answer.paragraphs(results, analysis)
    if not paragraphs:
        return ""
    out = ['<div class="synthesis" id="synthesis">']
    for paragraph in paragraphs:
        spans = " ".join(
            f'<span class="{"warning" if s.warning else "claim"}" data-source="{esc(s.cited)}" '
            f'title="{esc(s.cited)}">{esc(s.text)}</span>'
            for s in paragraph.sentences
        )
        lead = (
            f"<strong>{esc(paragraph.title[:1].upper() + paragraph.title[1:])}.</strong> "
            if paragraph.title
            else ""
        )
        model = f' data-model="{esc(paragraph.model)}"' if paragraph.model else ""
        out.append(f'<p class="answer-model"{model}>{lead}{spans}</p>')
    details = [p for p in paragraphs if p.details]
    if details:
        out.append(
            '<details class="answer-details"><summary>Every comparison behind these '
            "sentences</summary>"
        )
        for paragraph in details:
            spans = " ".join(
                f'<span class="claim" data-source="{esc(s.cited)}" title="{esc(s.cited)}">'
                f"{esc(s.text)}</span>"
                for s in paragraph.details
            )
            title = esc(paragraph.title[:1].upper() + paragraph.title[1:])
            out.append(
                f'<p class="answer-detail" data-model="{esc(paragraph.model)}">'
                f"<strong>{title}.</strong> {spans}</p>"
            )
        out.append("</details>")
    out.append(
        para(
            "Each sentence names the rows of the output folder's CSV files its numbers come from "
            "(hover over it, or read its data-source attribute). Time ratio: the Hodges-Lehmann "
            "estimate of each seed's steps divided by the same seed's steps under the other "
            "condition (below 1: sooner), with the exact CI of the signed-rank test; "
            "Holm-corrected within each family of tests. Equivalent: shown by two one-sided "
            "tests to lie within the suite's margin (90% CI inside it).",
            "note",
        )
    )
    out.append("</div>")
    return "".join(out)


def _key_figure(results: Results, analysis: Analysis) -> str:
    """The figure the answer rests on: Kaplan-Meier curves of steps to threshold."""
    return figure(
        figures.kaplan_meier_figure(results, analysis, answer.answer_measure(results)),
        "Kaplan-Meier curves of steps to threshold",
        "Kaplan-Meier estimate of the fraction of runs that have not yet reached the held-out "
        "threshold, against optimizer steps of target training, with pointwise 95% bands "
        "(log-log); one row per model, one panel per condition beside the control (grey). "
        "Ticks: runs censored there (no crossing within the budget; diverged runs at the longest "
        "time observed). Where a curve crosses the dotted line is its median.",
    )


def iter_images(text: str) -> Iterable[str]:
    """The base64 payloads of every embedded PNG in a report (for checks)."""
    marker = 'src="data:image/png;base64,'
    start = text.find(marker)
    while start >= 0:
        begin = start + len(marker)
        end = text.index('"', begin)
        yield text[begin:end]
        start = text.find(marker, end)
