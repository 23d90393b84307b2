"""The self-contained HTML report.

One file: CSS inlined, figures as base64 PNG, no script, and a Content
Security Policy that forbids fetching anything, so it opens the same offline,
attached to an email or years later. Every string that comes from a suite file
or a run record passes through :func:`esc`.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.metadata as md
import json
import math
import string
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import harness
from harness.report import figures, sentences
from harness.report.sentences import fmt_num, fmt_p
from harness.stats.analysis import Analysis, analyse
from harness.tables import Results, load_results, write_analysis

REPORT = "report.html"
#: analysis-side packages whose versions the methods section lists
PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "matplotlib")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def build_report(
    output_dir: str | Path,
    *,
    n_resamples: int = 9999,
    km_resamples: int = 999,
    seed: int = 0,
) -> Path:
    """Write runs.csv, curves.csv, probes.csv, stats/*.csv and report.html
    into ``output_dir``; return the report's path."""
    results = load_results(output_dir)
    analysis = analyse(results, n_resamples=n_resamples, km_resamples=km_resamples, seed=seed)
    write_analysis(results, analysis)
    text = render(results, analysis)
    path = results.output_dir / REPORT
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def render(results: Results, analysis: Analysis) -> str:
    """The report as one HTML string."""
    title = str(results.suite.get("name") or results.output_dir.name)
    sections = [
        _header(results, title),
        _answer(results, analysis),
        _convergence(results, analysis),
        _separability(results, analysis),
        _problems(results),
        _methods(results, analysis),
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


def _p(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


def _figure(data: bytes | None, alt: str, caption: str) -> str:
    if data is None:
        return _p(f"No data for this figure yet ({alt}).", "muted")
    return (
        f'<figure><img src="{figures.data_uri(data)}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


Cell = str | Callable[[pd.Series], str]


def _table(frame: pd.DataFrame, columns: Sequence[tuple[str, Cell]],
           highlight: pd.Series | None = None) -> str:  # fmt: skip
    """An HTML table of ``frame``: (header, column name or row -> text) per column.
    Numbers are right-aligned; every cell is escaped."""
    if frame is None or frame.empty:
        return _p("No rows.", "muted")
    head = "".join(f"<th>{esc(h)}</th>" for h, _ in columns)
    body = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = []
        for _, cell in columns:
            if callable(cell):
                text, numeric = cell(row), True
            else:
                value = row.get(cell, np.nan)
                numeric = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                text = fmt_num(value) if numeric else _text(value)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{esc(text)}</td>")
        cls = ' class="sig"' if highlight is not None and bool(highlight.iloc[i]) else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(value)


def _pcell(column: str) -> Callable[[pd.Series], str]:
    def cell(row: pd.Series) -> str:
        p = row.get(column, np.nan)
        return (
            "–"
            if p is None or not np.isfinite(p)
            else fmt_p(float(p)).removeprefix("p ").removeprefix("= ")
        )

    return cell


def _ci_cell(
    value: str, low: str, high: str, fmt: Callable[[float], str]
) -> Callable[[pd.Series], str]:
    """``value [low, high]`` in one cell, so wide tables stay readable."""

    def cell(row: pd.Series) -> str:
        v = row.get(value, np.nan)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        lo, hi = row.get(low, np.nan), row.get(high, np.nan)
        if not (np.isfinite(lo) or np.isfinite(hi)) and not (np.isinf(lo) or np.isinf(hi)):
            return fmt(v)
        return f"{fmt(v)} [{fmt(lo)}, {fmt(hi)}]"

    return cell


def _time(measure: str) -> Callable[[float], str]:
    return lambda x: sentences.fmt_time(float(x), measure)


def _signed(x: Any, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    # no "-0.000": a difference that rounds to zero is shown as +0
    return f"{x:+.{digits}f}" if round(abs(x), digits) > 0 else f"+{0:.{digits}f}"


def _num_cell(column: str, fmt: Callable[[float], str]) -> Callable[[pd.Series], str]:
    return lambda row: fmt(float(row.get(column, np.nan)))


# ---------------------------------------------------------------- sections


def _header(results: Results, title: str) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    links = [("answer", "Answer"), ("convergence", "Convergence"), ("separability", "Separability"),
             ("problems", "Failed and diverged runs"), ("methods", "Methods")]  # fmt: skip
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in links)
    description = str(results.suite.get("description") or "")
    return (
        f"<header><h1>{esc(title)}</h1>"
        f'<p class="subtitle">Harness report, generated {esc(when)} from '
        f"<code>{esc(results.output_dir)}</code> by harness {esc(harness.__version__)}.</p>"
        + (_p(description) if description else "")
        + f'<nav class="toc">{nav}</nav></header>'
    )


def _question(results: Results) -> str:
    question = str(results.suite.get("question") or "")
    if question:
        return question
    target = (
        (results.suite.get("target") or {}) if isinstance(results.suite.get("target"), dict) else {}
    ).get("language", "the target language")
    return (
        f"Does pretraining on each condition make a model learn {target} from audio faster than the "
        "control, and does it change how languages separate in its latent space?"
    )


def _answer(results: Results, analysis: Analysis) -> str:
    parts = ['<section id="answer"><h2>Question and answer</h2>']
    parts.append(_p(_question(results), "question"))
    status = sentences.status_sentence(results)
    parts.append(_p(status, "warning" if results.n_missing or results.problems else ""))
    parts.append('<div class="answer">')
    headline = sentences.headline_sentences(results, analysis)
    if headline:
        parts.append("<h3>In short (Holm-corrected tests at the 5% level)</h3><ul>")
        parts.extend(f"<li>{esc(text)}</li>" for text in headline)
        parts.append("</ul>")
    parts.append("<h3>Learning speed (steps to the held-out threshold)</h3>")
    for text in sentences.convergence_sentences(results, analysis) + sentences.overall_sentences(
        results, analysis
    ):
        parts.append(_p(text))
    parts.append("<h3>Language separation in latent space</h3>")
    for text in sentences.separability_sentences(results, analysis) + sentences.cka_sentences(
        results, analysis
    ):
        parts.append(_p(text))
    parts.append("</div>")
    for text in sentences.caveats(results, analysis):
        parts.append(_p(text, "note"))
    parts.append("</section>")
    return "".join(parts)


def _convergence(results: Results, analysis: Analysis) -> str:
    out = ['<section id="convergence"><h2>Convergence</h2>']
    out.append(_figure(
        figures.kaplan_meier_figure(results, analysis, "steps"),
        "Kaplan-Meier curves of steps to threshold",
        "Kaplan-Meier estimate of the fraction of runs that have not yet reached the held-out "
        "threshold, against optimizer steps of target training, with pointwise 95% bands "
        "(log-log). Ticks: runs censored there (no crossing within the budget; diverged runs at "
        "the longest time observed). Where a curve crosses the dotted line is its median.",
    ))  # fmt: skip
    out.append(_figure(
        figures.learning_curve_figure(results, analysis),
        "Learning curves",
        "Mean held-out loss across seeds with a 95% t-interval, drawn while at least half of a "
        "condition's runs are still training: runs stop when they cross the threshold, so later "
        "points would average only the slower runs (stats/learning_curves.csv has every step).",
    ))  # fmt: skip
    label = results.condition_label
    summary = analysis.survival_summary.copy()
    if not summary.empty:
        summary["condition"] = summary["condition"].map(label)
        for measure, name in (("steps", "Steps"), ("seconds", "Seconds")):
            rows = summary[summary["measure"] == measure]
            t = _time(measure)
            out.append(f"<h3>{esc(name)} to threshold per condition</h3>")
            out.append(_table(rows, [
                ("model", "model"), ("condition", "condition"), ("runs", "n_runs"),
                ("reached", "n_reached"), ("censored", "n_censored"), ("diverged", "n_diverged"),
                ("failed (excluded)", "n_failed"),
                ("median [95% CI]", _ci_cell("median", "median_ci_low", "median_ci_high", t)),
                ("restricted mean", _num_cell("rmst", t)), ("up to", _num_cell("rmst_tau", t)),
            ]))  # fmt: skip
    tests = analysis.logrank_vs_control.copy()
    if not tests.empty:
        tests["condition"] = tests["condition"].map(label)
        for measure in ("steps", "seconds"):
            rows = tests[tests["measure"] == measure].reset_index(drop=True)
            t = _time(measure)
            out.append(
                f"<h3>Each condition against the control: log-rank tests ({esc(measure)})</h3>"
            )
            out.append(_table(rows, [
                ("model", "model"), ("condition", "condition"),
                ("median", _num_cell("median", t)), ("median (control)", _num_cell("median_control", t)),
                ("ratio of medians", _num_cell("median_ratio", lambda x: fmt_num(x))),
                ("RMST difference [95% CI]", _ci_cell("rmst_difference", "rmst_difference_ci_low",
                                                      "rmst_difference_ci_high", t)),
                ("z", _num_cell("z", lambda x: f"{x:+.2f}" if np.isfinite(x) else "–")),
                ("p", _pcell("p_value")), ("p (Holm)", _pcell("p_holm")),
            ], highlight=rows["p_holm"] < sentences.ALPHA))  # fmt: skip
        out.append(_p(f"Control: {label(str(tests['control'].iloc[0]))}. RMST difference: condition "
                      "minus control restricted mean time to threshold up to the budget (negative: "
                      "reached sooner). z > 0: the condition crossed more often than expected under "
                      "no difference. Highlighted rows: Holm-corrected p < 0.05.", "note"))  # fmt: skip
    overall = analysis.logrank_overall
    if not overall.empty:
        out.append("<h3>All conditions at once: k-sample log-rank test</h3>")
        out.append(_table(overall, [
            ("time", "measure"), ("model", "model"), ("conditions", "k"), ("runs", "n"),
            ("χ²", _num_cell("chi2", lambda x: f"{x:.2f}")), ("df", "df"),
            ("p", _pcell("p_value")), ("p (Holm)", _pcell("p_holm")),
        ]))  # fmt: skip
    out.append("</section>")
    return "".join(out)


def _separability(results: Results, analysis: Analysis) -> str:
    out = ['<section id="separability"><h2>Language separation</h2>']
    main = sentences.main_metrics(analysis)
    if not main:
        out.append(_p("No probe results yet.", "muted"))
    for probe, metric in main:
        out.append(f"<h3>{esc(metric)} ({esc(probe)})</h3>")
        out.append(_figure(
            figures.separability_figure(results, analysis, probe, metric),
            f"{metric} per latent space and condition",
            "Mean over seeds with bootstrap 95% CI per latent space and condition. Dashed: the "
            "probe's chance level. Grey line and band: the raw-feature baseline (features of the "
            "same clips, no model).",
        ))  # fmt: skip
        out.append(_separability_tables(results, analysis, probe, metric))
    for model, seeds, data in figures.tsne_figures(results):
        out.append(f"<h3>Probe clips in two dimensions: {esc(model)}</h3>")
        out.append(_figure(
            data,
            f"2-D probe coordinates for {model}",
            f"The held-out probe clips in the 2-D coordinates a probe saved (such as t-SNE), one "
            f"seed per condition (seed {', '.join(map(str, seeds))}), coloured by language. Distances "
            "in t-SNE are not comparable across panels; the probe scores above are the measure.",
        ))  # fmt: skip
    out.append("<h3>Similarity of latent spaces across conditions</h3>")
    out.append(_figure(
        figures.cka_figure(results, analysis),
        "Linear CKA between conditions",
        "Mean linear CKA between the latent spaces of two conditions on the same held-out clips, "
        "over all pairs of seeds (diagonal: pairs of different seeds of one condition, the "
        "yardstick). 1 means the same geometry up to rotation and scale. stats/cka.csv has the "
        "standard deviations and pair counts.",
    ))  # fmt: skip
    out.append(_p("Every probe metric, including those not shown here, is in "
                  "stats/separability.csv and stats/separability_vs_control.csv.", "note"))  # fmt: skip
    out.append("</section>")
    return "".join(out)


def _separability_tables(results: Results, analysis: Analysis, probe: str, metric: str) -> str:
    out = []
    label = results.condition_label
    score = sentences.fmt_score
    vs = analysis.separability_vs_control
    if not vs.empty:
        rows = vs[(vs["probe"] == probe) & (vs["metric"] == metric)].reset_index(drop=True)
        rows["condition"] = rows["condition"].map(label)
        out.append(_table(rows, [
            ("model", "model"), ("condition", "condition"), ("latent space", "latent_space"),
            ("seeds", "n"), ("mean", _num_cell("mean", score)),
            ("control", _num_cell("mean_control", score)),
            ("difference [95% CI]", _ci_cell("difference", "difference_ci_low", "difference_ci_high", _signed)),
            ("rank-biserial", _num_cell("rank_biserial", lambda x: _signed(x, 2))),
            ("p", _pcell("p_value")), ("p (Holm)", _pcell("p_holm")),
        ], highlight=rows["p_holm"] < sentences.ALPHA))  # fmt: skip
        out.append(_p("Each condition against the control: two-sided permutation test of the "
                      "difference in means across seeds; rank-biserial = P(condition seed > control "
                      "seed) − P(<). Highlighted: Holm-corrected p < 0.05.", "note"))  # fmt: skip
    sep = analysis.separability
    if not sep.empty:
        rows = sep[(sep["probe"] == probe) & (sep["metric"] == metric)].reset_index(drop=True)
        rows["condition"] = rows["condition"].map(label)
        out.append(_table(rows, [
            ("model", "model"), ("condition", "condition"), ("latent space", "latent_space"),
            ("seeds", "n"), ("mean [95% CI]", _ci_cell("mean", "ci_low", "ci_high", score)),
            ("minus chance [95% CI]", _ci_cell("diff_vs_chance", "diff_vs_chance_ci_low",
                                               "diff_vs_chance_ci_high", _signed)),
            ("p (Holm)", _pcell("p_vs_chance_holm")),
            ("minus baseline [95% CI]", _ci_cell("diff_vs_baseline", "diff_vs_baseline_ci_low",
                                                 "diff_vs_baseline_ci_high", _signed)),
            ("p (Holm)", _pcell("p_vs_baseline_holm")),
        ]))  # fmt: skip
        chance = rows["chance"].dropna()
        level = f"chance level {sentences.fmt_score(float(chance.mean()))}; " if len(chance) else ""
        out.append(_p(f"Against chance and the raw-feature baseline ({level}feature_stats rows are "
                      "the baseline itself): differences paired within runs, sign-flip "
                      "permutation tests, Holm-corrected within the metric. With n seeds the "
                      "smallest sign-flip p is 2 / 2^n, so after correction these p-values can stay "
                      "above 0.05 even when every seed is above chance: the CI is the better guide.",
                      "note"))  # fmt: skip
    return "".join(out)


def _problems(results: Results) -> str:
    runs = results.runs
    bad = runs[runs["status"].isin(["failed", "diverged"])]
    out = ['<section id="problems"><h2>Failed, diverged and missing runs</h2>']
    if bad.empty and not results.n_missing and not results.problems:
        out.append(_p("Every expected run finished; none failed or diverged."))
    if not bad.empty:
        out.append(_p(
            "Failed runs (an error stopped them) are left out of every statistic. Diverged runs "
            "(a loss became non-finite) never reach the threshold: they count as censored at the "
            "longest time any run of the same model recorded, and have no probe results."
        ))  # fmt: skip
        out.append(_table(bad, [
            ("run", "label"), ("run id", "run_id"), ("status", "status"),
            ("diverged at step", "diverged_step"), ("phase", "diverged_phase"),
            ("error", "error_type"), ("message", "error_message"),
        ]))  # fmt: skip
        for run_id in bad.loc[bad["status"] == "failed", "run_id"]:
            error = (results.records[run_id].get("error") or {}).get("traceback")
            if error:
                out.append(f"<details><summary>Traceback of {esc(results.records[run_id].get('label', run_id))}</summary>"
                           f"<pre>{esc(error)}</pre></details>")  # fmt: skip
    if results.n_missing:
        names = results.missing
        listing = ", ".join(names[:50]) + (
            f" and {len(names) - 50} more" if len(names) > 50 else ""
        )
        out.append(_p(f"{results.n_missing} expected run(s) have no record"
                      + (f": {listing}." if names else ".")))  # fmt: skip
    for problem in results.problems:
        out.append(_p(problem, "warning"))
    out.append("</section>")
    return "".join(out)


def _first_spec(results: Results) -> dict[str, Any]:
    for record in results.records.values():
        if record.get("spec"):
            return dict(record["spec"])
    return {}


def _methods(results: Results, analysis: Analysis) -> str:
    out = ['<section id="methods"><h2>Methods</h2>']
    spec = _first_spec(results)
    target = spec.get("target") or {}
    if target:
        out.append(_p(
            f"Each run trains a model on {target.get('language', '?')} until its held-out loss "
            f"crosses the threshold ({target.get('threshold_mode', '?')} threshold "
            f"{target.get('threshold', '?')}), evaluated every {target.get('eval_every', '?')} steps, "
            f"for at most {target.get('max_steps', '?')} optimizer steps; runs that do not cross are censored."
        ))  # fmt: skip
    out.append(_statistics_methods())
    out.append("<h3>Conditions</h3>")
    out.append(_table(_conditions_frame(results), [
        ("condition", "name"), ("label", "label"), ("pretraining language", "language"),
        ("filter", "filter"), ("epochs", "epochs"), ("control", "control"),
    ]))  # fmt: skip
    out.append("<h3>Resolved settings (from the run records)</h3>")
    settings = [(k, spec[k]) for k in ("dataset", "features", "splits", "target", "training", "model",
                                       "extractors", "probes") if k in spec]  # fmt: skip
    models = {_setting(r["spec"].get("model")) for r in results.records.values() if r.get("spec")}
    if settings:
        rows = [
            (k, _setting(v) if k != "model" else "; ".join(sorted(models))) for k, v in settings
        ]
        out.append(_table(pd.DataFrame(rows, columns=["section", "value"]),
                          [("section", "section"), ("value", "value")]))  # fmt: skip
    out.append("<h3>Data per role and language</h3>")
    out.append(_table(_counts_frame(results), [
        ("role", "role"), ("language", "language"), ("speakers", "speakers"), ("clips", "clips"),
    ]))  # fmt: skip
    out.append("<h3>Software</h3>")
    out.append(_table(_versions_frame(results), [("package", "package"), ("where", "where"),
                                                 ("version(s)", "version")]))  # fmt: skip
    files = ["runs.csv", "curves.csv", "probes.csv"] + [f"stats/{n}.csv" for n in analysis.tables()]
    out.append(
        _p(
            "Tables written next to this report: "
            + ", ".join(files)
            + ". docs/report.md documents every column."
        )
    )
    if results.suite_text:
        out.append(
            f"<details><summary>suite.toml as run</summary><pre>{esc(results.suite_text)}</pre></details>"
        )
    out.append("</section>")
    return "".join(out)


def _setting(value: Any) -> str:
    """A resolved setting as a reader writes it: ``key=value`` pairs, and
    ``label = plugin(params)`` for a component selection."""
    if isinstance(value, list):
        return "; ".join(_setting(v) for v in value)
    if isinstance(value, dict):
        if "plugin" in value and "params" in value:
            inner = _setting(value.get("params") or {})
            name = str(value["plugin"])
            head = name if value.get("label") in (None, name) else f"{value['label']} = {name}"
            return f"{head}({inner})"
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(value.items()))
    return json.dumps(value)


def _statistics_methods() -> str:
    items = [
        "Time to threshold is survival data: a run that never crossed is right-censored at its "
        "budget, never dropped. Kaplan-Meier curves come from scipy.stats.ecdf with log-log "
        "pointwise 95% bands; the median's 95% CI is where the band crosses 0.5.",
        "Each condition is compared with the control by a two-sided log-rank test "
        "(scipy.stats.logrank); all conditions at once by the k-sample log-rank test "
        "(statsmodels survdiff). Effect sizes: the ratio of medians and the difference in "
        "restricted mean time to threshold (area under the Kaplan-Meier curve up to the budget) "
        "with a percentile bootstrap 95% CI (runs resampled within groups).",
        "Probe scores are averaged over seeds with a bootstrap 95% CI (scipy.stats.bootstrap, "
        "BCa). Against chance and against the raw-feature baseline of the same run: sign-flip "
        "permutation tests of the paired differences. Against the control: a two-sample "
        "permutation test of the difference in means, its bootstrap CI and the rank-biserial "
        "correlation from Mann-Whitney U.",
        "Holm's correction (statsmodels multipletests) within each family: the log-rank tests of "
        "one time measure across models and conditions; the comparisons of one probe metric.",
        "Failed runs are excluded and listed; diverged runs count as never reaching the "
        "threshold (censored beyond every observed crossing).",
    ]
    return "<h3>Statistics</h3><ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def _conditions_frame(results: Results) -> pd.DataFrame:
    rows = []
    specs: dict[str, dict[str, Any]] = {}
    for record in results.records.values():
        cond = (record.get("spec") or {}).get("condition") or {}
        if cond.get("name"):
            specs.setdefault(cond["name"], cond)
    for name in results.conditions:
        cond = specs.get(name, {})
        flt = cond.get("filter") or {}
        flt_text = flt.get("plugin", "") + (
            f" {json.dumps(flt.get('params'))}" if flt.get("params") else ""
        )
        rows.append({"name": name, "label": results.condition_label(name),
                     "language": cond.get("language") or "none (no pretraining)",
                     "filter": flt_text if cond.get("language") else "–",
                     "epochs": cond.get("epochs", "–") if cond.get("language") else "–",
                     "control": "yes" if name == results.control else ""})  # fmt: skip
    return pd.DataFrame(rows)


def _counts_frame(results: Results) -> pd.DataFrame:
    """Clips and speakers per role and language; a cell that differs between
    runs (each condition pretrains on its own language) shows every value."""
    seen: dict[tuple[str, str], dict[str, set[int]]] = {}
    for record in results.records.values():
        counts = (record.get("data") or {}).get("counts") or {}
        for role, langs in counts.items():
            for lang, numbers in (langs or {}).items():
                cell = seen.setdefault((str(role), str(lang)), {"speakers": set(), "clips": set()})
                for key in ("speakers", "clips"):
                    if isinstance(numbers, dict) and numbers.get(key) is not None:
                        cell[key].add(int(numbers[key]))
    rows = [
        {"role": role, "language": lang,
         "speakers": " or ".join(map(str, sorted(v["speakers"]))) or "–",
         "clips": " or ".join(map(str, sorted(v["clips"]))) or "–"}
        for (role, lang), v in sorted(seen.items())
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["role", "language", "speakers", "clips"])


def _versions_frame(results: Results) -> pd.DataFrame:
    recorded: dict[str, set[str]] = {}
    for record in results.records.values():
        for key, value in (record.get("environment") or {}).items():
            if value is not None and not isinstance(value, (dict, list)):
                recorded.setdefault(str(key), set()).add(str(value))
    rows = [
        {"package": k, "where": "runs", "version": ", ".join(sorted(v))}
        for k, v in sorted(recorded.items())
    ]
    rows.append({"package": "harness", "where": "report", "version": harness.__version__})
    rows += [{"package": p, "where": "report", "version": _version(p)} for p in PACKAGES]
    return pd.DataFrame(rows)


def _version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "not installed"


def iter_images(text: str) -> Iterable[str]:
    """The base64 payloads of every embedded PNG in a report (for checks)."""
    marker = 'src="data:image/png;base64,'
    start = text.find(marker)
    while start >= 0:
        begin = start + len(marker)
        end = text.index('"', begin)
        yield text[begin:end]
        start = text.find(marker, end)
