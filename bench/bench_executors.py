"""Scheduler overhead: a suite of many tiny runs on the local, dask and slurm
executors, against a bare loop doing the same work.

    python bench/bench_executors.py                      # 200 runs
    python bench/bench_executors.py --runs 1000
    python bench/bench_executors.py --start-cluster      # a one-node Slurm here (root)
    python bench/bench_executors.py --executors local dask

A tiny run is one optimiser step of a small torch model (what a test model
that trains for one step costs) plus the harness's bookkeeping: its run
folder, record.json, the atomic rename. The bare loop does the same torch
work in one process, ``runs`` times. Each executor gets ``slots`` runs at a
time (local workers, dask workers, Slurm jobs of one CPU), so the cost the
harness adds per run is ``wall x slots / runs`` minus the bare loop's time
per run: core-seconds per run beyond the work. Slurm runs once with a job per
run and once with ``--batch`` runs per job. Numbers go to stdout, with the
load average before and after; nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

from timing import stopwatch

from harness.plugin.components import resolve_params
from harness.plugin.registry import load_registry
from harness.running.runner import run_suite
from harness.spec.suite import Selection, Suite, load_suite

HERE = Path(__file__).parent


def tiny_work(seed: int) -> float:
    """One optimiser step of a small model on one thread."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 16))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = torch.randn(8, 16)
    loss = (model(batch) - batch).pow(2).mean()
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def tiny_execute(spec: Any, run_dir: Path) -> dict[str, Any]:
    """The tiny run as the harness runs it: the work, then a record."""
    loss = tiny_work(spec.seed)
    return {"status": "censored", "convergence": {"steps": 1, "final_heldout_loss": loss}}


def suite_file(folder: Path, runs: int) -> Path:
    text = textwrap.dedent(f"""\
        name = "tiny"
        seeds = {max(1, runs // 2)}

        [dataset]
        plugin = "espeak"

        [target]
        language = "en"
        threshold = 0.8

        [splits]
        probe_languages = ["en", "ja"]

        [[conditions]]
        name = "none"

        [[conditions]]
        name = "ja"
        language = "ja"

        [[models]]
        plugin = "lstm"
        """)
    path = folder / "tiny.toml"
    path.write_text(text, encoding="utf-8")
    return path


def executors(names: list[str], slots: int, batch: int, scratch: Path) -> dict[str, Selection]:
    registry = load_registry()
    given: dict[str, tuple[str, dict[str, Any]]] = {
        "local": ("local", {"workers": slots, "threads": 1}),
        "dask": ("dask", {"workers": slots, "torch_threads": 1}),
        "slurm": ("slurm", {"jobs": slots, "folder": str(scratch / "jobs")}),
        f"slurm, {batch} runs per job": (
            "slurm",
            {"jobs": slots, "runs_per_job": batch, "folder": str(scratch / "jobs")},
        ),
    }
    out = {}
    for label, (plugin, params) in given.items():
        if plugin in names:
            component = registry.get("executor", plugin)
            resolved, problems = resolve_params(component.params, params, "executor")
            assert not problems, problems
            out[label] = Selection("executor", plugin, resolved, plugin)
    return out


def time_suite(
    suite: Suite, executor: Selection, output: Path, execute: Any
) -> tuple[float, float]:
    suite = replace(suite, output=output)
    with stopwatch() as elapsed:
        outcome = run_suite(suite, execute=execute, executor=executor, progress=False)
    if not outcome.ok or outcome.executed != outcome.total:
        print(outcome.summary())
        raise SystemExit(f"{executor.plugin}: the suite did not finish cleanly")
    return elapsed.wall, elapsed.cpu


def bare_loop(runs: int) -> float:
    tiny_work(0)  # torch imported and warm, as in a worker after its first run
    with stopwatch() as elapsed:
        for seed in range(runs):
            tiny_work(seed)
    return elapsed.wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2, help="runs at a time on each executor")
    parser.add_argument("--batch", type=int, default=20, help="runs per Slurm job, second time")
    parser.add_argument("--executors", nargs="+", default=["local", "dask", "slurm"])
    parser.add_argument("--start-cluster", action="store_true",
                        help="start a one-node Slurm cluster here for the slurm runs (root)")  # fmt: skip
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    # jobs and spawned workers import this module by name
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(HERE), os.environ.get("PYTHONPATH")])
    )
    import bench_executors

    try:
        with _cluster(args.start_cluster and "slurm" in args.executors, scratch):
            suite = load_suite(suite_file(scratch, args.runs), load_registry())
            runs = len(suite.seeds) * 2
            load = os.getloadavg()
            bare = bare_loop(runs)
            print(f"{runs} tiny runs, {args.slots} at a time; {os.cpu_count()} CPUs; "
                  f"load average {load[0]:.1f} at the start")  # fmt: skip
            print(
                f"bare loop: {bare:.2f} s, {runs / bare:.0f} runs/s, {bare / runs * 1e3:.1f} ms per run"
            )
            chosen = executors(args.executors, args.slots, args.batch, scratch)
            for label, executor in chosen.items():
                wall, cpu = time_suite(suite, executor, scratch / label.replace(" ", "-"),
                                       bench_executors.tiny_execute)  # fmt: skip
                extra = (wall * args.slots - bare) / runs
                print(f"{label}: {wall:.1f} s wall, {runs / wall:.2f} runs/s, runner CPU "
                      f"{cpu:.1f} s; harness cost {extra * 1e3:.0f} core-ms per run")  # fmt: skip
            print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _cluster(start: bool, scratch: Path) -> Any:
    import contextlib

    if not start:
        return contextlib.nullcontext()
    sys.path.insert(0, str(HERE.parent / "tests"))
    from helpers.slurm_cluster import slurm_cluster

    @contextlib.contextmanager
    def started() -> Any:
        root = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
        with slurm_cluster(root) as cluster:
            os.environ["SLURM_CONF"] = str(cluster.conf)
            yield cluster
        shutil.rmtree(root, ignore_errors=True)

    return started()


if __name__ == "__main__":
    main()
