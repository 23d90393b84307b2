"""Timing scaffolding shared by the bench/ scripts: clocks, interleaved repeats, summaries.

Every benchmark here measures wall and CPU time: wall time is what a user waits,
CPU time is less sensitive to other processes on a shared machine. Comparisons
of two loops run interleaved, alternating which goes first, so drifting load hits
both alike, and report the best and the median of the repeats and their ratios.
The scripts import it as ``timing`` (Python puts a script's folder on the path).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Times = dict[str, list[float]]


def cpu_seconds(children: bool = False) -> float:
    """CPU seconds of this process (user + system), with its finished child
    processes' when ``children`` (a corpus synthesised by a subprocess)."""
    if not children:
        return time.process_time()
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Elapsed:
    """Wall and CPU seconds of a timed block, filled in when the block ends."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def stopwatch(children: bool = False) -> Iterator[Elapsed]:
    """``with stopwatch() as t: ...`` then ``t.wall`` and ``t.cpu``."""
    elapsed = Elapsed()
    wall, cpu = time.perf_counter(), cpu_seconds(children)
    try:
        yield elapsed
    finally:
        elapsed.wall = time.perf_counter() - wall
        elapsed.cpu = cpu_seconds(children) - cpu


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """``call()``'s result, and its wall and CPU seconds."""
    with stopwatch() as elapsed:
        out = call()
    return out, elapsed.wall, elapsed.cpu


def sync(device: Any) -> None:
    """Wait for a CUDA device, so the clocks see its work; nothing on the CPU."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def interleaved(
    repeats: int,
    bare: Callable[[int], Sequence[float]],
    harness: Callable[[int], Sequence[float]],
    keys: Sequence[str],
) -> Times:
    """``bare(seed)`` and ``harness(seed)`` run ``repeats`` times (seed = the repeat),
    alternating which goes first; their seconds, bare's then harness's, named by ``keys``."""
    times: Times = {key: [] for key in keys}
    for repeat in range(repeats):
        if repeat % 2:
            own = harness(repeat)
            base = bare(repeat)
        else:
            base = bare(repeat)
            own = harness(repeat)
        for key, value in zip(keys, (*base, *own), strict=True):
            times[key].append(value)
    return times


def best_and_median(times: Times, scale: float = 1.0) -> tuple[dict[str, float], dict[str, float]]:
    """The fastest and the median of each measure, times ``scale`` (1e3: milliseconds)."""
    best = {key: min(values) * scale for key, values in times.items()}
    median = {key: statistics.median(values) * scale for key, values in times.items()}
    return best, median


def ratios(
    best: Mapping[str, float], median: Mapping[str, float], pairs: Mapping[str, tuple[str, str]]
) -> dict[str, dict[str, float]]:
    """name -> {"min", "median"} of ``numerator / denominator`` for each named pair."""
    return {
        name: {"min": best[a] / best[b], "median": median[a] / median[b]}
        for name, (a, b) in pairs.items()
    }


def print_best_median(
    title: str, rows: Mapping[str, tuple[float, float]], digits: int = 2, width: int = 30
) -> None:
    """A two-column table: a title row, then ``label  best  median`` per row."""
    print(f"{title:{width}s} {'best':>8s} {'median':>8s}")
    for label, (low, mid) in rows.items():
        print(f"{label:{width}s} {low:8.{digits}f} {mid:8.{digits}f}")


def timed_rates(name: str, compute: Callable[[], Any], suites: int) -> Any:
    """``compute()``'s rates over ``suites`` simulated suites (a pandas Series), with
    the suites, CPU seconds per suite and wall seconds added; printed under ``name``."""
    rates, wall, cpu = timed(compute)
    rates["suites"] = suites
    rates["cpu_s_per_suite"] = cpu / suites
    rates["wall_s"] = wall
    print(f"{name}:\n{rates.round(3).to_string()}\n", flush=True)
    return rates


def ms_per_step(
    best: Mapping[str, float], median: Mapping[str, float], keys: Iterable[str]
) -> dict[str, dict[str, float]]:
    """key -> {"min", "median"} in milliseconds, of seconds per step."""
    return {k: {"min": best[k] * 1e3, "median": median[k] * 1e3} for k in keys}


def print_comparison(
    ms: Mapping[str, Mapping[str, float]],
    labels: Mapping[str, str],
    ratio: Mapping[str, Mapping[str, float]],
    digits: int = 2,
) -> None:
    """The milliseconds per step of each measure (named by ``labels``), then the
    ratios harness / bare, best and median."""
    print_best_median(
        "ms per step", {labels[k]: (v["min"], v["median"]) for k, v in ms.items()}, digits
    )
    print_best_median(
        "ratio harness / bare", {k: (v["min"], v["median"]) for k, v in ratio.items()}, digits=3
    )


def write_json(path: str | None, results: Mapping[str, Any]) -> None:
    """Also write the results to ``path``, when one is given."""
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)


# ---------------------------------------------------------------- a training loop against a bare one

#: what the training-loop benchmarks measure per step, in the order their loops return it
LOOP_MEASURES = {
    "bare_wall": "bare loop, wall",
    "bare_cpu": "bare loop, CPU",
    "harness_step": "harness, its step clock",
    "harness_wall": "harness, whole call, wall",
    "harness_cpu": "harness, whole call, CPU",
}
#: their ratios harness / bare
LOOP_RATIOS = {
    # the harness's own step clock against the bare loop's wall clock
    "step_clock": ("harness_step", "bare_wall"),
    # the whole train() call (build + 2 evaluations included): an upper bound
    "whole_call_wall": ("harness_wall", "bare_wall"),
    # CPU time is less sensitive to other processes on a shared machine
    "whole_call_cpu": ("harness_cpu", "bare_cpu"),
}


def loop_arguments(parser: argparse.ArgumentParser, steps: int, repeats: int) -> None:
    """The options every training-loop benchmark takes: steps per timed repeat,
    repeats, torch threads, device and a JSON file for the results."""
    parser.add_argument("--steps", type=int, default=steps, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--json", help="also write the results to this file")


def per_step(steps: int, train_call: Callable[[], tuple[Any, Any]]) -> tuple[float, float, float]:
    """Seconds per step of ``train_call()`` (a :func:`harness.learning.training.train` call set
    to run exactly ``steps`` steps, censored): its own step clock, and the wall
    and CPU time of the whole call, which includes building the model and the
    held-out evaluations, so it bounds the overhead from above."""
    (_, outcome), wall, cpu = timed(train_call)
    assert outcome.steps == steps and outcome.status == "censored"
    return outcome.train_seconds / steps, wall / steps, cpu / steps


def autocast(device: Any, precision: str) -> Any:
    """What the harness's step does with ``[training] precision``, for a bare loop."""
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def loop_device(args: argparse.Namespace) -> Any:
    """Torch on ``args.threads`` threads, and the device of ``args.device``."""
    import torch

    from harness.learning.training import resolve_device

    torch.set_num_threads(args.threads)
    return resolve_device(args.device)


def compare_loops(
    repeats: int,
    bare: Callable[[int], Sequence[float]],
    harness: Callable[[int], Sequence[float]],
    measures: Iterable[str],
    pairs: Mapping[str, tuple[str, str]],
) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Both loops once to warm up (first calls allocate and pick kernels), then
    :func:`interleaved`: the best and median seconds of each measure, and ``pairs``' ratios."""
    bare(0)
    harness(0)
    best, median = best_and_median(interleaved(repeats, bare, harness, list(measures)))
    return best, median, ratios(best, median, pairs)
