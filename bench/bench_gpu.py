"""Benchmark: a wav2vec2 and an LSTM training step, harness against a bare loop,
in fp32 and bf16, on whatever device there is (CUDA when torch sees one).

Runs ``bench_training`` (LSTM on log-mel segments) and ``bench_wav2vec2``
(wav2vec2 pretraining on waveform crops) for each number format, and prints
one table: milliseconds per step on the step clock (harness) and the wall
clock (bare loop), the harness/bare ratio, and bf16's speed-up over fp32.

    python bench/bench_gpu.py                  # CUDA when available, else the CPU
    python bench/bench_gpu.py --device cpu --quick
    python bench/bench_gpu.py --json gpu.json

A benchmark, not a test: it asserts nothing. On a GPU it takes about a
minute; on 2 CPU cores about five (``--quick``: fewer repeats, about two).
"""

from __future__ import annotations

import argparse
import contextlib
import io
from typing import Any

import bench_training
import bench_wav2vec2
import torch
from timing import write_json

from harness.learning.devices import resolve_device
from harness.run.environment import environment

FORMATS = ("fp32", "bf16")


def _run(bench: Any, device: str, precision: str, extra: list[str]) -> dict[str, Any]:
    argv = ["--device", device, "--precision", precision, *extra]
    with contextlib.redirect_stdout(io.StringIO()):
        result: dict[str, Any] = bench.main(argv)
    return result


def _row(name: str, precision: str, result: dict[str, Any]) -> dict[str, Any]:
    """Medians over the repeats: the harness's step clock, the bare loop's wall
    clock, their ratio, and the ratio of whole calls' CPU time."""
    ms, ratio = result["ms_per_step"], result["ratio"]
    return {
        "model": name,
        "precision": precision,
        "harness_ms": ms["harness_step"]["median"],
        "bare_ms": ms["bare_wall"]["median"],
        "ratio": ratio["step_clock"]["median"],
        "cpu_ratio": ratio["whole_call_cpu"]["median"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    device = str(resolve_device(args.device))
    common = ["--threads", str(args.threads)]
    lstm_extra = [*common, "--repeats", "5" if args.quick else "15"]
    w2v_extra = [*common, "--repeats", "2" if args.quick else "5"]
    rows = []
    for precision in FORMATS:
        rows.append(
            _row("LSTM(128)", precision, _run(bench_training, device, precision, lstm_extra))
        )
        rows.append(_row("wav2vec2", precision, _run(bench_wav2vec2, device, precision, w2v_extra)))
    env = environment()
    name = (
        env.get("cuda_device")
        if device.startswith("cuda")
        else env.get("processor") or env.get("machine")
    )
    print(f"device {device} ({name}), {args.threads} thread(s), torch {torch.__version__}")
    print(f"{'model':<10} {'format':<6} {'harness ms':>11} {'bare ms':>9} {'ratio':>6} "
          f"{'CPU ratio':>9} {'speed-up':>8}")  # fmt: skip
    fp32 = {r["model"]: r["harness_ms"] for r in rows if r["precision"] == "fp32"}
    for r in rows:
        speedup = fp32[r["model"]] / r["harness_ms"]
        print(f"{r['model']:<10} {r['precision']:<6} {r['harness_ms']:>11.2f} {r['bare_ms']:>9.2f} "
              f"{r['ratio']:>6.3f} {r['cpu_ratio']:>9.3f} {speedup:>8.2f}")  # fmt: skip
    print(
        "ms: median per step (harness: its step clock; bare: wall); ratio: harness/bare step; "
        "CPU ratio: whole calls' CPU time; speed-up: the fp32 step over this format's"
    )
    results = {"device": device, "device_name": name, "rows": rows, "environment": env}
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
