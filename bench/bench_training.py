"""Benchmark: the harness's training loop against a bare PyTorch loop.

Times one optimiser step of :func:`harness.learning.training.train` and of a ten-line
loop on the same model, batch shapes, optimiser and thread count, in one
process and interleaved (so drift in machine load hits both alike), and
prints the ratio (the goal is <= 1.05). It also reports the achieved GFLOP/s
of the LSTM step (FLOPs counted analytically) against a peak estimated from a
large matmul on the same threads.

    python bench/bench_training.py                  # LSTM(128), 40 mels, 100 frames, batch 16
    python bench/bench_training.py --hidden 250 --features 128 --json out.json
    python bench/bench_training.py --device cuda

A benchmark, not a test: it asserts nothing and takes about a minute.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from timing import (
    LOOP_MEASURES,
    LOOP_RATIOS,
    autocast,
    compare_loops,
    loop_arguments,
    loop_device,
    ms_per_step,
    per_step,
    print_comparison,
    stopwatch,
    sync,
    write_json,
)
from torch.nn import functional as F

from harness.learning.training import TrainingData, train
from harness.run.environment import environment
from harness.spec.config import TargetConfig, TrainingConfig
from harness_plugins.models.lstm_model import LSTMModel

MEASURES = LOOP_MEASURES


def lstm_step_flops(batch: int, frames: int, features: int, hidden: int, layers: int) -> float:
    """FLOPs of one LSTM training step (forward + backward), multiply-add = 2 FLOPs.

    Per frame and sequence, a layer computes four gates from its input and the
    previous hidden state: 2 * 4H * (input + H); the read-out adds 2 * H * F.
    The backward pass needs the gradients of inputs and of weights, twice the
    forward matmul work. Elementwise gate arithmetic (~30 H per frame) is
    counted too, though it is under 5 % here.
    """
    steps = batch * (frames - 1)  # the loss predicts frames 1..T-1 from 0..T-2
    gates = sum(2 * 4 * hidden * ((features if i == 0 else hidden) + hidden) for i in range(layers))
    elementwise = 30 * hidden * layers
    head = 2 * hidden * features
    return 3.0 * steps * (gates + head) + 2.0 * steps * elementwise


def matmul_peak(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of the best of ``repeats`` n x n float32 matmuls: the practical peak.

    On the CPU this uses process CPU time, as the achieved rate does, so time
    the process spent waiting for a core shared with other work does not count.
    """
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms up
        sync(device)
        start = clock()
        (a @ b).sum().item()
        best = min(best, clock() - start)
    return 2 * n**3 / best / 1e9


def bare_loop(
    data: torch.Tensor, args: argparse.Namespace, device: torch.device, seed: int
) -> tuple[float, float]:
    """Seconds per step of the plainest loop that does the same work: (wall, CPU)."""
    torch.manual_seed(seed)
    module = LSTMModel(args.hidden, args.layers).build(args.features, args.frames).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    sync(device)
    with stopwatch() as elapsed:
        for _ in range(args.steps):
            batch = data[torch.randint(0, data.shape[0], (args.batch,), device=device)]
            with autocast(device, args.precision):
                prediction, _ = module(batch[:, :-1])
                loss = F.mse_loss(prediction, batch[:, 1:])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        loss.item()  # wait for the device, as the harness does at its last evaluation
    return elapsed.wall / args.steps, elapsed.cpu / args.steps


def harness_loop(
    data: np.ndarray, heldout: np.ndarray, args: argparse.Namespace, seed: int
) -> tuple[float, float, float]:
    """Seconds per step of the harness: (its own step clock, wall and CPU time of the call).

    The whole call includes building the model, moving data to the device and
    the two held-out evaluations (step 0 and the end), so it bounds the
    overhead from above.
    """
    target = TargetConfig(
        language="x",
        threshold=0.0,  # unreachable: the run is censored after exactly args.steps steps
        threshold_mode="absolute",
        max_steps=args.steps,
        eval_every=args.steps,
    )
    training = TrainingConfig(
        optimizer="adam",
        lr=1e-3,
        batch_size=args.batch,
        segment_frames=args.frames,
        device=args.device,
        precision=args.precision,
    )
    model, pairs = LSTMModel(args.hidden, args.layers), TrainingData(train=data, heldout=heldout)
    settings = {"target": target, "training": training, "seed": seed}
    return per_step(args.steps, lambda: train(model, args.features, pairs, **settings))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--segments", type=int, default=512, help="training segments")
    loop_arguments(parser, steps=30, repeats=15)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)

    device = loop_device(args)
    rng = np.random.default_rng(0)
    shape = (args.segments, args.frames, args.features)
    data = rng.random(shape, dtype=np.float32)
    heldout = rng.random((4, args.frames, args.features), dtype=np.float32)
    on_device = torch.from_numpy(data).to(device)

    best, median, ratio = compare_loops(
        args.repeats,
        lambda seed: bare_loop(on_device, args, device, seed),
        lambda seed: harness_loop(data, heldout, args, seed),
        MEASURES,
        LOOP_RATIOS,
    )
    flops = lstm_step_flops(args.batch, args.frames, args.features, args.hidden, args.layers)
    peak = matmul_peak(device)
    # CPU: the whole call's CPU time (an upper bound on the step's); CUDA: the step clock
    step_seconds = best["harness_step"] if device.type == "cuda" else best["harness_cpu"]
    achieved = flops / step_seconds / 1e9
    results = {
        "config": vars(args),
        "device": str(device),
        "ms_per_step": ms_per_step(best, median, MEASURES),
        "ratio": ratio,
        "step_gflop": flops / 1e9,
        "achieved_gflops": achieved,
        "matmul_peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
        "environment": environment(),
    }
    print(
        f"device {device} ({args.precision}), {args.threads} thread(s), torch {torch.__version__}"
    )
    print(
        f"model LSTM({args.hidden}) x{args.layers} + Linear({args.features}), batch {args.batch}"
        f" x {args.frames} frames x {args.features} features, Adam; {args.repeats} repeats"
        f" of {args.steps} steps"
    )
    print_comparison(results["ms_per_step"], MEASURES, ratio)
    print(
        f"LSTM step {flops / 1e9:.3f} GFLOP: {achieved:.1f} GFLOP/s achieved; "
        f"{args.threads}-thread matmul peak {peak:.1f} GFLOP/s ({100 * achieved / peak:.0f} %)"
    )
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
