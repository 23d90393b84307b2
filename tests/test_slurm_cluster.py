"""The slurm executor on a real one-node Slurm cluster (tests/helpers/slurm_cluster.py):
the same results as the local executor, a cancelled job, a preempted job, a
refused resource request, and no daemon left afterwards. ``tox -e cluster``."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.output.store import Store
from harness.plugin.components import resolve_params
from harness.plugin.registry import Registry
from harness.running.runner import run_suite
from harness.spec.suite import Selection

from helpers import runner as h
from helpers.slurm_cluster import SlurmCluster, slurm_cluster, unavailable

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).parent.parent
HERE = Path(__file__).parent
#: timing, machine and load columns: what differs between two executions of one run
VARYING = re.compile(r"seconds|started|wall|cpu|load|host|machine|python|platform|torch_threads")


def _need_cluster() -> None:
    reason = unavailable()
    if reason and os.environ.get("HARNESS_REQUIRE_CLUSTER"):
        pytest.fail(reason)  # the cluster env must not pass by skipping everything
    if reason:
        pytest.skip(reason)


def _root() -> Path:
    # short: the munge socket's path must fit a Unix socket name
    return Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))


def _leftovers(root: Path) -> list[str]:
    """Live processes of a cluster under ``root``: its daemons, and any job
    step (a zombie is dead already; this machine's init may never reap it)."""
    found = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout
    steps = subprocess.run(["pgrep", "-x", "slurmstepd"], capture_output=True, text=True).stdout
    alive = []
    for pid in (found + steps).split():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            alive.append(f"{pid} {stat.split()[1]}")
    return alive


def test_a_stopped_cluster_leaves_no_daemon_and_no_job_running():
    _need_cluster()
    root = _root()
    with slurm_cluster(root) as cluster:
        assert set(cluster.pids()) == {"munged", "slurmctld", "slurmd"}
        assert _leftovers(root), "pgrep must see the running daemons"
        cluster.run("sbatch", "--wrap", "sleep 300", "-o", "/dev/null")
        cluster.wait_for("RUNNING")
    assert cluster.pids() == {}
    assert _leftovers(root) == []
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    _need_cluster()
    root = _root()
    patch = pytest.MonkeyPatch()
    with slurm_cluster(root) as started:
        patch.setenv("SLURM_CONF", str(started.conf))
        # the jobs import the fake runs from tests/helpers
        patch.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
        )
        try:
            yield started
        finally:
            patch.undo()
    assert _leftovers(root) == []
    shutil.rmtree(root, ignore_errors=True)


def _registry() -> Registry:
    from harness_plugins.executors.slurm import harness_executors

    base = h.registry()
    executors = {**base.components["executor"], "slurm": harness_executors()[0]}
    return Registry({**base.components, "executor": executors})


def slurm(folder: Path, **given: object) -> Selection:
    from harness_plugins.executors.slurm import PARAMS

    params, problems = resolve_params(PARAMS, {"folder": str(folder), **given}, "executor")
    assert not problems
    return Selection("executor", "slurm", params, "slurm")


def run(suite, execute, executor):
    return run_suite(suite, execute=execute, executor=executor, registry=_registry(),
                     stream=io.StringIO())  # fmt: skip


def reference(tmp_path: Path, seeds: int) -> list:
    folder = tmp_path / "local"
    folder.mkdir()
    suite = h.make_suite(folder, seeds=seeds)
    local = Selection("executor", "local", {"workers": 2, "threads": 1, "in_process": False},
                      "local")  # fmt: skip
    assert run(suite, h.fake_execute, local).exit_code == 0
    return [h.strip_timing(r) for r in Store(suite.output).records()]


def _when_running(cluster: SlurmCluster, then):
    """In a thread: wait for the first job to run, then act on it."""
    found: dict[str, str] = {}

    def act() -> None:
        found["job"] = cluster.wait_for("RUNNING")
        then(found["job"])

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread, found


