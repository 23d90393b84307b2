"""The synthesized answer at the top of the report: one paragraph per model,
every sentence traceable to CSV rows whose numbers it repeats; comparisons
between conditions chosen from the declared design; wall seconds that carry
their machine load, and a warning where they contradict the steps."""

from __future__ import annotations

import dataclasses
import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report import build_report
from harness.report.answer import ANSWER_MEASURE, Source, paragraphs
from harness.spec.design import ConditionInfo, Design
from harness.stats.analysis import analyse
from harness.stats.between import between_conditions, contrast_pairs
from harness.stats.convergence import paired_log_ratios
from harness.stats.multiple import holm
from harness.stats.signed_rank import hodges_lehmann, signed_rank
from harness.stats.survival import analysable
from harness.tables.results import load_results

from helpers.fake_results import FLAGSHIP_CONDITIONS, flagship_suite, write_fake_results

#: the flagship's control, speech, language, upper and noise controls; 10 seeds
#: as the flagship has, so an exact test can pass Holm over the comparisons
SHOWN = ("none", "es-lp500", "it-lp500", "es-full", "noise-lp500")
#: the runs of this condition ran on a machine four times as loaded
BUSY = "es-lp500"


def _suite(**changes):
    conditions = tuple(c for c in FLAGSHIP_CONDITIONS if c.name in SHOWN)
    return dataclasses.replace(
        flagship_suite(), conditions=conditions, seeds=tuple(range(10)), tsne=False, **changes
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = write_fake_results(tmp_path_factory.mktemp("answer"), _suite(slowdown={BUSY: 4.0}))
    path = build_report(folder, n_resamples=999, km_resamples=99)
    return folder, path.read_text(encoding="utf-8")


def _sentences(page: str, part: str = "") -> list[tuple[str, str, str]]:
    """(class, data-source, text) of every sentence of the answer: of its
    paragraphs (``part`` "answer-model"), of the collapsed details under them
    ("answer-detail"), or both ("")."""
    start = page.index('id="synthesis"')
    block = page[start : page.index("</div>", start)]
    if part:
        block = " ".join(re.findall(rf'<p class="{part}".*?</p>', block))
    spans = re.findall(r'<span class="(\w+)" data-source="([^"]*)"[^>]*>(.*?)</span>', block)
    return [(kind, html.unescape(src), html.unescape(text)) for kind, src, text in spans]


def _parse(cited: str) -> list[Source]:
    out = []
    for entry in cited.split(" | "):
        table, _, keys = entry.partition(": ")
        pairs = tuple(tuple(k.split("=", 1)) for k in keys.split(", ")) if keys else ()
        out.append(Source(table, pairs))  # type: ignore[arg-type]
    return out


def _read(folder, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / table, keep_default_na=True)


# ---------------------------------------------------------------- layout


def test_the_answer_and_its_figure_come_before_any_table_or_other_figure(built):
    _, page = built
    body = page[page.index('<section id="answer"') :]
    answer = body.index('id="synthesis"')
    first_figure = body.index("<figure")
    assert answer < first_figure < body.index("<table")
    # the key figure comes directly after the answer, before the details
    assert "Kaplan-Meier" in body[first_figure : body.index("</figure>", first_figure)]
    assert first_figure < body.index("<h3>Details</h3>") < body.index("Each condition in short")
    # one paragraph per model, named by its label, then the measure paragraph
    models = re.findall(r'<p class="answer-model" data-model="([^"]+)"><strong>([^<]+)</strong>',
                        page)  # fmt: skip
    assert [m for m, _ in models] == ["lstm", "conv_autoencoder"]
    assert [t for _, t in models] == ["LSTM.", "Convolutional autoencoder."]
    assert "conv_autoencoder" not in " ".join(text for _, _, text in _sentences(page))


# ---------------------------------------------------------------- traceability


def _allowed(rows: pd.DataFrame) -> set[str]:
    """Every way the answer may print a number of these rows."""
    out: set[str] = set()
    for value in rows.select_dtypes("number").to_numpy(float).ravel():
        if not math.isfinite(value):
            continue
        out |= {f"{value:.2f}", f"{value:.3f}", f"{abs(value):.3f}", f"{value:.0f}"}
        if value > 0:
            out |= {f"{1 / value:.2f}", f"{abs(1 - value) * 100:.0f}"}
    return out


def _numbers(text: str) -> list[str]:
    # condition labels (“...”) are names, not numbers; "95%" CIs and the
    # "1-minute" load average are the wording's own
    text = re.sub(r"“[^”]*”", "", text).replace("95% CI", "").replace("1-minute", "")
    return [n.lstrip("+-±") for n in re.findall(r"[+\-±]?\d+(?:\.\d+)?", text)]


def test_every_sentence_names_rows_that_exist(built):
    folder, page = built
    sentences = _sentences(page)
    assert len(sentences) >= 6
    for _, cited, text in sentences:
        for src in _parse(cited):
            rows = src.rows(_read(folder, src.table))
            if src.table == "runs.csv":
                assert len(rows) >= 1, (cited, text)
            else:
                assert len(rows) == 1, (str(src), text)


def test_the_numbers_of_every_sentence_are_the_csv_values(built):
    folder, page = built
    for _, cited, text in _sentences(page):
        frames = [src.rows(_read(folder, src.table)) for src in _parse(cited)]
        allowed = set().union(*(_allowed(f) for f in frames))
        runs = [f for f, s in zip(frames, _parse(cited), strict=True) if s.table == "runs.csv"]
        for rows in runs:  # what the load and CPU phrases aggregate
            loads = pd.concat([rows["load_start"], rows["load_end"]])
            allowed |= {f"{loads.min():.2f}", f"{loads.max():.2f}"}
            allowed.add(f"{rows['cpu_seconds'].sum() / rows['wall_seconds'].sum():.2f}")
        allowed |= {"0.001"}  # "p < 0.001"
        cited_rows = pd.concat(frames)  # counts of the cited tests: all, and without evidence
        allowed |= {str(len(cited_rows))}
        if "p_holm" in cited_rows:
            allowed.add(str(int((cited_rows["p_holm"] >= 0.05).sum())))
        stray = [n for n in _numbers(text) if n not in allowed]
        assert not stray, (stray, text)


def test_the_answer_groups_conditions_by_verdict_with_the_range_and_the_extreme_ci(built):
    """One sentence per verdict (sooner, no evidence) citing all its conditions:
    the range of their ratios, and the CI of the one furthest from 1."""
    folder, page = built
    vs = _read(folder, "stats/convergence_vs_control.csv")
    vs = vs[vs["measure"] == "steps"]
    for model in ("lstm", "conv_autoencoder"):
        mine = vs[(vs["model"] == model) & (vs["condition"] != "none")]
        verdicts = [
            set(mine.loc[(mine["p_holm"] < 0.05) & (mine["time_ratio"] < 1), "condition"]),
            set(mine.loc[(mine["p_holm"] < 0.05) & (mine["time_ratio"] > 1), "condition"]),
            set(mine.loc[mine["p_holm"] >= 0.05, "condition"]),
        ]
        grouped = []
        for kind, cited, text in _sentences(page, "answer-model"):
            sources = _parse(cited)
            if kind == "warning" or any(s.table != "stats/convergence_vs_control.csv"
                                        for s in sources):  # fmt: skip
                continue
            if dict(sources[0].key)["model"] != model:
                continue
            rows = pd.concat([s.rows(vs) for s in sources])
            grouped.append(set(rows["condition"]))
            ratios = rows["time_ratio"]
            if len(rows) == 1:
                assert f"time ratio {ratios.iloc[0]:.2f}" in text
            else:
                assert f"{ratios.min():.2f}–{ratios.max():.2f}" in text or (
                    f"{ratios.min():.2f}" == f"{ratios.max():.2f}"
                ), text
            if (rows["p_holm"] < 0.05).all():
                extreme = rows.loc[np.log(rows["time_ratio"]).abs().idxmax()]
                assert (f"95% CI {extreme['time_ratio_ci_low']:.2f} to "
                        f"{extreme['time_ratio_ci_high']:.2f}") in text  # fmt: skip
                assert "Holm-corrected p" in text
            else:
                assert (rows["p_holm"] >= 0.05).all() and "no evidence" in text
        assert sorted(map(sorted, grouped)) == sorted(sorted(v) for v in verdicts if v)


def test_the_details_state_every_comparisons_ratio_ci_and_holm_p(built):
    folder, page = built
    vs = _read(folder, "stats/convergence_vs_control.csv")
    checked = 0
    for kind, cited, text in _sentences(page, "answer-detail"):
        sources = _parse(cited)
        # the sentences about the control comparisons themselves (between-pair
        # sentences cite them for which of the pair sped learning up)
        if kind == "warning" or any(s.table != "stats/convergence_vs_control.csv" for s in sources):
            continue
        for src in sources:
            row = src.rows(vs).iloc[0]
            checked += 1
            label = re.escape(f"time ratio {row['time_ratio']:.2f}, 95% CI "
                              f"{row['time_ratio_ci_low']:.2f} to {row['time_ratio_ci_high']:.2f}")  # fmt: skip
            assert re.search(label, text), (row.to_dict(), text)
            if row["p_holm"] < 0.05:
                assert "Holm-corrected p" in text
            else:
                assert "no evidence" in text
                if row["detectable_ratio"] == 0:
                    assert "too few informative seeds for a change of any size" in text
                    continue
                assert (f"a ratio of {row['detectable_ratio']:.2f} or "
                        f"{1 / row['detectable_ratio']:.2f} was detectable") in text  # fmt: skip
    assert checked >= 8  # four conditions, two models


def test_the_answer_says_what_the_noise_control_implies(built):
    """Low-passed noise and low-passed speech cannot be told apart, but at this
    spread (per-seed log ratios SD ~0.2) nor shown equivalent within ±10%: the
    answer says so and draws no conclusion about language."""
    folder, page = built
    between = _read(folder, "stats/convergence_between.csv")
    steps = between[(between["measure"] == "steps")]
    noise = steps[(steps["condition_a"] == "es-lp500") & (steps["condition_b"] == "noise-lp500")]
    assert len(noise) == 2 and (noise["p_holm"] >= 0.05).all()
    assert not noise["equivalent"].any()
    texts = [t for _, _, t in _sentences(page)]
    assert not any("not specific to language" in t for t in texts)
    assert not any("does not depend on which language" in t for t in texts)
    # the answer: once per model, the low-passed conditions as one group
    said = [
        (cited, text)
        for _, cited, text in _sentences(page, "answer-model")
        if "could not be told apart" in text
    ]
    assert len(said) == 2
    for cited, text in said:
        assert "condition_a=es-lp500, condition_b=noise-lp500" in cited
        assert "nor shown equivalent" in text and "were detectable" in text
    # the details: the pair itself, with what was detectable
    said = [
        text
        for _, cited, text in _sentences(page, "answer-detail")
        if "condition_a=es-lp500, condition_b=noise-lp500" in cited
    ]
    assert len(said) == 2
    assert all("could not be told apart" in t and "was detectable" in t for t in said)
    # the upper control differs from low-passed speech: the filter matters
    full = steps[(steps["condition_a"] == "es-lp500") & (steps["condition_b"] == "es-full")]
    assert (full["p_holm"] < 0.05).all()
    matters = [t for _, c, t in _sentences(page, "answer-detail") if "condition_b=es-full" in c
               and "condition_a=es-lp500" in c]  # fmt: skip
    assert len(matters) == 2 and all(t.endswith("so the filter matters.") for t in matters)
    concluded = [t for _, c, t in _sentences(page, "answer-model") if "condition_b=es-full" in c
                 and "condition_a=es-lp500" in c]  # fmt: skip
    assert len(concluded) == 2
    for text in concluded:
        assert text.startswith("“Spanish, full band” needed more target steps than")
        assert text.endswith("the filter matters.")


def test_a_separability_sentence_per_model_from_speaker_level_tests(built):
    folder, page = built
    sep = _read(folder, "stats/separability_vs_control.csv")
    for model in ("lstm", "conv_autoencoder"):
        block = page[page.index(f'data-model="{model}"') :]
        block = block[: block.index("</p>")]
        assert block.count("stats/separability_vs_control.csv") >= 1
        mine = sep[(sep["model"] == model) & (sep["inference"] != "none")]
        assert len(mine)


# ---------------------------------------------------------------- between conditions


def test_contrast_pairs_come_from_the_declared_language_and_filter_not_names():
    def info(name, language, filter_):
        return ConditionInfo(name, name.upper(), language, filter_, 1, True)

    design = Design(
        name="d",
        control="c0",
        conditions=(
            ConditionInfo("c0", "C0", None, "full"),
            info("q1", "es", "lowpass"),
            info("q2", "it", "lowpass"),  # language only
            info("q3", "es", "noise"),  # filter only (against q1)
            info("q4", "it", "noise"),  # language against q3, filter against q2
            # more epochs, the rest as q1: a pair that differs in epochs (named as such)
            ConditionInfo("q5", "Q5", "es", "lowpass", 3, True),
        ),
    )
    assert contrast_pairs(design) == [
        ("q1", "q2", "language"),
        ("q1", "q3", "filter"),
        ("q1", "q5", "epochs"),
        ("q2", "q4", "filter"),
        ("q3", "q4", "language"),
    ]


def test_between_conditions_is_the_exact_signed_rank_test_over_seed_pairs(built):
    folder, _ = built
    results = load_results(folder)
    table = between_conditions(results.runs, results.design, n_resamples=999)
    steps = table[table["measure"] == "steps"].reset_index(drop=True)
    # four stated pairs per model: es/it (language), es/full, es/noise, full/noise (filter)
    assert len(steps) == 8 and set(steps["differs_in"]) == {"language", "filter"}
    assert np.allclose(steps["p_holm"], holm(steps["p_value"]))
    data = analysable(results.runs, "steps")
    for _, row in steps.iterrows():
        mine = data[data["model"] == row["model"]]
        a = mine[mine["condition"] == row["condition_a"]]
        b = mine[mine["condition"] == row["condition_b"]]
        d = paired_log_ratios(a, b)["d"].to_numpy()
        assert row["design"] == "paired" and row["n_pairs"] == d.size == 10
        assert row["time_ratio"] == pytest.approx(math.exp(hodges_lehmann(d)))
        assert row["p_value"] == pytest.approx(signed_rank(d).p_value)
        assert row["time_ratio_ci_low"] < row["time_ratio"] < row["time_ratio_ci_high"]


# ---------------------------------------------------------------- wall clock


def test_runs_carry_the_load_and_cpu_time_their_seconds_ran_under(built):
    folder, page = built
    runs = _read(folder, "runs.csv")
    busy = runs[runs["condition"] == BUSY]
    assert (busy["load_start"] == 4.0).all() and (busy["load_end"] == 4.5).all()
    assert (runs.loc[runs["condition"] == "none", "load_start"] == 1.0).all()
    assert runs["cpu_seconds"].notna().all() and (runs["cpu_count"] == 4).all()
    measure = [t for _, c, t in _sentences(page) if c == "runs.csv"]
    assert len(measure) == 1 and "optimizer steps of target training" in measure[0]
    assert "1-minute load average 1.00 to 4.50 on 4 CPUs" in measure[0]


def test_seconds_against_steps_in_the_other_direction_are_flagged_with_the_load(built):
    folder, page = built
    warnings = [(c, t) for kind, c, t in _sentences(page) if kind == "warning"]
    assert len(warnings) == 2  # the busy condition, under each model
    vs = _read(folder, "stats/convergence_vs_control.csv")
    for cited, text in warnings:
        assert f"“{'Spanish, low-pass 500 Hz'}”" in text
        assert "these runs ran at a 1-minute load average 4.00 to 4.50 on 4 CPUs" in text
        assert "the control's at a 1-minute load average 1.00 to 1.50" in text
        rows = [s.rows(vs) for s in _parse(cited) if s.table.endswith("vs_control.csv")]
        steps, seconds = (r.iloc[0] for r in rows)
        assert steps["measure"] == "steps" and seconds["measure"] == "seconds"
        assert steps["time_ratio"] < 1 < seconds["time_ratio"]
        assert "later than the control" in text and "in target steps sooner" in text


def test_no_warning_where_seconds_and_steps_agree(built):
    folder, _ = built
    results = load_results(folder)
    analysis = analyse(results, n_resamples=199, km_resamples=0)
    vs = analysis.convergence_vs_control.copy()
    steps = vs[vs["measure"] == ANSWER_MEASURE].set_index(["model", "condition"])["time_ratio"]
    seconds = vs["measure"] == "seconds"
    vs.loc[seconds, "time_ratio"] = [
        steps[(m, c)] for m, c in zip(vs.loc[seconds, "model"], vs.loc[seconds, "condition"],
                                      strict=True)
    ]  # fmt: skip
    agreeing = dataclasses.replace(analysis, convergence_vs_control=vs)
    warned = [s for p in paragraphs(results, agreeing) for s in p.sentences if s.warning]
    assert warned == []
    flipped = [s for p in paragraphs(results, analysis) for s in p.sentences if s.warning]
    assert len(flipped) == 2


def test_a_suite_may_state_its_answer_in_another_measure(built):
    folder, _ = built
    results = load_results(folder)
    analysis = analyse(results, n_resamples=199, km_resamples=0)
    assert results.design.answer_measure == "steps"
    results.design = dataclasses.replace(results.design, answer_measure="seconds")
    said = [s for p in paragraphs(results, analysis) for s in p.sentences]
    text = " ".join(s.text for s in said)
    assert "wall time" in text and "target steps" not in text.split("Warning")[0]
    assert "Learning speed is counted in wall seconds of target training" in text
    # each cited comparison is now the seconds row; the warning cites steps beside it
    cited = [src for s in said if not s.warning for src in s.sources]
    vs_rows = [src for src in cited if src.table == "stats/convergence_vs_control.csv"]
    assert vs_rows and all(dict(src.key)["measure"] == "seconds" for src in vs_rows)
    warned = [s for s in said if s.warning]
    assert len(warned) == 2 and all("The answer counts wall time." in s.text for s in warned)


def test_answer_measure_is_a_checked_suite_key(tmp_path):
    from harness.spec.suite import SuiteError, load_suite

    path = tmp_path / "suite.toml"
    text = (Path(__file__).parent.parent / "suites" / "quick.toml").read_text(encoding="utf-8")
    path.write_text('answer_measure = "minutes"\n' + text, encoding="utf-8")
    with pytest.raises(SuiteError, match=r"answer_measure.*'steps', 'total_steps', 'seconds'"):
        load_suite(path)
    path.write_text('answer_measure = "total_steps"\n' + text, encoding="utf-8")
    assert Design.from_suite(load_suite(path)).answer_measure == "total_steps"


def test_every_table_in_wall_seconds_names_the_load_it_ran_under(built):
    folder, page = built
    runs = _read(folder, "runs.csv")
    loads = pd.concat([runs["load_start"], runs["load_end"]])
    share = runs["cpu_seconds"].sum() / runs["wall_seconds"].sum()
    note = (f"Wall seconds were measured at a 1-minute load average {loads.min():.2f} to "
            f"{loads.max():.2f} on 4 CPUs, and each run&#x27;s process used {share:.2f} CPU "
            "seconds per wall second on average")  # fmt: skip
    headings = [
        m.start() for m in re.finditer(r"<h3>[^<]*\(wall seconds of target training\)", page)
    ]
    assert len(headings) == 2  # the medians and the comparisons with the control
    for start in headings:
        section = page[start : page.index("<h3>", start + 4)]
        assert note in section


# ---------------------------------------------------------------- concision


def _words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    """All six flagship conditions at ten seeds, through the real analysis."""
    suite = dataclasses.replace(flagship_suite(), seeds=tuple(range(10)), tsne=False)
    folder = write_fake_results(tmp_path_factory.mktemp("flagship"), suite)
    results = load_results(folder)
    return results, paragraphs(results, analyse(results, n_resamples=999, km_resamples=0))


def test_the_flagship_answer_is_short_per_model(flagship):
    """At most six sentences a model; about 120 words besides the condition
    labels (which the suite names, and the answer must repeat): 164-166 and 126-128 with
    the fake flagship when this was written."""
    _, answer = flagship
    models = [p for p in answer if p.model]
    assert [p.model for p in models] == ["lstm", "conv_autoencoder"]
    for p in models:
        text = " ".join(s.text for s in p.sentences)
        assert len(p.sentences) <= 6, text
        # 135: a group not told apart says what was detectable (issue 26)
        assert _words(re.sub(r"“[^”]*”", "X", text)) <= 135, text
        assert _words(text) <= 180, text
        # nothing is lost: the details carry a sentence per comparison
        assert len(p.details) > len(p.sentences)


def test_the_flagship_answer_groups_by_verdict_and_concludes_on_the_noise_control(flagship):
    _, answer = flagship
    for p in (p for p in answer if p.model):
        texts = [s.text for s in p.sentences]
        sooner = [t for t in texts if "reached the threshold sooner" in t]
        assert len(sooner) == 1  # every sped-up condition in one sentence
        # the four low-passed conditions cannot be told apart: one group
        assert "fewer target steps after “Spanish, low-pass 500 Hz”, “Italian, low-pass 500 Hz”, " \
            "“Japanese, low-pass 500 Hz” and “noise shaped like Spanish, low-pass 500 Hz”" \
            in sooner[0]  # fmt: skip
        # per-seed log ratios SD ~0.2: not told apart, nor shown equivalent
        assert not any("not specific to language" in t for t in texts)
        assert sum("could not be told apart" in t and "nor shown equivalent" in t
                   for t in texts) == 1  # fmt: skip
        assert sum("showed no evidence of a change" in t for t in texts) == 1
        # full band against the low-passed pairs it is declared against: one sentence
        differ = [t for t in texts if t.startswith("“Spanish, full band” needed more target steps")]
        assert len(differ) == 1 and differ[0].endswith("the filter matters.")


def test_an_equivalence_shown_is_concluded_from_and_cites_its_90_percent_ci(tmp_path):
    """Runs that vary little around their seed (log-ratio SD ~0.03, a fine
    evaluation grid): the low-passed conditions are shown equivalent within
    ±10%, and only then does the answer conclude that the effect is not
    specific to language."""
    same = ("es-lp500", "it-lp500", "ja-lp500", "noise-lp500")
    suite = dataclasses.replace(
        flagship_suite(),
        conditions=tuple(
            dataclasses.replace(c, speed=0.6) if c.name in same else c for c in FLAGSHIP_CONDITIONS
        ),
        seeds=tuple(range(10)),
        tsne=False,
        run_noise=0.02,
        eval_every=5,
    )
    results = load_results(write_fake_results(tmp_path, suite))
    analysis = analyse(results, n_resamples=999, km_resamples=0)
    between = analysis.convergence_between
    pair = between[(between["measure"] == "steps") & (between["condition_a"] == "es-lp500")
                   & (between["condition_b"] == "noise-lp500")]  # fmt: skip
    assert pair["equivalent"].all()
    assert (pair["equivalence_ci_low"] > 1 / 1.1).all() and (
        pair["equivalence_ci_high"] < 1.1
    ).all()
    for p in (p for p in paragraphs(results, analysis) if p.model):
        said = [s for s in p.sentences if "not specific to language" in s.text]
        assert len(said) == 1
        assert "equivalent within ±10%" in said[0].text and "90% CIs within" in said[0].text
        detail = [s.text for s in p.details if "which carries no speech" in s.text]
        assert len(detail) == 1 and "90% CI" in detail[0]


def test_a_suite_of_one_condition_and_the_control_reads_naturally(tmp_path):
    suite = dataclasses.replace(
        flagship_suite(),
        conditions=tuple(c for c in FLAGSHIP_CONDITIONS if c.name in ("none", "es-lp500")),
        seeds=tuple(range(10)),
        tsne=False,
    )
    results = load_results(write_fake_results(tmp_path, suite))
    answer = paragraphs(results, analyse(results, n_resamples=999, km_resamples=0))
    for p in (p for p in answer if p.model):
        first = p.sentences[0].text
        assert first.startswith(f"The {results.model_label(p.model)} reached the threshold sooner "
                                "than with “no pretraining” (Holm-corrected p")  # fmt: skip
        assert "every" not in first and "all" not in first.split() and "These" not in first
        assert re.search(r"\): \d+% fewer target steps after “Spanish, low-pass 500 Hz” \(time ratio "
                         r"\d\.\d\d, 95% CI \d\.\d\d to \d\.\d\d\)\.$", first), first  # fmt: skip
        assert not any("cannot be told apart" in s.text for s in p.sentences)


def test_without_evidence_the_separability_sentence_names_a_floor_or_a_blind_design():
    """ "No change" is never said: latents at chance everywhere are a floor, tests
    that could see no difference within the range are blind, "equivalent" only
    where the equivalence tests showed it, else "could not be told apart"."""
    from types import SimpleNamespace

    from harness.report.separation_answer import _no_evidence

    rows = pd.DataFrame(
        {"model": "lstm", "condition": ["a", "b"], "latent_space": "h", "probe": "ridge",
         "metric": "acc", "detectable_difference": [0.02, 0.03]}
    )  # fmt: skip
    keys = ["model", "condition", "latent_space", "probe", "metric"]
    at_chance = SimpleNamespace(separability=rows[keys].assign(above_chance=[False, False]))
    above = SimpleNamespace(separability=rows[keys].assign(above_chance=[True, False]))

    floor = _no_evidence(at_chance, rows, "LSTM", "balanced accuracy")
    assert "do not separate above chance" in floor.text and "a floor" in floor.text
    assert floor.cited.startswith("stats/separability.csv")
    blind = _no_evidence(above, rows.assign(detectable_difference=math.inf), "LSTM", "acc")
    assert blind.text.startswith("This design could not see a change")
    seen = _no_evidence(above, rows, "LSTM", "balanced accuracy")
    assert "could not be told apart from the control" in seen.text
    assert "differences of ±0.020 to ±0.030 were detectable" in seen.text
    # "the same" only where two one-sided tests showed it, with the margin
    tested = rows.assign(margin=0.05, equivalence_ci_low=[-0.01, -0.02],
                         equivalence_ci_high=[0.02, 0.04])  # fmt: skip
    unshown = _no_evidence(above, tested.assign(equivalent=[True, False]), "LSTM", "acc")
    assert "could not be told apart" in unshown.text and "shown only with “a”" in unshown.text
    same = _no_evidence(above, tested.assign(equivalent=True), "LSTM", "acc")
    assert "equivalent within ±0.05" in same.text and "-0.020 to +0.040" in same.text
    # latents at chance are a floor even where every interval lies inside the margin
    assert "a floor" in _no_evidence(at_chance, tested.assign(equivalent=True), "LSTM", "a").text
    for sentence in (floor, blind, seen, unshown):
        assert "No condition changed" not in sentence.text and "equivalent" not in sentence.text


def test_a_model_nobody_trained_to_the_threshold_is_said_first_and_alone():
    from types import SimpleNamespace

    from harness.report.speed import nobody_learned

    def row(condition, reached=0):
        return pd.Series(
            {"measure": "steps", "model": "w2v", "condition": condition, "n": 3,
             "n_control": 3, "n_reached": reached, "n_reached_control": 0}
        )  # fmt: skip

    results = SimpleNamespace(
        control="none", model_label=lambda m: "wav2vec 2.0", condition_label=str.upper
    )
    said = nobody_learned(results, "w2v", {"lp": row("lp"), "full": row("full")})
    assert said is not None and said.warning
    assert said.text.startswith("No run of the wav2vec 2.0 reached the threshold (0 of 9 runs")
    assert "cannot compare learning speed" in said.text and "time ratio" not in said.text
    assert nobody_learned(results, "w2v", {"lp": row("lp", reached=1)}) is None


def test_a_condition_that_only_changes_settings_is_worded_with_not_after():
    from types import SimpleNamespace

    from harness.report.claims import preposition

    design = Design(
        name="s",
        control="none",
        conditions=(
            ConditionInfo("none", "no pretraining", None, None, 0, False),
            ConditionInfo("lp", "low-passed words", "en", "lowpass", 1, True),
            ConditionInfo("8k", "8 kHz, no pretraining", None, None, 0, False),
        ),
    )
    results = SimpleNamespace(design=design)
    assert preposition(results, ["lp"]) == "after"
    assert preposition(results, ["8k"]) == "with"
    assert preposition(results, ["lp", "8k"]) == "with"


def test_the_answer_says_what_the_dataset_declared_it_is_and_cannot_show(built):
    _, page = built
    answer = page[page.index('<section id="answer">') : page.index("<h3>Details</h3>")]
    assert '<p class="limits">About the data: speech synthesized by eSpeak NG' in answer
    assert "not how people or models learn from natural speech" in answer
