"""`harness run` on a sequential suite: the looks, the runs they ask for, the
manifest's account of them, resume and kill -9, and the report's Methods."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.output.store import Store
from harness.running.runner import run_suite
from harness.spec.suite import Selection
from harness.stats.sequential import methods_lines
from harness.tables.results import load_results

from helpers import runner as h
from helpers import sequential_runs as q

HERE = Path(__file__).parent
IN_PROCESS = Selection("executor", "local", {"workers": 1, "threads": 1, "in_process": True}, "")


def run(folder: Path):
    stream = io.StringIO()
    outcome = run_suite(q.make_suite(folder), execute=q.execute, executor=IN_PROCESS,
                        registry=h.registry(), stream=stream, progress_stream=io.StringIO())  # fmt: skip
    return outcome, stream.getvalue()


def section(folder: Path) -> dict:
    return json.loads((folder / "out" / "manifest.json").read_text())["design"]["sequential"]


def records(folder: Path) -> dict[str, dict]:
    return {
        p.parent.name: h.strip_timing(json.loads(p.read_text()))
        for p in (folder / "out" / "runs").glob("*/record.json")
    }


def test_a_sequential_suite_stops_where_its_comparisons_are_decided(tmp_path):
    outcome, text = run(tmp_path)
    # 2 conditions x 2 models: both comparisons decided at the look at 8 seeds
    # (Holm on the repeated p-values; 12 with haybittle-peto spending)
    assert outcome.ok and outcome.total == outcome.executed == 32 and outcome.missing == 0
    assert "look at 8 seeds: vs control: m4: ja vs none differs; " in text
    data = section(tmp_path)
    assert [look["seeds"] for look in data["looks"]] == [6, 8]
    assert data["looks"][0]["open"] == ["vs control: m4: ja vs none", "vs control: m8: ja vs none"]
    decided = {(r["model"], r["decision"], r["seeds"]) for r in data["comparisons"]}
    assert decided == {("m4", "differs", 8), ("m8", "equivalent", 8)}
    assert data["asked"] == {"ja": {"m4": 8, "m8": 8}, "none": {"m4": 8, "m8": 8}}
    results = load_results(tmp_path / "out")
    assert results.expected_count == 32 and results.n_missing == 0
    assert results.design.n_runs == 32
    lines = methods_lines(results.design.sequential)
    assert "m8: ja vs none (vs control): stopped at 8 seeds: equivalent within ±10%" in lines
    assert "repeated p-value" in lines[0]
    assert lines[0].startswith("Sequential seeds: looks after 6 seeds and every 2 more up to 16")
    again, _ = run(tmp_path)
    assert again.executed == 0 and again.skipped == 32 and section(tmp_path) == data


def test_the_answer_reads_the_looks_decisions_not_the_fixed_tests(tmp_path):
    """Seeds gathered by looking void the fixed tests' error rates: the
    answer's claims come from the decisions the looks made."""
    from harness.report.claims import equivalent, significant
    from harness.stats.analysis import analyse

    run(tmp_path)
    results = load_results(tmp_path / "out")
    table = analyse(results, n_resamples=99, km_resamples=9).convergence_vs_control
    answer = table[table["measure"] == results.design.answer_measure].set_index("model")
    assert dict(answer["sequential_decision"]) == {"m4": "differs", "m8": "equivalent"}
    rows = answer.to_dict("index")
    assert significant(rows["m4"]) and not equivalent(rows["m4"])
    assert equivalent(rows["m8"]) and not significant(rows["m8"])
    # a row the looks left open claims nothing, whatever the fixed tests say
    open_row = {**rows["m4"], "sequential_decision": "undecided", "p_holm": 0.0}
    assert not significant(open_row) and not equivalent(open_row)
    other = table[table["measure"] != results.design.answer_measure]
    assert (other["sequential_decision"] == "").all()


def drive(folder: Path, log: Path, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(HERE), "FAKE_LOG": str(log), "FAKE_SLEEP": str(sleep)}
    code = f"from helpers import sequential_runs; sequential_runs.drive({str(folder)!r})"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip


def test_kill_9_between_looks_then_rerun_reaches_the_same_decisions_and_results(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    run(reference)
    killed = tmp_path / "killed"
    killed.mkdir()
    process = drive(killed, tmp_path / "first.log", sleep=0.5)
    deadline = time.monotonic() + 120
    # past the first look (24 runs), in the middle of the second (8 runs more)
    while len(Store(killed / "out").finished_ids()) < 25:
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "the suite did not progress"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(Store(killed / "out").finished_ids()) < 32
    process = drive(killed, tmp_path / "second.log", sleep=0)
    out, _ = process.communicate(timeout=180)
    assert process.returncode == 0, out.decode()
    assert records(killed) == records(reference)
    assert section(killed) == section(reference)
