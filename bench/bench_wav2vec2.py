"""Benchmark: a wav2vec2 training step in the harness against a bare transformers loop.

Times one optimiser step of :func:`harness.learning.training.train` on the ``wav2vec2``
plugin's own (contrastive + diversity) loss, and of the plainest loop on the
same ``Wav2Vec2ForPreTraining`` configuration, batch shape, optimiser and
thread count: normalise the crops, draw masks and negatives with
transformers' own ``_compute_mask_indices`` and ``_sample_negative_indices``,
forward, ``backward``, ``Adam.step``. The two are interleaved in one process
(order alternating per repeat) so drifting load hits both alike; it prints
wall and CPU time per step, their ratio (goal <= 1.05) and the throughput in
seconds of audio trained on per second.

    python bench/bench_wav2vec2.py                     # the suite's model, 8 x 1 s at 16 kHz
    python bench/bench_wav2vec2.py --crop-seconds 0.5 --sample-rate 8000 --json out.json
    python bench/bench_wav2vec2.py --device cuda

A benchmark, not a test: it asserts nothing and takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import timing
import torch

from harness.learning.training import TrainingData, train
from harness.run.environment import environment
from harness.spec.config import TargetConfig, TrainingConfig
from harness_plugins.models.wav2vec2.model import Wav2Vec2Model
from harness_plugins.models.wav2vec2.module import Wav2Vec2Module

MEASURES = {**timing.LOOP_MEASURES, "harness_step_cpu": "harness, marginal step, CPU"}
RATIOS = {
    **timing.LOOP_RATIOS,
    # the call's fixed cost (build, evaluations) taken out: one step against one step
    "step_cpu": ("harness_step_cpu", "bare_cpu"),
}


def model(args: argparse.Namespace) -> Wav2Vec2Model:
    return Wav2Vec2Model(
        hidden_size=args.hidden, num_layers=args.layers, mask_length=args.mask_length
    )


def bare_loop(
    data: torch.Tensor, args: argparse.Namespace, device: torch.device, seed: int
) -> tuple[float, float]:
    """Seconds per step of a bare transformers loop on the same model: (wall, CPU)."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import (
        _compute_mask_indices,
        _sample_negative_indices,
    )

    torch.manual_seed(seed)
    np.random.seed(seed)
    crop = data.shape[1]
    net = model(args).build(1, crop).net.to(device)  # the same Wav2Vec2ForPreTraining
    net.train()
    frames = int(net.wav2vec2._get_feat_extract_output_lengths(crop))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    timing.sync(device)
    with timing.stopwatch() as elapsed:
        for _ in range(args.steps):
            batch = data[torch.randint(0, data.shape[0], (args.batch,), device=device)]
            batch = Wav2Vec2Module.normalise(batch)
            mask = _compute_mask_indices((args.batch, frames), args.mask_prob, args.mask_length)
            negatives = _sample_negative_indices((args.batch, frames), 10, mask)
            mask_t = torch.from_numpy(mask).to(device)
            with timing.autocast(device, args.precision):
                out = net(
                    batch,
                    mask_time_indices=mask_t,
                    sampled_negative_indices=torch.from_numpy(negatives).to(device),
                )
                loss = out.loss / mask_t.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        loss.item()
    return elapsed.wall / args.steps, elapsed.cpu / args.steps


def harness_loop(
    data: np.ndarray, heldout: np.ndarray, args: argparse.Namespace, seed: int, steps: int = 0
) -> tuple[float, float, float]:
    """Seconds per step of the harness: (its step clock, wall and CPU of the whole call,
    which includes building the model and two held-out evaluations)."""
    steps = steps or args.steps
    target = TargetConfig(language="x", threshold=0.0, threshold_mode="absolute",
                          max_steps=steps, eval_every=steps)  # fmt: skip
    training = TrainingConfig(optimizer="adam", lr=1e-3, batch_size=args.batch,
                              device=args.device, crop_seconds=args.crop_seconds,
                              precision=args.precision)  # fmt: skip
    pairs = TrainingData(train=data, heldout=heldout)
    settings = {"target": target, "training": training, "seed": seed}
    return timing.per_step(
        steps, lambda: train(model(args), 1, pairs, **settings, input_length=data.shape[1])
    )


def harness_step_cpu(
    data: np.ndarray, heldout: np.ndarray, args: argparse.Namespace, seed: int
) -> tuple[float, float, float, float]:
    """:func:`harness_loop`, plus the CPU seconds of one more step: the CPU of the
    whole call less that of a one-step call (the same build and evaluations),
    per extra step."""
    own, wall, cpu = harness_loop(data, heldout, args, seed)
    _, _, one = harness_loop(data, heldout, args, seed, steps=1)
    return own, wall, cpu, (cpu * args.steps - one) / (args.steps - 1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--crop-seconds", type=float, default=1.0)
    parser.add_argument("--mask-prob", type=float, default=0.65)
    parser.add_argument("--mask-length", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crops", type=int, default=64, help="training crops")
    timing.loop_arguments(parser, steps=8, repeats=5)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)

    device = timing.loop_device(args)
    crop = round(args.crop_seconds * args.sample_rate)
    rng = np.random.default_rng(0)
    data = (0.1 * rng.standard_normal((args.crops, crop))).astype(np.float32)
    heldout = (0.1 * rng.standard_normal((2, crop))).astype(np.float32)
    on_device = torch.from_numpy(data).to(device)

    best, median, ratio = timing.compare_loops(
        args.repeats,
        lambda seed: bare_loop(on_device, args, device, seed),
        lambda seed: harness_step_cpu(data, heldout, args, seed),
        MEASURES,
        RATIOS,
    )
    audio = args.batch * args.crop_seconds  # seconds of audio per step
    throughput = {
        "harness_step_wall": audio / best["harness_step"],
        "harness_cpu": audio / best["harness_cpu"],
        "harness_step_cpu": audio / best["harness_step_cpu"],
        "bare_wall": audio / best["bare_wall"],
        "bare_cpu": audio / best["bare_cpu"],
    }
    results = {
        "config": vars(args),
        "device": str(device),
        "ms_per_step": timing.ms_per_step(best, median, MEASURES),
        "ratio": ratio,
        "audio_seconds_per_second": throughput,
        "environment": environment(),
    }
    print(
        f"device {device} ({args.precision}), {args.threads} thread(s), torch {torch.__version__}"
    )
    print(
        f"wav2vec2 hidden {args.hidden} x {args.layers} layers, batch {args.batch} x "
        f"{args.crop_seconds} s at {args.sample_rate} Hz, Adam; {args.repeats} repeats of "
        f"{args.steps} steps"
    )
    timing.print_comparison(results["ms_per_step"], MEASURES, ratio, digits=1)
    print("audio seconds per second: " + ", ".join(f"{k} {v:.1f}" for k, v in throughput.items()))
    timing.write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
