"""Benchmark: a training step of the built-in classify models, harness against bare torch.

For ``mel_cnn`` and ``rnn_classifier`` (LSTM and GRU), times one optimiser
step of :func:`harness.learning.training.train` on the ``classify`` task and of a bare
loop (random batch, logits, cross-entropy, ``zero_grad``, ``backward``,
``Adam.step``) on the same module, shapes, optimiser and thread count, in one
process, interleaved with the order alternating per repeat. The harness's
whole call also builds the module and scores the held-out segments (for the
recurrent models, streaming included), so its ratio bounds the overhead from
above; CPU time is the reliable comparison on a shared machine.

    python bench/bench_supervised.py                 # batch 32 x 100 frames x 40 mels, 10 classes
    python bench/bench_supervised.py --json out.json --device cuda

A benchmark, not a test: it asserts nothing and takes about a minute per model.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
from timing import (
    LOOP_MEASURES,
    compare_loops,
    loop_arguments,
    loop_device,
    ms_per_step,
    per_step,
    stopwatch,
    sync,
    write_json,
)
from torch.nn import functional as F

from harness.learning.training import Labels, TrainingData, train
from harness.run.environment import environment
from harness.spec.config import TargetConfig, TrainingConfig
from harness_plugins.models.mel_cnn_model import MelCNNModel
from harness_plugins.models.rnn_classifier_model import RNNClassifierModel

#: the models timed: name -> the classifier with its built-in defaults
MODELS = {
    "mel_cnn": lambda: MelCNNModel(),
    "rnn_classifier lstm": lambda: RNNClassifierModel(cell="lstm"),
    "rnn_classifier gru": lambda: RNNClassifierModel(cell="gru"),
}


RATIOS = {
    "ratio_cpu": ("harness_cpu", "bare_cpu"),
    "ratio_step_clock": ("harness_step", "bare_wall"),
}


def bare_loop(model: Any, data: torch.Tensor, y: torch.Tensor, frame_y: torch.Tensor,
              args: argparse.Namespace, device: torch.device, seed: int) -> tuple[float, float]:  # fmt: skip
    """Seconds per step of the plainest loop doing the same work: (wall, CPU)."""
    torch.manual_seed(seed)
    module = model.build(args.features, args.frames, args.classes).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    sync(device)
    with stopwatch() as elapsed:
        for _ in range(args.steps):
            index = torch.randint(0, data.shape[0], (args.batch,), device=device)
            logits = model.logits(module, data[index])
            if logits.dim() == 2:
                loss = F.cross_entropy(logits, y[index])
            else:
                frames = frame_y[index].reshape(-1)
                loss = F.cross_entropy(logits.reshape(-1, args.classes), frames)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        loss.item()
    return elapsed.wall / args.steps, elapsed.cpu / args.steps


def harness_loop(model: Any, data: TrainingData, args: argparse.Namespace,
                 seed: int) -> tuple[float, float, float]:  # fmt: skip
    """Seconds per step of ``train()``: (its step clock, whole call wall, whole call CPU)."""
    target = TargetConfig(
        language="x",
        task="classify",
        metric="loss",
        threshold=0.0,  # a cross-entropy never reaches 0: censored after exactly args.steps
        threshold_mode="absolute",
        max_steps=args.steps,
        eval_every=args.steps,
    )
    training = TrainingConfig(optimizer="adam", lr=1e-3, batch_size=args.batch,
                              segment_frames=args.frames, device=args.device)  # fmt: skip
    settings = {"target": target, "training": training, "seed": seed}
    return per_step(args.steps, lambda: train(model, args.features, data, **settings))


def labels(rng: np.random.Generator, n: int, args: argparse.Namespace) -> Labels:
    y = rng.integers(0, args.classes, n)
    return Labels(y=y, frame_y=np.repeat(y[:, None], args.frames, 1))


def bench(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.random((args.segments, args.frames, args.features), dtype=np.float32)
    held = rng.random((8, args.frames, args.features), dtype=np.float32)
    data = TrainingData(train=x, heldout=held, train_labels=labels(rng, args.segments, args),
                        heldout_labels=labels(rng, 8, args),
                        classes=tuple(f"c{i}" for i in range(args.classes)))  # fmt: skip
    assert data.train_labels is not None
    on_device = torch.from_numpy(x).to(device)
    y = torch.from_numpy(data.train_labels.y).to(device)
    frame_y = torch.from_numpy(data.train_labels.frame_y).to(device)
    model = MODELS[name]()
    best, median, ratio = compare_loops(
        args.repeats,
        lambda seed: bare_loop(model, on_device, y, frame_y, args, device, seed),
        lambda seed: harness_loop(model, data, args, seed),
        LOOP_MEASURES,
        RATIOS,
    )
    return {"ms_per_step": ms_per_step(best, median, LOOP_MEASURES), **ratio}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--segments", type=int, default=256, help="training segments")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    loop_arguments(parser, steps=10, repeats=5)
    args = parser.parse_args(argv)

    device = loop_device(args)
    print(f"device {device}, {args.threads} thread(s), torch {torch.__version__}; batch "
          f"{args.batch} x {args.frames} frames x {args.features} features, {args.classes} "
          f"classes, Adam; {args.repeats} repeats of {args.steps} steps")  # fmt: skip
    print(f"{'model':22s} {'bare CPU ms':>12s} {'harness CPU ms':>15s} {'ratio':>14s}"
          f" {'harness step ms':>16s}")  # fmt: skip
    results: dict[str, Any] = {"config": vars(args), "device": str(device), "models": {}}
    for name in args.models:
        found = bench(name, args, device)
        results["models"][name] = found
        ms, ratio = found["ms_per_step"], found["ratio_cpu"]
        print(f"{name:22s} {ms['bare_cpu']['min']:5.1f}/{ms['bare_cpu']['median']:6.1f}"
              f" {ms['harness_cpu']['min']:7.1f}/{ms['harness_cpu']['median']:7.1f}"
              f" {ratio['min']:6.3f}/{ratio['median']:6.3f}"
              f" {ms['harness_step']['min']:7.1f}/{ms['harness_step']['median']:7.1f}"
              "  (best/median)")  # fmt: skip
    results["environment"] = environment()
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
