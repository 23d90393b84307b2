"""Benchmark: what probes along training (``[probing] probe_at``) cost a
flagship-size LSTM run.

One run of suites/pretrain.toml (the control, the 64-unit LSTM, the suite's
probes, 640 probe clips), executed in this process three times: without
``probe_at``, to learn the step it stops at; then, interleaved with a second
plain run, with ``probe_at`` of ``--points`` steps spread evenly from 0 to that
stop (so every point is measured: points after a run stopped are not). The
ratio is the CPU seconds of the whole run (data, features, training, latents,
probes) with the points over without; the record's own clocks say where the
extra time went (``along_training.seconds``). The cost of one point is given
as a fraction of one run's training, on CPU clocks the bench keeps around the
training phase (:func:`harness.run.execute._train`, the points subtracted)
and around each point (:class:`ProbesAlong`), so the noise of the other
phases on a shared machine stays out of it; and in wall seconds
(``along_training.seconds`` per point over the plain run's training phase).
The training numbers of the two runs are compared too: they must be
identical. Only the probes that run along training run at the points (not
``tsne``, which declares it does not).

    python bench/bench_probe_at.py                  # 5 points, seed 1
    python bench/bench_probe_at.py --points 9 --seed 2

The corpus and features come from the harness cache (generated on first use,
which is not timed here: a first call runs the plain run once untimed). A
benchmark, not a test: it asserts nothing. docs/probes.md states its numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

import harness.run.execute as executing
from harness.plugin.registry import load_registry
from harness.run.execute import execute
from harness.run.probes import ProbesAlong
from harness.spec.expand import RunSpec, expand
from harness.spec.suite import load_suite
from harness.testing import to_toml

FLAGSHIP = Path(__file__).parent.parent / "suites" / "pretrain.toml"


def flagship_run(seed: int, folder: Path) -> RunSpec:
    """The flagship's control run of the LSTM with ``seed``."""
    suite: dict[str, Any] = tomllib.loads(FLAGSHIP.read_text(encoding="utf-8"))
    suite["seeds"] = [seed]
    suite["conditions"] = suite["conditions"][:1]
    suite["models"] = [m for m in suite["models"] if m["plugin"] == "lstm"]
    path = folder / "suite.toml"
    path.write_text(to_toml(suite), encoding="utf-8")
    return expand(load_suite(path))[0]


class CpuClocks:
    """CPU seconds of the training phase and of the points along training, kept by
    wrapping the two functions that do them (this process's CPU, all threads)."""

    def __init__(self) -> None:
        self.training = self.points = 0.0
        train, probe = executing._train, ProbesAlong.__call__

        def timed_train(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return train(*args, **kwargs)
            finally:
                self.training += time.process_time() - start

        def timed_point(along: ProbesAlong, step: int, module: Any) -> None:
            start = time.process_time()
            try:
                probe(along, step, module)
            finally:
                self.points += time.process_time() - start

        executing._train = timed_train  # type: ignore[assignment]
        ProbesAlong.__call__ = timed_point  # type: ignore[method-assign]

    def reset(self) -> None:
        self.training = self.points = 0.0


def timed_run(spec: RunSpec, folder: Path, registry: Any) -> tuple[dict[str, Any], float, float]:
    """The record, CPU and wall seconds of one execution of ``spec``."""
    run_dir = Path(tempfile.mkdtemp(dir=folder))
    cpu, wall = time.process_time(), time.perf_counter()
    record = execute(spec, run_dir, registry)
    return record, time.process_time() - cpu, time.perf_counter() - wall


def training_numbers(record: dict[str, Any]) -> tuple[Any, ...]:
    conv = record["convergence"]
    return conv["steps"], conv["final_heldout_loss"], tuple(record["curve"]["heldout_loss"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="pairs of timed runs")
    args = parser.parse_args()
    registry = load_registry()
    clocks = CpuClocks()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = flagship_run(args.seed, folder)
        first, _, _ = timed_run(plain, folder, registry)  # warms the caches; finds the stop
        stop = int(first["convergence"]["steps"])
        points = tuple(int(s) for s in np.unique(np.linspace(0, stop, args.points).round()))
        probed = dataclasses.replace(plain, probe_at=points)
        print(f"run stops at step {stop} ({first['status']}); probe_at = {list(points)}")
        cpu: dict[str, list[float]] = {"plain": [], "probe_at": []}
        wall: dict[str, list[float]] = {"plain": [], "probe_at": []}
        training: list[float] = []
        per_point: list[float] = []
        train_cpu: list[float] = []
        point_cpu: list[float] = []
        for i in range(args.repeats):
            order = [("plain", plain), ("probe_at", probed)]
            for name, spec in order if i % 2 == 0 else order[::-1]:
                clocks.reset()
                record, c, w = timed_run(spec, folder, registry)
                train_cpu.append(clocks.training - clocks.points)
                cpu[name].append(c)
                wall[name].append(w)
                if name == "plain":
                    training.append(record["phase_seconds"]["training"])
                if name == "probe_at":
                    along = record["along_training"]
                    per_point.append(along["seconds"] / len(along["measured"]))
                    point_cpu.append(clocks.points / len(along["measured"]))
                    ran = sorted({r["probe"] for r in along["probes"]})
                    print(f"probes along training: {ran}")
                    print(
                        f"measured {along['measured']}; probing along: {along['seconds']:.2f} s wall"
                    )
                    same = training_numbers(record) == training_numbers(first)
                    print(f"training numbers identical to the plain run: {same}")
                print(
                    f"{name}: cpu {c:.2f} s (training {train_cpu[-1]:.2f} s, points "
                    f"{clocks.points:.2f} s), wall {w:.2f} s, phases {record['phase_seconds']}"
                )
        ratio = np.median(cpu["probe_at"]) / np.median(cpu["plain"])
        print(f"CPU ratio with {len(points)} points / without: {ratio:.2f}")
        print(f"wall ratio: {np.median(wall['probe_at']) / np.median(wall['plain']):.2f}")
        one, trained = float(np.median(point_cpu)), float(np.median(train_cpu))
        print(
            f"one point: {one:.2f} s CPU = {one / trained:.2f} of one run's training "
            f"({trained:.2f} s CPU, median of all {len(train_cpu)} runs); "
            f"{np.median(per_point):.2f} s wall = "
            f"{np.median(per_point) / np.median(training):.2f} of the plain run's training "
            f"phase ({np.median(training):.2f} s wall)"
        )


if __name__ == "__main__":
    main()
