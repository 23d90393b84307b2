"""`harness compare`: several results folders' answers side by side, aligned by
model and condition, each number read from the folder's stats/*.csv."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.report.compare import COLUMNS, compare
from harness.tables.export import write_tables

from helpers.fake_results import CONDITIONS, FakeCondition, FakeSuite, write_fake_results

DOC = Path(__file__).parent.parent / "docs" / "report.md"


def _results(folder: Path, fake: FakeSuite, dataset: str = "") -> Path:
    write_fake_results(folder, fake)
    write_tables(folder, n_resamples=199, km_resamples=49)
    if dataset:  # the same study on another corpus: its runs read another dataset
        for path in (folder / "runs").glob("*/record.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:  # a damaged record the fake writes on purpose
                continue
            record["spec"]["dataset"] = {"plugin": dataset, "label": dataset, "params": {}}
            path.write_text(json.dumps(record), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """reports/espeak and reports/commonvoice: one study on two corpora; the second
    has a condition the first lacks and lost one (ja_full)."""
    base = tmp_path_factory.mktemp("compare")
    _results(base / "reports" / "espeak", FakeSuite(name="pretrain"))
    it = FakeCondition("it_lowpass", "Italian, low-pass 500 Hz", "it", "lowpass", 0.8, 0.05)
    other = FakeSuite(
        name="pretrain-cv",
        conditions=(CONDITIONS[0], CONDITIONS[1], it),
        seeds=tuple(range(6)),
        diverged=(),
        failed=(),
        random_seed=1,
    )
    _results(base / "reports" / "commonvoice", other, dataset="commonvoice")
    return base


def _cli(*args: object, cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    here = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["compare", *map(str, args)])
    finally:
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


def test_answers_are_aligned_by_model_and_condition_and_read_from_the_stats(reports):
    a, b = reports / "reports" / "espeak", reports / "reports" / "commonvoice"
    comparison = compare([a, b])
    table = comparison.table
    assert list(table.columns) == COLUMNS
    assert set(table["dataset"]) == {"espeak", "commonvoice"}
    assert set(table["suite"]) == {"pretrain", "pretrain-cv"}
    # every number is a row of the folder's stats, as written
    stats = pd.read_csv(b / "stats" / "convergence_vs_control.csv")
    mine = stats[(stats["measure"] == "steps") & (stats["model"] == "lstm")]
    row = mine[mine["condition"] == "ja_lowpass"].iloc[0]
    got = table[(table["folder"] == str(b)) & (table["model"] == "lstm")
                & (table["condition"] == "ja_lowpass") & table["answer"].str.startswith("time")]  # fmt: skip
    assert got["estimate"].item() == pytest.approx(row["time_ratio"])
    assert got["ci_low"].item() == pytest.approx(row["time_ratio_ci_low"])
    wide = comparison.wide()
    # a condition one folder lacks shows "–" in its column; the shared ones have both
    it = wide[wide["condition"] == "it_lowpass"]
    assert not it.empty and set(it["espeak"]) == {"–"} and "–" not in set(it["commonvoice"])
    ja = wide[wide["condition"] == "ja_lowpass"]
    assert "–" not in set(ja["espeak"]) | set(ja["commonvoice"])
    # the headline score of each model latent space, against the control
    spaces = set(wide.loc[wide["answer"].str.startswith("difference"), "latent_space"])
    assert spaces == {"lstm_state/h", "lstm_state/c", "bottleneck/code"}


def test_the_cli_prints_the_table_and_writes_csv_and_self_contained_html(reports, tmp_path):
    code, out, err = _cli("reports/espeak", "reports/commonvoice", "-o", tmp_path / "c.html",
                          cwd=reports)  # fmt: skip
    assert code == 0, err
    assert "espeak: suite 'pretrain', dataset espeak (reports/espeak)" in out
    assert re.search(r"\nlstm \(latent spaces: difference in balanced accuracy", out)
    assert re.search(r"\n  Japanese, low-pass 500 Hz +time: steps +0\.\d\d \[", out)
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"(src|href)=", page)  # nothing to fetch
    assert "Japanese, low-pass 500 Hz" in page and "commonvoice" in page
    code, _, err = _cli("reports/espeak", "reports/commonvoice", "-o", tmp_path / "c.csv",
                        cwd=reports)  # fmt: skip
    assert code == 0, err
    written = pd.read_csv(tmp_path / "c.csv")
    assert list(written.columns) == COLUMNS and len(written) == len(
        compare([reports / "reports" / "espeak", reports / "reports" / "commonvoice"]).table
    )


def test_a_folder_that_cannot_be_compared_exits_2_naming_it_and_what_is_missing(
    reports, tmp_path, capsys
):
    good = reports / "reports" / "espeak"
    cases = {
        tmp_path / "nowhere": "nowhere does not exist",
        tmp_path: "is not a results folder of `harness run`: it has no manifest.json",
    }
    unreported = tmp_path / "unreported"
    shutil.copytree(good, unreported)
    (unreported / "stats" / "separability_vs_control.csv").unlink()
    cases[unreported] = (
        "unreported has no statistics yet (stats/separability_vs_control.csv missing); "
        f"`harness report {unreported}` writes them from its runs"
    )
    for folder, message in cases.items():
        assert main(["compare", str(good), str(folder)]) == 2
        err = capsys.readouterr().err
        assert str(folder) in err and message in err, err
    assert main(["compare", str(good), str(good) + "/"]) == 2
    assert "is given twice" in capsys.readouterr().err
    assert main(["compare", str(good), "-o", str(tmp_path / "c.txt")]) == 2
    assert "write a .csv or .html or .htm file, not .txt" in capsys.readouterr().err


def test_folders_with_no_condition_in_common_exit_2_listing_each_ones(reports, tmp_path, capsys):
    other = FakeSuite(
        name="other",
        conditions=(CONDITIONS[0], FakeCondition("fr", "French", "fr", "full", 0.9, 0.0)),
        seeds=tuple(range(4)),
        diverged=(),
        failed=(),
    )
    lonely = _results(tmp_path / "other", other)
    assert main(["compare", str(reports / "reports" / "espeak"), str(lonely)]) == 2
    err = capsys.readouterr().err
    assert "the folders have no condition in common (compared by name)" in err
    assert f"{lonely}: fr" in err and "ja_full, ja_lowpass" in err


def test_report_md_shows_what_compare_prints(reports):
    section = DOC.read_text(encoding="utf-8").split("## Comparing results folders", 1)[1]
    command, shown = re.search(r"```sh\n(harness compare .*?)\n```\n.*?```text\n(.*?)```",
                               section, re.S).groups()  # fmt: skip
    code, out, err = _cli(*command.split()[2:], cwd=reports)
    assert code == 0, err
    assert out == shown


def test_each_folder_is_read_in_its_own_answer_measure(reports, tmp_path):
    a = reports / "reports" / "espeak"
    b = shutil.copytree(reports / "reports" / "commonvoice", tmp_path / "seconds")
    manifest = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    manifest["design"]["answer_measure"] = "seconds"
    (b / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    table = compare([a, b]).table
    times = table[table["answer"].str.startswith("time ratio")]
    by_folder = times.groupby("folder")["answer"].unique()
    assert list(by_folder[str(a)]) == ["time ratio, target steps"]
    assert list(by_folder[str(b)]) == ["time ratio, wall seconds of target training"]
    # the numbers are the seconds rows of b's own statistics
    stats = pd.read_csv(b / "stats" / "convergence_vs_control.csv")
    seconds = stats[stats["measure"] == "seconds"]
    mine = times[times["folder"] == str(b)]
    assert sorted(mine["estimate"]) == pytest.approx(sorted(seconds["time_ratio"]))
    # --measure names one measure for every folder
    both = compare([a, b], "steps").table
    assert set(both.loc[both["answer"].str.startswith("time"), "answer"]) == {
        "time ratio, target steps"
    }


def test_the_text_fits_100_columns_with_long_names_in_a_legend(reports, tmp_path):
    """Long folder names become letters named in the legend; a long condition
    label wraps inside its column; one table per model."""
    long_a = shutil.copytree(reports / "reports" / "espeak", tmp_path / ("espeak-" + "x" * 40))
    long_b = shutil.copytree(reports / "reports" / "commonvoice", tmp_path / ("cv-" + "y" * 40))
    for folder in (long_a, long_b):
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        for condition in manifest["design"]["conditions"]:
            if condition["name"] == "ja_lowpass":
                condition["label"] = "noise shaped like Japanese speech, low-pass 500 Hz"
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    out = compare([long_a, long_b]).text()
    lines = out.splitlines()
    assert max(map(len, lines)) <= 100, out
    assert f"  A = {long_a.name}: suite 'pretrain'" in out
    assert f"  B = {long_b.name}: suite 'pretrain-cv'" in out
    assert re.search(r"\n  condition +answer +A +B\n", out)
    assert "\n  noise shaped like Japanese  time: steps" in out
    assert "\n  speech, low-pass 500 Hz     lstm_state/h" in out
    assert sum(line.startswith(("lstm", "conv_ae")) for line in lines) == 2


def test_an_unbounded_ratio_is_printed_as_open_not_as_inf(reports, tmp_path):
    folder = shutil.copytree(reports / "reports" / "espeak", tmp_path / "few")
    stats = pd.read_csv(folder / "stats" / "convergence_vs_control.csv")
    # what the exact sign-flip CI gives with too few pairs to bound the ratio
    stats["time_ratio_ci_low"] = 0.0
    stats["time_ratio_ci_high"] = float("inf")
    stats.to_csv(folder / "stats" / "convergence_vs_control.csv", index=False)
    out = compare([folder, reports / "reports" / "commonvoice"]).text()
    assert "inf" not in out
    assert re.search(r"time: steps +0\.\d\d \(0, ∞\): no bound", out)
