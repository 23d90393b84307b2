"""`harness check DIR`: the report's tests on two halves of the control's seeds.

Both halves are one condition, so what the tests find is false: a drift in
wall seconds over the suite (machine load) must be flagged, a folder with no
drift must pass, and a folder the check cannot split exits 2 saying why."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.report.compare import ratio_ci
from harness.stats.aa_check import FIRST, SECOND, aa_check, control_halves, halves_runs
from harness.tables.results import load_results

from helpers.fake_results import CONDITIONS, FakeSuite, write_fake_results

SEEDS = tuple(range(12))
DOC = Path(__file__).parent.parent / "docs" / "report.md"


def _fake(**changes: object) -> FakeSuite:
    values: dict[str, object] = dict(
        conditions=CONDITIONS[:2], seeds=SEEDS, diverged=(), failed=(), tsne=False
    )
    values.update(changes)
    return FakeSuite(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def null_folder(tmp_path_factory) -> Path:
    return write_fake_results(tmp_path_factory.mktemp("aa") / "null", _fake())


@pytest.fixture(scope="module")
def drift_folder(null_folder: Path, tmp_path_factory) -> Path:
    """The same runs, but the control's later half ran on a busier machine (its
    load average 1 -> 2): its wall seconds 30% longer, its steps unchanged."""
    folder = tmp_path_factory.mktemp("aa") / "drift"
    shutil.copytree(null_folder, folder)
    for path in (folder / "runs").glob("*/record.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:  # the run in progress the fake writes on purpose
            continue
        spec = record["spec"]
        if spec["condition"]["name"] == "none" and spec["seed"] >= 6:
            record["convergence"]["seconds"] *= 1.3
            record["load_average"]["start"][0] = 2.0
            path.write_text(json.dumps(record), encoding="utf-8")
    return folder


def _check(folder: Path, capsys) -> tuple[int, str, str]:
    code = main(["check", str(folder)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_drift_in_wall_seconds_is_flagged_and_exits_1(drift_folder, capsys):
    code, out, _ = _check(drift_folder, capsys)
    assert code == 1
    text = " ".join(out.split())  # as read, whatever the wrapping
    assert "seconds (wall seconds of target training): UNSAFE to trust" in text
    assert "load was 1.00 in the first half and 2.00 in the second" in text
    # steps did not drift: no false difference there
    assert "steps (target steps): no false difference" in text
    assert "verdict: false differences found (seconds)" in text
    assert max(len(line) for line in out.splitlines() if str(drift_folder) not in line) <= 100


def test_the_drift_is_found_in_the_machine_s_time_per_step(drift_folder):
    check = aa_check(load_results(drift_folder))
    assert check.unsafe_measures() == ["seconds"]
    seconds = check.speed[check.speed["measure"] == "seconds"]
    # the seconds' own tests see a seed's steps more than the machine; the time
    # per step sees the machine: 30% slower in both models
    assert not seconds["false_difference"].any()
    assert check.pace["false_difference"].all()
    assert check.pace["ratio"].between(1.2, 1.4).all()
    steps = check.speed[check.speed["measure"] == "steps"]
    # the same runs' steps: the seconds ratio is the steps ratio times the machine's
    assert (seconds["time_ratio"].to_numpy() > steps["time_ratio"].to_numpy()).all()


def test_no_drift_finds_nothing_and_exits_0(null_folder, capsys):
    code, out, _ = _check(null_folder, capsys)
    assert code == 0, out
    assert "verdict: no false difference in" in out
    check = aa_check(load_results(null_folder))
    assert not check.found
    # every test the report runs on learning speed: each measure, model and design
    assert len(check.speed) == 3 * 2 * 2
    assert len(check.pace) == 2 and not check.pace["false_difference"].any()
    # separability: the probe's per-speaker scores in every model latent space
    assert set(check.separability["latent_space"]) == {
        "lstm_state/h",
        "lstm_state/c",
        "bottleneck/code",
    }


def test_halves_follow_run_order_and_pair_seeds_by_position():
    runs = pd.DataFrame(
        {
            "condition": ["none"] * 5 + ["other"],
            "status": ["reached"] * 6,
            "seed": [4, 0, 3, 1, 2, 0],
            # seed 4 ran first, seed 2 last
            "started": [f"2025-01-01T00:0{i}:00Z" for i in range(5)] + ["2025-01-01T00:00:00Z"],
        }
    )
    halves = control_halves(runs, "none")
    assert halves.by_time
    assert (halves.first, halves.second, halves.left_out) == ((4, 0), (1, 2), 3)
    paired = halves_runs(runs, "none", halves, paired=True)
    # the k-th seed of the second half takes its first-half partner's number
    second = paired[paired["condition"] == SECOND]
    assert sorted(second["seed"]) == [0, 4]
    assert set(paired["condition"]) == {FIRST, SECOND}
    unpaired = halves_runs(runs, "none", halves, paired=False)
    assert sorted(unpaired.loc[unpaired["condition"] == SECOND, "seed"]) == [1, 2]


def test_a_folder_that_cannot_be_checked_exits_2_saying_why(tmp_path, capsys):
    code, _, err = _check(tmp_path / "nowhere", capsys)
    assert code == 2
    assert "nowhere does not exist; name a results folder" in err

    few = write_fake_results(tmp_path / "few", _fake(seeds=(0, 1, 2)))
    code, _, err = _check(few, capsys)
    assert code == 2
    assert "the control 'none' has 3 seeds with finished runs" in err
    assert "needs at least 4" in err

    no_control = write_fake_results(tmp_path / "nocontrol", _fake(seeds=(0, 1, 2, 3)))
    for path in (no_control / "runs").glob("*/record.json"):
        try:
            if json.loads(path.read_text())["spec"]["condition"]["name"] == "none":
                shutil.rmtree(path.parent)
        except ValueError:
            continue
    code, _, err = _check(no_control, capsys)
    assert code == 2
    assert "no control condition with runs" in err
    assert "the suite names 'none', which has no runs" in err


def test_unbounded_ratio_intervals_are_printed_as_open():
    assert ratio_ci(0.55, 0.7) == "[0.55, 0.70]"
    assert ratio_ci(0.55, float("inf")) == "[0.55, ∞)"
    assert ratio_ci(0.0, 1.2) == "(0, 1.20]"
    assert ratio_ci(0.0, float("inf")) == "(0, ∞): no bound"
    assert ratio_ci(float("nan"), float("nan")) == ""


def test_report_md_shows_what_check_prints(drift_folder, tmp_path, capsys, monkeypatch):
    section = DOC.read_text(encoding="utf-8").split("## Checking the tests on your own runs", 1)[1]
    command, shown = re.search(
        r"```sh\n(harness check .*?)\n```\n.*?```text\n(.*?)```", section, re.S
    ).groups()
    folder = Path(command.split()[2])
    shutil.copytree(drift_folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    code, out, _ = _check(folder, capsys)
    assert code == 1
    assert out == shown
