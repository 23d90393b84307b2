"""The numbers README.md and the docs quote from runs are what the project's
analysis computes from the stored runs (tests/fixtures/readme_runs/): a change
that moves one fails here until `python bench/readme_numbers.py --write`."""

from __future__ import annotations

import json
import lzma
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import readme_keys as keys  # noqa: E402
import readme_numbers as rn  # noqa: E402  (a script of bench/, not a package module)
from readme_numbers import NUMBERS  # noqa: E402

from harness.output.layout import MANIFEST, RECORD, run_dir  # noqa: E402


@pytest.fixture(scope="module")
def stored() -> rn.Stored:
    """The stored suites, loaded and analysed once for every test here."""
    return rn.Stored()


@pytest.fixture
def docs_copy(tmp_path: Path) -> Path:
    """A copy of the documents that quote numbers, to edit."""
    for name in rn.DOCUMENTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    return tmp_path


def test_every_quoted_number_is_what_the_stored_runs_give(stored):
    moved = rn.check(stored=stored)
    assert moved == "", f"run `python bench/readme_numbers.py --write`:\n{moved}"


def test_the_readme_quotes_numbers_of_every_stored_suite():
    quoted = {key.split(".")[0] for key, _ in rn.marks(rn.documents()["README.md"], "README.md")}
    stored_suites = {p.name for p in rn.FIXTURES.iterdir() if (p / rn.RECORDS).is_file()}
    assert stored_suites and stored_suites <= quoted


def test_a_moved_number_fails_the_check_and_write_puts_it_back(stored, docs_copy):
    readme = docs_copy / "README.md"
    text = readme.read_text(encoding="utf-8")
    marked = "<!--n:pretrain.lstm.full-->"
    start = text.index(marked) + len(marked)
    true_value = text[start : text.index("<!--/n-->", start)]
    readme.write_text(text.replace(marked + true_value, marked + "0.99 [0.98, 1.00]"), "utf-8")

    lines = rn.check(docs_copy, stored).splitlines()
    assert any(x.startswith("-") and marked + "0.99 [0.98, 1.00]" in x for x in lines)
    assert any(x.startswith("+") and marked + true_value in x for x in lines)
    assert rn.write(docs_copy, stored) == ["README.md"]
    assert readme.read_text(encoding="utf-8") == text
    assert rn.check(docs_copy, stored) == ""


def test_the_check_exits_1_with_the_diff_when_a_number_moved(
    stored, docs_copy, monkeypatch, capsys
):
    readme = docs_copy / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("<!--n:keywords.8k-->", "<!--n:keywords.8k-->9", 1), "utf-8")
    monkeypatch.setattr(rn, "ROOT", docs_copy)
    monkeypatch.setattr(rn, "Stored", lambda: stored)
    assert rn.main(["--check"]) == rn.EXIT_MOVED
    out, err = capsys.readouterr()
    assert "<!--n:keywords.8k-->91." in out and "--write" in err
    assert any(x.startswith("+") and "<!--n:keywords.8k-->1." in x for x in out.splitlines())


def test_an_unknown_key_is_located_and_exits_2(docs_copy, monkeypatch, capsys):
    readme = docs_copy / "README.md"
    readme.write_text("# title\n\nspeed-up <!--n:pretrain.nope-->3<!--/n-->\n", "utf-8")
    monkeypatch.setattr(rn, "ROOT", docs_copy)
    assert rn.main(["--check"]) == rn.EXIT_USAGE
    err = capsys.readouterr().err
    assert "README.md:3: unknown number key 'pretrain.nope'" in err and "--list" in err


