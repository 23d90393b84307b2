"""The dask executor on a real cluster: a scheduler and two workers started as
`dask scheduler` / `dask worker` on loopback, and a LocalCluster."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.output.store import Store
from harness.running.runner import ExecutorError, run_suite
from harness.spec.suite import Selection

from helpers import runner as h

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.dask

HERE = Path(__file__).parent
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two single-thread workers; yields (address, run log file)."""
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # the fakes live in tests/, so the workers need it on their path
    env = {**os.environ, "PYTHONPATH": str(HERE), "FAKE_LOG": str(logs / "runs.log"),
           "FAKE_SLEEP": "0.3", "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}  # fmt: skip
    scheduler = ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    worker = ["worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
              "--no-dashboard"]  # fmt: skip
    commands = {"scheduler": scheduler, "worker0": worker, "worker1": worker}
    with contextlib.ExitStack() as stack:
        processes = []
        for name, args in commands.items():
            log = stack.enter_context(open(logs / f"{name}.txt", "w"))
            processes.append(
                subprocess.Popen([DASK, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        try:
            with distributed.Client(address, timeout=60) as client:
                client.wait_for_workers(2, timeout=90)
            yield address, logs / "runs.log"
        finally:
            with contextlib.suppress(Exception), distributed.Client(address, timeout=5) as client:
                client.shutdown()  # the quick way: signals make nannies wait for the scheduler
            for process in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
                process.kill()


def dask_at(address: str) -> Selection:
    params = {"address": address, "workers": 0, "threads_per_worker": 1, "torch_threads": 1,
              "dashboard": "", "timeout": 60.0}  # fmt: skip
    return Selection("executor", "dask", params, "dask")


def run(suite, execute, executor=None):
    return run_suite(suite, execute=execute, executor=executor, registry=h.registry(),
                     stream=io.StringIO())  # fmt: skip


def test_a_suite_runs_on_a_scheduler_with_two_workers(tmp_path, cluster):
    address, log = cluster
    suite = h.make_suite(tmp_path, seeds=3)
    outcome = run(suite, h.raising_execute, dask_at(address))
    assert (outcome.total, outcome.executed, outcome.failed, outcome.missing) == (6, 6, 2, 0)
    assert {f.type for f in outcome.failures} == {"ValueError"}
    assert "raising_execute" in outcome.failures[0].traceback  # the worker's traceback
    assert len(Store(suite.output).finished_ids()) == 4
    pids = {line.split()[1] for line in log.read_text().splitlines()}
    assert len(pids) == 2  # both workers ran runs
    again = run(suite, h.raising_execute, dask_at(address))
    assert (again.executed, again.skipped) == (0, 4)


def test_a_run_that_kills_its_workers_fails_alone(tmp_path, cluster):
    address, _ = cluster
    suite = h.make_suite(tmp_path, seeds=2)
    outcome = run(suite, h.exiting_execute, dask_at(address))
    assert [(f.label, f.type) for f in outcome.failures] == [("ja/m4/seed1", "KilledWorker")]
    assert (outcome.failed, outcome.missing, outcome.reached + outcome.censored) == (1, 0, 3)


def test_the_same_suite_file_runs_on_a_local_cluster(tmp_path):
    executor = '[executor]\nplugin = "dask"\nworkers = 2\n'
    suite = h.make_suite(tmp_path, seeds=2, executor=executor)
    assert suite.executor.plugin == "dask"
    outcome = run(suite, h.fake_execute)
    assert (outcome.total, outcome.executed, outcome.failed, outcome.exit_code) == (4, 4, 0, 0)
    reference = tmp_path / "reference"
    reference.mkdir()
    local = h.make_suite(reference, seeds=2)
    run(local, h.fake_execute)
    strip = h.strip_timing
    assert [strip(r) for r in Store(suite.output).records()] == [
        strip(r) for r in Store(local.output).records()
    ]


def test_an_unreachable_scheduler_is_an_error_before_any_run(tmp_path):
    suite = h.make_suite(tmp_path, seeds=1)
    executor = dask_at(f"tcp://127.0.0.1:{free_port()}")
    executor = Selection("executor", "dask", {**executor.params, "timeout": 1.0}, "dask")
    with pytest.raises(ExecutorError, match="executor plugin 'dask' could not start: OSError"):
        run(suite, h.fake_execute, executor)
    assert Store(suite.output).statuses() == {}  # no run was recorded as failed
    assert not suite.output.exists()  # nor a folder left behind
