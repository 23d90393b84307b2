"""The slurm executor without a cluster: its settings and their errors, what a
job does inside (run files, the time-limit warning), and how the submitting
side settles a job by the way it ended, against a scripted queue. The real
cluster is in tests/test_slurm_cluster.py."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from harness.cli import main
from harness_plugins.executors import slurm_executor as se
from harness_plugins.executors.slurm_jobs import SlurmJobEnded, done_indices, read_done, run_batch
from harness_plugins.executors.slurm_options import SlurmOptions, option_problems, time_minutes

ROOT = Path(__file__).parent.parent
QUICK = ROOT / "suites" / "quick.toml"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("30", 30),
        ("90:30", 91),
        ("04:00:00", 240),
        ("1-12", 2160),
        ("2-00:30", 2910),
        ("0-00:00:01", 1),
    ],
)
def test_slurm_time_limits_read_as_slurm_reads_them(text, minutes):
    assert time_minutes(text) == minutes


def test_settings_slurm_would_refuse_are_named_with_the_valid_forms():
    problems = dict(option_problems({"time": "4h", "mem": "16 GB", "options": "-x --partition=a"}))
    assert problems["time"].startswith("expected a Slurm time limit such as 30 (minutes), 04:00")
    assert "got '4h'" in problems["time"]
    assert (
        problems["mem"]
        == "expected a memory size such as 16G, 512M or 16000 (megabytes), got '16 GB'"
    )
    assert "expected long sbatch options" in problems["options"]
    assert "--partition is set by the executor's own keys" in dict(
        option_problems({"options": "--partition=a"}))["options"]  # fmt: skip
    assert dict(option_problems({"time": "0"})) == {
        "time": "expected a time limit above zero, got '0'"
    }
    assert (
        list(option_problems({"time": "1-00:00:00", "mem": "512m", "options": "--exclusive"})) == []
    )


def test_a_bad_time_on_the_command_line_exits_2_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(QUICK), "--output", str(out), "--executor", "slurm", "-E", "time=4h"])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "executor plugin 'slurm' could not start: ValueError: -E time: expected a Slurm time limit"
        in err
    )
    assert not out.exists()


def test_an_unknown_key_lists_the_valid_ones(tmp_path, capsys):
    code = main(["run", str(QUICK), "--output", str(tmp_path / "o"), "--executor", "slurm",
                 "-E", "partion=gpu"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "--executor-param.partion: unknown key (did you mean 'partition'?); valid keys: account,"
        in err
    )


def test_validate_checks_a_suites_executor_table(tmp_path, capsys):
    suite = tmp_path / "s.toml"
    suite.write_text(QUICK.read_text() + '\n[executor]\nplugin = "slurm"\nmem = "lots"\n')
    assert main(["validate", str(suite)]) == 2
    assert "executor.mem: expected a memory size such as 16G" in capsys.readouterr().err


def test_without_slurm_commands_or_submitit_the_executor_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(
        RuntimeError, match=r"needs submitit: pip install 'speech-pretrain-harness\[slurm\]'"
    ):
        se.SlurmExecutor()
    monkeypatch.setitem(sys.modules, "submitit", types.ModuleType("submitit"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="sbatch, squeue, scancel, srun not found on PATH"):
        se.SlurmExecutor()


def test_listing_and_validating_import_neither_submitit_nor_the_executor():
    code = ("import sys; from harness.cli import main; main(['plugins', '--kind', 'executor']); "
            f"main(['validate', {str(QUICK)!r}]); "
            "print(sorted(m for m in sys.modules if 'submitit' in m or 'slurm_executor' in m))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "  slurm  [harness_plugins.executors.slurm" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_job_script_asks_for_the_declared_resources(tmp_path):
    slurm = pytest.importorskip("submitit.slurm.slurm")
    options = SlurmOptions(partition="gpu", cpus_per_job=8, gpus_per_job=1, mem="16g",
                           time="04:00:00", account="lab", options="--constraint=a100 --exclusive",
                           setup="module load cuda", jobs=20)  # fmt: skip
    script = slurm._make_sbatch_string(command="run", folder=tmp_path, map_count=50,
                                       **options.sbatch("harness-x"))  # fmt: skip
    for line in ["--partition=gpu", "--cpus-per-task=8", "--gpus-per-node=1", "--mem=16G",
                 "--time=240", "--account=lab", "--constraint=a100", "--exclusive",
                 "--array=0-49%20", "--job-name=harness-x", "--signal=USR2@90"]:  # fmt: skip
        assert f"#SBATCH {line}\n" in script
    assert "module load cuda\n" in script


# ------------------------------------------------------------ inside a job


def double(x: int) -> int:
    if x == 3:
        raise KeyError(x)
    return 2 * x


def test_a_batch_leaves_one_result_file_per_item_and_skips_finished_ones(tmp_path):
    items = [(0, 0, 1), (1, 0, 3), (2, 0, 5)]
    assert run_batch(double, str(tmp_path), items, 1, 3600.0, "01:00:00") == 3
    assert done_indices(tmp_path) == {0, 1, 2}
    assert read_done(tmp_path, 0) == 2 and read_done(tmp_path, 2) == 10
    assert isinstance(read_done(tmp_path, 1), KeyError)
    assert sorted(p.name for p in tmp_path.glob("*.started")) == ["0-0.started", "1-0.started",
                                                                  "2-0.started"]  # fmt: skip
    # a requeued job runs again: what it finished stays as it was
    assert run_batch(double, str(tmp_path), items, 1, 3600.0, "01:00:00") == 0


def warned(x: int) -> int:
    os.kill(os.getpid(), signal.SIGUSR2)  # Slurm's warning (sbatch --signal=USR2@90)
    time.sleep(5)
    return x


def test_the_time_limit_warning_stops_the_run_in_flight_and_the_batch(tmp_path):
    items = [(0, 0, 1), (1, 0, 2)]
    assert run_batch(warned, str(tmp_path), items, 1, 60.0, "00:01:00") == 0
    error = read_done(tmp_path, 0)
    assert isinstance(error, SlurmJobEnded) and error.state == "TIMEOUT"
    assert "reached its time limit (00:01:00); give runs more time with -E time=" in str(error)
    assert done_indices(tmp_path) == {0}  # the second never started
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL  # the handler is put back


def test_a_warning_long_before_the_limit_goes_to_the_previous_handler(tmp_path):
    notices = []
    previous = signal.signal(signal.SIGUSR2, lambda *_: notices.append("preempted"))
    try:
        assert run_batch(warned, str(tmp_path), [(0, 0, 7)], 1, 86400.0, "1-00:00:00") == 1
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert notices == ["preempted"] and read_done(tmp_path, 0) == 7


# ------------------------------------------------------------ a scripted queue


class ScriptedQueue:
    """Stands in for sbatch and squeue: each submitted job runs its items in
    this process, then ends as ``script(item, attempt)`` says: ("COMPLETED",
    None) runs everything; (state, k) runs the first k items and ends while
    item k runs (its started marker written), or before any with k = 0 and
    ``started=False``."""

    def __init__(self, executor, script):
        self.executor, self.script = executor, script
        self.states: dict[str, str] = {}
        self.submitted: list[list[int]] = []
        self.most_live = 0

    def sbatch(self, submitter, fn, payloads):
        ids = []
        for payload in payloads:
            job_id = str(len(self.submitted))
            self.submitted.append([i for i, _, _ in payload])
            self.most_live = max(self.most_live, len(self.executor._live) + len(ids) + 1)
            state, ran = self.script(payload)
            if state == "REFUSED":
                raise RuntimeError("sbatch: error: QOSMaxSubmitJobPerUserLimit")
            runs = self.executor._runs
            run_batch(
                fn, str(runs), payload if ran is None else payload[:ran], 1, 3600.0, "1:00:00"
            )
            if ran is not None and ran < len(payload) and state != "NEVER":
                index, attempt, _ = payload[ran]
                (runs / f"{index}-{attempt}.started").touch()
            self.states[job_id] = "FAILED" if state == "NEVER" else state
            ids.append(job_id)
        return ids


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    monkeypatch.setattr(se, "POLL_S", 0.0)
    monkeypatch.setattr(se, "QUEUE_EVERY_S", 0.0)
    monkeypatch.setattr(se, "GRACE_S", {})
    monkeypatch.setattr(se, "GRACE_OTHER_S", 0.0)
    monkeypatch.setattr(se, "require_commands", lambda: None)
    monkeypatch.setattr(se, "check_resources", lambda args: None)
    monkeypatch.setitem(sys.modules, "submitit", types.SimpleNamespace(
        SlurmExecutor=lambda **kw: types.SimpleNamespace(update_parameters=lambda **p: None)))  # fmt: skip

    def make(script, **params):
        executor = se.SlurmExecutor(folder=str(tmp_path / "jobs"), **params)
        queue = ScriptedQueue(executor, script)
        monkeypatch.setattr(executor, "_sbatch", queue.sbatch)
        monkeypatch.setattr(se, "job_states", lambda name: dict(queue.states))
        return executor, queue

    return make


def results(executor, items):
    out = dict(executor.map(double, items))
    executor.close()
    return out


def test_a_preempted_job_is_submitted_again_and_its_run_finishes(scripted):
    executor, queue = scripted(lambda p: ("PREEMPTED", 0) if p[0][1] == 0 else ("COMPLETED", None))
    assert results(executor, [1, 2]) == {1: 2, 2: 4}
    assert sorted(queue.submitted) == [[0], [0], [1], [1]]


def test_retries_run_out_and_the_run_fails_saying_so(scripted):
    executor, queue = scripted(lambda p: ("NODE_FAIL", 0), retries=1)
    (error,) = results(executor, [5]).values()
    assert isinstance(error, SlurmJobEnded) and error.state == "NODE_FAIL"
    assert "ended without finishing it (NODE_FAIL) 2 time(s), the last with no retries left" in str(
        error
    )
    assert queue.submitted == [[0], [0]]
    assert executor.folder.is_dir()  # kept for its logs


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ("OUT_OF_MEMORY", "ran out of memory (2G); ask for more with -E mem="),
        ("TIMEOUT", "reached its time limit (00:30:00); give runs more time with -E time="),
        ("CANCELLED", "was cancelled (scancel, or an administrator)"),
    ],
)
def test_memory_time_and_cancelling_fail_the_run_without_a_retry(scripted, state, said):
    executor, queue = scripted(lambda p: (state, 0), mem="2G", time="00:30:00")
    (error,) = results(executor, [5]).values()
    assert said in str(error) and error.state == state
    assert queue.submitted == [[0]]


def test_a_batch_killed_mid_way_keeps_its_finished_runs_and_requeues_the_unstarted(scripted):
    script = lambda p: ("PREEMPTED", 1) if len(p) == 3 else ("COMPLETED", None)  # noqa: E731
    executor, queue = scripted(script, runs_per_job=3)
    assert results(executor, [1, 2, 4]) == {1: 2, 2: 4, 4: 8}
    # the first ran; the second was in flight (a retry), the third never started (free)
    assert queue.submitted == [[0, 1, 2], [1, 2]]


def test_a_job_that_dies_before_any_run_fails_them_with_its_log(scripted):
    executor, queue = scripted(lambda p: ("NEVER", 0))
    (error,) = results(executor, [1]).values()
    assert (
        "ended (FAILED) without finishing it: its process crashed, was killed or could not start"
        in str(error)
    )
    assert queue.submitted == [[0]]


def test_no_more_jobs_than_asked_for_are_queued_at_once(scripted):
    executor, queue = scripted(lambda p: ("COMPLETED", None), jobs=2)
    assert results(executor, [0, 1, 2, 4, 5, 6]) == {i: 2 * i for i in (0, 1, 2, 4, 5, 6)}
    assert queue.most_live == 2 and len(queue.submitted) == 6


def test_a_refused_submission_fails_its_runs_and_says_how_to_queue_fewer(scripted):
    executor, _ = scripted(lambda p: ("REFUSED", None))
    errors = results(executor, [1, 2])
    assert {e.state for e in errors.values()} == {"SUBMIT"}
    assert (
        "QOSMaxSubmitJobPerUserLimit; if the cluster limits queued jobs, queue fewer at once with -E jobs=N"
        in str(errors[1])
    )


LOCKED_WORKER = """
import pickle, sys
sys.path.insert(0, {tests!r})
from harness.output.store import Store, StoreError
from harness.running.runner import run_one
from helpers.runner import fake_execute
spec = pickle.loads(open({spec!r}, "rb").read())
print(run_one(spec, output={output!r}, execute=fake_execute).status)
try:
    with Store({output!r}).lock():
        print("locked")
except StoreError as exc:
    print("refused:", exc)
"""


def test_a_worker_writes_its_run_while_the_runner_holds_the_lock(tmp_path):
    """What a job on another host does: it never takes the suite's lock, so it
    writes its run while `harness run` holds it; a second runner is refused."""
    from harness.output.store import Store
    from harness.spec.expand import expand

    from helpers import runner as h

    suite = h.make_suite(tmp_path, seeds=1)
    spec = expand(suite, h.registry())[0]
    (tmp_path / "spec.pkl").write_bytes(pickle.dumps(spec))
    code = LOCKED_WORKER.format(tests=str(Path(__file__).parent), spec=str(tmp_path / "spec.pkl"),
                                output=str(suite.output))  # fmt: skip
    with Store(suite.output).lock():
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    assert done.stdout.splitlines()[0] == "reached", done.stderr[-2000:]
    assert done.stdout.splitlines()[1].startswith("refused:") and "in use by another" in done.stdout
    assert Store(suite.output).finished_ids() == {spec.run_id}