def test_every_key_renders_and_changes_with_its_table(stored):
    values = rn.compute(NUMBERS, stored)
    assert all(isinstance(v, str) and v for v in values.values())
    # a statistic that moves moves the quoted number
    table = stored["pretrain"].analysis.convergence_vs_control
    row = (table["model"] == "lstm") & (table["condition"] == "es-full")
    row &= table["measure"] == "steps"
    saved = table.loc[row, "time_ratio"].copy()
    try:
        table.loc[row, "time_ratio"] = 0.9
        assert NUMBERS["pretrain.lstm.full"](stored).startswith("0.90 [")
    finally:
        table.loc[row, "time_ratio"] = saved
    assert NUMBERS["pretrain.lstm.full"](stored) == values["pretrain.lstm.full"]


def test_a_key_whose_rows_are_gone_is_named_not_a_traceback(stored, monkeypatch):
    # as after a condition of the flagship is renamed
    monkeypatch.setitem(
        NUMBERS,
        "pretrain.lstm.full",
        lambda st: keys.ratio_ci(keys.one(keys.vs(st["pretrain"], "lstm", "es-fullband"))),
    )
    with pytest.raises(rn.NumbersError) as caught:
        rn.compute(["pretrain.lstm.full"], stored)
    assert "pretrain.lstm.full: cannot be computed from the stored runs" in str(caught.value)
    assert "'condition': 'es-fullband'" in str(caught.value)


def test_refresh_stores_a_finished_folder_that_loads_back_the_same(stored, tmp_path):
    folder = tmp_path / "keywords-run"
    folder.mkdir()
    rn.unpack(rn.FIXTURES / "keywords", folder)
    target = rn.refresh(folder, tmp_path / "fixtures")
    assert target == tmp_path / "fixtures" / "keywords"
    with (
        lzma.open(target / rn.RECORDS, "rt") as fresh,
        lzma.open(rn.FIXTURES / "keywords" / rn.RECORDS, "rt") as kept,
    ):
        assert [json.loads(x) for x in fresh] == [json.loads(x) for x in kept]
    again = rn.Stored(tmp_path / "fixtures")["keywords"].results.runs
    assert again.equals(stored["keywords"].results.runs)


def test_refresh_refuses_an_unfinished_folder(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    rn.unpack(rn.FIXTURES / "keywords", folder)
    run_ids = json.loads((folder / MANIFEST).read_text())["run_ids"]
    (run_dir(folder, run_ids[3]) / RECORD).unlink()
    run_dir(folder, run_ids[3]).rmdir()
    monkeypatch.setattr(rn, "FIXTURES", tmp_path / "fixtures")
    assert rn.main(["--refresh", str(folder)]) == rn.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"error: {folder}: 1 of 32 runs have no record (first: {run_ids[3]})" in err
    assert "harness run" in err and not (tmp_path / "fixtures").exists()
    with pytest.raises(rn.NumbersError, match=r"manifest\.json: missing"):
        rn.refresh(tmp_path, tmp_path / "fixtures")


def test_the_stored_runs_stay_small():
    size = sum(p.stat().st_size for p in rn.FIXTURES.rglob("*") if p.is_file())
    assert size < 1_500_000


def test_the_listing_names_every_key_and_each_measured_fact_with_its_source(stored):
    """`--list` prints every key, then each measured fact beside where it was
    measured: a fact that lost its source (two entries run together) fails."""
    for fact in keys.MEASURED:
        assert len(fact) == 2 and all(isinstance(part, str) and part for part in fact), fact
    text = rn.listing(stored)
    assert all(key in text for key in NUMBERS)
    assert all(f"  {fact}: {source}" in text for fact, source in keys.MEASURED)


def test_two_decimals_do_not_depend_on_the_last_bits_of_float_noise():
    """70/80 summed by two library versions lands on either side of 0.875: both
    read 0.88, and an exact half rounds up the same way."""
    assert keys.f2(0.8750000000000007) == keys.f2(0.8749999999999999) == "0.88"
    assert keys.f2(3.125) == "3.13" and keys.f2(-0.005) == "-0.01" and keys.f2(1) == "1.00"
    assert keys.f2(float("nan")) == "nan"
