"""The report's methods section: protocol, statistics, conditions, settings,
data counts and software versions, all from the run records."""

from __future__ import annotations

import importlib.metadata as md
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

import harness
from harness.output.layout import CURVES_CSV, PROBES_CSV, RUNS_CSV, stats_csv
from harness.plugin.names import component_title, param_words
from harness.plugin.provenance import HARNESS, describe
from harness.report import response_figure
from harness.report.markup import esc, para, table
from harness.spec.config import SELF_SUPERVISED
from harness.stats.analysis import Analysis
from harness.stats.sequential import methods_lines
from harness.tables.results import Results

#: analysis-side packages whose versions the methods section lists
PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "matplotlib")


def _first_spec(results: Results) -> dict[str, Any]:
    """A run's spec, the control's first: conditions may differ in settings."""
    records = [r for r in results.records.values() if r.spec]
    control = [dict(r.spec) for r in records if r.condition_name == results.control]
    return (control or [dict(r.spec) for r in records] or [{}])[0]


#: how the Methods name a setting conditions differ in, and its unit
_SETTING_NAMES = {"sample_rate": ("sample rate", " Hz"), "lr": ("learning rate", ""),
                  "language": ("target language", ""), "fmin": ("fmin", " Hz"),
                  "fmax": ("fmax", " Hz"), "win_ms": ("window", " ms"),
                  "hop_ms": ("hop", " ms")}  # fmt: skip


def differences_sentence(results: Results) -> str:
    """The sentence "Conditions differ in: sample rate 8000 Hz (8k) vs 16000 Hz (16k)."
    from the design, or "" when conditions differ only in what they hear first."""
    parts = []
    for _, key, values in results.design.differences():
        name, unit = _SETTING_NAMES.get(key, (key, ""))
        groups: dict[str, list[str]] = {}
        for condition, value in values.items():
            text = value if isinstance(value, str) else _setting(value)
            groups.setdefault(f"{text}{unit}", []).append(condition)
        parts.append(f"{name} " + " vs ".join(f"{v} ({', '.join(c)})" for v, c in groups.items()))
    return f"Conditions differ in: {'; '.join(parts)}." if parts else ""


def probes_heard(results: Results) -> str:
    """What the probes heard: the probe clips as the dataset gives them, or
    through the suite's [probing] filter with its parameters; "" without probes."""
    spec = _first_spec(results)
    if not spec.get("probes"):
        return ""
    chosen = results.design.probe_filter or spec.get("probe_filter")
    if not chosen:
        return "Probes heard the probe clips as the dataset gives them (no [probing] filter)."
    title = component_title("pretrain_filter", str(chosen["plugin"]), results.design.facts)
    settings = []
    for key, value in sorted((chosen.get("params") or {}).items()):
        name, unit = param_words(key)
        settings.append(f"{name} {_setting(value).strip(chr(34))}{' ' + unit if unit else ''}")
    given = f" ({', '.join(settings)})" if settings else ""
    return (
        f"Probes heard the probe clips through the {title} filter{given}: the same "
        "filtered audio in every run, so the latents and every separability result "
        "are of that audio, not of the clips as recorded."
    )


def probes_along(results: Results) -> str:
    """The steps the probes also ran at along target training ([probing]
    probe_at, as each model's runs resolved them), and which probes ran there
    (those with rows, faults or skips along training) and which in the final
    probing only; "" without them."""
    steps: dict[str, tuple[int, ...]] = {}
    along: set[str] = set()
    for record in results.records.values():
        points = tuple((record.spec or {}).get("probe_at") or ())
        if points:
            steps.setdefault(record.model_label or "", points)
        if record.along_training is not None:
            a = record.along_training
            along |= {str(r.probe) for r in (*a.probes, *a.probe_errors, *a.probes_skipped)}
    if not steps:
        return ""
    per_model = "; ".join(
        f"{', '.join(map(str, points))}{f' ({model})' if len(steps) > 1 else ''}"
        for model, points in sorted(steps.items())
    )
    suite = [
        str(p["label"])
        for r in results.records.values()
        for p in (r.spec or {}).get("probes") or ()
    ]
    ran = [p for p in dict.fromkeys(suite) if p in along]
    final = [p for p in dict.fromkeys(suite) if p not in along]
    noun = "probe" if len(ran) == 1 else "probes"
    which = f"The {noun} {', '.join(ran)} also ran" if ran else "Probes also ran"
    only = f"; {', '.join(final)} ran in the final probing only" if ran and final else ""
    return (
        f"{which} along target training, at steps {per_model} (step 0: the model "
        "as it entered target training), on the same probe clips as the final probing, "
        "each probe with the parameters its plugin declares for such points (the built-in "
        "ridge and linear_svc skip their speaker relabellings there: nothing is tested "
        "across steps); a "
        f"run's points after it stopped were not measured{only}."
    )


