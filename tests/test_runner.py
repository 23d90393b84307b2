"""run_suite: resume, failures, Ctrl-C, kill -9, suite versions, progress."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.output.store import Store
from harness.running.progress import Progress
from harness.running.runner import run_suite
from harness.spec.expand import expand
from harness.spec.suite import Selection

from helpers import runner as h

HERE = Path(__file__).parent
IN_PROCESS = Selection("executor", "local", {"workers": 1, "threads": 1, "in_process": True}, "")
TWO_WORKERS = Selection("executor", "local", {"workers": 2, "threads": 1, "in_process": False}, "")


def run(suite, execute=h.fake_execute, executor=IN_PROCESS, **kwargs):
    stream = io.StringIO()
    outcome = run_suite(
        suite, execute=execute, executor=executor, registry=h.registry(), stream=stream, **kwargs
    )
    return outcome, stream.getvalue()


def executed(log: Path) -> list[str]:
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def records(output: Path) -> dict[str, dict]:
    return {
        p.parent.name: h.strip_timing(json.loads(p.read_text()))
        for p in (output / "runs").glob("*/record.json")
    }


def test_a_suite_runs_every_run_once_and_a_rerun_skips_them_all(tmp_path, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    suite = h.make_suite(tmp_path, seeds=3)
    outcome, text = run(suite, executor=TWO_WORKERS)
    ids = {s.run_id for s in expand(suite, h.registry())}
    assert (outcome.total, outcome.executed, outcome.skipped, outcome.exit_code) == (6, 6, 0, 0)
    assert (outcome.reached, outcome.censored, outcome.diverged, outcome.failed) == (2, 2, 2, 0)
    assert sorted(executed(log)) == sorted(ids)
    assert Store(suite.output).finished_ids() == ids
    assert "suite fake: 6 runs: 2 reached, 2 censored, 2 diverged, 0 failed" in text

    started = time.perf_counter()
    again, text = run(suite, executor=TWO_WORKERS)
    assert time.perf_counter() - started < 2  # nothing starts, not even a pool
    assert (again.executed, again.skipped, again.reached, again.exit_code) == (0, 6, 2, 0)
    assert len(executed(log)) == 6
    assert "running 0 of 6 runs (6 already finished)" in text


def test_only_missing_runs_run_when_the_suite_grows(tmp_path, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    run(h.make_suite(tmp_path, seeds=2, mode="absolute"))
    bigger = h.make_suite(tmp_path, seeds=3, mode="absolute")
    outcome, _ = run(bigger)
    assert (outcome.skipped, outcome.executed, outcome.total) == (4, 2, 6)
    assert {s.seed for s in expand(bigger, h.registry()) if s.run_id in executed(log)[4:]} == {2}


def test_a_new_seed_reruns_every_run_of_a_relative_threshold_suite(tmp_path):
    # a relative threshold is a fraction of the mean untrained loss over the seeds:
    # a new seed changes every run's threshold, so no old run is reused
    run(h.make_suite(tmp_path, seeds=2))
    outcome, _ = run(h.make_suite(tmp_path, seeds=3))
    assert (outcome.skipped, outcome.executed, outcome.total) == (0, 6, 6)


def test_a_raising_run_is_recorded_and_the_suite_goes_on(tmp_path):
    suite = h.make_suite(tmp_path, seeds=3)
    outcome, text = run(suite, execute=h.raising_execute)
    assert (outcome.failed, outcome.reached, outcome.diverged, outcome.exit_code) == (2, 2, 2, 1)
    failure = outcome.failures[0]
    assert failure.type == "ValueError" and failure.message.startswith("boom in")
    assert 'raise ValueError(f"boom in {spec.label}")' in failure.traceback
    record = json.loads(failure.record.read_text())
    assert record["status"] == "failed" and record["spec"]["seed"] == 1
    # what the run wrote before it broke stays with the failure
    assert (failure.record.parent / "log.txt").read_text() == "started, then broke\n"
    assert "FAILED" in text and "boom in" in text and "Traceback" in text


def test_failed_runs_are_retried_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    suite = h.make_suite(tmp_path, seeds=2)
    run(suite, execute=h.raising_execute)
    later, text = run(suite, execute=h.fake_execute)
    assert (later.executed, later.failed, later.exit_code) == (0, 2, 1)
    assert all(f.earlier for f in later.failures)
    assert "2 failed earlier, not retried without --rerun-failed" in text
    retried, _ = run(suite, execute=h.fake_execute, rerun_failed=True)
    assert (retried.executed, retried.skipped, retried.failed, retried.exit_code) == (2, 2, 0, 0)
    assert Store(suite.output).failed_ids() == set()
    assert len(executed(log)) == 2 + 2  # the first runs' successes, then the two retries


def test_a_bad_record_is_a_failed_run(tmp_path):
    outcome, _ = run(h.make_suite(tmp_path, seeds=3), execute=h.bad_record_execute)
    messages = sorted(f.message for f in outcome.failures)
    assert outcome.failed == 4 and outcome.diverged == 2
    assert "status must be one of" in messages[-1] and "must return a dict" in messages[0]


def test_worker_deaths_fail_their_runs_only(tmp_path):
    suite = h.make_suite(tmp_path, seeds=3)
    outcome, _ = run(suite, execute=h.exiting_execute, executor=TWO_WORKERS)
    assert [f.label for f in outcome.failures] == ["ja/m4/seed1"]
    assert outcome.failures[0].type == "WorkerDied"
    assert (outcome.failed, outcome.missing, outcome.total - outcome.failed) == (1, 0, 5)
    outcome, _ = run(suite, execute=h.sigkill_execute, executor=TWO_WORKERS, rerun_failed=True)
    assert [f.label for f in outcome.failures] == []  # ja/m4/seed1 now succeeds...
    assert outcome.executed == 1  # ...and nothing else ran again
    assert not list(Store(suite.output).runs.glob("*.partial-*"))


def test_changed_suite_is_reported_and_fresh_starts_over(tmp_path):
    run(h.make_suite(tmp_path, seeds=2))
    changed = h.make_suite(tmp_path, seeds=2, sizes=(8,))
    outcome, text = run(changed)
    assert len(outcome.stale) == 4 and outcome.skipped == 0
    assert "holds 4 run(s) of another version of this suite" in text and "--fresh" in text
    assert len(Store(changed.output).records()) == 4  # only the current version's
    fresh, text = run(changed, fresh=True)
    assert fresh.moved_to is not None and fresh.moved_to.name.startswith("out.old-")
    assert (fresh.stale, fresh.executed, fresh.skipped) == ([], 4, 0)
    assert len(list((fresh.moved_to / "runs").iterdir())) == 8
    assert f"moved to {fresh.moved_to}" in text


def driver(folder: Path, execute: str, log: Path, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(HERE), "FAKE_LOG": str(log), "FAKE_SLEEP": str(sleep)}
    code = f"from helpers import runner; runner.drive({str(folder)!r}, {execute!r})"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # a runner started under nohup (or a CI shell) inherits SIGINT as ignored,
        # and Python then never raises KeyboardInterrupt: the driver gets the
        # default disposition whatever started the tests
        preexec_fn=default_sigint,
    )


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_runs(folder: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while len(Store(folder / "out").statuses()) < count:
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "the suite did not progress"
        time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_9_mid_suite_then_rerun_gives_the_uninterrupted_results(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    run(h.make_suite(reference, seeds=4))

    first_log = tmp_path / "first.log"
    process = driver(tmp_path, "fake_execute", first_log, sleep=0.4)
    wait_for_runs(tmp_path, 3, process)
    process.send_signal(signal.SIGKILL)  # the runner only: its workers are orphaned
    process.wait()
    workers = {int(line.split()[1]) for line in first_log.read_text().splitlines()}
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in workers):  # they notice and exit
        assert time.monotonic() < deadline, "orphaned workers kept running"
        time.sleep(0.1)
    done_before = set(Store(tmp_path / "out").finished_ids())
    assert 3 <= len(done_before) < 8

    second_log = tmp_path / "second.log"
    process = driver(tmp_path, "fake_execute", second_log, sleep=0)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out.decode()
    assert not set(executed(second_log)) & done_before
    assert len(executed(second_log)) == 8 - len(done_before)
    assert records(tmp_path / "out") == records(reference / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "runs").iterdir()) == sorted(
        records(reference / "out")
    )


def test_ctrl_c_stops_cleanly_and_keeps_finished_runs(tmp_path):
    log = tmp_path / "log"
    process = driver(tmp_path, "fake_execute", log, sleep=0.5)
    wait_for_runs(tmp_path, 2, process)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    text = out.decode()
    assert process.returncode == 130, text
    assert "interrupted: finished runs are kept" in text and "Traceback" not in text
    finished = Store(tmp_path / "out").finished_ids()
    assert 2 <= len(finished) < 8
    workers = {int(line.split()[1]) for line in log.read_text().splitlines()}
    assert not any(pid_alive(pid) for pid in workers)


def test_importing_the_runner_does_not_import_torch():
    code = "import sys, harness.running.runner, harness.output.store; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("live", [False, True])
def test_progress_shows_done_failed_left_and_eta(live):
    now = [0.0]
    stream = io.StringIO()
    bar = Progress(5, skipped=1, stream=stream, live=live, clock=lambda: now[0])
    bar.start()
    now[0] = 10.0
    bar.update("a/m/seed0", "reached", 10.0)
    now[0] = 20.0
    bar.update("a/m/seed1", "failed", 10.0)
    bar.close()
    text = stream.getvalue()
    assert "3/5 runs  1 failed  2 left  ETA 20s" in text
    if live:
        assert "\r" in text and "FAILED a/m/seed1" in text and "reached a/m/seed0" not in text
    else:
        assert "\r" not in text and "reached a/m/seed0 in 10s" in text
        assert len(text.splitlines()) == 3  # header + one line per run


@pytest.mark.parametrize("executor", [IN_PROCESS, TWO_WORKERS], ids=["in_process", "workers"])
def test_a_full_disk_stops_the_suite_keeps_the_finished_runs_and_a_rerun_finishes(
    tmp_path, executor
):
    suite = h.make_suite(tmp_path, seeds=4)
    outcome, text = run(suite, execute=h.full_disk_execute, executor=executor)
    assert outcome.storage_full.startswith(f"no space left on the device holding {suite.output}")
    assert outcome.exit_code == 1 and not outcome.ok
    assert f"stopped: no space left on the device holding {suite.output}" in text
    store = Store(suite.output)
    statuses = store.statuses()
    # no run is failed for want of space: the ones that met it have no record and run again
    assert statuses and "failed" not in statuses.values()
    assert all(store.load_record(rid).seed < 2 for rid in statuses)
    again, _ = run(suite)
    assert again.ok and again.executed == 8 - len(statuses)


def test_a_full_disk_while_a_record_is_written_is_a_full_disk_too(tmp_path, monkeypatch):
    import harness.output.store

    def full(path, record):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(harness.output.store, "write_record", full)
    suite = h.make_suite(tmp_path, seeds=2)
    outcome, _ = run(suite)
    assert "No space left on device" in outcome.storage_full and outcome.exit_code == 1
    assert not Store(suite.output).statuses()