def test_a_cancelled_job_fails_its_run_and_a_rerun_finishes_the_suite(
    tmp_path, cluster, monkeypatch
):
    monkeypatch.setenv("FAKE_SLEEP", "4")
    expected = reference(tmp_path, seeds=2)
    suite = h.make_suite(tmp_path, seeds=2)
    executor = slurm(tmp_path / "jobs", jobs=2)
    thread, found = _when_running(cluster, lambda job: cluster.run("scancel", job))
    outcome = run(suite, h.fake_execute, executor)
    thread.join(timeout=5)
    assert [f.type for f in outcome.failures] == ["SlurmJobEnded"]
    assert f"Slurm job {found['job']} running this run was cancelled" in outcome.failures[0].message
    store = Store(suite.output)
    assert len(store.finished_ids()) == 3 and len(store.failed_ids()) == 1
    # nothing half-written is left, let alone counted as finished
    assert not [p for p in store.runs.iterdir() if ".partial-" in p.name]
    log = Path(outcome.failures[0].message.rsplit("(log: ", 1)[1].rstrip(")"))
    assert log.is_file()  # the cancelled job's log is kept
    monkeypatch.undo()
    again = run_suite(suite, execute=h.fake_execute, executor=slurm(tmp_path / "jobs"),
                      registry=_registry(), stream=io.StringIO(), rerun_failed=True)  # fmt: skip
    assert (again.executed, again.failed, again.exit_code) == (1, 0, 0)
    assert [h.strip_timing(r) for r in Store(suite.output).records()] == expected


def test_a_preempted_job_runs_again_and_the_suite_finishes(tmp_path, cluster, monkeypatch):
    monkeypatch.setenv("FAKE_SLEEP", "4")
    expected = reference(tmp_path, seeds=2)
    suite = h.make_suite(tmp_path, seeds=2)
    cpus = str(os.cpu_count())
    # one job fills the node; an urgent job then preempts it (cancelled: PREEMPTED)
    executor = slurm(tmp_path / "jobs", partition="cancel", cpus_per_job=int(cpus), jobs=1)

    def preempt(job: str) -> None:
        cluster.run("sbatch", "-p", "urgent", "-c", cpus, "-o", "/dev/null", "--wrap", "sleep 1")

    thread, found = _when_running(cluster, preempt)
    outcome = run(suite, h.fake_execute, executor)
    thread.join(timeout=5)
    assert cluster.states()[found["job"]] == "PREEMPTED"
    assert (outcome.failed, outcome.missing, outcome.exit_code) == (0, 0, 0)
    assert [h.strip_timing(r) for r in Store(suite.output).records()] == expected


def test_resources_the_cluster_cannot_give_stop_before_any_run(tmp_path, cluster):
    suite = ROOT / "suites" / "quick.toml"
    for option, said in [("partition=gpu", "invalid partition"),
                         ("gpus_per_job=1", "Invalid generic resource")]:  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "harness", "run", str(suite), "--output", str(tmp_path / "o"),
             "--executor", "slurm", "-E", option],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert (
            "executor plugin 'slurm' could not start: SlurmUnavailable: Slurm refuses"
            in done.stderr
        )
        assert said in done.stderr
        assert not (tmp_path / "o").exists()


def _tables(folder: Path) -> dict:
    from harness.tables.results import load_results

    results = load_results(folder)
    out = {}
    for name in ("runs", "curves", "probes"):
        frame = getattr(results, name)
        keep = [c for c in frame.columns if not VARYING.search(c)]
        out[name] = frame[keep].sort_values(keep[:3]).reset_index(drop=True)
    return out


def test_the_quick_suite_on_slurm_gives_the_local_executors_tables(tmp_path, cluster):
    """suites/quick.toml with one seed (4 runs: both models, every probe)."""
    text = (ROOT / "suites" / "quick.toml").read_text()
    suite = tmp_path / "quick.toml"
    suite.write_text(re.sub(r"(?m)^seeds = \d+$", "seeds = 1", text))
    executors = {
        "local": ["--executor", "local", "-E", "workers=2", "-E", "threads=1"],
        "slurm": [
            "--executor",
            "slurm",
            "-E",
            "cpus_per_job=1",
            "-E",
            f"folder={tmp_path / 'jobs'}",
        ],
    }
    for name, options in executors.items():
        done = subprocess.run(
            [sys.executable, "-m", "harness", "run", str(suite), "--output", str(tmp_path / name),
             "--no-report", *options],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    local, on_slurm = _tables(tmp_path / "local"), _tables(tmp_path / "slurm")
    assert len(local["runs"]) == 4
    # what is compared: steps, losses, the curves and every probe's numbers
    assert {"steps_to_threshold", "final_heldout_loss"} <= set(local["runs"].columns)
    assert "heldout_loss" in local["curves"] and "value" in local["probes"]
    for name, frame in local.items():
        assert list(frame.columns) == list(on_slurm[name].columns), name
        assert frame.equals(on_slurm[name]), name