def _thresholds(results: Results) -> str:
    """Each model's threshold and budget, as the suite resolved them; a relative
    threshold with the loss value it came to (the same for every run of the model)."""
    parts = []
    for m in results.design.models:
        value = m.threshold if m.threshold is not None else "?"
        if m.threshold_mode == "relative":
            used = _used_threshold(results, m.label)
            what = f"threshold {value} x the untrained held-out loss averaged over the seeds"
            if used is not None:
                what += f" = {used:.4g}"
        else:
            what = f"{m.threshold_mode or '?'} threshold {value}"
        steps = m.max_steps if m.max_steps is not None else "?"
        parts.append(f"{results.model_label(m.label)}: {what}, at most {steps} optimizer steps")
    return "; ".join(parts) or "as recorded"


def _used_threshold(results: Results, model: str) -> float | None:
    """The threshold a model's runs used, when they all used the same one."""
    runs = results.runs
    values = runs.loc[runs["model"] == model, "threshold"].dropna().unique()
    return float(values[0]) if len(values) == 1 else None


def _training_sentence(results: Results, target: Mapping[str, Any]) -> str:
    """What each run learns and when it counts as learnt ("" without a target)."""
    if not target:
        return ""
    metric = str(target.get("metric") or "loss").replace("_", " ")
    learns = target.get("language", "?")
    if target.get("task") == "classify":
        languages = ", ".join(
            dict.fromkeys([target.get("language", "?"), *target.get("languages", [])])
        )
        learns = f"the {target.get('label', 'language')} of {languages} clips"
    return para(
        f"Each run trains a model on {learns} until its held-out {metric} "
        f"crosses its model's threshold ({_thresholds(results)}), evaluated every "
        f"{target.get('eval_every', '?')} steps; runs that do not cross within the budget are censored."
    )  # fmt: skip


def _sequential_stops(results: Results) -> str:
    """A sequential suite's rule and where each comparison stopped ("" otherwise)."""
    sequential = (results.design.sequential or {}) if results.design else {}
    if not sequential.get("comparisons"):
        return ""
    head, *lines = methods_lines(sequential)
    return para(head) + "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>"


