"""Where users wait: the CLI, the report, a re-run, each run's overhead, the
training step and the features, each against its goal (issue 27).

Prints, for one machine in one session:

1. CPU seconds of ``harness --help``, ``harness validate SUITE`` and
   ``harness plugins``, each a fresh process (median of ``--repeats``);
2. with ``--finished DIR`` (a finished results folder of SUITE, written by the
   current code): the full report build (its ``report.digest`` removed first),
   ``harness report DIR`` again (the report reused) and ``harness run SUITE
   --output DIR`` again (nothing to run, the report reused), wall and CPU
   (the report's forked figure processes included);
3. from the same folder's records: each model's median phase seconds per run
   and the overhead (features + latents + probes) over training, runs that
   draw t-SNE apart (bench/bench_phases.py reads the same records);
4. ``--training``: the training-step ratio harness/bare (bench/bench_training.py);
5. ``--features``: feature throughput against librosa in both configurations
   (bench/bench_features.py), wall and CPU ratios;

then one table of every goal of the issue's "Done when": measured, goal, met,
with the load average at the end (wall seconds on a loaded machine are not
an idle machine's; the CPU seconds and the ratios measured within one run
move much less).

    python bench/bench_waits.py                                   # the CLI only
    harness run suites/pretrain.toml --output /tmp/flagship
    python bench/bench_waits.py --finished /tmp/flagship --training --features

A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_phases import phases
from timing import stopwatch

ROOT = Path(__file__).resolve().parent.parent
HARNESS = [sys.executable, "-m", "harness"]

#: (what, measured, goal, unit, met) for the closing table
Goal = tuple[str, float, str, str, bool]


def command_seconds(args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one harness command in a fresh process (its children
    included)."""
    with stopwatch(children=True) as elapsed:
        subprocess.run([*HARNESS, *args], cwd=ROOT, check=True, capture_output=True)
    return elapsed.wall, elapsed.cpu


def cli(suite: str, repeats: int) -> list[Goal]:
    print(f"CLI, median of {repeats} fresh processes (CPU s / wall s):")
    goals = []
    for args, limit in ((["--help"], 0.3), (["validate", suite], 1.0), (["plugins"], 1.0)):
        times = [command_seconds(args) for _ in range(repeats)]
        cpu = statistics.median(t[1] for t in times)
        wall = statistics.median(t[0] for t in times)
        print(f"  harness {' '.join(args):<40} {cpu:6.2f} CPU  {wall:6.2f} wall")
        goals.append((f"harness {args[0]}", cpu, f"< {limit} s", "CPU s", cpu < limit))
    return goals


def report(suite: str, finished: Path) -> list[Goal]:
    goals = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / finished.name
        shutil.copytree(finished, folder)
        (folder / "report.digest").unlink(missing_ok=True)
        print("report and re-run (CPU s / wall s):")
        for what, args, limit in (
            ("full report build", ["report", str(folder)], 10.0),
            ("report again (reused)", ["report", str(folder)], None),
            ("run the finished suite again", ["run", suite, "--output", str(folder)], 2.0),
        ):
            wall, cpu = command_seconds(args)
            print(f"  {what:<40} {cpu:6.2f} CPU  {wall:6.2f} wall")
            if limit is not None:
                goals.append((f"{what} (wall)", wall, f"< {limit:g} s", "wall s", wall < limit))
                goals.append((f"{what} (CPU)", cpu, f"< {limit:g} s", "CPU s", cpu < limit))
    return goals


def overhead(finished: Path) -> list[Goal]:
    frame = phases(finished)
    frame["overhead"] = frame[["features", "latents", "probes"]].sum(axis=1)
    table = frame.groupby(["model", "tsne"]).median(numeric_only=True)
    table["overhead / training"] = table["overhead"] / table["training"]
    columns = ["features", "training", "latents", "probes", "overhead / training"]
    print("per-run phases, median wall seconds (the records' own clocks):")
    print(table[columns].round(2).to_string())
    goals = []
    for (model, tsne), ratio in table["overhead / training"].items():
        if str(model).startswith("lstm"):
            what = f"{model} overhead / training" + (" (t-SNE seed)" if tsne else "")
            goals.append((what, float(ratio), "<= 0.33", "ratio", ratio <= 0.33))
    return goals


def training() -> list[Goal]:
    import bench_training

    ratio = bench_training.main([])["ratio"]
    return [
        (f"training step harness/bare ({name}, median)", v["median"], "<= 1.02", "ratio",
         v["median"] <= 1.02)
        for name, v in ratio.items()
    ]  # fmt: skip


def features() -> list[Goal]:
    import bench_features

    rows = bench_features.main([])["features"]
    goals = []
    for name, row in rows.items():
        short = name.split(" (")[0] + ", " + name.rsplit(", ", 1)[1]
        for key, clock in (("ratio", "wall"), ("cpu_ratio", "CPU")):
            value = row[key]
            goals.append(
                (f"features/librosa {short} ({clock})", value, ">= 1.5", "x", value >= 1.5)
            )
    return goals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/pretrain.toml")
    parser.add_argument("--finished", type=Path, help="a finished results folder of --suite")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--training", action="store_true", help="also bench_training.py")
    parser.add_argument("--features", action="store_true", help="also bench_features.py")
    args = parser.parse_args(argv)
    goals = cli(args.suite, args.repeats)
    if args.finished is not None:
        goals += report(args.suite, args.finished.resolve())
        goals += overhead(args.finished)
    if args.training:
        goals += training()
    if args.features:
        goals += features()
    print(f"\nissue 27 goals ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}):")
    for what, value, goal, unit, met in goals:
        print(f"  {what:<58} {value:7.2f} {unit:<7} goal {goal:<8} {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
