"""Benchmark of the runner: parallel speed-up of the local executor and the cost
of re-running a finished suite.

    python bench/bench_runner.py                 # CPU-bound stand-in runs
    python bench/bench_runner.py --real          # also a real tiny suite (harness.run.execute)
    python bench/bench_runner.py --workers 1 2 4 --runs 8 --repeat 5
    BENCH_STEPS=500 python bench/bench_runner.py      # longer stand-in runs

The stand-in run does a fixed amount of torch work (LSTM forward and backward
steps on one thread), so a worker count's wall time shows throughput, pool
start-up included. Right after each timing, a bare ProcessPoolExecutor does
the same work without the harness: the ceiling this machine allows at that
moment (on a shared machine other processes take their share). Each worker
count is timed ``--repeat`` times, interleaved; the fastest and the median
are shown. Numbers go to stdout; nothing here is a test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from timing import best_and_median, ratios, stopwatch, timed

from harness.plugin.registry import load_registry
from harness.running.runner import SuiteOutcome, run_suite
from harness.spec.suite import Selection, Suite, load_suite

STEPS = int(os.environ.get("BENCH_STEPS", "250"))


def _work(seed: int) -> Any:
    """Fixed torch work on one thread: about 2-3 s on one core of a current CPU."""
    import torch

    torch.set_num_threads(1)  # what the local executor gives each worker with threads = 1
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(40, 64, batch_first=True)
    batch = torch.randn(16, 100, 40)
    for _ in range(STEPS):
        out, _ = lstm(batch)
        out.pow(2).mean().backward()
    return lstm


def cpu_execute(spec: Any, run_dir: Path) -> dict[str, Any]:
    """The stand-in run: the fixed work, its weights written, a record returned."""
    import torch

    torch.save(_work(spec.seed).state_dict(), run_dir / "weights.pt")
    return {"status": "reached", "convergence": {"steps": STEPS}}


def bare_pool(workers: int, runs: int) -> float:
    """The same work in a bare process pool: what this machine allows right now."""
    spawn = multiprocessing.get_context("spawn")
    with stopwatch() as elapsed, ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        list(pool.map(_work, range(runs)))
    return elapsed.wall


def suite_file(folder: Path, runs: int, real: bool) -> Path:
    seeds = max(1, runs // 2)
    budget = "max_steps = 60\neval_every = 20\n" if real else ""
    text = textwrap.dedent(f"""\
        name = "bench"
        seeds = {seeds}

        [dataset]
        plugin = "espeak"

        [target]
        language = "en"
        threshold = 0.8
        {budget}
        [training]
        batch_size = 8
        segment_frames = 50
        device = "cpu"

        [splits]
        probe_languages = ["en", "ja"]
        pretrain_speakers = 1
        train_speakers = 1
        heldout_speakers = 1
        probe_speakers = 4

        [[conditions]]
        name = "none"

        [[conditions]]
        name = "ja-lowpass"
        language = "ja"
        filter = {{plugin = "lowpass"}}

        [[models]]
        plugin = "lstm"
        """)
    path = folder / "bench.toml"
    path.write_text(text, encoding="utf-8")
    return path


def timed_suite(
    suite: Suite, workers: int, execute: Any, output: Path
) -> tuple[float, SuiteOutcome]:
    local = Selection("executor", "local", {"workers": workers, "threads": 1, "in_process": False},
                      "local")  # fmt: skip
    suite = _with_output(suite, output)
    outcome, wall, _ = timed(
        lambda: run_suite(suite, execute=execute, executor=local, progress=False)
    )
    return wall, outcome


def _with_output(suite: Suite, output: Path) -> Suite:
    from dataclasses import replace

    return replace(suite, output=output)


def bench(
    label: str,
    suite: Suite,
    workers: list[int],
    execute: Any,
    scratch: Path,
    repeat: int,
    bare: bool = False,
) -> None:
    """Time the suite per worker count; with ``bare``, a bare pool right after each."""
    times: dict[tuple[str, int], list[float]] = {}
    total = 0
    for attempt in range(repeat):
        for n in workers:
            output = scratch / f"{label}-{n}-{attempt}"
            seconds, outcome = timed_suite(suite, n, execute, output)
            if not outcome.ok:
                print(outcome.summary())
                raise SystemExit(f"{label}: the suite did not finish cleanly")
            total = outcome.total
            times.setdefault(("harness", n), []).append(seconds)
            if bare:
                times.setdefault(("bare pool", n), []).append(bare_pool(n, total))
    named = {f"{kind}, {n} worker(s)": values for (kind, n), values in times.items()}
    best, median = best_and_median(named)
    for name, values in named.items():
        print(
            f"{label}, {name}: {total} runs: best {best[name]:6.1f} s, "
            f"median {median[name]:6.1f} s over {len(values)}"
        )
    base = workers[0]
    kinds = dict.fromkeys(k for k, _ in times)
    speedups = {
        f"{kind}: speed-up {n} vs {base} worker(s)": (
            f"{kind}, {base} worker(s)",
            f"{kind}, {n} worker(s)",
        )
        for kind in kinds
        for n in workers[1:]
    }
    for name, ratio in ratios(best, median, speedups).items():
        print(f"{label}, {name}: {ratio['min']:.2f}x (best), {ratio['median']:.2f}x (median)")
    last = workers[-1]
    seconds, outcome = timed_suite(suite, last, execute, scratch / f"{label}-{last}-0")
    assert outcome.executed == 0, "a finished suite ran runs again"
    print(f"{label}: re-running the finished suite: {seconds:.2f} s ({outcome.skipped} skipped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=8, help="runs of the stand-in suite")
    parser.add_argument("--real", action="store_true", help="also time harness.run.execute")
    parser.add_argument("--real-runs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="timings per worker count")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; stand-in run: {STEPS} LSTM steps on 1 thread")
    scratch = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    # a private corpus and feature cache, so the warm-up below is what fills it
    os.environ.setdefault("HARNESS_CACHE", str(scratch / "cache"))
    try:
        registry = load_registry()
        suite = load_suite(suite_file(scratch, args.runs, real=False), registry)
        bench("stand-in", suite, args.workers, cpu_execute, scratch, args.repeat, bare=True)
        if args.real:
            from harness.run.execute import execute

            real = load_suite(suite_file(scratch, args.real_runs, real=True), registry)
            # the first run synthesises the corpus and fills the feature cache; time it apart
            seconds, outcome = timed(_first(real), 1, execute, scratch / "warm-up")
            print(f"real: warm-up (corpus and feature cache): {seconds:.1f} s, "
                  f"{outcome.executed} runs")  # fmt: skip
            if not outcome.ok:
                print(outcome.summary())
            bench("real", real, args.workers, execute, scratch, 1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _first(suite: Suite) -> Suite:
    from dataclasses import replace

    # caches do not depend on the run seed: one seed of every condition fills them
    return replace(suite, seeds=suite.seeds[:1])


if __name__ == "__main__":
    main()