def section(results: Results, analysis: Analysis) -> str:
    out = ['<section id="methods"><h2>Methods</h2>']
    spec = _first_spec(results)
    out.append(_training_sentence(results, spec.get("target") or {}))
    for sentence in (probes_heard(results), probes_along(results)):
        if sentence:
            out.append(para(sentence))
    differences = differences_sentence(results)
    if differences:
        out.append(para(differences + " The settings below are the control's."))
    out.append(_statistics_methods(analysis))
    out.append(_sequential_stops(results))
    out.append("<h3>Conditions</h3>" + _curricula_note(results))
    out.append(table(_conditions_frame(results), [
        ("condition", "name"), ("label", "label"), ("pretraining language", "language"),
        ("filter", "filter"), ("epochs", "epochs"), ("control", "control"),
    ]))  # fmt: skip
    out.append(response_figure.section(results))
    out.append("<h3>Resolved settings (from the run records)</h3>")
    settings = [(k, spec[k]) for k in ("dataset", "features", "splits", "target", "training", "model",
                                       "extractors", "probes") if k in spec]  # fmt: skip
    models = {_setting(r.spec.get("model")) for r in results.records.values() if r.spec}
    if settings:
        rows = [
            (k, _setting(v) if k != "model" else "; ".join(sorted(models))) for k, v in settings
        ]
        out.append(table(pd.DataFrame(rows, columns=["section", "value"]),
                          [("section", "section"), ("value", "value")]))  # fmt: skip
    out.append("<h3>Data per role and language</h3>")
    out.append(table(_counts_frame(results), [
        ("role", "role"), ("language", "language"), ("speakers", "speakers"), ("clips", "clips"),
    ]))  # fmt: skip
    out.append("<h3>Software</h3>")
    out.append(table(_versions_frame(results), [("package", "package"), ("where", "where"),
                                                 ("version(s)", "version")]))  # fmt: skip
    files = [RUNS_CSV, CURVES_CSV, PROBES_CSV, *map(stats_csv, analysis.tables())]
    out.append(
        para(
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


def _statistics_methods(analysis: Analysis) -> str:
    designs = set(analysis.convergence_vs_control["design"])
    design_sentence = (
        "This suite's conditions share their seeds, so learning speed is compared as paired."
        if designs == {"paired"}
        else "This suite's conditions do not share their seeds, so learning speed is compared "
        "unpaired."
        if designs == {"unpaired"}
        else "Conditions sharing their seeds with the control are compared paired, the others "
        "unpaired (column design of stats/convergence_vs_control.csv)."
        if designs
        else "No condition is compared with a control."
    )
    items = [
        "Time to threshold is survival data: a run that never crossed is right-censored at its "
        "budget, never dropped. Kaplan-Meier curves come from scipy.stats.ecdf with log-log "
        "pointwise 95% bands; the median's 95% CI is where the band crosses 0.5.",
        design_sentence,
        "Paired comparisons: seed i of a condition against seed i of the control (same initial "
        "weights, target batches and probe folds). The effect is the time ratio, the "
        "Hodges-Lehmann estimate of the per-seed ratios of steps to threshold, with a 95% CI "
        "from inverting the test; the test is an exact two-sided signed-rank test on the "
        "per-seed log ratios (its null over all 2^n sign vectors). Two conditions are called "
        "equivalent only when two one-sided tests (Holm-corrected) put the ratio inside the "
        "suite's equivalence margin, shown by a 90% CI inside it. A censored "
        "run enters at its budget, which both members of a pair share, so a reached-vs-censored "
        "pair still counts (with the smallest difference its data allow) and the test stays "
        "exact. All conditions at once: a permutation test of the log times, conditions "
        "permuted within each seed.",
        "Unpaired comparisons (conditions without shared seeds): a log-rank test whose null "
        "permutes the runs' labels (exact enumeration for small groups), and a permutation "
        "k-sample log-rank test for all conditions. Both designs also give the difference in "
        "restricted mean time to threshold (area under the Kaplan-Meier curve up to the budget) "
        "with a percentile bootstrap 95% CI resampling seed pairs or runs.",
        "Every comparison states the smallest time ratio it had 80% power to detect (t "
        "approximation from the observed spread of the log ratios, at Holm's first-step level "
        '0.05/m), so "no evidence" always comes with the effect the suite could have seen.',
        "Separability claims treat the probe speakers as sampled: every seed probes the same "
        "speakers, so seeds are not independent samples of them. Against chance: a permutation "
        "test relabelling languages across whole speakers, the same relabelling in every seed, "
        "the seed-averaged score recomputed. Against the raw-feature baseline of the same runs "
        "and against the control (seed i with seed i): per-speaker contributions to the score, "
        "a t-test and 95% CI whose standard error counts seeds and speakers as crossed random "
        "factors (two-way variance components, Satterthwaite degrees of freedom), with the "
        "smallest difference detectable at 80% power at Holm's first-step level 0.05/m; "
        "equivalence within the suite's margin (equivalence_score) by two one-sided tests "
        "with the same standard error, Holm-corrected over the family.",
        "Holm's correction (statsmodels multipletests) within each family: the comparisons of "
        "one time measure across models and conditions; the comparisons of one probe metric.",
        "Failed runs are excluded and listed; diverged runs count as never reaching the "
        "threshold (censored beyond every observed crossing).",
    ]
    return "<h3>Statistics</h3><ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def _conditions_frame(results: Results) -> pd.DataFrame:
    rows = []
    specs: dict[str, Mapping[str, Any]] = {}
    for record in results.records.values():
        if record.condition_name:
            specs.setdefault(record.condition_name, record.section("condition"))
    for name in results.conditions:
        cond = specs.get(name, {})
        first = {"name": name, "label": results.condition_label(name),
                 "control": "yes" if name == results.control else ""}  # fmt: skip
        stages = cond.get("stages") or [cond]
        for i, stage in enumerate(stages):
            # a curriculum: one line per stage, numbered, the name on the first only
            row = first if i == 0 else {"name": "", "label": "", "control": ""}
            rows.append({**row, **_stage_cells(stage, f"{i + 1}. " if len(stages) > 1 else "")})
    return pd.DataFrame(rows)


def _curricula_note(results: Results) -> str:
    """A line before the conditions table where some condition is a curriculum."""
    if any(r.section("condition").get("stages") for r in results.records.values()):
        return para("A curriculum's stages are listed in the order they are heard, one a line.")
    return ""


def _stage_cells(stage: Mapping[str, Any], number: str) -> dict[str, Any]:
    """A stage's language, filter with its parameters and amount (a condition's
    own keys, or one of its ``stages`` written the same way)."""
    if not stage.get("language"):
        return {"language": "none (no pretraining)", "filter": "–", "epochs": "–"}
    flt = stage.get("filter") or {}
    flt_text = flt.get("plugin", "") + (
        f" {json.dumps(flt.get('params'))}" if flt.get("params") else ""
    )
    amount = _pretraining_amount(stage)
    if stage.get("reset_optimizer"):
        amount = f"{amount} (fresh optimiser)"
    return {"language": f"{number}{stage['language']}", "filter": flt_text, "epochs": amount}


def _pretraining_amount(cond: Mapping[str, Any]) -> Any:
    """A condition's epochs, or its ``pretrain_steps`` as "N steps"; "(self-supervised)"
    after either when it pretrains on the model's own loss."""
    amount = (
        f"{cond['pretrain_steps']} steps" if cond.get("pretrain_steps") else cond.get("epochs", "–")
    )
    if cond.get("pretrain_objective") == SELF_SUPERVISED:
        return f"{amount} (self-supervised)"
    return amount


def _counts_frame(results: Results) -> pd.DataFrame:
    """Clips and speakers per role and language; a cell that differs between
    runs (each condition pretrains on its own language) shows every value."""
    seen: dict[tuple[str, str], dict[str, set[int]]] = {}
    for record in results.records.values():
        for role, langs in record.data.counts.items():
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
        for key, value in record.environment.items():
            if value is not None and not isinstance(value, (dict, list)):
                recorded.setdefault(str(key), set()).add(str(value))
    rows = [
        {"package": k, "where": "runs", "version": ", ".join(sorted(v))}
        for k, v in sorted(recorded.items())
    ]
    rows += _provenance_rows(results)
    rows.append({"package": "harness", "where": "report", "version": harness.__version__})
    rows += [{"package": p, "where": "report", "version": _version(p)} for p in PACKAGES]
    return pd.DataFrame(rows)


def _provenance_rows(results: Results) -> list[dict[str, str]]:
    """Where the code of the runs came from (record "provenance"): the harness's
    run code and each component, with distribution, version and source hash;
    a component that ran from different code in different runs shows each."""
    seen: dict[str, set[str]] = {}
    for record in results.records.values():
        for key, origin in record.provenance.items():
            if isinstance(origin, dict):
                seen.setdefault(str(key), set()).add(describe(origin))
    order = sorted(seen, key=lambda k: (k != HARNESS, k))
    return [
        {
            "package": "harness (run code)" if key == HARNESS else f"plugin {key}",
            "where": "runs",
            "version": "; ".join(sorted(seen[key])),
        }
        for key in order
    ]


def _version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "not installed"
