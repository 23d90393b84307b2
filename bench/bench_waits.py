"""Where users wait: the CLI, the report, a re-run, and each run's overhead.

Prints, for one machine in one session:

1. CPU seconds of ``harness --help``, ``harness validate SUITE`` and
   ``harness plugins``, each a fresh process (median of ``--repeats``);
2. with ``--finished DIR`` (a finished results folder of SUITE, written by the
   current code): the full report build (its ``report.digest`` removed first),
   ``harness report DIR`` again (the report reused) and ``harness run SUITE
   --output DIR`` again (nothing to run, the report reused), wall and CPU;
3. from the same folder's records: each model's median phase seconds per run
   and the overhead (features + latents + probes) over training, runs that
   draw t-SNE apart (bench/bench_phases.py reads the same records);
4. ``--training``: the training-step ratio harness/bare (bench/bench_training.py).

    python bench/bench_waits.py                                   # the CLI only
    harness run suites/pretrain.toml --output /tmp/flagship
    python bench/bench_waits.py --finished /tmp/flagship --training

Goals (issue 27): validate and plugins under 1 s CPU, --help under 0.3 s, the
flagship report under 10 s, the re-run under 2 s, overhead <= 0.33 of
training for the LSTM runs, harness/bare <= 1.02. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
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


def command_seconds(args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one harness command in a fresh process."""
    with stopwatch(children=True) as elapsed:
        subprocess.run([*HARNESS, *args], cwd=ROOT, check=True, capture_output=True)
    return elapsed.wall, elapsed.cpu


def cli(suite: str, repeats: int) -> None:
    print(f"CLI, median of {repeats} fresh processes (CPU s / wall s):")
    for args in (["--help"], ["validate", suite], ["plugins"]):
        times = [command_seconds(args) for _ in range(repeats)]
        cpu = statistics.median(t[1] for t in times)
        wall = statistics.median(t[0] for t in times)
        print(f"  harness {' '.join(args):<40} {cpu:6.2f} CPU  {wall:6.2f} wall")


def report(suite: str, finished: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / finished.name
        shutil.copytree(finished, folder)
        (folder / "report.digest").unlink(missing_ok=True)
        print("report and re-run (CPU s / wall s):")
        for what, args in (
            ("full report build", ["report", str(folder)]),
            ("report again (reused)", ["report", str(folder)]),
            ("run the finished suite again", ["run", suite, "--output", str(folder)]),
        ):
            wall, cpu = command_seconds(args)
            print(f"  {what:<40} {cpu:6.2f} CPU  {wall:6.2f} wall")


def overhead(finished: Path) -> None:
    frame = phases(finished)
    frame["overhead"] = frame[["features", "latents", "probes"]].sum(axis=1)
    table = frame.groupby(["model", "tsne"]).median(numeric_only=True)
    table["overhead / training"] = table["overhead"] / table["training"]
    columns = ["features", "training", "latents", "probes", "overhead / training"]
    print("per-run phases, median wall seconds (the records' own clocks):")
    print(table[columns].round(2).to_string())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/pretrain.toml")
    parser.add_argument("--finished", type=Path, help="a finished results folder of --suite")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--training", action="store_true", help="also bench_training.py")
    args = parser.parse_args(argv)
    cli(args.suite, args.repeats)
    if args.finished is not None:
        report(args.suite, args.finished.resolve())
        overhead(args.finished)
    if args.training:
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_training.py")], check=True)


if __name__ == "__main__":
    main()
